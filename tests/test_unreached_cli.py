"""An agent or judge that cannot be reached is an environment problem: exit 2, one line, no verdict.

Through the real CLI, against real servers on 127.0.0.1 (or a port nothing listens on).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from typer.testing import CliRunner

from shadowpilot.config import load_settings
from shadowpilot.store import Store
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.evals.test_judge import judge_policy
from tests.servers.openai_server import OpenAIServer
from tests.servers.tenant_agent import TenantAgent

N = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def import_cases(cli: CliRunner, tenant_dir: Path, n: int = N) -> None:
    cases = [
        make_case(f"c{i:02d}", ["hello", "get me a supervisor"], escalated=True, at_customer_turn=1) for i in range(n)
    ]
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "cases.jsonl", cases))).exit_code == 0


def http_config(tenant_dir: Path, url: str) -> None:
    write_config(
        tenant_dir,
        f'[agent]\nkind = "http"\nurl = "{url}"\nmax_retries = 0\nconcurrency = 2\n\n'
        "[gate]\nmin_cases = 1\npass_rate = 0.5\n",
    )


def error_line(stderr: str) -> str:
    """The one line saying what went wrong (the progress bar's last frame aside)."""
    lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith(("replaying", "judging"))]
    assert len(lines) == 1 and lines[0].startswith("error: "), "\n".join(lines)
    return lines[0]


def runs(cli: CliRunner) -> dict[str, dict]:
    out = invoke(cli, "history", "--json")
    assert out.exit_code == 0, out.stderr
    return {r["run_id"]: r for r in json.loads(out.stdout)["runs"]}


def test_a_run_with_nothing_listening_stops_exits_2_and_is_never_the_run_gate_picks(tenant_dir: Path):
    cli = CliRunner()
    import_cases(cli, tenant_dir)
    ran = invoke(cli, "run", "--json")  # a working run first: the baseline agent
    assert ran.exit_code == 0
    good = json.loads(ran.stdout)["run_id"]

    url = f"http://127.0.0.1:{free_port()}/recommend"
    http_config(tenant_dir, url)
    out = invoke(cli, "run")
    assert out.exit_code == 2, out.output
    line = error_line(out.stderr)
    assert url in line and "connection refused: is a server listening there? check agent.url" in line
    assert "marked aborted" in line and "`shadowpilot run --resume` finishes it once the agent answers" in line

    history = runs(cli)
    (aborted,) = [r for r in history.values() if r["status"] == "aborted"]
    assert aborted["cases"] == 0  # its failures measured the environment: none is kept
    # the default pick skips it: gate, report and review use the earlier complete run
    gate = invoke(cli, "gate", "--json")
    assert json.loads(gate.stdout)["run_id"] == good
    report = invoke(cli, "report", "--format", "json")
    assert report.exit_code in (0, 3) and good in report.stdout and aborted["run_id"] not in report.stdout
    named = invoke(cli, "gate", "--run", aborted["run_id"])
    assert named.exit_code == 2 and "aborted, not complete" in named.stderr


def test_a_refused_key_stops_an_openai_run_early_naming_the_variable(tenant_dir: Path, monkeypatch):
    cli = CliRunner()
    import_cases(cli, tenant_dir)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with OpenAIServer(api_key="sk-right") as server:
        write_config(
            tenant_dir,
            f'[agent]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{server.base_url}"\n'
            "concurrency = 2\nmax_retries = 0\n\n[gate]\nmin_cases = 1\n",
        )
        out = invoke(cli, "run", "--json")
        asked = server.rejected
        assert out.exit_code == 2 and json.loads(out.stdout)["error"]["code"] == 2  # --json: the error object
        line = error_line(out.stderr)
        assert server.base_url in line and "HTTP 401" in line and "check OPENAI_API_KEY" in line
        assert asked < N  # stopped early: not one 401 per case
        assert [r["status"] for r in runs(cli).values()] == ["aborted"]
        nothing = invoke(cli, "gate")
        assert nothing.exit_code == 2 and "no finished run" in nothing.stderr

        # with the right key the same run finishes, every case asked: no environment failure is kept in it
        monkeypatch.setenv("OPENAI_API_KEY", "sk-right")
        out = invoke(cli, "run", "--resume", "--json")
    assert out.exit_code == 0, out.stderr
    resumed = json.loads(out.stdout)
    assert resumed["status"] == "complete" and resumed["errors"] == 0 and resumed["resumed"] == 0
    gate = json.loads(invoke(cli, "gate", "--json").stdout)
    assert gate["run_id"] == resumed["run_id"] and gate["cases"] == N


