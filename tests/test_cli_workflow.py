"""The pilot workflow through the real CLI, in-process (typer's CliRunner).

Covers DESIGN.md "The command line", "Exit codes", "The gate" and "Config":
init -> import -> run -> gate (re-scoring, flags, env) -> history -> report,
plus the recorded and python agents end to end.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import pytest

from tests.conftest import GATE_KEYS, SAMPLE, invoke, make_case, write_config, write_jsonl

SAMPLE_TENANT = "harbourview-clinic"
SAMPLE_FAILURES = ["hv-005", "hv-008", "hv-018"]
COMMANDS = ("demo", "init", "import", "run", "gate", "report", "history", "schema", "cases")


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def fresh_dir(tenant_dir: Path) -> Path:
    """An empty working directory (no shadowpilot.toml, no SHADOWPILOT_* env)."""
    (tenant_dir / "shadowpilot.toml").unlink()
    assert list(tenant_dir.iterdir()) == []
    return tenant_dir


def as_json(result) -> dict:
    assert result.stdout.strip(), f"no JSON on stdout; stderr: {result.stderr}"
    return json.loads(result.stdout)


def history_runs(cli) -> list[dict]:
    result = invoke(cli, "history", "--json")
    assert result.exit_code == 0, result.stderr
    return as_json(result)["runs"]


@pytest.fixture
def sample_pilot(fresh_dir: Path, cli) -> str:
    """The sample clinic, set up the way an onboarding engineer would: init, the sample's
    baseline rules copied in, the 20 transcripts imported, one run. Returns the run id."""
    assert invoke(cli, "init", "--tenant", SAMPLE_TENANT).exit_code == 0
    shutil.copy(SAMPLE / "shadowpilot.toml", fresh_dir / "shadowpilot.toml")
    imported = invoke(cli, "import", str(SAMPLE / "transcripts.jsonl"), "--json")
    assert imported.exit_code == 0, imported.stderr
    assert len(as_json(imported)["added"]) == 20
    ran = invoke(cli, "run", "--json")
    assert ran.exit_code == 0, ran.stderr
    run = as_json(ran)
    assert run["cases"] == 20 and run["errors"] == 0 and run["status"] == "complete"
    assert re.fullmatch(r"run-\S+", run["run_id"])
    return run["run_id"]


# -- init ------------------------------------------------------------------------------------


def test_init_writes_config_and_store_and_refuses_to_overwrite(fresh_dir: Path, cli) -> None:
    result = invoke(cli, "init", "--tenant", "acme")
    assert result.exit_code == 0, result.stderr
    config = fresh_dir / "shadowpilot.toml"
    assert config.is_file()
    assert (fresh_dir / ".shadowpilot" / "acme.duckdb").is_file()
    assert 'name = "acme"' in config.read_text(encoding="utf-8")

    # a second init must not clobber the engineer's tuned config
    config.write_text(config.read_text(encoding="utf-8") + "\n# tuned by hand\n", encoding="utf-8")
    again = invoke(cli, "init", "--tenant", "acme")
    assert again.exit_code == 2
    assert "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert config.read_text(encoding="utf-8").endswith("# tuned by hand\n")

    forced = invoke(cli, "init", "--tenant", "acme", "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert as_json(forced)["tenant"] == "acme"
    assert "# tuned by hand" not in config.read_text(encoding="utf-8")


def test_init_with_config_in_a_new_folder(fresh_dir: Path, cli) -> None:
    result = invoke(cli, "-c", "pilots/acme/shadowpilot.toml", "init", "--tenant", "acme")
    assert "Traceback" not in result.stderr
    assert result.exit_code in (0, 2)  # create the folder, or refuse clearly; never "the harness broke"
    if result.exit_code == 0:
        assert (fresh_dir / "pilots" / "acme" / "shadowpilot.toml").is_file()
        assert (fresh_dir / "pilots" / "acme" / ".shadowpilot" / "acme.duckdb").is_file()


def _undocumented_keys(text: str) -> list[str]:
    sections = {"tenant", "agent", "gate", "budgets", "shadow"}
    lines = text.splitlines()
    section = None
    missing = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        header = re.fullmatch(r"\[([A-Za-z_.]+)\]", stripped)
        if header:
            section = header.group(1)
            continue
        if stripped.startswith("[["):
            section = None
            continue
        if section not in sections or stripped.startswith("#"):
            continue
        key = re.match(r"([A-Za-z_]+)\s*=", stripped)
        if not key:
            continue
        above = lines[i - 1].strip() if i else ""
        if "#" not in line and not above.startswith("#"):
            missing.append(f"[{section}] {key.group(1)}")
    return missing


def test_undocumented_keys_checker_catches_a_bare_key() -> None:
    # the checker itself must be able to fail, or the next test proves nothing
    text = "[gate]\n# the bar\npass_rate = 0.9\nmin_cases = 10  # fewest cases\nmax_errors = 0\n"
    assert _undocumented_keys(text) == ["[gate] max_errors"]


def test_init_config_documents_every_key(fresh_dir: Path, cli) -> None:
    assert invoke(cli, "init", "--tenant", "acme").exit_code == 0
    text = (fresh_dir / "shadowpilot.toml").read_text(encoding="utf-8")
    for section in ("tenant", "agent", "gate", "budgets", "shadow"):
        assert f"[{section}]" in text
    assert _undocumented_keys(text) == []


# -- the sample pilot: import, run, gate, re-score -------------------------------------------


def test_gate_on_sample_baseline_is_no_go_with_contract_figures(sample_pilot: str, cli) -> None:
    result = invoke(cli, "gate", "--json")
    assert result.exit_code == 3, result.stderr
    g = as_json(result)
    assert g.keys() >= GATE_KEYS
    assert g["run_id"] == sample_pilot
    assert g["verdict"] == "no-go" and g["passed"] is False
    assert g["cases"] == 20 and g["passed_cases"] == 17
    assert g["pass_rate"] == pytest.approx(0.85)
    lo, hi = g["pass_rate_ci"]
    assert lo == pytest.approx(0.640, abs=5e-4) and hi == pytest.approx(0.948, abs=5e-4)
    assert g["bar"] == pytest.approx(0.9)
    assert g["errors"] == 0
    assert g["critical_failed"] == []

    esc = g["escalation"]
    assert {"tp", "fp", "fn", "tn", "precision", "recall", "f1", "early", "late"} <= esc.keys()
    assert (esc["tp"], esc["fp"], esc["fn"], esc["tn"]) == (6, 0, 1, 13)
    assert (esc["early"], esc["late"]) == (1, 0)
    assert esc["precision"] == pytest.approx(1.0)
    assert esc["recall"] == pytest.approx(6 / 7, abs=1e-3)
    assert esc["f1"] == pytest.approx(2 * 6 / (2 * 6 + 0 + 1), abs=1e-3)

    routing = g["routing"]
    assert {"cases", "accuracy", "per_attribute"} <= routing.keys()
    assert routing["cases"] == 6
    assert set(routing["per_attribute"]) >= {"skill", "priority", "vip", "queue"}

    assert [f["case_id"] for f in g["failures"]] == SAMPLE_FAILURES
    whys = {f["case_id"]: f["why"] for f in g["failures"]}
    assert whys["hv-018"] == "missed escalation"
    assert "early" in whys["hv-005"]
    assert "skill" in whys["hv-008"]

    # the figures beside the pass rate (issue 5): weighted score 1 - (early 1 + routing 1 + missed 5) / (5 x 20)
    assert g["weighted_score"] == pytest.approx(0.93)
    assert g["latency"]["first_token_p95"] is None and g["cost"]["per_call_mean"] is None  # baseline: not measured
    assert g["reply"]["turns"] == 76 and g["reply"]["similarity"] == pytest.approx(0.0643, abs=1e-4)
    assert g["handoff"]["escalations"] == 6 and g["handoff"]["with_sentiment"] == 0
    assert g["pass_k"] is None
    reasons = {r["key"]: (r["passed"], r["cases"]) for r in g["breakdowns"]["reason"]}
    assert reasons["billing_dispute"] == (0, 2) and reasons["(not escalated)"] == (13, 13)
    assert g["evidence"]["passes_needed_point"] == 10  # 27/30 = 0.90


def test_gate_human_output_names_verdict_and_failures(sample_pilot: str, cli) -> None:
    result = invoke(cli, "gate")
    assert result.exit_code == 3
    assert "NO-GO" in result.stdout
    assert "85.0%" in result.stdout
    for case_id in SAMPLE_FAILURES:
        assert case_id in result.stdout


def test_gate_rescores_the_same_run_with_a_lower_bar(sample_pilot: str, cli) -> None:
    assert invoke(cli, "gate", "--json").exit_code == 3
    result = invoke(cli, "gate", "--pass-rate", "0.8", "--json")
    assert result.exit_code == 0, result.stderr
    g = as_json(result)
    assert g["verdict"] == "go" and g["passed"] is True
    assert g["run_id"] == sample_pilot
    assert g["bar"] == pytest.approx(0.8)
    assert g["passed_cases"] == 17

    # re-scoring never replays: still exactly one run, now showing the latest verdict
    runs = history_runs(cli)
    assert [r["run_id"] for r in runs] == [sample_pilot]
    assert runs[0]["verdict"] == "go"


def test_gate_lower_bound_below_bar_is_insufficient_evidence(sample_pilot: str, cli) -> None:
    result = invoke(cli, "gate", "--use-lower-bound", "--pass-rate", "0.8", "--json")
    assert result.exit_code == 3
    g = as_json(result)
    assert g["pass_rate_ci"][0] < 0.8 <= g["pass_rate"]
    assert g["verdict"] == "insufficient-evidence"
    assert g["passed"] is False


def test_gate_min_cases_above_case_count_is_insufficient_evidence(sample_pilot: str, cli) -> None:
    result = invoke(cli, "gate", "--min-cases", "50", "--json")
    assert result.exit_code == 3
    g = as_json(result)
    assert g["verdict"] == "insufficient-evidence"
    assert g["cases"] == 20


def test_gate_precedence_flag_beats_env_beats_file(sample_pilot: str, cli, monkeypatch) -> None:
    # file: 0.90 -> no-go
    assert as_json(invoke(cli, "gate", "--json"))["verdict"] == "no-go"
    # env beats file
    monkeypatch.setenv("SHADOWPILOT_GATE_PASS_RATE", "0.8")
    env = invoke(cli, "gate", "--json")
    assert env.exit_code == 0
    assert as_json(env)["verdict"] == "go"
    assert as_json(env)["bar"] == pytest.approx(0.8)
    # flag beats env
    flag = invoke(cli, "gate", "--pass-rate", "0.9", "--json")
    assert flag.exit_code == 3
    assert as_json(flag)["verdict"] == "no-go"
    assert as_json(flag)["bar"] == pytest.approx(0.9)


def test_bad_env_value_names_the_env_var(sample_pilot: str, cli, monkeypatch) -> None:
    monkeypatch.setenv("SHADOWPILOT_GATE_PASS_RATE", "abc")
    result = invoke(cli, "gate")
    assert result.exit_code == 2
    assert "pass_rate" in result.stderr
    # the file says 0.90, which is fine: the message must point at where the bad value is
    assert "SHADOWPILOT_GATE_PASS_RATE" in result.stderr


def test_history_lists_runs_with_their_verdicts(sample_pilot: str, cli) -> None:
    # a run that has not been gated yet shows no verdict
    runs = history_runs(cli)
    assert len(runs) == 1 and runs[0]["verdict"] is None

    invoke(cli, "gate")
    second = as_json(invoke(cli, "run", "--json"))["run_id"]
    assert second != sample_pilot
    assert invoke(cli, "gate", "--pass-rate", "0.8").exit_code == 0  # gates the latest run

    runs = history_runs(cli)
    assert [r["run_id"] for r in runs] == [sample_pilot, second]
    assert [r["verdict"] for r in runs] == ["no-go", "go"]
    assert all(r["cases"] == 20 and r["pass_rate"] == pytest.approx(0.85) for r in runs)

    # the human view names both runs
    table = invoke(cli, "history")
    assert table.exit_code == 0
    assert "NO-GO" in table.stdout
    assert re.search(r"(?<!NO-)\bGO\b", table.stdout)


def test_report_markdown_to_file(sample_pilot: str, cli, fresh_dir: Path) -> None:
    result = invoke(cli, "report", "--format", "md", "-o", "r.md")
    assert result.exit_code == 0, result.stderr
    text = (fresh_dir / "r.md").read_text(encoding="utf-8")
    assert text.startswith("# Pilot report")
    assert "NO-GO" in text
    assert "85.0%" in text
    assert sample_pilot in text
    for case_id in SAMPLE_FAILURES:
        assert case_id in text
    # passing cases are not listed as failures
    assert "hv-001" not in text


def test_report_output_to_a_directory_is_a_usage_error(sample_pilot: str, cli, fresh_dir: Path) -> None:
    (fresh_dir / "out").mkdir()
    result = invoke(cli, "report", "-o", "out")
    assert result.exit_code == 2
    assert "out" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_json_lists_every_case_failing_first(sample_pilot: str, cli) -> None:
    result = invoke(cli, "report", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    cases = data["cases"]
    assert len(cases) == 20
    assert len({c["case_id"] for c in cases}) == 20
    assert [c["case_id"] for c in cases[:3]] == SAMPLE_FAILURES
    assert [c["passed"] for c in cases] == [False] * 3 + [True] * 17
    assert data["gate"]["verdict"] == "no-go"
    assert data["manifest"]["run_id"] == sample_pilot
    # the case-by-case view shows the AI's recommendation beside the human's action
    missed = next(c for c in cases if c["case_id"] == "hv-018")
    assert missed["human"]["escalated"] is True and missed["agent"]["escalated"] is False


def test_demo_writes_the_html_report_with_every_case(fresh_dir: Path, cli) -> None:
    result = invoke(cli, "demo", "--dir", "pilot")
    assert result.exit_code == 3, result.stderr  # the sample's baseline agent is a no-go
    html_path = fresh_dir / "pilot" / "pilot-report.html"
    assert f"reports: {Path('pilot') / 'pilot-report.html'}" in result.stdout.replace("\n", "")
    html = html_path.read_text(encoding="utf-8")
    assert 'data-verdict="no-go"' in html
    for i in range(1, 21):
        assert f'id="case-hv-{i:03d}"' in html
    # the failing cases come first
    positions = [html.index(f'id="case-{c}"') for c in [*SAMPLE_FAILURES, "hv-001"]]
    assert positions == sorted(positions)
    assert (fresh_dir / "pilot" / "pilot-report.md").exists() and (fresh_dir / "pilot" / "pilot-report.json").exists()


def test_a_file_where_a_folder_must_be_is_bad_usage_not_a_bug(fresh_dir: Path, cli) -> None:
    """`demo --dir` at a file and `-c` under a file are the user's paths (exit 2, one line), not exit 1."""
    (fresh_dir / "taken").write_text("a file\n")
    demo = invoke(cli, "demo", "--dir", "taken")
    assert demo.exit_code == 2, demo.stderr
    assert "taken" in demo.stderr and "Traceback" not in demo.stderr
    init = invoke(cli, "-c", "taken/shadowpilot.toml", "init")
    assert init.exit_code == 2, init.stderr
    assert "taken" in init.stderr


