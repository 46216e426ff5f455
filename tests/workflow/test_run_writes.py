"""A run's batch writes (written on a thread while the replay goes on): none is lost when the
store is held by another process for a while, and the store holds every call at the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from shadowpilot import workflow
from shadowpilot.config import load_settings
from shadowpilot.types import CallRun
from tests.conftest import make_case, write_config, write_jsonl

# Holds the store's lock until told to let go (retrying while the run's own write holds it).
HOLD = """
import sys, time, duckdb
while True:
    try:
        con = duckdb.connect(sys.argv[1])
        break
    except duckdb.IOException:
        time.sleep(0.01)
print("held", flush=True)
sys.stdin.read()
"""

AGENT = "import asyncio\nasync def recommend(ctx):\n    await asyncio.sleep(0.01)\n    return {'escalate': False}\n"


def test_batches_that_find_the_store_held_are_kept_and_written_later(
    tenant_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shadowpilot.workflow.runs.WRITE_BATCH", 2)
    monkeypatch.setattr("shadowpilot.workflow.runs.WRITE_INTERVAL_S", 0.0)
    monkeypatch.setattr("shadowpilot.workflow.runs.RUN_WRITE_WAIT_S", 0.05)
    (tenant_dir / "slow_agent.py").write_text(AGENT)
    monkeypatch.syspath_prepend(str(tenant_dir))
    write_config(tenant_dir, '[agent]\nkind = "python"\ntarget = "slow_agent:recommend"\nconcurrency = 2\n')
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    cases = [make_case(f"c{i:02d}", ["hi", "and another thing"]) for i in range(40)]
    workflow.import_files(settings, [write_jsonl(tenant_dir / "c.jsonl", cases)])

    holder: list[subprocess.Popen[str]] = []
    finished: list[str] = []

    def on_result(result: CallRun) -> None:
        finished.append(result.case_id)
        if len(finished) == 4:  # from here on the batch writes find the store held ...
            proc = subprocess.Popen(
                [sys.executable, "-c", HOLD, str(settings.store_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
            holder.append(proc)
        if len(finished) == 30:  # ... until here
            holder[0].communicate("")

    try:
        rep = workflow.run(settings, on_result=on_result)
    finally:
        for proc in holder:
            if proc.poll() is None:
                proc.communicate("")
    assert rep.status == "complete" and rep.cases == 40 and rep.errors == 0
    con = duckdb.connect(str(settings.store_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT case_id) FROM run_cases WHERE run_id = ?", [rep.run_id]
        ).fetchone()
        steps = con.execute("SELECT count(*) FROM steps WHERE run_id = ?", [rep.run_id]).fetchone()
    finally:
        con.close()
    assert rows == (40, 40)  # every call once: none lost while the store was held, none written twice
    assert steps is not None and steps[0] == 80
