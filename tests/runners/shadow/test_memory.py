"""The shadow server's malloc tuning takes effect where it can (glibc) and is a no-op elsewhere."""

from __future__ import annotations

import platform

import pytest

from shadowpilot.runners.shadow import memory

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt/malloc_trim: this libc has neither")
def test_on_glibc_the_arena_cap_and_the_trim_are_applied() -> None:
    assert memory.cap_arenas() is True
    assert memory.trim() is True


@pytest.mark.skipif(GLIBC, reason="only a libc without mallopt/malloc_trim takes the no-op path")
def test_elsewhere_both_are_no_ops() -> None:
    assert memory.cap_arenas() is False
    assert memory.trim() is False
