"""Rulings, run comparison and the regression gate, on hand-computed fixtures.

Cases go through the real store (DuckDB in tmp_path) and the recorded agent; the figures
expected below are worked out by hand in the comments (the Newcombe intervals were also
checked against an independent implementation, statsmodels' `newcomb` method, where it has one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shadowpilot import workflow
from shadowpilot.config import load_settings
from shadowpilot.errors import NotFoundError, UsageError
from shadowpilot.evals.compare import (
    clopper_pearson,
    compare_scores,
    mcnemar_exact,
    newcombe_independent,
    paired_exact,
    verdict_of,
)
from shadowpilot.evals.frame import with_ruled_attributes
from shadowpilot.evals.regressions import CHECK_NAME
from shadowpilot.evals.rulings import apply_rulings
from shadowpilot.store import Store
from shadowpilot.workflow.gating import scoring_frame
from tests.conftest import make_case, write_config, write_jsonl

ROUTE = {"skill": "billing", "priority": "high", "vip": False}


def lines(case_id: str, customer_turns: int, escalate_at: int | None = None, **esc: Any) -> list[dict]:
    """The recorded agent's lines for one case: no escalation until `escalate_at` (a customer turn)."""
    last = customer_turns - 1 if escalate_at is None else escalate_at
    out = []
    for k in range(last + 1):
        line: dict[str, Any] = {"case_id": case_id, "turn": 2 * k, "escalate": k == escalate_at, "reply": f"r{k}"}
        if k == escalate_at:
            line.update(esc)
        out.append(line)
    return out


def settings_for(tenant_dir: Path, **gate: Any):
    return load_settings(tenant_dir / "shadowpilot.toml", overrides={"gate": gate}, environ={})


def setup_cases(tenant_dir: Path, cases: list[dict], gate: str = "min_cases = 1\npass_rate = 0.9") -> None:
    write_config(tenant_dir, f'[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\n{gate}\n')
    write_jsonl(tenant_dir / "cases.jsonl", cases)
    workflow.import_files(settings_for(tenant_dir), [tenant_dir / "cases.jsonl"])


def run_with(tenant_dir: Path, recs: list[dict]) -> str:
    """Replay the stored cases through a recorded agent with these lines; the run id."""
    write_jsonl(tenant_dir / "recs.jsonl", recs)
    return workflow.run(settings_for(tenant_dir)).run_id


# -- rulings ----------------------------------------------------------------------------------

# 10 cases: 8 kept correctly; c-fp escalated by the agent only; c-fn escalated by the human only.
# Pass rate 8/10 against the bar 0.9: no-go.
REVIEW_CASES = [make_case(f"p{i}", ["a", "b"]) for i in range(8)] + [
    make_case("c-fp", ["a", "b"]),
    make_case("c-fn", ["a", "b"], escalated=True, at_customer_turn=1, routing=ROUTE, queue="billing-tier2"),
]
REVIEW_RECS = [x for i in range(8) for x in lines(f"p{i}", 2)] + [
    *lines("c-fp", 2, 1, routing=ROUTE, queue="billing-tier2", reason="billing_dispute"),
    *lines("c-fn", 2),
]


@pytest.fixture
def reviewed(tenant_dir: Path) -> str:
    setup_cases(tenant_dir, REVIEW_CASES)
    return run_with(tenant_dir, REVIEW_RECS)


def test_disagreements_are_the_failed_cases_where_ai_and_human_differ(tenant_dir, reviewed):
    rid, items = workflow.disagreements(settings_for(tenant_dir))
    assert rid == reviewed
    assert [(d.case_id, d.decision) for d in items] == [("c-fp", "fp"), ("c-fn", "fn")]
    fp = items[0]
    assert fp.ai.escalated and fp.ai.turn == 2 and fp.ai.customer_turn == 1
    assert fp.ai.routing == ROUTE and fp.ai.queue == "billing-tier2"
    assert fp.transcript.outcome.escalated is False and fp.ruling is None


