"""Keep the long-running shadow server's memory flat over a pilot's days (glibc's malloc arenas).

The server runs several thread pools (signature checks, store writes, log group commits, the
voice-activity detector) and DuckDB's own threads. glibc gives each thread that allocates
concurrently an arena of its own, up to 8 per core, and an arena's freed memory is kept for reuse
rather than given back, so over 20,000 calls RSS crept up ~2 KB per scored call although nothing
was held (tracemalloc: ~0.3 KB per call from Python, bench/shadow_day.py --trace-from). Capping the
arenas at two, and trimming after each compaction (the moment most memory has just been freed),
keeps it flat: measured in bench/shadow_day.py, see the README's "Shadow server limits".
Elsewhere than glibc (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("shadowpilot.shadow")

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def cap_arenas(arenas: int = ARENAS) -> bool:
    """At most `arenas` malloc arenas for the threads created from now on; False when not glibc."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give freed heap pages back to the system (glibc's malloc_trim); False when not glibc."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
