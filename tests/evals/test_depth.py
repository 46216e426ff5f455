"""Scoring depth (issue 5), against hand-computed fixtures in a real DuckDB store.

Runs are written the way the runners write them (CallRuns through Store.add_call_runs), so the
fixtures control replies, times, costs, repeats and handoffs exactly; then the real `workflow.gate`
scores them from the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jiwer
import pytest

from shadowpilot import workflow
from shadowpilot.config import load_settings
from shadowpilot.evals import wilson_interval
from shadowpilot.evals.metrics import passes_needed
from shadowpilot.evals.reply import NORMALISE, normalise
from shadowpilot.store import Store
from shadowpilot.types import AgentStep, CallRun, Recommendation, RunManifest, Transcript
from tests.conftest import make_case, write_config, write_jsonl

ROUTE = {"skill": "billing", "priority": "high", "vip": False}


def step(case_id: str, k: int, escalate: bool = False, **rec: Any) -> AgentStep:
    """The agent's answer at customer turn k (transcript index 2k, as make_case lays turns out)."""
    r = Recommendation(case_id=case_id, turn=2 * k, escalate=escalate, **rec)
    return AgentStep(turn=2 * k, customer_turn=k, recommendation=r)


def store_run(
    tenant_dir: Path,
    cases: list[dict],
    calls: list[CallRun],
    *,
    gate: str = "",
    budgets: str = "",
    kind: str = "recorded",
    repeats: int = 1,
    all_turns: bool = False,
) -> tuple[str, Any]:
    """Import the cases, store the calls as a finished run; returns (run_id, settings)."""
    write_config(tenant_dir, f"[gate]\nmin_cases = 1\n{gate}\n[budgets]\n{budgets}\n")
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    workflow.import_files(settings, [write_jsonl(tenant_dir / "cases.jsonl", cases)])
    fps = {c["id"]: Transcript.model_validate({**c, "tenant": "acme"}).fingerprint() for c in cases}
    calls = [c.model_copy(update={"fingerprint": fps[c.case_id]}) for c in calls]
    when = datetime(2026, 11, 20, tzinfo=UTC)
    manifest = RunManifest(
        run_id=f"run-{kind}",
        created_at=when,
        tenant="acme",
        agent={"kind": kind},
        cases=fps,
        versions={},
        repeats=repeats,
        all_turns=all_turns,
    )
    with Store.open(settings.store_path) as store:
        store.create_run(manifest)
        store.add_call_runs(manifest.run_id, calls)
        store.finish_run(manifest.run_id, "complete")
    return manifest.run_id, settings


def call(case_id: str, steps: list[AgentStep], repeat: int = 0, error: str | None = None) -> CallRun:
    return CallRun(case_id=case_id, fingerprint="", repeat=repeat, steps=steps, error=error)


# -- replies ---------------------------------------------------------------------------------


def test_normalisation_unifies_case_punctuation_numbers_and_fillers():
    assert normalise(["Um, I'll book you in for Twenty-One past THREE, you know?"]) == ["ill book you in for 21 past 3"]
    assert normalise(["It's $1,000.50 - uh OK\nbye", "Erm...", "  Zero  or  ninety nine  "]) == [
        "its 1000 point 50 ok bye",
        "",
        "0 or 99",
    ]
    # one string and a list give the same answer (jiwer's transform protocol)
    assert NORMALISE("Hmm, Forty-Two!") == "42"


def _reply_case(case_id: str, human: list[str], customer: list[str]) -> dict:
    c = make_case(case_id, customer)
    for i, text in enumerate(human):
        c["turns"][2 * i + 1]["text"] = text
    return c