def test_ai_right_flips_the_case_and_the_gate(tenant_dir, reviewed):
    s = settings_for(tenant_dir)
    before = workflow.gate(s, reviewed)
    assert (before.passed_cases, before.verdict) == (8, "no-go")

    r = workflow.record_ruling(s, "c-fp", "ai_right", "policy says transfer refunds", by="ana")
    assert (r.ruled_by, r.run_id, r.ai.escalated, r.ai.customer_turn) == ("ana", reviewed, True, 1)
    after = workflow.gate(s, reviewed)
    assert after.passed_cases == 9 and after.pass_rate == 0.9 and after.verdict == "go"
    # the human's escalation counts now follow the corrected label: c-fp is a true positive
    assert (after.escalation.tp, after.escalation.fp, after.escalation.fn) == (1, 0, 1)
    assert [f.case_id for f in after.failures] == ["c-fn"]


def test_human_right_and_unclear_change_no_score_but_are_shown(tenant_dir, reviewed):
    s = settings_for(tenant_dir)
    workflow.record_ruling(s, "c-fn", "human_right", "clear supervisor request", by="ana")
    workflow.record_ruling(s, "c-fp", "unclear", None, by="bo")
    g = workflow.gate(s, reviewed)
    assert g.passed_cases == 8
    why = {f.case_id: f.why for f in g.failures}
    assert why["c-fn"] == "missed escalation (ruled: human was right, by ana: clear supervisor request)"
    assert why["c-fp"] == "unnecessary escalation at customer turn 2 (ruled: unclear, by bo)"
    with Store.open(s.store_path) as store:
        stored = dict(store.con.execute("SELECT case_id, why FROM scores WHERE run_id = ?", [reviewed]).fetchall())
    assert stored["c-fn"].endswith("(ruled: human was right, by ana: clear supervisor request)")


def test_a_newer_ruling_supersedes_and_the_history_is_kept(tenant_dir, reviewed):
    s = settings_for(tenant_dir)
    workflow.record_ruling(s, "c-fp", "ai_right", "first look", by="ana")
    workflow.record_ruling(s, "c-fp", "human_right", "second look: no reason to transfer", by="bo")
    assert workflow.gate(s, reviewed).passed_cases == 8  # the newer human_right ruling holds
    _, items = workflow.disagreements(s)
    assert items[0].ruling is not None and items[0].ruling.ruled_by == "bo"
    with Store.open(s.store_path) as store:
        history = store.rulings("c-fp")
    assert history["ruling"].tolist() == ["ai_right", "human_right"]
    assert history["note"].tolist() == ["first look", "second look: no reason to transfer"]


def test_the_ruled_label_scores_later_runs(tenant_dir, reviewed):
    """ai_right makes the AI's decision on the ruled run the expected outcome: a later agent
    that no longer escalates on c-fp now misses an escalation."""
    s = settings_for(tenant_dir)
    workflow.record_ruling(s, "c-fp", "ai_right", None, by="ana")
    later = run_with(tenant_dir, [x for i in range(8) for x in lines(f"p{i}", 2)] + lines("c-fp", 2) + lines("c-fn", 2))
    why = {f.case_id: f.why for f in workflow.gate(s, later).failures}
    assert why["c-fp"] == "missed escalation (ruled: AI was right, by ana)"


def test_a_ruling_on_an_old_case_version_does_not_apply_to_a_new_one(tenant_dir, reviewed):
    s = settings_for(tenant_dir)
    workflow.record_ruling(s, "c-fp", "ai_right", None, by="ana")
    changed = [c if c["id"] != "c-fp" else make_case("c-fp", ["a", "b (edited)"]) for c in REVIEW_CASES]
    write_jsonl(tenant_dir / "cases.jsonl", changed)
    assert workflow.import_files(s, [tenant_dir / "cases.jsonl"]).summary.updated == ["c-fp"]
    new_run = run_with(tenant_dir, REVIEW_RECS)
    assert "c-fp" in {f.case_id for f in workflow.gate(s, new_run).failures}  # new version: no ruling
    assert "c-fp" not in {f.case_id for f in workflow.gate(s, reviewed).failures}  # old version: ruled