def test_gate_unknown_run_exits_2(sample_pilot: str, cli) -> None:
    result = invoke(cli, "gate", "--run", "nonexistent", "--json")
    assert result.exit_code == 2
    assert "nonexistent" in result.stderr
    assert "Traceback" not in result.stderr
    error = as_json(result)["error"]  # --json: the error object on stdout, nothing else
    assert error["code"] == 2 and "nonexistent" in error["message"] and error["problems"] == []


def test_gate_before_any_run_exits_2_with_clear_message(fresh_dir: Path, cli) -> None:
    assert invoke(cli, "init", "--tenant", "acme").exit_code == 0
    result = invoke(cli, "gate")
    assert result.exit_code == 2
    assert "shadowpilot run" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_without_cases_exits_2(fresh_dir: Path, cli) -> None:
    assert invoke(cli, "init", "--tenant", "acme").exit_code == 0
    result = invoke(cli, "run", "--json")
    assert result.exit_code == 2
    assert "import" in result.stderr
    assert "Traceback" not in result.stderr
    assert history_runs(cli) == []  # no empty run was recorded


def test_import_of_another_tenants_cases_exits_2_and_imports_nothing(fresh_dir: Path, cli) -> None:
    assert invoke(cli, "init", "--tenant", "acme").exit_code == 0
    result = invoke(cli, "import", str(SAMPLE / "transcripts.jsonl"))
    assert result.exit_code == 2
    assert "transcripts.jsonl:1" in result.stderr and "tenant" in result.stderr
    assert invoke(cli, "run").exit_code == 2  # still nothing to run


