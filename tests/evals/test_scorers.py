"""Every scorer on hand-built frames: its per-case columns, its summary, its check (milliseconds each)."""

from __future__ import annotations

import pandas as pd
import pytest

from shadowpilot.evals import columns as col
from shadowpilot.evals import score_frame
from shadowpilot.evals.columns import first_repeat
from shadowpilot.evals.scorer import GateInputs, ScorerResult
from shadowpilot.evals.scorers import SCORERS
from shadowpilot.evals.scorers.cost import CostScorer
from shadowpilot.evals.scorers.escalation import EscalationScorer, score_escalation
from shadowpilot.evals.scorers.handoff import HandoffScorer
from shadowpilot.evals.scorers.judge import JudgeScorer
from shadowpilot.evals.scorers.latency import LatencyScorer
from shadowpilot.evals.scorers.reply import ReplyScorer
from shadowpilot.evals.scorers.routing import RoutingScorer
from shadowpilot.evals.scorers.weighted import WeightedScorer
from shadowpilot.types import Budgets, GateConfig, JudgeSummary, Weights

from .frames import ROUTE, case, frame, good, missed, quiet, scored


def gate_of(scorer: object, scores: pd.DataFrame, config: GateConfig | None = None, **kw: object) -> ScorerResult:
    inputs = GateInputs(first_repeat(scores), scores, config or GateConfig(), "run-x", **kw)  # type: ignore[arg-type]
    return scorer.gate(inputs)  # type: ignore[attr-defined]


def test_the_registry_lists_every_scorer_once_in_check_order() -> None:
    names = [s.name for s in SCORERS]
    assert names == ["escalation", "routing", "reply", "latency", "cost", "handoff", "weighted_score", "judge", "asr"]


def test_every_scorer_declares_columns_the_frame_has() -> None:
    f = frame(good("a"))
    for s in SCORERS:
        assert set(s.needs(GateConfig())) <= set(f.columns), s.name


def test_a_frame_missing_a_declared_column_names_the_scorer() -> None:
    with pytest.raises(ValueError, match="handoff needs agent_summary"):
        score_frame(frame(good("a")).drop(columns=["agent_summary"]), GateConfig())


# -- escalation -------------------------------------------------------------------------------


def test_escalation_decision_counts_cases_and_an_error_is_no_decision() -> None:
    unneeded, errored = case("fp", agent=True, agent_turn=0), quiet("err", error="timeout")
    f = frame(good("tp"), unneeded, missed("fn"), quiet("tn"), errored)
    esc = score_escalation(f, tolerance=1)
    assert esc["decision"].tolist()[:4] == ["tp", "fp", "fn", "tn"] and pd.isna(esc["decision"].iloc[4])
    s = gate_of(EscalationScorer(), score_frame(f, GateConfig())).summary
    assert s is not None
    assert (s.tp, s.fp, s.fn, s.tn) == (1, 1, 1, 1)  # type: ignore[attr-defined]
    assert (s.precision, s.recall, s.f1) == (0.5, 0.5, 0.5)  # type: ignore[attr-defined]


def test_escalation_timing_within_the_tolerance_is_on_time() -> None:
    rows = [case(f"t{d}", human=True, human_turn=3, agent=True, agent_turn=3 + d) for d in (-2, -1, 0, 1, 2)]
    rows.append(case("untimed", human=True, human_turn=None, agent=True, agent_turn=0))
    esc = score_escalation(frame(*rows), tolerance=1)
    assert esc["timing"].tolist()[:5] == ["early", "on_time", "on_time", "on_time", "late"]
    assert pd.isna(esc["timing"].iloc[5])  # no human turn: timing not scored
    assert esc["turn_delta"].tolist()[:5] == [-2, -1, 0, 1, 2]
    wider = score_escalation(frame(*rows), tolerance=2)
    assert wider["timing"].tolist()[:5] == ["on_time"] * 5


def test_precision_and_recall_are_none_without_cases_of_their_kind() -> None:
    s = gate_of(EscalationScorer(), scored(quiet("a"), quiet("b"))).summary
    assert (s.precision, s.recall, s.f1) == (None, None, None)  # type: ignore[attr-defined]