def test_ai_right_on_timing_and_routing(tenant_dir):
    cases = [
        make_case("early", ["a", "b", "c", "d"], escalated=True, at_customer_turn=3, routing=ROUTE),
        make_case("route", ["a", "b"], escalated=True, at_customer_turn=1, routing=ROUTE, queue="billing-tier2"),
    ]
    setup_cases(tenant_dir, cases)
    rid = run_with(
        tenant_dir,
        lines("early", 4, 1, routing=ROUTE)
        + lines("route", 2, 1, routing={**ROUTE, "skill": "complaints"}, queue="patient-relations"),
    )
    s = settings_for(tenant_dir)
    assert workflow.gate(s, rid).passed_cases == 0  # two turns early; wrong skill and queue
    workflow.record_ruling(s, "early", "ai_right", "the caller was already irate", by="ana")
    workflow.record_ruling(s, "route", "ai_right", "complaints own concierge billing", by="ana")
    assert workflow.gate(s, rid).passed_cases == 2

    with Store.open(s.store_path) as store:
        frame = scoring_frame(store, rid, ["skill", "priority", "vip"])
        ruled = apply_rulings(frame, with_ruled_attributes(store.rulings_for_run(rid), ["skill", "priority", "vip"]))
    row = ruled.set_index("case_id").loc["route"]
    assert (row["expected.skill"], row["expected_queue"]) == ("complaints", "patient-relations")
    assert (row["original_expected.skill"], row["original_expected_queue"]) == ("billing", "billing-tier2")
    early = ruled.set_index("case_id").loc["early"]
    assert (early["expected_at_customer_turn"], early["original_expected_at_customer_turn"]) == (1, 3)
    assert early["ruling"] == "ai_right" and early["ruled_by"] == "ana"


def test_apply_rulings_is_pure_and_respects_the_case_version():
    frame = pd.DataFrame(
        {
            "case_id": ["x", "y"],
            "fingerprint": ["v2", "v1"],
            "expected_escalated": [False, False],
            "expected_queue": [None, None],
            "expected.skill": [None, None],
        }
    )
    rulings = pd.DataFrame(
        {
            "case_id": ["x", "y"],
            "fingerprint": ["v1", "v1"],  # x was ruled on its old version
            "ruling": ["ai_right", "ai_right"],
            "note": [None, "n"],
            "ruled_by": ["ana", "ana"],
            "ruled_at": [pd.Timestamp("2026-11-20", tz="UTC")] * 2,
            "run_id": ["r1", "r1"],
            "ai_escalated": [True, True],
            "ai_queue": ["q", "q"],
            "ai.skill": ["s", "s"],
        }
    )
    copy = frame.copy()
    out = apply_rulings(frame, rulings)
    pd.testing.assert_frame_equal(frame, copy)
    assert out["expected_escalated"].tolist() == [False, True]
    assert out["expected_queue"].tolist() == [None, "q"] and out["expected.skill"].tolist() == [None, "s"]
    assert out["original_expected_escalated"].tolist() == [False, False]
    assert pd.isna(out.loc[0, "ruling"]) and out.loc[1, "ruling"] == "ai_right"


def test_only_disagreements_can_be_ruled_on(tenant_dir):
    cases = [make_case("ok", ["a"]), make_case("err", ["a"]), make_case("fp", ["a"])]
    setup_cases(tenant_dir, cases)
    rid = run_with(
        tenant_dir,
        [*lines("ok", 1), {"case_id": "err", "turn": 0, "escalate": True, "error": "timeout"}, *lines("fp", 1, 0)],
    )
    s = settings_for(tenant_dir)
    with pytest.raises(UsageError, match="not a disagreement"):
        workflow.record_ruling(s, "ok", "human_right", by="ana")
    with pytest.raises(UsageError, match="agent failed"):
        workflow.record_ruling(s, "err", "ai_right", by="ana")
    with pytest.raises(NotFoundError, match="not in run"):
        workflow.record_ruling(s, "nope", "ai_right", by="ana", run_id=rid)
    with pytest.raises(UsageError, match="unknown ruling"):
        workflow.record_ruling(s, "fp", "maybe", by="ana")


def test_reviewer_name_comes_from_flag_then_env_then_os_user(monkeypatch):
    assert workflow.reviewer("ana", {"SHADOWPILOT_REVIEWER": "bo"}) == "ana"
    assert workflow.reviewer(None, {"SHADOWPILOT_REVIEWER": "bo"}) == "bo"
    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    assert workflow.reviewer(None, {}) == "os-user"


# -- compare --------------------------------------------------------------------------------

