"""The ASR scorer on hand-built frames: heard text beside what was said, per turn, per case and
corpus-level (summed edits over summed reference words), the check, and "not measured"."""

from __future__ import annotations

import jiwer
import pandas as pd
import pytest

from shadowpilot.evals import score_frame
from shadowpilot.evals.columns import first_repeat
from shadowpilot.evals.derive import heard_references
from shadowpilot.evals.gate import evaluate_gate
from shadowpilot.evals.reply import normalise
from shadowpilot.evals.scorer import GateInputs
from shadowpilot.evals.scorers.asr import AsrScorer, score_hearing, turn_wer
from shadowpilot.types import GateConfig

from .frames import frame, good, quiet

SAID = {
    ("a", 0): "I was charged twice for my bill",  # 7 words
    ("a", 2): "thank you very much",  # 4 words
    ("b", 0): "this is an emergency",  # 4 words
}
HEARD = {
    ("a", 0): "I was charged wife for my bill",  # 1 substitution
    ("a", 2): "Thank you very much.",  # 0 after normalisation
    ("b", 0): "this is emergency please",  # 1 deletion, 1 insertion
}


def heard_turns(heard: dict = HEARD) -> pd.DataFrame:
    rows = [
        {"case_id": c, "repeat": 0, "turn": t, "heard": heard[(c, t)], "reference": said, "audio_s": 3.0}
        | {"asr_ms": 120.0, "asr_cost_usd": 0.0003}
        for (c, t), said in SAID.items()
    ]
    return score_hearing(pd.DataFrame(rows))


def test_each_turns_wer_is_jiwers_after_the_reply_normalisation() -> None:
    scored = heard_turns()
    ours = turn_wer(scored).tolist()
    theirs = [jiwer.wer(*normalise([SAID[k], HEARD[k]])) for k in SAID]
    assert ours == pytest.approx(theirs) and ours == pytest.approx([1 / 7, 0.0, 2 / 4])


def test_per_case_and_corpus_wer_sum_the_edits_before_dividing() -> None:
    f = frame(good("a"), quiet("b"), quiet("text-only"))
    scores = score_frame(f, GateConfig(), asr_turns=heard_turns())
    by_case = scores.set_index("case_id")
    assert by_case.loc["a", "asr_wer"] == pytest.approx(1 / 11)  # 1 edit over 7 + 4 words, not mean(1/7, 0)
    assert by_case.loc["b", "asr_wer"] == pytest.approx(0.5)
    assert by_case.loc["text-only", "asr_turns"] == 0 and pd.isna(by_case.loc["text-only", "asr_wer"])
    s = AsrScorer().gate(GateInputs(first_repeat(scores), scores, GateConfig(), "run-x")).summary
    assert s is not None
    assert (s.turns, s.cases, s.edits, s.ref_words) == (3, 2, 3, 15)  # type: ignore[attr-defined]
    assert s.wer == pytest.approx(3 / 15, abs=1e-4)  # type: ignore[attr-defined]
    assert s.worst_case_wer == pytest.approx(0.5)  # type: ignore[attr-defined]


def test_max_asr_wer_is_a_check_only_when_set() -> None:
    scores = score_frame(frame(good("a"), quiet("b")), GateConfig(), asr_turns=heard_turns())
    assert AsrScorer().gate(GateInputs(first_repeat(scores), scores, GateConfig(), "r")).checks == []
    strict = GateConfig(max_asr_wer=0.1)
    (failed,) = AsrScorer().gate(GateInputs(first_repeat(scores), scores, strict, "r")).checks
    assert failed.name == "asr_wer" and not failed.passed and "0.200" in failed.detail
    (passed,) = AsrScorer().gate(GateInputs(first_repeat(scores), scores, GateConfig(max_asr_wer=0.25), "r")).checks
    assert passed.passed
    result = evaluate_gate(scores, strict.model_copy(update={"min_cases": 0, "pass_rate": 0.0}), "r")
    assert result.verdict == "no-go" and result.asr is not None
    assert [c.name for c in result.checks if not c.passed] == ["asr_wer"]
    assert result.model_dump(mode="json")["asr"]["wer"] == pytest.approx(0.2)


def test_a_text_run_is_not_measured_and_never_checked() -> None:
    scores = score_frame(frame(good("a"), quiet("b")), GateConfig(max_asr_wer=0.0))
    share = AsrScorer().gate(GateInputs(first_repeat(scores), scores, GateConfig(max_asr_wer=0.0), "r"))
    assert share.summary is None and share.checks == []
    body = evaluate_gate(scores, GateConfig(max_asr_wer=0.0), "r").model_dump(mode="json")
    assert body["asr"] is None and "asr_wer" not in [c["name"] for c in body["checks"]]


def test_heard_references_pairs_each_heard_step_with_its_turns_text_in_the_version_used() -> None:
    cases = pd.DataFrame({"case_id": ["a", "b"], "repeat": [0, 0], "seq": [2, 1]})
    steps = pd.DataFrame(
        {
            "case_id": ["a", "a", "b"],
            "repeat": [0, 0, 0],
            "turn": [0, 2, 0],
            "heard": ["i was charged", None, "emergency"],
        }
    )
    turns = pd.DataFrame(
        {
            "seq": [1, 2, 2, 3],
            "turn": [0, 0, 2, 0],
            "speaker": ["customer"] * 4,
            "text": ["this is an emergency", "I was charged twice", "thanks", "another version"],
        }
    )
    out = heard_references(cases, steps, turns)
    assert out[["case_id", "turn", "heard", "reference"]].values.tolist() == [
        ["a", 0, "i was charged", "I was charged twice"],
        ["b", 0, "emergency", "this is an emergency"],
    ]