# -- a recorded agent end to end -------------------------------------------------------------


def test_recorded_agent_end_to_end(tenant_dir: Path, cli) -> None:
    lines = ["first", "second", "third", "fourth"]
    billing = {"skill": "billing", "priority": "high", "vip": False}
    cases = [
        # c1: escalated by both at customer turn 1, routing matches (case-insensitively) -> tp, pass
        make_case("c1", lines, escalated=True, at_customer_turn=1, routing=billing, queue="billing-tier2"),
        # c2: the human escalated, the agent never did -> fn
        make_case("c2", lines, escalated=True, at_customer_turn=0, routing=billing),
        # c3: the agent escalated, the human did not -> fp
        make_case("c3", lines),
        # c4: neither escalated -> tn, pass
        make_case("c4", lines),
        # c5: both escalated on time, wrong skill -> tp, routing failure
        make_case("c5", lines, escalated=True, at_customer_turn=0, routing={"skill": "clinical"}),
        # c6: both escalated, the agent 3 customer turns late -> tp, late
        make_case("c6", lines, escalated=True, at_customer_turn=0, routing={"skill": "billing"}),
        # c7: the agent failed at its first turn -> error (no decision)
        make_case("c7", lines),
    ]
    write_jsonl(tenant_dir / "cases.jsonl", cases)

    def rec(case_id: str, turn: int, escalate: bool = False, **kw) -> dict:
        return {"case_id": case_id, "turn": turn, "escalate": escalate, **kw}

    recs = [
        rec("c1", 0),
        rec(
            "c1",
            2,
            True,
            reason="billing_dispute",
            queue="Billing-Tier2",
            routing={"skill": "Billing", "priority": "HIGH", "vip": False},
        ),
        *(rec("c2", t) for t in (0, 2, 4, 6)),
        rec("c3", 0),
        rec("c3", 2, True, reason="complaint", routing={"skill": "billing"}),
        *(rec("c4", t) for t in (0, 2, 4, 6)),
        rec("c5", 0, True, routing={"skill": "billing"}),
        *(rec("c6", t) for t in (0, 2, 4)),
        rec("c6", 6, True, routing={"skill": "billing"}),
        {"case_id": "c7", "turn": 0, "error": "upstream 503"},
    ]
    write_jsonl(tenant_dir / "recs.jsonl", recs)
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 5\n')

    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    ran = invoke(cli, "run", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert as_json(ran)["errors"] == 1

    result = invoke(cli, "gate", "--json")
    assert result.exit_code == 3
    g = as_json(result)
    esc = g["escalation"]
    assert (esc["tp"], esc["fp"], esc["fn"], esc["tn"]) == (3, 1, 1, 1)
    assert (esc["early"], esc["late"]) == (0, 1)
    assert esc["precision"] == pytest.approx(0.75)
    assert esc["recall"] == pytest.approx(0.75)
    assert esc["f1"] == pytest.approx(0.75)
    assert g["cases"] == 7 and g["passed_cases"] == 2 and g["errors"] == 1
    assert g["verdict"] == "no-go"

    routing = g["routing"]
    assert routing["cases"] == 3
    assert routing["accuracy"] == pytest.approx(2 / 3, abs=1e-3)  # c1 and c6 right, c5 wrong
    assert routing["per_attribute"]["skill"] == pytest.approx(2 / 3, abs=1e-3)
    assert routing["per_attribute"]["priority"] == pytest.approx(1.0)  # only c1 carries priority
    assert routing["per_attribute"]["vip"] == pytest.approx(1.0)
    assert routing["per_attribute"]["queue"] == pytest.approx(1.0)  # only c1 carries a queue

    whys = {f["case_id"]: f["why"] for f in g["failures"]}
    assert set(whys) == {"c2", "c3", "c5", "c6", "c7"}
    assert whys["c2"] == "missed escalation"
    assert whys["c3"].startswith("unnecessary escalation")
    assert "wrong skill" in whys["c5"] and "clinical" in whys["c5"]
    assert "3 customer turns late" in whys["c6"]
    assert whys["c7"].startswith("agent error") and "upstream 503" in whys["c7"]


def test_recorded_agent_missing_a_turn_fails_that_case(tenant_dir: Path, cli) -> None:
    cases = [make_case(f"k{i}", ["hello", "thanks"]) for i in range(3)]
    write_jsonl(tenant_dir / "cases.jsonl", cases)
    recs = [{"case_id": f"k{i}", "turn": t, "escalate": False} for i in range(3) for t in (0, 2)]
    write_jsonl(tenant_dir / "recs.jsonl", recs[:-1])  # k2 turn 2 never recorded
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 1\n')
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    g = as_json(invoke(cli, "gate", "--json"))
    assert g["passed_cases"] == 2 and g["errors"] == 1
    assert [f["case_id"] for f in g["failures"]] == ["k2"]
    assert g["failures"][0]["why"].startswith("agent error")


# -- a python agent --------------------------------------------------------------------------


def test_python_agent_error_fails_the_case(tenant_dir: Path, cli, monkeypatch) -> None:
    module = f"sp_agent_{uuid.uuid4().hex[:8]}"
    (tenant_dir / f"{module}.py").write_text(
        "def recommend(ctx):\n"
        "    if ctx.case_id == 'p3':\n"
        "        raise RuntimeError('model exploded')\n"
        "    last = ctx.turns[-1].text.lower()\n"
        "    if 'supervisor' in last:\n"
        "        return {'escalate': True, 'reason': 'requested_human', 'routing': {'skill': 'general'}}\n"
        "    return {'escalate': False, 'reply': 'ok'}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tenant_dir))
    cases = [
        make_case(
            "p1", ["hi", "I want a supervisor"], escalated=True, at_customer_turn=1, routing={"skill": "general"}
        ),
        make_case("p2", ["hi", "thanks"]),
        make_case("p3", ["hi", "thanks"]),
        make_case("p4", ["where is my order", "thanks"]),
    ]
    write_jsonl(tenant_dir / "cases.jsonl", cases)
    write_config(tenant_dir, f'[agent]\nkind = "python"\ntarget = "{module}:recommend"\n\n[gate]\nmin_cases = 1\n')

    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    ran = invoke(cli, "run", "--json")
    assert ran.exit_code == 0, ran.stderr  # an agent failure is a failed case, not a harness failure
    assert as_json(ran)["errors"] == 1

    result = invoke(cli, "gate", "--pass-rate", "0.5", "--json")
    g = as_json(result)
    assert g["errors"] == 1
    assert g["passed_cases"] == 3
    assert [f["case_id"] for f in g["failures"]] == ["p3"]
    why = g["failures"][0]["why"]
    assert why.startswith("agent error") and "model exploded" in why
    # 3/4 clears a 0.5 bar, but max_errors = 0: the verdict is not go
    assert g["verdict"] != "go" and g["passed"] is False
    assert result.exit_code == 3
    esc = g["escalation"]
    assert (esc["tp"], esc["fp"], esc["fn"], esc["tn"]) == (1, 0, 0, 2)


def test_python_agent_bad_target_exits_2(tenant_dir: Path, cli) -> None:
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("p1", ["hi"])])
    write_config(tenant_dir, '[agent]\nkind = "python"\ntarget = "no_such_module_sp:fn"\n')
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    result = invoke(cli, "run")
    assert result.exit_code == 2
    assert "agent.target" in result.stderr
    assert "Traceback" not in result.stderr