# 10 cases. h0-h4: the human kept the call; h5-h9: the human escalated at customer turn 0.
MIXED_CASES = [make_case(f"h{i}", ["a"]) for i in range(5)] + [
    make_case(f"h{i}", ["a"], escalated=True, at_customer_turn=0, routing=ROUTE) for i in range(5, 10)
]
# A: keeps h0-h4 (pass), escalates h5, h6 right (pass), misses h7-h9 (fail): 7/10.
RECS_A = [x for i in range(5) for x in lines(f"h{i}", 1)]
RECS_A += [x for i in (5, 6) for x in lines(f"h{i}", 1, 0, routing=ROUTE)]
RECS_A += [x for i in (7, 8, 9) for x in lines(f"h{i}", 1)]
# B: escalates h0, h1 needlessly (newly failing), now catches h7 (newly passing): 6/10.
RECS_B = [x for i in (0, 1) for x in lines(f"h{i}", 1, 0, routing=ROUTE)]
RECS_B += [x for i in (2, 3, 4) for x in lines(f"h{i}", 1)]
RECS_B += [x for i in (5, 6, 7) for x in lines(f"h{i}", 1, 0, routing=ROUTE)]
RECS_B += [x for i in (8, 9) for x in lines(f"h{i}", 1)]


@pytest.fixture
def two_runs(tenant_dir: Path) -> tuple[str, str]:
    setup_cases(tenant_dir, MIXED_CASES, gate="min_cases = 1\npass_rate = 0.5")
    return run_with(tenant_dir, RECS_A), run_with(tenant_dir, RECS_B)


def test_compare_lists_changed_cases_and_deltas(tenant_dir, two_runs):
    a, b = two_runs
    c = workflow.compare_runs(settings_for(tenant_dir), a, b)
    assert (c.run_a, c.run_b, c.cases_a, c.cases_b, c.common) == (a, b, 10, 10, 10)
    assert [x.case_id for x in c.newly_failing] == ["h0", "h1"]
    assert c.newly_failing[0].why == "unnecessary escalation at customer turn 1"
    assert [x.case_id for x in c.newly_passing] == ["h7"] and c.newly_passing[0].why == "missed escalation"

    pr = c.metrics["pass_rate"]
    assert (pr.a.k, pr.a.n, pr.b.k, pr.b.n) == (7, 10, 6, 10)
    assert pr.a.ci == pytest.approx((0.3968, 0.8922), abs=1e-4)  # Wilson 7/10
    assert pr.b.ci == pytest.approx((0.3127, 0.8318), abs=1e-4)  # Wilson 6/10
    # paired: 3 of the 10 changed, 2 of them (h0, h1) pass -> fail. Clopper-Pearson for 2 of 3:
    # lower solves 3t^2 - 2t^3 = 0.025 (t = 0.0943), upper solves 1 - t^3 = 0.025 (t = 0.975^(1/3)
    # = 0.9916); B - A = (3/10)(1 - 2t): from (3/10)(1 - 2 * 0.9916) to (3/10)(1 - 2 * 0.0943)
    assert pr.delta == pytest.approx(-0.1)
    assert pr.delta_ci == pytest.approx((-0.2950, 0.2434), abs=1e-4)
    assert c.mcnemar.worse_share == pytest.approx(0.6667, abs=1e-4)
    assert c.mcnemar.worse_share_ci == pytest.approx((0.0943, 0.9916), abs=1e-4)

    prec = c.metrics["precision"]  # A 2/2, B 3/5 (h0, h1 unnecessary): independent Newcombe
    assert (prec.a.value, prec.b.value, prec.delta) == (1.0, 0.6, -0.4)
    assert prec.delta_ci == pytest.approx((-0.7693, 0.3157), abs=1e-4)
    rec = c.metrics["recall"]  # A 2/5, B 3/5
    assert (rec.a.value, rec.b.value) == (0.4, 0.6)
    assert rec.delta_ci == pytest.approx((-0.3222, 0.5993), abs=1e-4)
    assert c.metrics["routing_accuracy"].b.k == 3 and c.metrics["error_rate"].b.k == 0

    # McNemar: 2 pass->fail, 1 fail->pass: p = 2 * (C(3,0) + C(3,1)) / 2^3 = 1
    assert (c.mcnemar.pass_to_fail, c.mcnemar.fail_to_pass, c.mcnemar.p_value) == (2, 1, 1.0)
    assert c.verdict == "within-noise" and not c.worse
    assert "95% exact interval [-29.5, +24.3] pts given the 3 cases that changed" in c.explanation