def test_reply_wer_mer_cer_per_case_and_overall(tenant_dir):
    # case r1, turn 0: ref "i can book you in for 3 oclock" (8 words, 30 chars),
    #   hyp "i can book you for 3 oclock": one deletion ("in"), 3 character edits ("in ").
    # case r1, turn 1: "Twenty-one days." vs "21 days" normalise alike: 2 hits, 0 edits (7 chars).
    # case r2, turn 0: ref "yes" vs hyp "no thanks": 1 substitution + 1 insertion, H = 0;
    #   char edits: levenshtein("yes", "no thanks") = 8.
    # case r2, turn 1: the agent gave no reply -> not scored. Case r3: its last customer turn has
    #   no human reply after it (the transcript ends), and "Um." normalises to nothing -> not scored.
    cases = [
        _reply_case("r1", ["Um, I can book you in for three o'clock.", "Twenty-one days."], ["a", "b"]),
        _reply_case("r2", ["Yes.", "Sure"], ["a", "b"]),
        _reply_case("r3", ["Um."], ["a"]),
    ]
    cases[2]["turns"].append({"speaker": "customer", "text": "thanks"})
    calls = [
        call("r1", [step("r1", 0, reply="I can book you for 3 o'clock!"), step("r1", 1, reply="21 days")]),
        call("r2", [step("r2", 0, reply="No, thanks"), step("r2", 1)]),
        call("r3", [step("r3", 0, reply="ok"), step("r3", 1, reply="bye")]),
    ]
    rid, settings = store_run(tenant_dir, cases, calls)
    g = workflow.gate(settings, rid)
    # overall, corpus-level: H = 7 + 2 + 0 = 9, edits = 1 + 0 + 2 = 3, reference words 8 + 2 + 1 = 11
    assert g.reply is not None
    assert (g.reply.turns, g.reply.cases) == (3, 2)
    assert g.reply.wer == pytest.approx(3 / 11, abs=1e-4)
    assert g.reply.mer == pytest.approx(3 / 12, abs=1e-4)
    assert g.reply.similarity == pytest.approx(1 - 3 / 12, abs=1e-4)
    assert g.reply.cer == pytest.approx((3 + 0 + 8) / (30 + 7 + 3), abs=1e-4)

    with Store.open(settings.store_path) as store:
        rows = store.con.execute(
            "SELECT case_id, reply_turns, reply_wer, reply_mer, reply_cer FROM scores WHERE run_id = ? ORDER BY 1",
            [rid],
        ).fetchall()
    by_case = {r[0]: r[1:] for r in rows}
    assert by_case["r1"][0] == 2
    assert by_case["r1"][1:] == pytest.approx((1 / 10, 1 / 10, 3 / 37))
    assert by_case["r2"][0] == 1
    assert by_case["r2"][1:] == pytest.approx((2.0, 1.0, 8 / 3))  # WER is unbounded; MER is not
    assert by_case["r3"][0] == 0 and by_case["r3"][1] is None

    # the same figures from jiwer itself, given the same normalisation
    words = jiwer.Compose([NORMALISE, jiwer.ReduceToListOfListOfWords()])
    refs = ["Um, I can book you in for three o'clock.", "Twenty-one days.", "Yes."]
    hyps = ["I can book you for 3 o'clock!", "21 days", "No, thanks"]
    out = jiwer.process_words(refs, hyps, words, words)
    assert (out.wer, out.mer) == pytest.approx((3 / 11, 3 / 12))
    assert jiwer.cer(normalise(refs), normalise(hyps)) == pytest.approx(g.reply.cer, abs=1e-4)


def test_reply_similarity_gates_only_when_set(tenant_dir):
    cases = [_reply_case("s1", ["Yes."], ["a"])]
    calls = [call("s1", [step("s1", 0, reply="No thanks")])]
    rid, settings = store_run(tenant_dir, cases, calls)
    assert workflow.gate(settings, rid).verdict == "go"  # informative only
    strict = load_settings(
        tenant_dir / "shadowpilot.toml", overrides={"gate": {"min_reply_similarity": 0.5}}, environ={}
    )
    g = workflow.gate(strict, rid)
    check = next(c for c in g.checks if c.name == "reply_similarity")
    assert not check.passed and g.verdict == "no-go" and "0.000" in check.detail


# -- latency and cost ------------------------------------------------------------------------


def _timed_fixture(tenant_dir: Path, gate: str = "", budgets: str = "", kind: str = "openai"):
    # first-token times 100, 200, 300, 400, 1000 ms; full-reply times 500, 600, 700, 800, 2000 ms.
    # numpy's linear percentile: p50 = the 3rd value; p95 at position 0.95 x 4 = 3.8:
    #   first token 400 + 0.8 x 600 = 880; full reply 800 + 0.8 x 1200 = 1760.
    # cost per call: t1 0.01 + 0.02 = 0.03; t2 0.05 (a cached answer: costs nothing this run);
    #   t3 reported no cost -> not counted. Mean 0.04, p95 0.03 + 0.95 x 0.02 = 0.049.
    cases = [
        make_case("t1", ["a", "b"]),
        make_case("t2", ["a", "b"], escalated=True, at_customer_turn=1, routing=ROUTE),
        make_case("t3", ["a"]),
    ]
    calls = [
        call(
            "t1",
            [
                step("t1", 0, first_token_ms=100, latency_ms=500, cost_usd=0.01),
                step("t1", 1, first_token_ms=200, latency_ms=600, cost_usd=0.02),
            ],
        ),
        call(
            "t2",
            [
                step("t2", 0, first_token_ms=300, latency_ms=700),
                step("t2", 1, True, routing=ROUTE, first_token_ms=400, latency_ms=800, cost_usd=0.05, cached=True),
            ],
        ),
        call("t3", [step("t3", 0, first_token_ms=1000, latency_ms=2000)]),
    ]
    return store_run(tenant_dir, cases, calls, gate=gate, budgets=budgets, kind=kind)