# -- routing ----------------------------------------------------------------------------------


def test_routing_strings_compare_case_insensitively_and_an_omitted_attribute_is_wrong() -> None:
    shouty = {"skill": " BILLING ", "priority": "High", "vip": "TRUE", "queue": "Billing-Tier2"}
    omits = {k: v for k, v in ROUTE.items() if k != "priority"}
    s = scored(
        good("same"),
        case("shouty", human=True, human_turn=1, agent=True, agent_turn=1, expected=ROUTE, got=shouty),
        case("omits", human=True, human_turn=1, agent=True, agent_turn=1, expected=ROUTE, got=omits),
    )
    assert s["routing_ok"].tolist() == [True, True, False]
    assert s[col.match("priority")].tolist() == [True, True, False]
    assert s.loc[2, "why"] == "wrong priority: the agent gave no priority, human 'high'"


def test_an_attribute_the_human_outcome_lacks_is_not_scored() -> None:
    no_vip = {k: v for k, v in ROUTE.items() if k != "vip"}
    s = scored(case("a", human=True, human_turn=1, agent=True, agent_turn=1, expected=no_vip, got=ROUTE))
    assert pd.isna(s.loc[0, col.match("vip")])
    assert bool(s.loc[0, "routing_ok"]) and s.loc[0, "attributes"] == (
        '{"skill": true, "priority": true, "queue": true}'
    )


def test_a_wrong_queue_fails_routing_and_routing_is_only_scored_when_both_escalate() -> None:
    wrong_queue = {**ROUTE, "queue": "general"}
    s = scored(
        case("q", human=True, human_turn=1, agent=True, agent_turn=1, expected=ROUTE, got=wrong_queue),
        missed("m"),
    )
    assert s.loc[0, "why"] == "wrong queue: agent 'general', human 'billing-tier2'"
    assert pd.isna(s.loc[1, "routing_ok"]) and s.loc[1, [col.match(a) for a in col.routed(["skill"])]].isna().all()
    summary = gate_of(RoutingScorer(), s).summary
    assert summary.cases == 1 and summary.accuracy == 0.0  # type: ignore[attr-defined]
    assert summary.per_attribute == {"skill": 1.0, "priority": 1.0, "vip": 1.0, "queue": 0.0}  # type: ignore[attr-defined]


# -- handoff ----------------------------------------------------------------------------------


def test_handoff_needs_summary_sentiment_attributes_and_few_hops() -> None:
    s = scored(
        good("ok"),
        good("blank", summary="   "),
        good("no-sentiment", sentiment=None),
        case(
            "no-skill",
            human=True,
            human_turn=1,
            agent=True,
            agent_turn=1,
            expected=ROUTE,
            got={k: v for k, v in ROUTE.items() if k != "skill"},
        ),
        good("hops", hops=3),
        quiet("not-escalated"),
    )
    assert s["handoff_ok"].tolist()[:5] == [True, False, False, False, False]
    assert pd.isna(s.loc[5, "handoff_ok"])
    share = gate_of(HandoffScorer(), s, GateConfig(check_handoff=True))
    h = share.summary
    assert (h.escalations, h.ok, h.with_summary, h.with_sentiment, h.with_attributes) == (5, 1, 4, 4, 4)  # type: ignore[attr-defined]
    assert h.over_hops == ["hops"] and h.max_hops == 3  # type: ignore[attr-defined]
    assert h.failed == ["blank", "no-sentiment", "no-skill", "hops"]  # type: ignore[attr-defined]
    [check] = share.checks
    assert (check.name, check.passed, check.kind) == ("handoff", False, "optional")
    assert check.detail == (
        "1/5 escalations with summary, sentiment, the required attributes and at most 2 hops; "
        "failing: blank, no-sentiment, no-skill, hops"
    )


def test_the_handoff_check_is_off_unless_asked_for() -> None:
    assert gate_of(HandoffScorer(), scored(good("blank", summary=""))).checks == []


# -- reply ------------------------------------------------------------------------------------


def reply_turns(*rows: tuple[str, int, int, int, int, int]) -> pd.DataFrame:
    """(case_id, hits, edits, ref_words, char_edits, ref_chars) per scored turn, repeat 0."""
    return pd.DataFrame(
        [
            {"case_id": c, "repeat": 0, "hits": h, "edits": e, "ref_words": r, "char_edits": ce, "ref_chars": rc}
            for c, h, e, r, ce, rc in rows
        ]
    )


