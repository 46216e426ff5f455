"""The event log's group commit and torn-tail handling, and the store's wait for a held lock."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shadowpilot.errors import StoreBusyError
from shadowpilot.runners.shadow.eventlog import EventLog, read_log
from shadowpilot.store import Store


def test_concurrent_appends_share_fsyncs_and_all_reach_disk(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    log.open()

    async def main() -> None:
        await asyncio.gather(*(log.append({"k": "ev", "n": i}) for i in range(500)))

    try:
        asyncio.run(main())
    finally:
        log.close()
    assert sorted(r["n"] for r in read_log(tmp_path / "events.jsonl")) == list(range(500))
    assert log.stats.records == 500 and log.stats.fsyncs < 500  # group commit batched them


def test_a_torn_last_line_is_skipped_and_cut_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"k":"ev","n":1}\n{"k":"ev","n":2')  # killed mid-write: never acknowledged
    assert [r["n"] for r in read_log(path)] == [1]
    log = EventLog(path)
    log.open()
    try:
        asyncio.run(log.append({"k": "ev", "n": 3}))
    finally:
        log.close()
    assert [r["n"] for r in read_log(path)] == [1, 3]


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_store_open_waits_for_another_process_then_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "acme.duckdb"
    with Store.open(path):
        pass
    proc = _hold(path, 1.0)
    t0 = time.monotonic()
    with Store.open(path, lock_timeout_s=20) as store:  # waits for the other process, then works
        assert store.schema_version() >= 1
    assert time.monotonic() - t0 >= 0.3
    proc.wait()

    proc = _hold(path, 5.0)
    try:
        held = rf"held by PID {proc.pid} \(.*\)"
        with pytest.raises(StoreBusyError, match=held), Store.open(path, lock_timeout_s=0.3):
            pass
    finally:
        proc.kill()
        proc.wait()
