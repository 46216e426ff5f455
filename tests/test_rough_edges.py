"""Issue 14's rough edges, through the real CLI: Ctrl-C during `run`, no progress bar above a
config error, and a `python` agent module kept beside shadowpilot.toml.

Ctrl-C is a real SIGINT to a `shadowpilot run` subprocess whose agent is the OpenAI-compatible
test server on 127.0.0.1, slow enough that the run is certainly mid-way when the signal lands.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.openai_server import OpenAIServer

HANG_GUARD_S = 120  # only so a broken build fails instead of hanging; nothing is timed
CLI = [sys.executable, "-m", "shadowpilot.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}
    env.pop("OPENAI_API_KEY", None)
    env["COLUMNS"] = "200"
    return env


def sp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=HANG_GUARD_S, check=False
    )


# -- Ctrl-C during run ----------------------------------------------------------------------


def test_ctrl_c_keeps_the_finished_calls_and_prints_the_resume_command(tmp_path: Path):
    tenant, elsewhere = tmp_path / "tenant", tmp_path / "elsewhere"
    tenant.mkdir()
    elsewhere.mkdir()
    calls = 8
    write_jsonl(tenant / "cases.jsonl", [make_case(f"k{i}", ["what time do you open?"]) for i in range(calls)])
    (tenant / "prompt.md").write_text("You are the front desk.", encoding="utf-8")
    with OpenAIServer(latency_s=0.5) as server:  # one request per call, one call at a time
        cfg = write_config(
            tenant,
            f'[agent]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{server.base_url}"\n'
            'prompt = "prompt.md"\nconcurrency = 1\ntimeout_s = 60\n\n[gate]\nmin_cases = 1\n',
        )
        rel = os.path.relpath(cfg, elsewhere)  # given as the user typed it, from another folder
        imported = sp("-c", rel, "import", str(tenant / "cases.jsonl"), cwd=elsewhere)
        assert imported.returncode == 0, imported.stderr

        proc = subprocess.Popen(
            [*CLI, "-c", rel, "run"],
            cwd=elsewhere,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + HANG_GUARD_S
        while len(server.requests) < 4:  # three calls done, the fourth waiting on the agent
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never reached its fourth call"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=HANG_GUARD_S)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and out == ""  # no run id on stdout: the run is not finished
        said = re.search(
            r"interrupted: run (run-\S+) kept (\d+) of 8 calls; "
            r"resume with: (shadowpilot -c \S+ run --resume --run \S+)$",
            err.strip(),
            re.MULTILINE,
        )
        assert said, err
        run_id, kept, again = said.group(1), int(said.group(2)), said.group(3)
        assert 3 <= kept < calls
        assert shlex.split(again) == ["shadowpilot", "-c", rel, "run", "--resume", "--run", run_id]

        listed = json.loads(sp("-c", rel, "history", "--json", cwd=elsewhere).stdout)["runs"]
        assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "interrupted")]

        asked_before = len(server.requests)
        resumed = subprocess.run(
            [*CLI, *shlex.split(again)[1:]],
            cwd=elsewhere,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            check=False,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.strip() == run_id
        assert f"({kept} already done before the resume)" in resumed.stderr
        assert len(server.requests) - asked_before == calls - kept  # the kept calls were not asked again

    gate = sp("-c", rel, "gate", "--run", run_id, "--json", cwd=elsewhere)
    assert gate.returncode in (0, 3), gate.stderr
    assert json.loads(gate.stdout)["cases"] == calls
    listed = json.loads(sp("-c", rel, "history", "--json", cwd=elsewhere).stdout)["runs"]
    assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "complete")]


# -- no progress bar above a config error ---------------------------------------------------

TERMINAL = {"FORCE_COLOR": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"}  # rich draws its bar as on a terminal


@pytest.mark.parametrize(
    ("agent", "imported", "message"),
    [
        ('kind = "python"\ntarget = "no_such_module_sp:fn"\n', True, "agent.target"),
        ('kind = "baseline"\n', False, "no cases"),
    ],
)
def test_run_draws_no_bar_before_a_config_error(tenant_dir: Path, cli, agent, imported, message):
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("b1", ["hi"])])
    if imported:
        assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    write_config(tenant_dir, f"[agent]\n{agent}")
    from shadowpilot.cli import app

    failed = cli.invoke(app, ["run"], env=TERMINAL, catch_exceptions=False)
    assert failed.exit_code == 2
    assert message in failed.stderr
    assert "replaying" not in failed.stderr and "━" not in failed.stderr
    assert failed.stderr.startswith("\x1b[1;31merror") or failed.stderr.startswith("error"), repr(failed.stderr)


def test_run_on_a_terminal_draws_its_bar(tenant_dir: Path, cli):
    """The other side of the test above: on the same forced terminal a run that starts shows its bar."""
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("b1", ["hi"])])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    from shadowpilot.cli import app

    ran = cli.invoke(app, ["run"], env=TERMINAL, catch_exceptions=False)
    assert ran.exit_code == 0, ran.stderr
    assert "replaying" in ran.stderr and "1/1" in ran.stderr


# -- the python agent's module beside shadowpilot.toml --------------------------------------


def test_python_agent_module_beside_the_config_imports_from_any_folder(tmp_path: Path):
    tenant, elsewhere = tmp_path / "tenant", tmp_path / "elsewhere"
    tenant.mkdir()
    elsewhere.mkdir()
    name = f"sp_beside_{uuid.uuid4().hex[:8]}"
    # the agent imports a neighbour of its own too, at call time: the folder stays on the path
    (tenant / f"{name}_words.py").write_text("TRIGGER = 'supervisor'\n", encoding="utf-8")
    (tenant / f"{name}.py").write_text(
        "def recommend(ctx):\n"
        f"    from {name}_words import TRIGGER\n"
        "    if TRIGGER in ctx.turns[-1].text.lower():\n"
        "        return {'escalate': True, 'reason': 'requested_human'}\n"
        "    return {'escalate': False, 'reply': 'ok'}\n",
        encoding="utf-8",
    )
    write_jsonl(
        tenant / "cases.jsonl",
        [
            make_case("m1", ["hi", "a supervisor please"], escalated=True, at_customer_turn=1),
            make_case("m2", ["hi", "thanks"]),
        ],
    )
    write_config(tenant, f'[agent]\nkind = "python"\ntarget = "{name}:recommend"\n\n[gate]\nmin_cases = 1\n')
    cfg = str(tenant / "shadowpilot.toml")
    assert sp("-c", cfg, "import", str(tenant / "cases.jsonl"), cwd=elsewhere).returncode == 0
    ran = sp("-c", cfg, "run", "--json", cwd=elsewhere)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["errors"] == 0
    gate = sp("-c", cfg, "gate", "--pass-rate", "0.5", "--json", cwd=elsewhere)
    g = json.loads(gate.stdout)
    assert (g["escalation"]["tp"], g["escalation"]["tn"], g["passed_cases"]) == (1, 1, 2), gate.stderr