def test_reply_rates_are_corpus_level_per_case_and_per_run() -> None:
    turns = reply_turns(("a", 3, 1, 4, 2, 20), ("a", 4, 0, 4, 0, 20), ("b", 1, 3, 4, 10, 20))
    s = scored(quiet("a"), quiet("b"), quiet("c"), reply_turns=turns)
    assert s["reply_turns"].tolist() == [2, 1, 0]
    assert s.loc[0, "reply_wer"] == pytest.approx(1 / 8) and s.loc[0, "reply_cer"] == pytest.approx(2 / 40)
    assert s.loc[1, "reply_mer"] == pytest.approx(3 / 4)
    assert pd.isna(s.loc[2, "reply_wer"])  # nothing scored: NaN, not 0
    r = gate_of(ReplyScorer(), s).summary
    assert (r.turns, r.cases) == (3, 2)  # type: ignore[attr-defined]
    assert r.mer == pytest.approx(round(4 / 12, 4)) and r.similarity == pytest.approx(round(1 - 4 / 12, 4))  # type: ignore[attr-defined]


def test_reply_similarity_check_against_the_bar_and_not_measured_fails() -> None:
    turns = reply_turns(("a", 3, 1, 4, 2, 20))
    s = scored(quiet("a"), reply_turns=turns)
    [ok] = gate_of(ReplyScorer(), s, GateConfig(min_reply_similarity=0.7)).checks
    [short] = gate_of(ReplyScorer(), s, GateConfig(min_reply_similarity=0.8)).checks
    assert ok.passed and not short.passed
    assert ok.detail == "reply similarity (1 - MER) 0.750 over 1 turn, at least 0.700 required"
    none = gate_of(ReplyScorer(), scored(quiet("a")), GateConfig(min_reply_similarity=0.1))
    assert none.summary is None
    assert [(c.passed, c.detail) for c in none.checks] == [
        (False, "no reply could be compared with a human reply: not measured")
    ]


# -- latency and cost -------------------------------------------------------------------------