def test_compare_says_worse_beyond_noise(tenant_dir):
    setup_cases(tenant_dir, [make_case(f"u{i}", ["a"]) for i in range(12)])
    a = run_with(tenant_dir, [x for i in range(12) for x in lines(f"u{i}", 1)])
    recs_b = [x for i in range(6) for x in lines(f"u{i}", 1, 0)] + [x for i in range(6, 12) for x in lines(f"u{i}", 1)]
    b = run_with(tenant_dir, recs_b)
    c = workflow.compare_runs(settings_for(tenant_dir), a, b)
    # 6 pass->fail, none back: p = 2 * 0.5^6 = 0.03125 < 0.05
    assert (c.mcnemar.pass_to_fail, c.mcnemar.fail_to_pass) == (6, 0)
    assert c.mcnemar.p_value == pytest.approx(0.03125)
    assert c.verdict == "worse" and c.worse
    pr = c.metrics["pass_rate"]
    assert pr.a.ci == pytest.approx((0.7575, 1.0), abs=1e-4)  # 12/12: lower = 1 / (1 + z^2/12)
    # all 6 changed cases got worse: Clopper-Pearson [0.025^(1/6), 1] = [0.5407, 1];
    # B - A = (6/12)(1 - 2t): from -0.5 to (6/12)(1 - 2 * 0.5407) = -0.0407, clear of zero as p < 0.05
    assert pr.delta == -0.5 and pr.delta_ci == pytest.approx((-0.5, -0.0407), abs=1e-4)
    assert c.metrics["precision"].a.value is None and c.metrics["precision"].delta is None
    # with a stricter alpha the same change is within noise
    assert workflow.compare_runs(settings_for(tenant_dir), a, b, alpha=0.01).verdict == "within-noise"
    # and the other way round it is better
    assert workflow.compare_runs(settings_for(tenant_dir), b, a).verdict == "better"


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [(0, 0, 1.0), (5, 0, 0.0625), (6, 0, 0.03125), (5, 1, 0.21875), (1, 5, 0.21875), (10, 2, 0.0385742)],
)
def test_mcnemar_exact_by_hand(b, c, p):
    # (5, 1): 2 * (1 + 6) / 64; (10, 2): 2 * (1 + 12 + 66) / 4096
    assert mcnemar_exact(b, c) == pytest.approx(p, abs=1e-6)


def test_newcombe_intervals_match_published_and_hand_values():
    # Newcombe (1998, Stat Med 17:873), example 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    d, (lo, hi) = newcombe_independent(48, 80, 56, 70)
    assert d == pytest.approx(0.2) and (lo, hi) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert newcombe_independent(0, 0, 1, 2) is None
    # alpha sets the level: a 99% interval is wider than the 95% one
    _, (lo99, hi99) = newcombe_independent(48, 80, 56, 70, alpha=0.01)
    assert lo99 < 0.0524 and hi99 > 0.3339


def test_clopper_pearson_closed_forms():
    # k = m: lower = (alpha/2)^(1/m); k = 0: upper = 1 - (alpha/2)^(1/m)
    assert clopper_pearson(6, 6) == pytest.approx((0.025 ** (1 / 6), 1.0))
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)))
    assert clopper_pearson(5, 5, alpha=0.01) == pytest.approx((0.005 ** (1 / 5), 1.0))
    assert clopper_pearson(0, 0) is None
    # no case changed: no interval (the exact test has nothing to go on)
    assert paired_exact(0, 0, 20) == (0.0, None)


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.1])
@pytest.mark.parametrize("n", [10, 20, 37, 120])
def test_compare_verdict_and_its_interval_never_contradict(n, alpha):
    """Every b pass -> fail and c fail -> pass on n paired cases: "within noise" never stands beside
    an interval that excludes zero (as shown, rounded), and "worse"/"better" always do, on their side."""
    for b in range(n + 1):
        for c in range(n + 1 - b):
            verdict, text = verdict_of(b, c, n, alpha)
            d, ci = paired_exact(b, c, n, alpha)
            share = clopper_pearson(b, b + c, alpha)
            assert d == pytest.approx((c - b) / n)
            if ci is None:
                assert b + c == 0 and verdict == "within-noise"
                continue
            lo, hi = round(ci[0], 4), round(ci[1], 4)
            assert ci[0] - 1e-12 <= d <= ci[1] + 1e-12
            if verdict == "within-noise":
                assert lo <= 0 <= hi and share[0] <= 0.5 <= share[1], (b, c, ci)
            elif verdict == "worse":
                assert hi < 0 and share[0] > 0.5 and b > c, (b, c, ci)
            else:
                assert lo > 0 and share[1] < 0.5 and c > b, (b, c, ci)
            shown = f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] pts"
            assert shown in text
            if verdict == "within-noise":  # as printed, too: the lower end is not above 0, the upper not below
                assert not shown.startswith("[+") or shown.startswith("[+0.0,")
                assert ", -" not in shown or ", -0.0]" in shown