def test_latency_percentiles_and_budgets(tenant_dir):
    rid, settings = _timed_fixture(tenant_dir)
    g = workflow.gate(settings, rid)
    lat = g.latency
    assert lat is not None and lat.turns == 5 and lat.cached_turns == 1
    assert (lat.first_token_p50, lat.first_token_p95) == (300, 880)
    assert (lat.full_reply_p50, lat.full_reply_p95) == (700, 1760)
    assert lat.within_budget is False  # 880 > 800 (and 1760 > 1400)
    assert g.verdict == "go"  # informative until check_latency is on
    checked = workflow.gate(
        load_settings(tenant_dir / "shadowpilot.toml", overrides={"gate": {"check_latency": True}}, environ={}), rid
    )
    assert checked.verdict == "no-go" and "880 ms" in next(c.detail for c in checked.checks if c.name == "latency")


def test_latency_within_generous_budgets_passes_the_check(tenant_dir):
    rid, settings = _timed_fixture(
        tenant_dir, gate="check_latency = true", budgets="first_token_ms = 900\nfull_reply_ms = 1800"
    )
    g = workflow.gate(settings, rid)
    assert g.latency.within_budget is True and g.verdict == "go"


def test_cost_per_call_budget_and_saving(tenant_dir):
    rid, settings = _timed_fixture(
        tenant_dir, gate="check_cost = true", budgets="cost_per_call_usd = 0.035\nhuman_cost_per_call_usd = 3.0"
    )
    g = workflow.gate(settings, rid)
    c = g.cost
    assert c is not None and c.calls == 2
    assert c.per_call_mean == pytest.approx(0.04)
    assert c.per_call_p95 == pytest.approx(0.049)
    assert c.per_call_max == pytest.approx(0.05) and c.total == pytest.approx(0.08)
    assert c.spent == pytest.approx(0.03)  # t2's answer came from the cache
    assert c.over_budget_calls == 1 and c.within_budget is False
    # 1 of 3 calls escalated by the agent still costs a human: 3.0 - (0.04 + 1/3 x 3.0) = 1.96 per call
    assert c.escalation_share == pytest.approx(1 / 3, abs=1e-4)
    assert c.saving_per_call == pytest.approx(1.96) and c.saving_total == pytest.approx(3 * 1.96)
    assert g.verdict == "no-go" and not next(x for x in g.checks if x.name == "cost").passed


def test_baseline_times_and_costs_read_as_not_measured(tenant_dir):
    from tests.conftest import make_case, write_config, write_jsonl

    write_config(tenant_dir, "[gate]\ncheck_latency = true\nmin_cases = 1\n")
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    workflow.import_files(settings, [write_jsonl(tenant_dir / "c.jsonl", [make_case("a", ["I want a supervisor"])])])
    g = workflow.gate(settings, workflow.run(settings).run_id)  # the real offline baseline
    assert g.latency.first_token_p95 is None and g.latency.within_budget is None
    assert g.cost.per_call_mean is None and g.cost.saving_per_call is None
    check = next(c for c in g.checks if c.name == "latency")
    assert not check.passed and "not measured" in check.detail


# -- handoff ---------------------------------------------------------------------------------


