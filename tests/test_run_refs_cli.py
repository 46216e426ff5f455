"""Run references through the real CLI: every flag that takes a run id reads `latest`, `latest~N`,
a unique prefix or suffix, and says which runs an ambiguous one could mean (exit 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shadowpilot.config import load_settings
from shadowpilot.store import Store
from shadowpilot.types import AgentStep, CallRun, Recommendation, RunManifest, Transcript
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.openai_server import OpenAIServer, Reply


def as_json(result) -> Any:
    assert result.stdout.strip(), f"no JSON on stdout; stderr: {result.stderr}"
    return json.loads(result.stdout)


def shortest_unique(ids: list[str], run_id: str, *, suffix: bool) -> str:
    """The shortest part of `run_id` (4 characters at least) no other id shares at that end."""
    for n in range(4, len(run_id)):
        part = run_id[-n:] if suffix else run_id[:n]
        if [i for i in ids if (i.endswith(part) if suffix else i.startswith(part))] == [run_id]:
            return part
    return run_id


@pytest.fixture
def runs(tenant_dir: Path, cli) -> list[str]:
    """Three complete replay runs of the baseline agent on three cases, oldest first."""
    write_config(tenant_dir, "[gate]\nmin_cases = 1\n")
    cases = [
        make_case("c1", ["I need to cancel my appointment"]),
        make_case("c2", ["this is an emergency, chest pain"], escalated=True, at_customer_turn=0),
        make_case("c3", ["what are your opening hours"]),
    ]
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "cases.jsonl", cases))).exit_code == 0
    ids = []
    for _ in range(3):
        ran = invoke(cli, "run", "--json")
        assert ran.exit_code == 0, ran.stderr
        ids.append(as_json(ran)["run_id"])
    return ids


def gated_run(cli, *args: str) -> str:
    result = invoke(cli, "gate", "--json", *args)
    assert result.exit_code in (0, 3), result.stderr
    return as_json(result)["run_id"]


def test_gate_run_reads_every_kind_of_reference(runs: list[str], cli) -> None:
    first, second, third = runs
    assert gated_run(cli) == third  # no --run: the latest complete run, as before
    assert gated_run(cli, "--run", "latest") == third
    assert gated_run(cli, "--run", "latest~1") == second
    assert gated_run(cli, "--run", "latest~2") == first
    assert gated_run(cli, "--run", shortest_unique(runs, first, suffix=True)) == first
    prefix = shortest_unique(runs, second, suffix=False)
    assert gated_run(cli, "--run", prefix) == second
    assert gated_run(cli, "--run", prefix.removeprefix("run-")) == second
    assert gated_run(cli, "--run", first) == first


def test_an_ambiguous_prefix_is_exit_2_listing_the_candidates(runs: list[str], cli) -> None:
    for args in (("gate", "--run", "run-"), ("compare", "latest", "run-"), ("report", "--baseline", "run-")):
        result = invoke(cli, *args, "--json") if args[0] != "report" else invoke(cli, *args, "--format", "json")
        assert result.exit_code == 2, (args, result.stderr)
        if args[0] != "report":  # with --json: the error object on stdout, nothing else
            assert "'run-' is ambiguous: 3 runs match" in json.loads(result.stdout)["error"]["message"]
        else:
            assert result.stdout == ""
        assert "'run-' is ambiguous: 3 runs match" in result.stderr
        assert all(run_id in result.stderr for run_id in runs)
        assert "Traceback" not in result.stderr


def test_an_unknown_reference_is_exit_2_suggesting_history(runs: list[str], cli) -> None:
    for ref in ("zz99", "latest~3", "latest-shadow"):
        result = invoke(cli, "gate", "--run", ref)
        assert result.exit_code == 2, result.stderr
        line = " ".join(result.stderr.split())
        assert f"no run '{ref}'" in line and line.endswith("see `shadowpilot history`")


def test_gate_baseline_and_compare_take_references(runs: list[str], cli) -> None:
    first, second, third = runs
    result = invoke(cli, "gate", "--run", "latest", "--baseline", "latest~2", "--json")
    assert result.exit_code in (0, 3), result.stderr
    gate = as_json(result)
    assert gate["run_id"] == third
    assert len([c for c in gate["checks"] if first in json.dumps(c)]) == 1  # the regression check names the baseline

    result = invoke(cli, "compare", "latest~2", shortest_unique(runs, second, suffix=True), "--json")
    assert result.exit_code == 0, result.stderr
    c = as_json(result)
    assert (c["run_a"], c["run_b"]) == (first, second)


def test_report_run_and_baseline_take_references(runs: list[str], cli) -> None:
    first, second, _ = runs
    result = invoke(cli, "report", "--format", "json", "--run", "latest~1", "--baseline", "latest~2")
    assert result.exit_code == 0, result.stderr
    data = as_json(result)
    assert data["manifest"]["run_id"] == second
    assert (data["comparison"]["run_a"], data["comparison"]["run_b"]) == (first, second)


def test_review_run_takes_a_reference(runs: list[str], cli) -> None:
    result = invoke(cli, "review", "--list", "--json", "--run", "latest~2")
    assert result.exit_code == 0, result.stderr
    assert as_json(result)["run_id"] == runs[0]
    ambiguous = invoke(cli, "review", "--list", "--run", "run-")
    assert ambiguous.exit_code == 2 and "ambiguous" in ambiguous.stderr


def test_judge_run_takes_a_reference(runs: list[str], cli, tenant_dir: Path) -> None:
    scores = {c: {"score": 5, "reason": "fine"} for c in ("correctness", "policy", "tone")}
    with OpenAIServer(lambda body: Reply(content=json.dumps(scores))) as server:
        judge = f'[judge]\nenabled = true\nmodel = "gpt-4o-mini"\nbase_url = "{server.base_url}"\n'
        write_config(tenant_dir, "[gate]\nmin_cases = 1\n\n" + judge)
        result = invoke(cli, "judge", "--json", "--run", "latest~1")
        assert result.exit_code == 0, result.stderr
        assert as_json(result)["run_id"] == runs[1]
        ambiguous = invoke(cli, "judge", "--run", "run-")
        assert ambiguous.exit_code == 2 and "ambiguous" in ambiguous.stderr


def test_latest_names_the_newest_replay_run_even_when_it_did_not_finish(runs: list[str], cli, tenant_dir: Path) -> None:
    first, second, third = runs
    with Store.open(load_settings(tenant_dir / "shadowpilot.toml", environ={}).store_path) as store:
        store.finish_run(third, "interrupted")
    assert gated_run(cli) == second  # the default still picks the latest complete run
    named = invoke(cli, "gate", "--run", "latest")
    assert named.exit_code == 2
    assert f"run {third} (latest) is interrupted, not complete" in " ".join(named.stderr.split())

    # run --resume --run takes a reference too: a suffix of the interrupted run finishes it
    resumed = invoke(cli, "run", "--resume", "--run", shortest_unique(runs, third, suffix=True), "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert as_json(resumed)["run_id"] == third
    assert gated_run(cli, "--run", "latest") == third
    done = invoke(cli, "run", "--resume", "--run", "latest~2")
    assert done.exit_code == 2 and f"run {first} is already complete" in done.stderr


def test_latest_shadow_names_the_newest_shadow_day(runs: list[str], cli, tenant_dir: Path) -> None:
    """Two shadow days stored as the shadow server stores its calls (Store.add_shadow_calls)."""
    with Store.open(load_settings(tenant_dir / "shadowpilot.toml", environ={}).store_path) as store:
        for day in (1, 2):
            case = Transcript.model_validate(make_case(f"live-{day}", ["hello there"]))
            rec = Recommendation(case_id=case.id, turn=0, escalate=False, reply="hi")
            call = CallRun(
                case_id=case.id,
                fingerprint=case.fingerprint(),
                steps=[AgentStep(turn=0, customer_turn=0, recommendation=rec)],
            )
            manifest = RunManifest(
                run_id=f"shadow-2030010{day}",
                created_at=datetime(2030, 1, day, tzinfo=UTC),
                tenant="acme",
                mode="shadow",
                agent={"kind": "baseline"},
                cases={},
                versions={},
            )
            store.add_shadow_calls([(case, call, manifest)], "twilio")
    assert gated_run(cli, "--run", "latest-shadow") == "shadow-20300102"
    assert gated_run(cli, "--run", "latest-shadow~1") == "shadow-20300101"
    assert gated_run(cli, "--run", "latest") == runs[-1]  # replay runs are counted apart
    # a shadow day is named by its date too; a part both days share is ambiguous
    assert gated_run(cli, "--run", "20300101") == "shadow-20300101"
    assert invoke(cli, "gate", "--run", "2030010").exit_code == 2