# -- every command: --help and --json --------------------------------------------------------


def test_root_help_lists_every_command(cli) -> None:
    result = invoke(cli, "--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_mentioning_json(cli, command: str) -> None:
    result = invoke(cli, command, "--help")
    assert result.exit_code == 0, result.stderr
    assert "--json" in result.stdout
    assert "Usage" in result.stdout and command in result.stdout


def test_history_says_utc_and_shows_utc_in_any_time_zone(sample_pilot: str, fresh_dir: Path) -> None:
    """The table's "started (UTC)" is the JSON's UTC time, on a machine set to New York (DuckDB
    hands times back in the machine's zone)."""
    import os
    import subprocess
    import sys
    from datetime import datetime

    import shadowpilot

    src = str(Path(shadowpilot.__file__).resolve().parents[1])  # this checkout's package, in the subprocess too
    env = {**os.environ, "TZ": "America/New_York", "COLUMNS": "200", "PYTHONPATH": src}
    cli = [sys.executable, "-m", "shadowpilot.cli", "history"]
    table = subprocess.run(cli, cwd=fresh_dir, env=env, capture_output=True, text=True, check=True).stdout
    listed = subprocess.run([*cli, "--json"], cwd=fresh_dir, env=env, capture_output=True, text=True, check=True)
    started = datetime.fromisoformat(json.loads(listed.stdout)["runs"][0]["created_at"].replace("Z", "+00:00"))
    assert f"{sample_pilot}   {started:%m-%d %H:%M}" in table, table
