"""DESIGN.md's scoring rules, checked against hand-computed fixtures.

A recorded agent (a Recommendation JSONL) is replayed over cases in a real DuckDB
store; the gate's counts must equal what the rules give when worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shadowpilot import workflow
from shadowpilot.config import load_settings
from shadowpilot.evals import wilson_interval
from tests.conftest import GATE_KEYS, make_case, write_config, write_jsonl

ROUTE = {"skill": "billing", "priority": "high", "vip": False}


def recording(case_id: str, customer_turns: int, escalate_at: int | None = None, **esc: Any) -> list[dict]:
    """One line per customer turn the replay reaches: no escalation until `escalate_at`."""
    last = customer_turns - 1 if escalate_at is None else escalate_at
    lines = []
    for k in range(last + 1):
        line: dict[str, Any] = {"case_id": case_id, "turn": 2 * k, "escalate": k == escalate_at, "reply": "ok"}
        if k == escalate_at:
            line.update(esc)
        lines.append(line)
    return lines


# (case, recorded lines): 14 cases whose outcome under the rules is worked out in the comments.
FIXTURES: list[tuple[dict, list[dict]]] = [
    # tn: neither escalates -> pass
    (make_case("c-tn", ["a", "b", "c"]), recording("c-tn", 3)),
    # fp: agent escalates, human did not -> unnecessary escalation, fail
    (make_case("c-fp", ["a", "b", "c"]), recording("c-fp", 3, 1, routing=ROUTE)),
    # fn: human escalated at customer turn 2, agent never -> missed, fail
    (
        make_case("c-fn", ["a", "b", "c"], escalated=True, at_customer_turn=2, routing=ROUTE),
        recording("c-fn", 3),
    ),
    # tp on the turn, routing matches case-insensitively, queue matches -> pass
    (
        make_case("c-exact", ["a", "b", "c"], escalated=True, at_customer_turn=2, routing=ROUTE, queue="billing-tier2"),
        recording(
            "c-exact", 3, 2, routing={"skill": "BILLING", "priority": "High", "vip": False}, queue="Billing-Tier2"
        ),
    ),
    # one customer turn early: the tolerance edge (1) -> on time, pass
    (
        make_case("c-early-edge", ["a", "b", "c"], escalated=True, at_customer_turn=2, routing=ROUTE),
        recording("c-early-edge", 3, 1, routing=ROUTE),
    ),
    # one customer turn late: the other edge -> on time, pass
    (
        make_case("c-late-edge", ["a", "b", "c"], escalated=True, at_customer_turn=1, routing=ROUTE),
        recording("c-late-edge", 3, 2, routing=ROUTE),
    ),
    # two customer turns early -> early, fail
    (
        make_case("c-early", ["a", "b", "c", "d"], escalated=True, at_customer_turn=3, routing=ROUTE),
        recording("c-early", 4, 1, routing=ROUTE),
    ),
    # two customer turns late -> late, fail
    (
        make_case("c-late", ["a", "b", "c"], escalated=True, at_customer_turn=0, routing=ROUTE),
        recording("c-late", 3, 2, routing=ROUTE),
    ),
    # at_turn null: timing not scored, however late -> pass
    (
        make_case("c-null-at", ["a", "b", "c", "d"], escalated=True, at_customer_turn=None, routing=ROUTE),
        recording("c-null-at", 4, 3, routing=ROUTE),
    ),
    # on time but the wrong priority -> fail
    (
        make_case("c-priority", ["a", "b"], escalated=True, at_customer_turn=1, routing=ROUTE),
        recording("c-priority", 2, 1, routing={**ROUTE, "priority": "normal"}),
    ),
    # on time but vip omitted: an omitted attribute is a mismatch -> fail
    (
        make_case("c-omit", ["a", "b"], escalated=True, at_customer_turn=1, routing=ROUTE),
        recording("c-omit", 2, 1, routing={"skill": "billing", "priority": "high"}),
    ),
    # critical, missed -> fail, and fails the gate whatever the pass rate
    (
        make_case("c-critical", ["help", "b"], escalated=True, at_customer_turn=0, routing=ROUTE, critical=True),
        recording("c-critical", 2),
    ),
    # the agent failed on its first turn -> an error, a failed case, not in the confusion counts
    (make_case("c-error", ["a", "b"]), [{"case_id": "c-error", "turn": 0, "escalate": False, "error": "timeout"}]),
    # the human outcome carries only skill and a queue: only those are scored; the queue is wrong
    (
        make_case(
            "c-queue", ["a", "b"], escalated=True, at_customer_turn=1, routing={"skill": "clinical"}, queue="nurse"
        ),
        recording("c-queue", 2, 1, routing={"skill": "clinical", "priority": "low"}, queue="front-desk"),
    ),
]


def _setup(tenant_dir: Path, fixtures=FIXTURES, gate: str = "") -> Path:
    cases = write_jsonl(tenant_dir / "cases.jsonl", [c for c, _ in fixtures])
    write_jsonl(tenant_dir / "recs.jsonl", [line for _, lines in fixtures for line in lines])
    write_config(tenant_dir, f'[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\n{gate}')
    return cases


def _gate(tenant_dir: Path, run_id: str | None = None, **gate: Any):
    settings = load_settings(tenant_dir / "shadowpilot.toml", overrides={"gate": gate}, environ={})
    return workflow.gate(settings, run_id)


@pytest.fixture
def scored(tenant_dir: Path):
    cases = _setup(tenant_dir)
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    workflow.import_files(settings, [cases])
    run = workflow.run(settings)
    return run, _gate(tenant_dir)


def test_confusion_counts_match_hand_computed(scored):
    run, g = scored
    assert run.cases == 14 and run.errors == 1
    e = g.escalation
    # tp: exact, both edges, early, late, null-at, priority, omit, queue = 9
    assert (e.tp, e.fp, e.fn, e.tn) == (9, 1, 2, 1)
    assert (e.early, e.late) == (1, 1)
    assert e.precision == pytest.approx(0.9, abs=1e-3)
    assert e.recall == pytest.approx(9 / 11, abs=1e-3)
    assert e.f1 == pytest.approx(2 * 0.9 * (9 / 11) / (0.9 + 9 / 11), abs=1e-3)


def test_pass_rate_interval_and_verdict(scored):
    _, g = scored
    assert (g.cases, g.passed_cases, g.errors) == (14, 5, 1)
    assert g.pass_rate == pytest.approx(5 / 14, abs=1e-4)
    lo, hi = g.pass_rate_ci
    assert lo == pytest.approx(0.1634, abs=1e-3) and hi == pytest.approx(0.6124, abs=1e-3)
    assert g.critical_failed == ["c-critical"]
    assert g.verdict == "no-go" and g.passed is False


def test_routing_accuracy_per_attribute(scored):
    _, g = scored
    r = g.routing
    assert r.cases == 9
    assert r.accuracy == pytest.approx(6 / 9, abs=1e-3)  # priority, omit and queue cases fail routing
    assert r.per_attribute["skill"] == 1.0
    assert r.per_attribute["priority"] == pytest.approx(7 / 8, abs=1e-3)  # c-queue carries no priority
    assert r.per_attribute["vip"] == pytest.approx(7 / 8, abs=1e-3)
    assert r.per_attribute["queue"] == 0.5  # c-exact right, c-queue wrong


def test_failure_reasons_name_what_went_wrong(scored):
    _, g = scored
    why = {f.case_id: f.why for f in g.failures}
    assert set(why) == {"c-fp", "c-fn", "c-early", "c-late", "c-priority", "c-omit", "c-critical", "c-error", "c-queue"}
    assert why["c-fp"].startswith("unnecessary escalation")
    assert why["c-fn"] == "missed escalation" and why["c-critical"] == "missed escalation"
    assert why["c-early"] == "escalated 2 customer turns early"
    assert why["c-late"] == "escalated 2 customer turns late"
    assert "wrong priority" in why["c-priority"] and "'normal'" in why["c-priority"]
    assert "wrong vip" in why["c-omit"] and "the agent gave no vip" in why["c-omit"]
    assert why["c-error"] == "agent error: timeout"
    assert "wrong queue" in why["c-queue"] and "priority" not in why["c-queue"]


def test_rescoring_a_stored_run_with_a_wider_tolerance(scored, tenant_dir):
    run, _ = scored
    wider = _gate(tenant_dir, run.run_id, escalation_turn_tolerance=2)
    assert wider.run_id == run.run_id
    assert (wider.escalation.early, wider.escalation.late) == (0, 0)
    assert wider.passed_cases == 7  # c-early and c-late are now on time
    narrower = _gate(tenant_dir, run.run_id, escalation_turn_tolerance=0)
    assert narrower.passed_cases == 3  # the two edge cases fall outside
    assert (narrower.escalation.early, narrower.escalation.late) == (2, 2)


def test_required_attributes_are_configurable(scored, tenant_dir):
    run, _ = scored
    g = _gate(tenant_dir, run.run_id, required_attributes=["skill"])
    assert set(g.routing.per_attribute) == {"skill", "queue"}
    assert g.passed_cases == 7  # c-priority and c-omit now pass; c-queue still has the wrong queue


def _uniform(tenant_dir: Path, n_pass: int, n_fail: int, *, critical_fail: bool = False, errors: int = 0):
    """n_pass cases kept correctly, n_fail missed escalations, `errors` agent errors."""
    fixtures = [(make_case(f"p{i}", ["a"]), recording(f"p{i}", 1)) for i in range(n_pass)]
    fixtures += [
        (
            make_case(f"f{i}", ["a"], escalated=True, at_customer_turn=0, critical=critical_fail and i == 0),
            recording(f"f{i}", 1),
        )
        for i in range(n_fail)
    ]
    fixtures += [
        (make_case(f"e{i}", ["a"]), [{"case_id": f"e{i}", "turn": 0, "escalate": False, "error": "HTTP 500"}])
        for i in range(errors)
    ]
    cases = _setup(tenant_dir, fixtures)
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    workflow.import_files(settings, [cases])
    return workflow.run(settings).run_id


def test_go_when_the_bar_is_cleared(tenant_dir):
    rid = _uniform(tenant_dir, 19, 1)
    g = _gate(tenant_dir, rid, pass_rate=0.9)
    assert g.verdict == "go" and g.passed and g.pass_rate == 0.95


def test_lower_bound_option_turns_go_into_insufficient_evidence(tenant_dir):
    rid = _uniform(tenant_dir, 18, 2)
    assert _gate(tenant_dir, rid, pass_rate=0.85).verdict == "go"
    g = _gate(tenant_dir, rid, pass_rate=0.85, use_lower_bound=True)
    assert g.verdict == "insufficient-evidence"  # 18/20: lower bound 0.699 < 0.85
    assert g.pass_rate_ci[0] == pytest.approx(0.699, abs=1e-3)
    assert "lower bound" in g.explanation


def test_too_few_cases_is_insufficient_evidence(tenant_dir):
    rid = _uniform(tenant_dir, 5, 0)
    g = _gate(tenant_dir, rid, min_cases=10)
    assert g.pass_rate == 1.0 and g.verdict == "insufficient-evidence" and not g.passed


def test_a_failed_critical_case_fails_the_gate_whatever_the_pass_rate(tenant_dir):
    rid = _uniform(tenant_dir, 19, 1, critical_fail=True)
    g = _gate(tenant_dir, rid, pass_rate=0.9)
    assert g.pass_rate == 0.95 and g.verdict == "no-go" and g.critical_failed == ["f0"]


def test_agent_errors_beyond_the_limit_fail_the_gate(tenant_dir):
    rid = _uniform(tenant_dir, 29, 0, errors=1)
    assert _gate(tenant_dir, rid, pass_rate=0.9).verdict == "no-go"  # max_errors defaults to 0
    g = _gate(tenant_dir, rid, pass_rate=0.9, max_errors=1)
    assert g.verdict == "go" and g.errors == 1 and g.passed_cases == 29  # the error case still failed


def test_a_recording_missing_a_turn_is_an_agent_error_not_a_pass(tenant_dir):
    fixtures = [(make_case("gap", ["a", "b", "c"]), recording("gap", 3)[:2])]  # no line for the last turn
    cases = _setup(tenant_dir, fixtures)
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    workflow.import_files(settings, [cases])
    rid = workflow.run(settings).run_id
    g = _gate(tenant_dir, rid, min_cases=1)
    assert g.errors == 1 and g.passed_cases == 0
    assert "no recorded recommendation" in g.failures[0].why


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (17, 20, (0.6396, 0.9476)),  # DESIGN.md's example
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (1, 2, (0.0945, 0.9055)),
    ],
)
def test_wilson_interval(k, n, expected):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(expected[0], abs=1e-4) and hi == pytest.approx(expected[1], abs=1e-4)


def test_gate_json_shape_matches_design(scored):
    _, g = scored
    data = json.loads(g.model_dump_json())
    assert set(data) >= GATE_KEYS
    assert set(data["escalation"]) >= {"tp", "fp", "fn", "tn", "precision", "recall", "f1", "early", "late"}
    assert set(data["routing"]) >= {"cases", "accuracy", "per_attribute"}
