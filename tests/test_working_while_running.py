"""Working while a run runs: a long `shadowpilot run` holds the store only for its batch writes.

The run is a real console-script subprocess whose agent (a tenant HTTP agent on 127.0.0.1)
holds every request until the test releases it, so the run is certainly still running while
the read commands are tried. A store whose lock really is held names who holds it, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shadowpilot.config import load_settings
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.tenant_agent import TenantAgent
from tests.test_console_script import SCRIPT

HANG_GUARD_S = 120  # only so a broken build fails instead of hanging; nothing is timed


def wait_for(what: str, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not ready():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}


def test_read_commands_work_while_a_long_run_runs(tenant_dir: Path):
    cli = CliRunner()
    cases = [make_case(f"c{i}", ["hello", "get me a supervisor"], escalated=True, at_customer_turn=1) for i in range(6)]
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "cases.jsonl", cases))).exit_code == 0
    with TenantAgent("flat") as server:
        write_config(
            tenant_dir,
            f'[agent]\nkind = "http"\nurl = "{server.url}"\nconcurrency = 1\ntimeout_s = 600\n'
            "max_retries = 0\n\n[gate]\nmin_cases = 1\n",
        )
        first = invoke(cli, "run", "--json")
        assert first.exit_code == 0, first.stderr
        earlier = json.loads(first.stdout)["run_id"]
        asked_before = len(server.requests)

        server.hold()
        proc = subprocess.Popen(
            [SCRIPT, "run", "--json"],
            cwd=tenant_dir,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for("the run asks the agent", lambda: len(server.requests) > asked_before)
            history = invoke(cli, "history", "--json")
            assert history.exit_code == 0, history.stderr
            status = {r["run_id"]: r["status"] for r in json.loads(history.stdout)["runs"]}
            assert list(status.values()).count("running") == 1 and status[earlier] == "complete"

            gate = invoke(cli, "gate", "--run", earlier, "--json")
            assert gate.exit_code in (0, 3), gate.stderr
            assert json.loads(gate.stdout)["run_id"] == earlier
            report = invoke(cli, "report", "--format", "json")
            assert report.exit_code in (0, 3), report.stderr
            review = invoke(cli, "review", "--list")
            assert review.exit_code == 0, review.stderr
            assert proc.poll() is None  # all of that while the run was still waiting on its agent
        finally:
            server.release()
            out, err = proc.communicate(timeout=HANG_GUARD_S)
    assert proc.returncode == 0, err
    ran = json.loads(out)
    assert ran["status"] == "complete" and ran["errors"] == 0 and ran["cases"] == 6


HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("command", [["history"], ["gate"], ["review", "--list"]])
def test_a_store_held_past_the_wait_is_exit_2_naming_the_holder(tenant_dir: Path, monkeypatch, command):
    cli = CliRunner()
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "c.jsonl", [make_case("c1", ["hi"])]))).exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    store = load_settings(tenant_dir / "shadowpilot.toml", environ={}).store_path
    monkeypatch.setattr("shadowpilot.store.db.LOCK_TIMEOUT_S", 0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        out = invoke(cli, *command)
    finally:
        holder.communicate("")
    assert out.exit_code == 2, out.output
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"is held by PID {holder.pid} (python" in lines[0] and " -c import sys, duckdb" in lines[0]
    assert str(store) in lines[0]
    assert "try again when it has finished" in lines[0]