def test_compare_frames_show_the_verdicts_interval():
    """Through compare_scores: the pass-rate row's interval is the verdict's, on hand-built frames."""

    def scores(passed: list[bool]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "case_id": [f"c{i}" for i in range(len(passed))],
                "repeat": 0,
                "passed": passed,
                "error": False,
                "critical": False,
                "decision": "tn",
                "routing_ok": pd.NA,
                "why": None,
            }
        )

    n = 20
    for b in range(8):
        for c in range(8 - b):
            a_passed = [True] * b + [False] * c + [True] * (n - b - c)
            b_passed = [False] * b + [True] * c + [True] * (n - b - c)
            cmp = compare_scores(scores(a_passed), scores(b_passed), "A", "B")
            lo, hi = cmp.metrics["pass_rate"].delta_ci or (0.0, 0.0)
            excludes = lo > 0 or hi < 0
            assert (cmp.verdict != "within-noise") == excludes, (b, c, cmp.metrics["pass_rate"])
            if b == 5 and c == 0:  # p = 0.0625: noise, and the interval shown reaches past zero
                assert cmp.verdict == "within-noise" and hi > 0


def test_a_critical_case_that_newly_fails_makes_b_worse():
    def scores(passed: list[bool], critical: list[bool]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "case_id": [f"c{i}" for i in range(len(passed))],
                "repeat": 0,
                "passed": passed,
                "error": False,
                "critical": critical,
                "decision": "tn",
                "routing_ok": pd.NA,
                "why": [None if ok else "missed escalation" for ok in passed],
            }
        )

    crit = [True] + [False] * 19
    a = scores([True] * 20, crit)
    b = scores([False] + [True] * 19, crit)
    cmp = compare_scores(a, b, "A", "B")
    assert cmp.verdict == "worse" and cmp.worse and cmp.critical_regressions == ["c0"]
    assert cmp.explanation.startswith("B is worse: critical case c0 passed on A and fails on B")
    assert "By the statistics alone: no difference beyond noise" in cmp.explanation  # p = 1, and it says so
    # the same change on a case nobody marked critical is noise
    plain = compare_scores(scores([True] * 20, [False] * 20), scores([False] + [True] * 19, [False] * 20), "A", "B")
    assert plain.verdict == "within-noise" and plain.critical_regressions == []


def test_compare_is_pure_over_score_frames():
    def scores(passed: list[bool]) -> pd.DataFrame:
        n = len(passed)
        return pd.DataFrame(
            {
                "case_id": [f"c{i}" for i in range(n)],
                "repeat": 0,
                "passed": passed,
                "error": False,
                "critical": False,
                "decision": "tn",
                "routing_ok": pd.NA,
                "why": None,
            }
        )

    a = scores([True, True, False])
    b = scores([True, False, True]).iloc[1:]  # c0 only in A
    c = compare_scores(a, b, "A", "B")
    assert c.only_in_a == ["c0"] and c.common == 2
    assert [x.case_id for x in c.newly_failing] == ["c1"] and [x.case_id for x in c.newly_passing] == ["c2"]


# -- gate --baseline ----------------------------------------------------------------------------