def test_decision_flips_are_the_cases_decided_otherwise_on_b() -> None:
    from shadowpilot.evals.compare import compare_scores

    from .frames import ROUTE, case, missed

    a = score_frame(frame(good("same"), missed("esc"), good("route"), quiet("err")), GateConfig())
    b = score_frame(
        frame(
            good("same"),
            good("esc"),
            case(
                "route", human=True, human_turn=1, agent=True, agent_turn=1, expected=ROUTE, got={**ROUTE, "skill": "x"}
            ),
            quiet("err", error="ASR failed at turn 0: HTTP 500"),
        ),
        GateConfig(),
    )
    flips = {f.case_id: f for f in compare_scores(a, b, "text", "audio").flipped}
    assert set(flips) == {"esc", "route"}  # an errored case decided nothing: no flip
    assert (flips["esc"].what, flips["esc"].escalated_a, flips["esc"].escalated_b) == ("escalation", False, True)
    assert (flips["route"].what, flips["route"].routing_ok_a, flips["route"].routing_ok_b) == ("routing", True, False)


def test_audio_minutes_and_asr_cost_are_per_conversation_heard() -> None:
    scores = score_frame(frame(good("a"), quiet("b"), quiet("text-only")), GateConfig(), asr_turns=heard_turns())
    by_case = scores.set_index("case_id")
    assert by_case.loc["a", "asr_audio_s"] == 6.0 and by_case.loc["b", "asr_audio_s"] == 3.0
    assert pd.isna(by_case.loc["text-only", "asr_cost_usd"])
    s = AsrScorer().gate(GateInputs(first_repeat(scores), scores, GateConfig(), "r")).summary
    assert s is not None
    assert s.audio_minutes == pytest.approx(9 / 60, abs=1e-4)  # type: ignore[attr-defined]
    assert s.audio_minutes_per_call == pytest.approx(4.5 / 60, abs=1e-4)  # type: ignore[attr-defined]
    assert s.asr_cost_total == pytest.approx(0.0009) and s.asr_cost_per_call == pytest.approx(0.00045)  # type: ignore[attr-defined]


def _timings(rows: list[tuple[str, int, float | None, float | None, float | None]]) -> pd.DataFrame:
    """Store.step_timings' shape: per step, the agent's times and the ASR's (None: not reported)."""
    return pd.DataFrame(
        [
            {"case_id": c, "repeat": 0, "turn": t, "asr_ms": asr, "first_token_ms": ft, "latency_ms": full}
            | {"cached": False}
            for c, t, asr, ft, full in rows
        ]
    )


def test_the_voice_budget_counts_from_the_end_of_speech_asr_time_plus_the_agents() -> None:
    from shadowpilot.types import Budgets

    f = frame(good("a"), quiet("b"))
    scores = score_frame(f, GateConfig(), asr_turns=heard_turns())
    timings = _timings([("a", 0, 100.0, 300.0, 900.0), ("a", 2, 200.0, 500.0, 1000.0), ("b", 0, 300.0, 700.0, 1500.0)])
    on = GateConfig(check_latency=True)
    share = AsrScorer().gate(GateInputs(first_repeat(scores), scores, on, "r", Budgets(), timings))
    s = share.summary
    assert s is not None
    # end of speech -> first token per turn: 400, 700, 1000 ms; p50 700, p95 970 (linear interpolation)
    assert (s.to_first_token_p50, s.to_first_token_p95) == (700.0, 970.0)  # type: ignore[attr-defined]
    assert (s.to_transcript_p50, s.to_full_reply_p50) == (200.0, 1200.0)  # type: ignore[attr-defined]
    (over,) = [c for c in share.checks if c.name == "asr_to_first_token"]
    assert not over.passed and "970 ms" in over.detail and "budget 800 ms" in over.detail
    roomy = AsrScorer().gate(
        GateInputs(first_repeat(scores), scores, on, "r", Budgets(asr_to_first_token_ms=1000), timings)
    )
    assert [c.passed for c in roomy.checks if c.name == "asr_to_first_token"] == [True]
    # without [gate] check_latency the figures are reported and nothing is checked
    off = AsrScorer().gate(GateInputs(first_repeat(scores), scores, GateConfig(), "r", Budgets(), timings))
    assert off.checks == [] and off.summary.to_first_token_p95 == 970.0  # type: ignore[union-attr]


def test_an_agent_that_reports_no_times_is_not_measured_and_fails_the_voice_budget() -> None:
    from shadowpilot.types import Budgets

    f = frame(good("a"), quiet("b"))
    scores = score_frame(f, GateConfig(), asr_turns=heard_turns())
    timings = _timings([("a", 0, 100.0, None, None), ("b", 0, 300.0, None, None)])  # the baseline: no times
    share = AsrScorer().gate(
        GateInputs(first_repeat(scores), scores, GateConfig(check_latency=True), "r", Budgets(), timings)
    )
    assert share.summary.to_transcript_p95 == 290.0 and share.summary.to_first_token_p95 is None  # type: ignore[union-attr]
    (check,) = [c for c in share.checks if c.name == "asr_to_first_token"]
    assert not check.passed and "not measured" in check.detail