def test_an_agent_that_fails_one_turn_in_ten_still_completes_its_run(tenant_dir: Path):
    cli = CliRunner()
    import_cases(cli, tenant_dir, n=5)  # 10 turns
    with TenantAgent("flaky", fail_times=1) as server:
        http_config(tenant_dir, server.url)
        out = invoke(cli, "run", "--json")
    assert out.exit_code == 0, out.stderr
    ran = json.loads(out.stdout)
    assert ran["status"] == "complete" and ran["errors"] == 1
    gate = invoke(cli, "gate", "--json")
    assert gate.exit_code in (0, 3) and json.loads(gate.stdout)["run_id"] == ran["run_id"]


def judge_config(tenant_dir: Path, base_url: str) -> None:
    recs = [
        {"case_id": f"c{i:02d}", "turn": t, "escalate": False, "reply": "GOOD answer"} for i in range(N) for t in (0, 2)
    ]
    write_jsonl(tenant_dir / "recs.jsonl", recs)
    write_config(
        tenant_dir,
        '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 1\n\n'
        f'[judge]\nenabled = true\nmodel = "gpt-4o-mini"\nbase_url = "{base_url}"\n'
        "max_retries = 0\n",
    )


def judgements(tenant_dir: Path) -> int:
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    with Store.open(settings.store_path, create=False) as store:
        return len(store.con.execute("SELECT * FROM judgements").fetchall())


def test_a_judge_with_nothing_listening_or_a_refused_key_exits_2_and_stores_nothing(tenant_dir: Path, monkeypatch):
    cli = CliRunner()
    import_cases(cli, tenant_dir)
    url = f"http://127.0.0.1:{free_port()}/v1"
    judge_config(tenant_dir, url)
    assert invoke(cli, "run").exit_code == 0

    out = invoke(cli, "judge", "--json")
    assert out.exit_code == 2 and "error: " + json.loads(out.stdout)["error"]["message"] == error_line(out.stderr)
    line = error_line(out.stderr)
    assert "the LLM judge (gpt-4o-mini) at " + url in line and "connection refused" in line
    assert "check judge.base_url" in line and "nothing stored" in line

    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with OpenAIServer(judge_policy, api_key="sk-right") as server:
        judge_config(tenant_dir, server.base_url)
        out = invoke(cli, "judge")
        asked = server.rejected
    assert out.exit_code == 2
    line = error_line(out.stderr)
    assert "HTTP 401" in line and "check OPENAI_API_KEY" in line
    assert asked < 2 * N  # stopped early, not one request per reply
    assert judgements(tenant_dir) == 0


def test_a_judge_whose_every_answer_failed_exits_2_and_keeps_the_earlier_judgements(tenant_dir: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cli = CliRunner()
    import_cases(cli, tenant_dir, n=3)
    with OpenAIServer(judge_policy) as server:
        judge_config(tenant_dir, server.base_url)
        assert invoke(cli, "run").exit_code == 0
        assert invoke(cli, "judge").exit_code == 0
        kept = judgements(tenant_dir)
        server.add_fault("500", times=99)  # the server is there, but no judgement comes back
        out = invoke(cli, "judge", "--no-cache")
    assert out.exit_code == 2
    line = error_line(out.stderr)
    assert "all 6 judgements failed" in line and server.base_url in line and "gpt-4o-mini" in line
    assert "HTTP 500" in line
    assert judgements(tenant_dir) == kept == 6
