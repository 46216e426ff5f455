"""Who holds the store, read from DuckDB's own lock error (pure parsing, plus /proc where it exists)."""

from __future__ import annotations

import os
import sys

from shadowpilot.store.db import lock_holder


def duckdb_says(exe: str, pid: int) -> str:
    # the text DuckDB 1.x/2.x raises when another process holds the file
    return (
        f'IO Error: Could not set lock on file "/t/acme.duckdb": Conflicting lock is held in {exe} (PID {pid}). '
        "See also https://duckdb.org/docs/current/connect/concurrency"
    )


def test_the_holder_is_named_by_pid_and_command():
    got = lock_holder(duckdb_says(sys.executable, os.getpid()))
    assert got is not None and got.startswith(f"PID {os.getpid()} (")
    if os.path.exists(f"/proc/{os.getpid()}/cmdline"):  # the command line, one line, at most 80 characters
        assert "pytest" in got and "\n" not in got and len(got) <= len(f"PID {os.getpid()} ()") + 80


def test_a_holder_that_is_gone_is_named_by_the_executable_duckdb_gives():
    assert lock_holder(duckdb_says("/opt/venv/bin/python3.12", 2**22 + 12345)) == f"PID {2**22 + 12345} (python3.12)"


def test_an_error_that_names_no_holder_gives_none():
    assert lock_holder('IO Error: Could not set lock on file "/t/acme.duckdb"') is None
