"""The gate on hand-built frames: the verdict fold, pass^k, the evidence sentences, the JSON
layout of GateResult, and a scorer added by a caller (milliseconds each: no DuckDB, no replay)."""

from __future__ import annotations

import json
from typing import ClassVar

import pandas as pd

from shadowpilot.evals import evaluate_gate, score_frame
from shadowpilot.evals.gate import fold
from shadowpilot.evals.measure import pass_rate
from shadowpilot.evals.metrics import passes_needed, wilson_interval
from shadowpilot.evals.scorer import CaseInputs, GateInputs, ScorerResult, check
from shadowpilot.evals.scorers import SCORERS
from shadowpilot.types import (
    GATE_JSON_LAYOUT,
    Budgets,
    GateConfig,
    GateResult,
    JudgeSummary,
    ReplySummary,
    ScorerSummary,
)

from .frames import frame, good, missed, quiet, scored

TEN = [good(f"g{i}") for i in range(10)]


def gate(*rows: dict, config: GateConfig | None = None, **kw: object) -> GateResult:
    config = config or GateConfig()
    return evaluate_gate(scored(*rows, config=config), config, "run-x", **kw)  # type: ignore[arg-type]


# -- the verdict fold -------------------------------------------------------------------------


def test_too_few_cases_is_insufficient_evidence_whatever_else_failed() -> None:
    g = gate(good("a"), missed("m", critical=True), quiet("e", error="timeout"))
    assert g.verdict == "insufficient-evidence" and not g.passed
    assert g.explanation == "Only 3 cases; the gate needs at least 10 to decide. Import or replay more calls."
    assert [(c.name, c.passed, c.kind) for c in g.checks] == [
        ("min_cases", False, "core"),
        ("pass_rate", False, "core"),
        ("critical", False, "core"),
        ("errors", False, "core"),
    ]
    assert g.evidence is not None and g.evidence.min_cases_short == 7
    assert g.evidence.note.startswith("3 cases, but min_cases is 10: 7 more before any verdict; ")


def test_no_go_gives_its_reasons_in_order() -> None:
    config = GateConfig(min_cases=2, min_weighted_score=0.99)
    g = gate(good("g1"), good("g2"), missed("m", critical=True), quiet("e", error="timeout"), config=config)
    assert g.verdict == "no-go"
    assert g.explanation == (
        "Not ready: 2/4 cases passed (pass rate 50.0%), below the bar of 90%; 1 critical case failed: m; "
        "1 agent error, more than the 0 allowed; weighted_score: weighted score 0.500, at least 0.990 required."
    )
    assert g.critical_failed == ["m"]
    assert [(f.case_id, f.why) for f in g.failures] == [("m", "missed escalation"), ("e", "agent error: timeout")]


def test_an_optional_check_alone_makes_it_no_go() -> None:
    g = gate(*TEN, config=GateConfig(check_cost=True))
    assert g.verdict == "no-go"
    assert g.explanation == "Not ready: cost: the agent reported no cost: not measured."


def test_a_lower_bound_under_the_bar_is_insufficient_evidence_with_use_lower_bound() -> None:
    lo = round(wilson_interval(10, 10)[0], 4)
    g = gate(*TEN, config=GateConfig(use_lower_bound=True))
    assert g.verdict == "insufficient-evidence"
    assert g.explanation == (
        f"The pass rate 100.0% clears the bar 90%, but with 10 cases the 95% lower bound is {lo:.1%}; "
        "more cases are needed to be sure (use_lower_bound is on)."
    )
    assert f"{lo:.1%}" == "72.2%"
    [pr] = [c for c in g.checks if c.name == "pass_rate"]
    assert pr.detail == "pass rate lower bound 72.2% against the bar 90% (10/10 passed; 95% interval 72.2%-100.0%)"


def test_go_on_thin_evidence_carries_a_caution() -> None:
    g = gate(*TEN)
    assert g.verdict == "go" and g.passed
    assert g.explanation == "Ready: 10/10 cases passed (pass rate 100.0% against the bar 90%)."
    need = passes_needed(10, 10, 0.9, lower_bound=True)
    assert g.evidence is not None and g.evidence.passes_needed_point == 0 and need
    assert g.evidence.caution == (
        f"Thin evidence: on 10 cases the 95% lower bound of the pass rate is 72.2%, under the 90% bar; {need} more "
        "passing cases in a row would lift it over (the gate decides on the point estimate; use_lower_bound would "
        "require the bound)."
    )
    assert g.evidence.note == "pass rate 10/10 = 100.0% clears the 90% bar."


def test_evidence_when_below_the_bar_counts_the_passes_needed() -> None:
    g = gate(*TEN[:8], missed("m1"), missed("m2"))
    assert g.evidence is not None and g.evidence.passes_needed_point == 10  # (8 + m) / (10 + m) >= 0.9
    assert g.evidence.note == (
        "pass rate 8/10 = 80.0% is below the 90% bar: 10 more passing cases in a row would clear it."
    )


def test_the_fold_reads_kinds_not_positions() -> None:
    s = scored(*TEN)
    m, config = pass_rate(s), GateConfig()
    failing = check("toy", False, "never")
    core = evaluate_gate(s, config, "run-x").checks[:4]
    assert fold([failing, *core], m, config) == fold([*core, failing], m, config)
    assert fold([*core, failing], m, config) == ("no-go", "Not ready: toy: never.")
    assert fold(core, m, config)[0] == "go"