def test_handoff_checks_and_hops(tenant_dir):
    esc = {"escalated": True, "at_customer_turn": 0, "routing": ROUTE}
    cases = [make_case(f"h{i}", ["a", "b", "c"], **esc) for i in range(5)]
    good = {"summary": "Double charged in March", "sentiment": "negative", "routing": ROUTE}
    calls = [
        # a usable handoff; the same escalation repeated at later turns is one hop
        call("h0", [step("h0", k, True, **good) for k in range(3)]),
        # blank summary
        call("h1", [step("h1", 0, True, **{**good, "summary": "  "})]),
        # no sentiment
        call("h2", [step("h2", 0, True, summary="x", routing=ROUTE)]),
        # vip missing from the routing: the queue cannot route on it
        call("h3", [step("h3", 0, True, **{**good, "routing": {"skill": "billing", "priority": "high"}})]),
        # three distinct destinations in one call: 3 hops > 2
        call("h4", [step("h4", k, True, **{**good, "queue": q}) for k, q in enumerate(["a", "b", "c"])]),
    ]
    rid, settings = store_run(tenant_dir, cases, calls, all_turns=True)
    h = workflow.gate(settings, rid).handoff
    assert h is not None and h.escalations == 5
    assert (h.with_summary, h.with_sentiment, h.with_attributes) == (4, 4, 4)
    assert h.max_hops == 3 and h.over_hops == ["h4"]
    assert h.ok == 1 and h.failed == ["h1", "h2", "h3", "h4"]
    checked = workflow.gate(
        load_settings(tenant_dir / "shadowpilot.toml", overrides={"gate": {"check_handoff": True}}, environ={}), rid
    )
    assert checked.verdict == "no-go"
    with Store.open(settings.store_path) as store:
        hops = dict(store.con.execute("SELECT case_id, hops FROM scores WHERE run_id = ?", [rid]).fetchall())
    assert hops == {"h0": 1, "h1": 1, "h2": 1, "h3": 1, "h4": 3}


# -- repeats ---------------------------------------------------------------------------------


def test_pass_k_and_flips(tenant_dir):
    # 4 cases x 3 repeats; a repeat passes when the agent keeps the call (no escalation needed).
    #   A passes all three; B fails all three; C passes repeat 0 only; D fails repeat 0 only.
    # first-repeat pass rate 2/4 (A, C); pass^3 = 1/4 (A); flips: C and D.
    cases = [make_case(c, ["a"]) for c in "ABCD"]
    fails = {"A": set(), "B": {0, 1, 2}, "C": {1, 2}, "D": {0}}
    calls = [call(c, [step(c, 0, r in fails[c], routing=ROUTE)], repeat=r) for c in "ABCD" for r in range(3)]
    rid, settings = store_run(tenant_dir, cases, calls, repeats=3)
    g = workflow.gate(settings, rid)
    assert g.passed_cases == 2 and g.pass_rate == 0.5
    k = g.pass_k
    assert k is not None and (k.k, k.cases, k.pass_k) == (3, 4, 1)
    assert k.pass_k_rate == 0.25 and k.flips == ["C", "D"]
    assert k.pass_k_ci == pytest.approx(wilson_interval(1, 4), abs=1e-4)
    assert k.pass_k_ci == pytest.approx((0.0456, 0.6994), abs=1e-4)

    lenient = {"pass_rate": 0.5}
    assert (
        workflow.gate(
            load_settings(tenant_dir / "shadowpilot.toml", overrides={"gate": lenient}, environ={}), rid
        ).verdict
        == "go"
    )
    strict = load_settings(
        tenant_dir / "shadowpilot.toml", overrides={"gate": {**lenient, "require_pass_k": True}}, environ={}
    )
    gk = workflow.gate(strict, rid)
    assert gk.verdict == "no-go" and "pass^3" in gk.explanation and "1/4" in gk.explanation


def test_single_repeat_has_no_pass_k(tenant_dir):
    rid, settings = store_run(tenant_dir, [make_case("A", ["a"])], [call("A", [step("A", 0)])])
    assert workflow.gate(settings, rid).pass_k is None


# -- breakdowns, weights, evidence -----------------------------------------------------------


