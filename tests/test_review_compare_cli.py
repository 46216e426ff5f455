"""`shadowpilot review`, `compare` and `gate --baseline` through the real CLI (typer's CliRunner).

The interactive review is driven through stdin, as a person at the terminal would type.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shadowpilot.cli import app
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.evals.test_review_compare import MIXED_CASES, RECS_A, RECS_B, REVIEW_CASES, REVIEW_RECS


def _setup(tenant_dir: Path, cases: list[dict], gate: str) -> None:
    write_config(tenant_dir, f'[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\n{gate}\n')
    write_jsonl(tenant_dir / "cases.jsonl", cases)


def _run(cli, tenant_dir: Path, recs: list[dict]) -> str:
    write_jsonl(tenant_dir / "recs.jsonl", recs)
    result = invoke(cli, "run", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["run_id"]


@pytest.fixture
def review_run(tenant_dir: Path, cli) -> str:
    """8 passing cases, c-fp (only the agent escalated), c-fn (only the human did): 8/10, no-go at 0.9."""
    _setup(tenant_dir, REVIEW_CASES, "min_cases = 1\npass_rate = 0.9")
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    return _run(cli, tenant_dir, REVIEW_RECS)


def _gate(cli, *args: str) -> tuple[int, dict]:
    result = invoke(cli, "gate", "--json", *args)
    assert result.exit_code in (0, 3), result.stderr
    return result.exit_code, json.loads(result.stdout)


def _listed(cli) -> dict[str, dict]:
    result = invoke(cli, "review", "--list", "--json")
    assert result.exit_code == 0, result.stderr
    return {d["case_id"]: d for d in json.loads(result.stdout)["disagreements"]}


def test_interactive_review_shows_both_sides_and_records_rulings(cli, review_run, monkeypatch, terminal):
    monkeypatch.setenv("SHADOWPILOT_REVIEWER", "ana")
    assert _gate(cli)[0] == 3
    result = cli.invoke(
        app,
        ["review"],
        input="a\nrefunds go to billing at once\nh\n\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "1/2 · c-fp" in out and "2/2 · c-fn" in out
    assert "Human vs AI" in out and "◀ AI escalated" in out and "◀ human escalated" in out
    assert "billing-tier2" in out  # the AI's queue on c-fp, beside the human's none
    assert "2 rulings recorded, 0 skipped" in out

    listed = _listed(cli)
    assert listed["c-fp"]["ruling"]["ruling"] == "ai_right"
    assert listed["c-fp"]["ruling"]["note"] == "refunds go to billing at once"
    assert listed["c-fp"]["ruling"]["ruled_by"] == "ana" and listed["c-fn"]["ruling"]["note"] is None
    code, g = _gate(cli)
    assert code == 0 and g["verdict"] == "go" and g["passed_cases"] == 9
    assert g["failures"] == [{"case_id": "c-fn", "why": "missed escalation (ruled: human was right, by ana)"}]

    # nothing left to review; --all steps through the ruled ones again
    again = cli.invoke(app, ["review"], input="q\n")
    assert again.exit_code == 0 and "no disagreement left to review" in again.stdout


def test_interactive_review_skip_quit_and_end_of_input(cli, review_run, terminal):
    quit_now = cli.invoke(app, ["review", "--by", "bo"], input="q\n")
    assert quit_now.exit_code == 0 and "0 rulings recorded" in quit_now.stdout
    skip_then_eof = cli.invoke(app, ["review", "--by", "bo"], input="s\nu\n")  # input ends at the note prompt
    assert skip_then_eof.exit_code == 0 and "0 rulings recorded, 1 skipped" in skip_then_eof.stdout
    wrong_key_then_rule = cli.invoke(app, ["review", "--by", "bo", "--case", "c-fn"], input="x\nH\nsure\n")
    assert wrong_key_then_rule.exit_code == 0
    assert "Please select one of the available options" in wrong_key_then_rule.stdout
    listed = _listed(cli)
    assert listed["c-fp"]["ruling"] is None
    assert listed["c-fn"]["ruling"]["ruling"] == "human_right" and listed["c-fn"]["ruling"]["ruled_by"] == "bo"


def test_non_interactive_ruling(cli, review_run):
    result = invoke(cli, "review", "--case", "c-fp", "--ruling", "ai_right", "--note", "policy", "--by", "cy", "--json")
    assert result.exit_code == 0, result.stderr
    rec = json.loads(result.stdout)["recorded"]
    assert (rec["case_id"], rec["ruling"], rec["note"], rec["ruled_by"], rec["run_id"]) == (
        "c-fp",
        "ai_right",
        "policy",
        "cy",
        review_run,
    )
    assert rec["ai_escalated"] is True and rec["ai_queue"] == "billing-tier2"
    code, g = _gate(cli)
    assert code == 0 and g["passed_cases"] == 9

    plain = invoke(cli, "review", "--case", "c-fn", "--ruling", "unclear", "--by", "cy")
    assert plain.exit_code == 0 and "ruled: unclear, by cy" in plain.stdout
    table = invoke(cli, "review", "--list")
    assert table.exit_code == 0 and "AI was right (cy)" in table.stdout and "unclear (cy)" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ruling", "ai_right"], "--ruling needs --case"),
        (["--case", "p0", "--ruling", "ai_right"], "not a disagreement"),
        (["--case", "nope", "--ruling", "ai_right"], "not in run"),
        (["--case", "c-fp", "--note", "x"], "--note goes with"),
        (["--run", "run-nope", "--list"], "run-nope"),
    ],
)
def test_review_usage_errors_exit_2(cli, review_run, args, message):
    result = invoke(cli, "review", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_bad_ruling_value_is_a_usage_error(cli, review_run):
    result = invoke(cli, "review", "--case", "c-fp", "--ruling", "maybe")
    assert result.exit_code == 2


@pytest.fixture
def two_runs(tenant_dir: Path, cli) -> tuple[str, str]:
    _setup(tenant_dir, MIXED_CASES, "min_cases = 1\npass_rate = 0.5")
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    return _run(cli, tenant_dir, RECS_A), _run(cli, tenant_dir, RECS_B)


def test_compare_within_noise_exits_0(cli, two_runs):
    a, b = two_runs
    result = invoke(cli, "compare", a, b, "--json")
    assert result.exit_code == 0, result.stderr
    c = json.loads(result.stdout)
    assert c["verdict"] == "within-noise" and c["worse"] is False
    assert [x["case_id"] for x in c["newly_failing"]] == ["h0", "h1"]
    assert [x["case_id"] for x in c["newly_passing"]] == ["h7"]
    assert c["metrics"]["pass_rate"]["delta"] == pytest.approx(-0.1)
    assert set(c["metrics"]) == {"pass_rate", "precision", "recall", "routing_accuracy", "error_rate"}
    text = invoke(cli, "compare", a, b)
    assert text.exit_code == 0 and "WITHIN-NOISE" in text.stdout and "Newly failing (2)" in text.stdout


def test_compare_worse_beyond_noise_exits_3(cli, tenant_dir):
    _setup(tenant_dir, [make_case(f"u{i}", ["a"]) for i in range(12)], "min_cases = 1")
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    keep = [{"case_id": f"u{i}", "turn": 0, "escalate": False} for i in range(12)]
    a = _run(cli, tenant_dir, keep)
    b = _run(cli, tenant_dir, [{**r, "escalate": i < 6} for i, r in enumerate(keep)])
    result = invoke(cli, "compare", a, b, "--json")
    assert result.exit_code == 3
    c = json.loads(result.stdout)
    assert c["verdict"] == "worse" and c["mcnemar"] == {
        "pass_to_fail": 6,
        "fail_to_pass": 0,
        "p_value": 0.03125,
        "worse_share": 1.0,
        "worse_share_ci": [0.5407, 1.0],
    }
    assert invoke(cli, "compare", a, b).exit_code == 3
    assert invoke(cli, "compare", a, "run-nope").exit_code == 2


def test_compare_a_newly_failing_critical_case_exits_3(cli, tenant_dir):
    cases = [make_case("crit", ["chest pain"], critical=True)] + [make_case(f"u{i}", ["a"]) for i in range(19)]
    _setup(tenant_dir, cases, "min_cases = 1")
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    keep = [{"case_id": c["id"], "turn": 0, "escalate": False} for c in cases]
    a = _run(cli, tenant_dir, keep)
    b = _run(cli, tenant_dir, [{**r, "escalate": r["case_id"] == "crit"} for r in keep])
    result = invoke(cli, "compare", a, b, "--json")
    assert result.exit_code == 3, result.stdout
    c = json.loads(result.stdout)
    assert c["verdict"] == "worse" and c["critical_regressions"] == ["crit"]
    assert c["mcnemar"]["p_value"] == 1.0  # one case changed: statistics alone would call it noise
    text = invoke(cli, "compare", a, b)
    assert text.exit_code == 3 and "WORSE" in text.stdout and "critical case crit" in text.stdout


def test_gate_baseline_fails_on_regression_then_passes_once_ruled(cli, two_runs):
    a, b = two_runs
    assert _gate(cli, "--run", b)[0] == 0
    code, g = _gate(cli, "--run", b, "--baseline", a)
    assert code == 3 and g["verdict"] == "no-go"
    check = next(c for c in g["checks"] if c["name"] == "no regressions")
    assert not check["passed"] and "h0, h1" in check["detail"]
    text = invoke(cli, "gate", "--run", b, "--baseline", a)
    assert text.exit_code == 3 and "no regressions" in text.stdout

    def rule(ruling: str) -> None:
        for case in ("h0", "h1"):
            ruled = invoke(cli, "review", "--run", b, "--case", case, "--ruling", ruling, "--by", "ana")
            assert ruled.exit_code == 0, ruled.stderr

    rule("human_right")  # the AI was wrong: the regressions stand
    code, g = _gate(cli, "--run", b, "--baseline", a)
    assert code == 3 and g["verdict"] == "no-go"
    rule("ai_right")  # the labels were wrong: nothing regressed
    code, g = _gate(cli, "--run", b, "--baseline", a)
    assert code == 0 and g["verdict"] == "go"
    assert invoke(cli, "gate", "--run", b, "--baseline", "run-nope").exit_code == 2


def test_help_for_the_new_commands_does_not_import_heavy_modules(tmp_path: Path):
    code = (
        "import sys\nfrom shadowpilot.cli import app\n"
        "for argv in (['review', '--help'], ['compare', '--help'], ['--help']):\n"
        "    try:\n        app(argv)\n    except SystemExit:\n        pass\n"
        "print([m for m in ('pandas', 'duckdb', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "review" in out.stdout and "compare" in out.stdout and "--json" in out.stdout


def test_review_without_a_terminal_says_what_to_use_and_exits_2(cli, review_run):
    result = invoke(cli, "review")  # CliRunner's stdin is no terminal, as in CI or a pipe
    assert result.exit_code == 2
    assert "stdin is not one" in result.stderr and "review --list" in result.stderr
    assert "--case ID --ruling" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "c-fp" not in result.stdout  # no case shown above a prompt nobody answers
    assert invoke(cli, "review", "--list").exit_code == 0  # the ways it names still work
    assert invoke(cli, "review", "--case", "c-fp", "--ruling", "unclear").exit_code == 0


def test_review_on_a_real_terminal_asks(cli, review_run, tenant_dir: Path):
    """A pty as stdin: the check lets a person at a terminal through (the CliRunner tests replace it)."""
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shadowpilot.cli", "review", "--by", "pat"],
            cwd=tenant_dir,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(leader, b"u\nseen on a terminal\nq\n")
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 0, err
    assert "1/2 · c-fp" in out and "1 ruling recorded" in out
    assert _listed(cli)["c-fp"]["ruling"]["note"] == "seen on a terminal"