def test_pass_k_gates_on_every_repeat_and_a_critical_case_fails_on_any() -> None:
    rows = [good("a", critical=True), good("b"), missed("a", critical=True, repeat=1), good("b", repeat=1)]
    s = score_frame(frame(*rows), GateConfig())
    first = evaluate_gate(s, GateConfig(min_cases=2), "run-x")
    assert first.verdict == "go" and first.critical_failed == []
    assert first.pass_k is not None and (first.pass_k.k, first.pass_k.pass_k, first.pass_k.flips) == (2, 1, ["a"])
    k = evaluate_gate(s, GateConfig(min_cases=2, require_pass_k=True), "run-x")
    assert k.verdict == "no-go" and k.critical_failed == ["a"]
    assert k.pass_rate == 1.0  # the first repeat's rate is still reported
    assert k.explanation.startswith("Not ready: 1/2 cases passed (pass^2 50.0%), below the bar of 90%; 1 critical")
    [pr] = [c for c in k.checks if c.name == "pass_rate"]
    assert pr.detail.startswith("pass^2 50.0% against the bar 90% (1/2 passed; 95% interval ")


def test_breakdowns_group_by_tag_worst_first() -> None:
    g = gate(good("a", tags=["billing"]), missed("b", tags=["billing"]), good("c", tags=["clinical"]), quiet("d"))
    assert [(r.key, r.cases, r.passed) for r in g.breakdowns["tag"]] == [
        ("billing", 2, 1),
        ("(untagged)", 1, 1),
        ("clinical", 1, 1),
    ]


# -- GateResult: summaries as a list, the JSON as it always was --------------------------------


def full_result() -> GateResult:
    turns = pd.DataFrame(
        [{"case_id": "g0", "repeat": 0, "hits": 3, "edits": 1, "ref_words": 4, "char_edits": 2, "ref_chars": 20}]
    )
    config = GateConfig(check_cost=True, check_handoff=True, min_weighted_score=0.5, min_reply_similarity=0.5)
    judge = JudgeSummary(
        model="m", rubric_hash="h", turns=1, cases=1, errors=0, correctness=4.0, policy=5.0, tone=4.0, score=0.8
    )
    s = score_frame(frame(*[good(f"g{i}", cost=0.01) for i in range(3)]), config, turns)
    return evaluate_gate(s, config, "run-x", budgets=Budgets(cost_per_call_usd=0.05), judge=judge, judge_min_score=0.5)


def test_the_json_keeps_one_key_per_summary_in_its_place() -> None:
    g = full_result()
    body = json.loads(g.model_dump_json())
    assert list(body) == list(GATE_JSON_LAYOUT)
    assert body["weighted_score"] == 1.0 and body["reply"]["turns"] == 1 and body["judge"]["score"] == 0.8
    assert [s.key for s in g.summaries] == [
        "escalation",
        "routing",
        "reply",
        "latency",
        "cost",
        "handoff",
        "weighted_score",
        "judge",
    ]
    assert g.reply is g.summary(ReplySummary) and g.weighted_score == 1.0 and g.escalation.tp == 3
    assert "kind" not in body["checks"][0]


def test_stored_gate_json_reads_back_byte_for_byte_with_its_check_kinds() -> None:
    g = full_result()
    text = g.model_dump_json()
    back = GateResult.model_validate_json(text)
    assert back.model_dump_json() == text and back == g
    assert [c.kind for c in back.checks][:4] == ["core"] * 4 and {c.kind for c in back.checks[4:]} == {"optional"}


def test_a_summary_absent_from_a_result_is_null_and_old_json_without_it_loads() -> None:
    g = gate(quiet("a"))
    body = json.loads(g.model_dump_json())
    assert body["reply"] is None and body["judge"] is None and body["cost"] is not None
    assert GateResult.model_validate(body).model_dump(mode="json") == body


def test_with_summary_replaces_one_summary_in_place() -> None:
    g = full_result()
    assert g.judge is not None
    h = g.with_summary(g.judge.model_copy(update={"model": "other"}))
    assert h.judge is not None and h.judge.model == "other"
    assert [s.key for s in h.summaries] == [s.key for s in g.summaries]


# -- a scorer added by a caller: one class, no file of the package touched --------------------


class PoliteSummary(ScorerSummary):
    key: ClassVar[str] = "politeness"

    polite: int
    rude: list[str]


class PoliteScorer:
    """A toy: a handoff summary that says "please" is polite."""

    name = "politeness"

    def needs(self, config: GateConfig) -> list[str]:
        return ["agent_summary"]

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        said = inputs.frame["agent_summary"].fillna("").str.contains("please")
        return pd.DataFrame({"polite": said})

    def gate(self, inputs: GateInputs) -> ScorerResult:
        s = inputs.scores
        summary = PoliteSummary(polite=int(s["polite"].sum()), rude=s.loc[~s["polite"], "case_id"].tolist())
        return ScorerResult(summary, [check("politeness", not summary.rude, f"{len(summary.rude)} rude")])


def test_a_scorer_a_caller_adds_scores_summarises_and_gates() -> None:
    scorers = (*SCORERS, PoliteScorer())
    config = GateConfig(min_cases=2)
    s = score_frame(frame(good("a", summary="please hold"), good("b", summary="hold")), config, scorers=scorers)
    assert s["polite"].tolist() == [True, False]
    g = evaluate_gate(s, config, "run-x", scorers=scorers)
    assert g.summary(PoliteSummary) == PoliteSummary(polite=1, rude=["b"])
    assert [(c.name, c.passed, c.kind) for c in g.checks][-1] == ("politeness", False, "optional")
    assert g.verdict == "no-go" and g.explanation == "Not ready: politeness: 1 rude."
    body = json.loads(g.model_dump_json())
    assert list(body)[-1] == "politeness" and body["politeness"] == {"polite": 1, "rude": ["b"]}
    assert [x.name for x in SCORERS][-1] == "asr"  # the registry itself is unchanged