def test_breakdowns_by_tag_channel_reason_and_day(tenant_dir):
    # x: p1 passes, f1 fails (1/2); y: p1, p2 pass (2/2); f2 has no tag (0/1).
    cases = [
        make_case("p1", ["a"], tags=["x", "y"]),
        make_case("p2", ["a"], tags=["y"]),
        make_case("f1", ["a"], escalated=True, at_customer_turn=0, reason="billing_dispute", tags=["x"]),
        make_case("f2", ["a"], escalated=True, at_customer_turn=0, reason="complaint"),
    ]
    cases[0]["started_at"] = "2026-11-20T23:30:00-05:00"  # 2026-11-21 in UTC
    cases[1]["channel"] = "chat"
    calls = [call(c["id"], [step(c["id"], 0)]) for c in cases]
    rid, settings = store_run(tenant_dir, cases, calls)
    b = workflow.gate(settings, rid).breakdowns
    tags = {r.key: r for r in b["tag"]}
    assert (tags["x"].passed, tags["x"].cases) == (1, 2)
    assert tags["x"].ci == pytest.approx((0.0945, 0.9055), abs=1e-4)
    assert (tags["y"].passed, tags["y"].cases) == (2, 2) and tags["y"].ci == pytest.approx((0.3424, 1.0), abs=1e-4)
    assert (tags["(untagged)"].passed, tags["(untagged)"].cases) == (0, 1)
    assert b["tag"][0].key == "(untagged)"  # worst first
    assert {r.key: (r.passed, r.cases) for r in b["channel"]} == {"voice": (1, 3), "chat": (1, 1)}
    assert {r.key: (r.passed, r.cases) for r in b["reason"]} == {
        "billing_dispute": (0, 1),
        "complaint": (0, 1),
        "(not escalated)": (2, 2),
    }
    assert {r.key: (r.passed, r.cases) for r in b["day"]} == {"2026-11-21": (1, 1), "(unknown)": (1, 3)}


def test_weighted_score_from_the_scoring_fixtures(tenant_dir):
    from tests.evals.test_scoring import FIXTURES, _setup

    cases = _setup(tenant_dir)
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    workflow.import_files(settings, [cases])
    rid = workflow.run(settings).run_id
    assert len(FIXTURES) == 14
    # penalties: fp 1, fn 5, early 1, late 2, priority 1, omit 1, critical (missed) 5, error 5, queue 1 = 22
    # worst single case = max(missed 5, unnecessary 1, error 5, late 2 + routing 1) = 5
    g = workflow.gate(settings, rid)
    assert g.weighted_score == pytest.approx(1 - 22 / (5 * 14), abs=1e-4)
    flat = {"missed": 1, "unnecessary": 1, "late": 1, "early": 1, "routing": 1, "error": 1}
    g1 = workflow.gate(
        load_settings(tenant_dir / "shadowpilot.toml", overrides={"gate": {"weights": flat}}, environ={}), rid
    )
    # equal weights: worst = 1 + 1 = 2 (a late, misrouted case); 9 failures of weight 1 each
    assert g1.weighted_score == pytest.approx(1 - 9 / (2 * 14), abs=1e-4)
    with Store.open(settings.store_path) as store:
        total = store.con.execute("SELECT sum(penalty) FROM scores WHERE run_id = ?", [rid]).fetchone()[0]
    assert total == 9


@pytest.mark.parametrize(
    ("passed", "n", "bar", "lower", "expected"),
    [
        (17, 20, 0.9, False, 10),  # 27/30 = 0.90
        (18, 20, 0.9, False, 0),
        (9, 10, 1.0, False, None),  # a failure can never be outvoted at a bar of 1.0
        (10, 10, 1.0, True, None),  # a Wilson lower bound never reaches 1.0
    ],
)
def test_passes_needed(passed, n, bar, lower, expected):
    assert passes_needed(passed, n, bar, lower) == expected


def test_passes_needed_for_the_lower_bound_is_the_first_that_clears():
    m = passes_needed(18, 20, 0.9, lower_bound=True)
    assert m is not None and m > 0
    assert wilson_interval(18 + m, 20 + m)[0] >= 0.9 > wilson_interval(18 + m - 1, 20 + m - 1)[0]


def test_gate_explains_the_lower_bound_and_min_cases(tenant_dir, cli):
    from tests.conftest import invoke

    cases = [make_case(f"p{i}", ["a"]) for i in range(18)]
    cases += [make_case(f"f{i}", ["a"], escalated=True, at_customer_turn=0) for i in range(2)]
    calls = [call(c["id"], [step(c["id"], 0)]) for c in cases]
    rid, _ = store_run(tenant_dir, cases, calls, gate="use_lower_bound = true")
    m = passes_needed(18, 20, 0.9, lower_bound=True)
    result = invoke(cli, "gate", "--run", rid)
    assert result.exit_code == 3
    out = " ".join(result.stdout.replace("│", " ").split())
    assert "18/20 = 90.0% clears the 90% bar" in out
    assert (
        f"Thin evidence: on 20 cases the 95% lower bound of the pass rate is 69.9%, under the 90% bar; "
        f"{m} more passing cases in a row would lift it over (use_lower_bound is on: the gate requires it)"
    ) in out
    few = invoke(cli, "gate", "--run", rid, "--min-cases", "25", "--json")
    assert "20 cases, but min_cases is 25: 5 more before any verdict" in few.stdout