def timings(first_token: list[float | None], full: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame({"first_token_ms": first_token, "latency_ms": full, "cached": [False] * len(full)})


def test_latency_p95_against_the_budgets() -> None:
    t = timings([100.0, 200.0, 300.0, 900.0], [500.0, 600.0, 700.0, 1000.0])
    share = gate_of(LatencyScorer(), scored(quiet("a")), GateConfig(check_latency=True), timings=t)
    lat = share.summary
    assert lat.first_token_p50 == 250.0 and lat.first_token_p95 == 810.0  # type: ignore[attr-defined]
    assert lat.full_reply_p95 == 955.0 and lat.within_budget is False  # type: ignore[attr-defined]
    [c] = share.checks
    assert not c.passed
    assert c.detail == "p95 first token 810 ms (budget 800 ms), p95 full reply 955 ms (budget 1400 ms)"
    roomy = gate_of(
        LatencyScorer(),
        scored(quiet("a")),
        GateConfig(check_latency=True),
        timings=t,
        budgets=Budgets(first_token_ms=900),
    )
    assert roomy.checks[0].passed


def test_latency_not_measured_fails_its_check() -> None:
    share = gate_of(LatencyScorer(), scored(quiet("a")), GateConfig(check_latency=True), timings=None)
    assert share.summary.within_budget is None and share.summary.first_token_p95 is None  # type: ignore[attr-defined]
    assert [(c.passed, c.detail) for c in share.checks] == [(False, "the agent reported no times: not measured")]


def test_cost_per_call_against_the_budget_and_the_saving() -> None:
    s = scored(good("a", cost=0.02), quiet("b", cost=0.04), quiet("c", cost=0.09))
    b = Budgets(cost_per_call_usd=0.05, human_cost_per_call_usd=3.0)
    share = gate_of(CostScorer(), s, GateConfig(check_cost=True), budgets=b)
    c = share.summary
    assert (c.calls, c.per_call_mean, c.per_call_max, c.over_budget_calls) == (3, 0.05, 0.09, 1)  # type: ignore[attr-defined]
    assert c.escalation_share == pytest.approx(1 / 3, abs=1e-4)  # type: ignore[attr-defined]
    assert c.saving_per_call == pytest.approx(3.0 - (0.05 + 3.0 / 3))  # type: ignore[attr-defined]
    [check] = share.checks
    assert check.passed  # the mean is within the budget
    assert check.detail == "mean cost per call $0.0500 against the budget $0.0500 (1 call over)"


def test_cost_not_measured_or_without_a_budget_fails_its_check() -> None:
    unmeasured = gate_of(
        CostScorer(), scored(quiet("a")), GateConfig(check_cost=True), budgets=Budgets(cost_per_call_usd=0.05)
    )
    assert unmeasured.summary.per_call_mean is None  # type: ignore[attr-defined]
    assert unmeasured.checks[0].detail == "the agent reported no cost: not measured"
    no_budget = gate_of(CostScorer(), scored(quiet("a", cost=0.01)), GateConfig(check_cost=True))
    assert not no_budget.checks[0].passed
    assert no_budget.checks[0].detail == "check_cost is on but [budgets] cost_per_call_usd is not set"


# -- weighted score ---------------------------------------------------------------------------


def test_penalties_weigh_each_kind_of_failure() -> None:
    w = Weights()  # missed 5, unnecessary 1, late 2, early 1, routing 1, error 5; worst 5
    late_and_wrong = case(
        "lw", human=True, human_turn=1, agent=True, agent_turn=3, expected=ROUTE, got={**ROUTE, "queue": "x"}
    )
    s = scored(
        good("ok"), missed("m"), case("u", agent=True, agent_turn=0), late_and_wrong, quiet("e", error="timeout")
    )
    assert s["penalty"].tolist() == [0.0, w.missed, w.unnecessary, w.late + w.routing, w.error]
    summary = gate_of(WeightedScorer(), s).summary
    assert summary.score == round(1 - 14 / 25, 4)  # type: ignore[attr-defined]


def test_the_weighted_check_compares_the_exact_score() -> None:
    s = scored(*[good(f"g{i}") for i in range(2)], missed("m"))  # 1 - 5/15 = 0.6667 exact 0.66666...
    share = gate_of(WeightedScorer(), s, GateConfig(min_weighted_score=0.6667))
    assert share.summary.score == 0.6667  # type: ignore[attr-defined]
    assert not share.checks[0].passed  # 0.66666... < 0.6667: the rounded figure does not decide
    assert share.checks[0].detail == "weighted score 0.667, at least 0.667 required"


# -- judge ------------------------------------------------------------------------------------


def judged(score: float | None, turns: int, errors: int) -> JudgeSummary:
    return JudgeSummary(
        model="m",
        rubric_hash="h",
        turns=turns,
        cases=1,
        errors=errors,
        correctness=None,
        policy=None,
        tone=None,
        score=score,
    )


@pytest.mark.parametrize(
    ("summary", "passed", "detail"),
    [
        (None, False, "run run-x has not been judged: run `shadowpilot judge --run run-x`"),
        (judged(None, 0, 2), False, "the judge scored no reply (2 errors); at least 0.700 required"),
        (
            judged(0.8, 3, 1),
            False,
            "mean judge score 0.800 over 3 replies, at least 0.700 required; "
            "1 reply could not be judged: run `shadowpilot judge` again",
        ),
        (judged(0.8, 1, 0), True, "mean judge score 0.800 over 1 reply, at least 0.700 required"),
        (judged(0.6, 4, 0), False, "mean judge score 0.600 over 4 replies, at least 0.700 required"),
    ],
)
def test_the_judge_check(summary: JudgeSummary | None, passed: bool, detail: str) -> None:
    share = gate_of(JudgeScorer(), scored(quiet("a")), judge=summary, judge_min_score=0.7)
    assert share.summary is summary
    assert [(c.name, c.passed, c.detail) for c in share.checks] == [("judge", passed, detail)]


def test_the_judge_check_is_off_without_min_score() -> None:
    assert gate_of(JudgeScorer(), scored(quiet("a")), judge=None).checks == []