def test_gate_baseline_fails_on_a_regression_until_ruled_on(tenant_dir, two_runs):
    a, b = two_runs
    s = settings_for(tenant_dir)
    plain = workflow.gate(s, b)
    assert plain.verdict == "go"  # 6/10 against the bar 0.5
    g = workflow.gate(s, b, baseline=a)
    assert g.verdict == "no-go" and not g.passed
    check = g.checks[-1]
    assert check.name == CHECK_NAME and not check.passed and "h0, h1" in check.detail
    assert "h0, h1" in g.explanation

    workflow.record_ruling(s, "h0", "ai_right", "the caller asked for a person", by="ana", run_id=b)
    partly = workflow.gate(s, b, baseline=a)
    assert partly.verdict == "no-go" and "h1" in partly.checks[-1].detail and "h0" not in partly.checks[-1].detail

    # "the human was right" says the AI was wrong: the regression stands, and the check says why
    workflow.record_ruling(s, "h1", "human_right", "a real regression", by="ana", run_id=b)
    kept = workflow.gate(s, b, baseline=a)
    assert kept.verdict == "no-go" and not kept.checks[-1].passed
    assert "h1 (ruled: human was right)" in kept.checks[-1].detail
    assert "only a ruling that the AI was right clears one" in kept.checks[-1].detail
    workflow.record_ruling(s, "h1", "unclear", None, by="ana", run_id=b)
    assert workflow.gate(s, b, baseline=a).verdict == "no-go"  # unclear decides nothing either

    workflow.record_ruling(s, "h1", "ai_right", "the label was wrong after all", by="ana", run_id=b)
    ruled = workflow.gate(s, b, baseline=a)
    assert ruled.verdict == "go" and ruled.checks[-1].passed
    assert ruled.passed_cases == 8  # h0 and h1 pass under the rulings


def test_gate_and_report_baseline_agree_on_a_human_right_ruling(tenant_dir, two_runs):
    """`gate --baseline` and `report --baseline` build the same check from the same rulings."""
    from shadowpilot.workflow import build_report_data

    a, b = two_runs
    s = settings_for(tenant_dir)
    workflow.record_ruling(s, "h0", "human_right", "the agent should not have escalated", by="ana", run_id=b)
    workflow.record_ruling(s, "h1", "ai_right", None, by="ana", run_id=b)
    gated = workflow.gate(s, b, baseline=a, save=False)
    reported = build_report_data(s, b, baseline=a).gate
    assert gated.verdict == reported.verdict == "no-go"
    assert gated.checks[-1] == reported.checks[-1]
    assert gated.checks[-1].detail.startswith(f"1 case passed on {a} and fails now: h0 (ruled: human was right)")


def test_only_ai_right_excuses_a_regression_on_hand_built_scores():
    from shadowpilot.evals.regressions import regression_check

    ids = ["c-ai", "c-human", "c-unclear", "c-none", "c-older"]
    base = pd.DataFrame({"case_id": ids, "repeat": 0, "passed": True})
    now = pd.DataFrame({"case_id": ids, "repeat": 0, "passed": False})
    rulings = pd.DataFrame(
        {
            "case_id": ["c-ai", "c-human", "c-unclear", "c-older"],
            "ruling": ["ai_right", "human_right", "unclear", "ai_right"],
            "run_id": ["B", "B", "B", "A"],
        }
    )
    check = regression_check(base, now, "A", "B", rulings)
    assert not check.passed
    assert check.detail.startswith(
        "4 cases passed on A and fail now: c-human (ruled: human was right), "
        "c-unclear (ruled: unclear), c-none, c-older"
    )
    assert regression_check(base, now.iloc[:1], "A", "B", rulings).passed  # only c-ai: excused


def test_gate_baseline_against_itself_and_a_missing_run(tenant_dir, two_runs):
    a, _ = two_runs
    s = settings_for(tenant_dir)
    g = workflow.gate(s, a, baseline=a)
    assert g.checks[-1].name == CHECK_NAME and g.checks[-1].passed and g.verdict == "go"
    with pytest.raises(NotFoundError):
        workflow.gate(s, a, baseline="run-nope")


def test_a_ruling_from_an_older_run_does_not_excuse_a_new_regression(tenant_dir, two_runs):
    """h7 failed on A (ruled there), passes on B and fails again on C: a regression since B
    that nobody has looked at yet, whatever was said about A."""
    a, b = two_runs
    s = settings_for(tenant_dir)
    workflow.record_ruling(s, "h7", "human_right", "the agent should have escalated", by="ana", run_id=a)
    c = run_with(tenant_dir, RECS_A)
    g = workflow.gate(s, c, baseline=b)
    assert g.verdict == "no-go" and g.checks[-1].detail.startswith(f"1 case passed on {b} and fails now: h7")
    workflow.record_ruling(s, "h7", "human_right", "seen again; known gap", by="ana", run_id=c)
    assert not workflow.gate(s, c, baseline=b).checks[-1].passed  # the AI was wrong: still a regression
    workflow.record_ruling(s, "h7", "ai_right", "the human should not have escalated", by="ana", run_id=c)
    assert workflow.gate(s, c, baseline=b).checks[-1].passed
