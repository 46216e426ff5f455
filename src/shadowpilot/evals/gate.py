"""The gate: pure function of scored cases and a GateConfig -> GateResult.

A failed gate is a result, not an exception.
"""

from __future__ import annotations

import pandas as pd

from ..types import (
    Budgets,
    EscalationSummary,
    EvidenceSummary,
    Failure,
    GateCheck,
    GateConfig,
    GateResult,
    HandoffSummary,
    JudgeSummary,
    ReplySummary,
    RoutingSummary,
)
from ..wording import plural
from .breakdown import breakdowns, pass_k
from .budgets import cost_summary, latency_summary
from .metrics import f1, passes_needed, ratio, wilson_interval
from .reply import REPLY_COUNT_COLUMNS, rates
from .weights import weighted_score


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def _reply_summary(s: pd.DataFrame) -> ReplySummary | None:
    if "reply_turns" not in s or int(s["reply_turns"].sum()) == 0:
        return None
    totals = s[REPLY_COUNT_COLUMNS].sum()
    r = rates(*(totals[c] for c in REPLY_COUNT_COLUMNS[1:]))
    return ReplySummary(turns=int(totals["reply_turns"]), cases=int((s["reply_turns"] > 0).sum()),
                        **{k: _r(float(v), 4) for k, v in r.items()})  # fmt: skip


def _handoff_summary(s: pd.DataFrame, max_hops: int) -> HandoffSummary | None:
    if "handoff_ok" not in s:
        return None
    esc = s[s["handoff_ok"].notna()]
    return HandoffSummary(
        escalations=len(esc),
        with_summary=int(esc["handoff_summary"].sum()),
        with_sentiment=int(esc["handoff_sentiment"].sum()),
        with_attributes=int(esc["handoff_attributes"].sum()),
        max_hops=int(esc["hops"].max()) if len(esc) else 0,
        over_hops=esc.loc[~esc["hops_ok"].astype(bool), "case_id"].tolist(),
        ok=int(esc["handoff_ok"].sum()),
        failed=esc.loc[~esc["handoff_ok"].astype(bool), "case_id"].tolist(),
    )


def _evidence(n: int, passed_n: int, lo: float, config: GateConfig, what: str) -> EvidenceSummary:
    """How far the evidence is from the bar, in cases; `caution` when the 95% lower bound is under
    it, whatever use_lower_bound says (10/10 is a 100% pass rate and a 72% lower bound)."""
    bar = config.pass_rate
    short = max(0, config.min_cases - n)
    point = passes_needed(passed_n, n, bar, lower_bound=False)
    lower = passes_needed(passed_n, n, bar, lower_bound=True)
    rate = passed_n / n if n else 0.0
    caution = None
    if lower != 0:
        need = (f"{plural(lower, 'more passing case')} in a row would lift it over" if lower is not None
                else "no number of passing cases lifts it over a bar of 100%")  # fmt: skip
        uses = ("use_lower_bound is on: the gate requires it" if config.use_lower_bound
                else "the gate decides on the point estimate; use_lower_bound would require the bound")  # fmt: skip
        caution = (f"Thin evidence: on {plural(n, 'case')} the 95% lower bound of the {what} is {lo:.1%}, under the "
                   f"{bar:.0%} bar; {need} ({uses}).")  # fmt: skip
    parts = []
    if short:
        parts.append(f"{plural(n, 'case')}, but min_cases is {config.min_cases}: {short} more before any verdict")
    if point == 0:  # and when the lower bound does not clear the bar, `caution` says by how much
        head = f"{what} {passed_n}/{n} = {rate:.1%} clears the {bar:.0%} bar"
        parts.append(f"{head}, and so does its 95% lower bound ({lo:.1%})" if lower == 0 else head)
    else:
        more = None if point is None else plural(point, "more passing case")
        need = "it cannot reach the bar" if more is None else f"{more} in a row would clear it"
        parts.append(f"{what} {passed_n}/{n} = {rate:.1%} is below the {bar:.0%} bar: {need}")
    return EvidenceSummary(min_cases_short=short, passes_needed_point=point, passes_needed_lower_bound=lower,
                           note="; ".join(parts) + ".", lower_bound=round(lo, 4), lower_bound_clears_bar=lower == 0,
                           caution=caution)  # fmt: skip


def evaluate_gate(
    scores: pd.DataFrame,
    config: GateConfig,
    run_id: str,
    *,
    budgets: Budgets | None = None,
    timings: pd.DataFrame | None = None,
    judge: JudgeSummary | None = None,
    judge_min_score: float | None = None,
) -> GateResult:
    """Decide go / no-go / insufficient-evidence from scored cases (first repeat, or all K
    repeats with `require_pass_k`). `timings` are the run's per-step times (Store.step_timings)."""
    budgets = budgets or Budgets()
    all_repeats = scores
    s = scores[scores["repeat"] == 0] if "repeat" in scores else scores
    n = len(s)
    passed_n = int(s["passed"].sum())
    errors = int(s["error"].sum())
    pass_rate = passed_n / n if n else 0.0
    lo, hi = wilson_interval(passed_n, n)

    d = s["decision"]
    tp, fp, fn, tn = (int((d == k).sum()) for k in ("tp", "fp", "fn", "tn"))
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    escalation = EscalationSummary(
        tp=tp, fp=fp, fn=fn, tn=tn,
        precision=_r(precision), recall=_r(recall), f1=_r(f1(precision, recall)),
        early=int((s["timing"] == "early").sum()), late=int((s["timing"] == "late").sum()),
    )  # fmt: skip

    both = s[d == "tp"]
    per_attribute: dict[str, float | None] = {}
    for col in [c for c in s.columns if c.startswith("match.")]:
        scored = both[col].dropna()
        per_attribute[col.removeprefix("match.")] = _r(ratio(int(scored.astype(bool).sum()), len(scored)))
    routing_scored = both["routing_ok"].dropna()
    routing = RoutingSummary(
        cases=len(both),
        accuracy=_r(ratio(int(routing_scored.astype(bool).sum()), len(routing_scored))),
        per_attribute=per_attribute,
    )

    failed = s[~s["passed"]]
    pk = pass_k(all_repeats) if "repeat" in all_repeats else None
    gate_k = config.require_pass_k and pk is not None
    if gate_k:
        # pass^k: a case counts only when every repeat passed; a critical case fails on any repeat
        ever_failed = all_repeats.loc[~all_repeats["passed"]]
        critical_failed = list(dict.fromkeys(ever_failed.loc[ever_failed["critical"], "case_id"]))
        g_passed, g_rate, (g_lo, g_hi), what = pk.pass_k, pk.pass_k_rate, pk.pass_k_ci, f"pass^{pk.k}"
    else:
        critical_failed = failed.loc[failed["critical"], "case_id"].tolist()
        g_passed, g_rate, g_lo, g_hi, what = passed_n, pass_rate, lo, hi, "pass rate"
    # every sentence prints the interval as GateResult stores it (4 places), so no output shows
    # 20.6% where another shows 20.7% for one bound; decisions use the exact value
    shown_lo, shown_hi = round(g_lo, 4), round(g_hi, 4)
    failures = [Failure(case_id=c, why=w or "failed") for c, w in zip(failed["case_id"], failed["why"], strict=True)]

    reply = _reply_summary(s)
    latency = latency_summary(timings, budgets)
    cost = cost_summary(s, budgets) if "cost_steps" in s else None
    handoff = _handoff_summary(s, config.max_hops)
    wscore = weighted_score(s["penalty"], config.weights) if "penalty" in s else None

    measure, measured = (f"{what} lower bound", g_lo) if config.use_lower_bound else (what, g_rate)
    checks = [
        GateCheck(name="min_cases", passed=n >= config.min_cases,
                  detail=f"{plural(n, 'case')} (at least {config.min_cases} needed for a verdict)"),
        GateCheck(name="pass_rate", passed=measured >= config.pass_rate,
                  detail=f"{measure} {shown_lo if config.use_lower_bound else measured:.1%} against the bar "
                         f"{config.pass_rate:.0%} "
                         f"({g_passed}/{n} passed; 95% interval {shown_lo:.1%}-{shown_hi:.1%})"),
        GateCheck(name="critical", passed=not critical_failed,
                  detail="no critical case failed" if not critical_failed
                  else f"{plural(len(critical_failed), 'critical case')} failed: {', '.join(critical_failed)}"),
        GateCheck(name="errors", passed=errors <= config.max_errors,
                  detail=f"{plural(errors, 'agent error')} (at most {config.max_errors} allowed)"),
    ]  # fmt: skip
    checks += _optional_checks(config, reply, latency, cost, handoff, wscore)
    if judge_min_score is not None:
        checks.append(judge_check(judge, judge_min_score, run_id))
    ok = {c.name: c.passed for c in checks}
    optional_failed = [c for c in checks[4:] if not c.passed]

    if not ok["min_cases"]:
        verdict = "insufficient-evidence"
        explanation = (
            f"Only {plural(n, 'case')}; the gate needs at least {config.min_cases} to decide. "
            "Import or replay more calls."
        )
    elif not ok["critical"] or not ok["errors"] or g_rate < config.pass_rate or optional_failed:
        verdict = "no-go"
        reasons = []
        if g_rate < config.pass_rate:
            bar = f"{config.pass_rate:.0%}"
            reasons.append(f"{g_passed}/{plural(n, 'case')} passed ({what} {g_rate:.1%}), below the bar of {bar}")
        if critical_failed:
            reasons.append(f"{plural(len(critical_failed), 'critical case')} failed: {', '.join(critical_failed)}")
        if not ok["errors"]:
            reasons.append(f"{plural(errors, 'agent error')}, more than the {config.max_errors} allowed")
        reasons += [f"{c.name}: {c.detail}" for c in optional_failed]
        explanation = "Not ready: " + "; ".join(reasons) + "."
    elif not ok["pass_rate"]:
        # the point estimate clears the bar but, on this many cases, the interval does not
        verdict = "insufficient-evidence"
        explanation = (
            f"The {what} {g_rate:.1%} clears the bar {config.pass_rate:.0%}, but with {plural(n, 'case')} "
            f"the 95% lower bound is {shown_lo:.1%}; more cases are needed to be sure (use_lower_bound is on)."
        )
    else:
        verdict = "go"
        bar = f"{config.pass_rate:.0%}"
        explanation = f"Ready: {g_passed}/{plural(n, 'case')} passed ({what} {g_rate:.1%} against the bar {bar})."

    return GateResult(
        run_id=run_id,
        verdict=verdict,
        passed=verdict == "go",
        pass_rate=round(pass_rate, 4),
        pass_rate_ci=(round(lo, 4), round(hi, 4)),
        bar=config.pass_rate,
        cases=n,
        passed_cases=passed_n,
        errors=errors,
        critical_failed=critical_failed,
        escalation=escalation,
        routing=routing,
        failures=failures,
        checks=checks,
        explanation=explanation,
        config=config,
        reply=reply,
        latency=latency,
        cost=cost,
        handoff=handoff,
        pass_k=pk,
        breakdowns=breakdowns(s) if "tags" in s else {},
        weighted_score=None if wscore is None else round(wscore, 4),
        evidence=_evidence(n, g_passed, shown_lo, config, what),
        judge=judge,
    )


def _optional_checks(config, reply, latency, cost, handoff, wscore) -> list[GateCheck]:
    """The checks a tenant turns on in [gate]; a figure that was not measured fails its check
    (a gate cannot vouch for what it did not see)."""
    checks = []
    if config.min_reply_similarity is not None:
        sim = reply.similarity if reply else None
        checks.append(
            GateCheck(
                name="reply_similarity",
                passed=sim is not None and sim >= config.min_reply_similarity,
                detail=(
                    f"reply similarity (1 - MER) {sim:.3f} over {plural(reply.turns, 'turn')}, at least "
                    f"{config.min_reply_similarity:.3f} required"
                )
                if sim is not None and reply
                else "no reply could be compared with a human reply: not measured",
            )
        )
    if config.check_latency:
        if latency.within_budget is None:
            detail = "the agent reported no times: not measured"
        else:
            detail = (
                f"p95 first token {_ms(latency.first_token_p95)} (budget {latency.first_token_budget:g} ms), "
                f"p95 full reply {_ms(latency.full_reply_p95)} (budget {latency.full_reply_budget:g} ms)"
            )
        checks.append(GateCheck(name="latency", passed=bool(latency.within_budget), detail=detail))
    if config.check_cost:
        if cost is None or cost.per_call_mean is None:
            passed, detail = False, "the agent reported no cost: not measured"
        elif cost.budget is None:
            passed, detail = False, "check_cost is on but [budgets] cost_per_call_usd is not set"
        else:
            passed = bool(cost.within_budget)
            detail = (
                f"mean cost per call ${cost.per_call_mean:.4f} against the budget ${cost.budget:.4f} "
                f"({plural(cost.over_budget_calls, 'call')} over)"
            )
        checks.append(GateCheck(name="cost", passed=passed, detail=detail))
    if config.check_handoff and handoff is not None:
        bad = handoff.failed
        checks.append(
            GateCheck(
                name="handoff",
                passed=not bad,
                detail=(
                    f"{handoff.ok}/{plural(handoff.escalations, 'escalation')} with summary, sentiment, the required "
                    f"attributes and at most {plural(config.max_hops, 'hop')}"
                    + (f"; failing: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}" if bad else "")
                ),
            )
        )
    if config.min_weighted_score is not None:
        checks.append(
            GateCheck(
                name="weighted_score",
                passed=wscore is not None and wscore >= config.min_weighted_score,
                detail=f"weighted score {0.0 if wscore is None else wscore:.3f}, at least "
                f"{config.min_weighted_score:.3f} required",
            )
        )
    return checks  # fmt: skip


def judge_check(judge: JudgeSummary | None, min_score: float, run_id: str) -> GateCheck:
    """[judge] min_score: the mean judge score (in [0, 1]) must reach it, with every reply judged:
    a run never judged, or a turn the judge could not score, fails (the gate cannot vouch for it)."""
    need = f"at least {min_score:.3f} required"
    if judge is None:
        detail = f"run {run_id} has not been judged: run `shadowpilot judge --run {run_id}`"
        return GateCheck(name="judge", passed=False, detail=detail)
    if judge.score is None:
        return GateCheck(name="judge", passed=False,
                         detail=f"the judge scored no reply ({plural(judge.errors, 'error')}); {need}")  # fmt: skip
    detail = f"mean judge score {judge.score:.3f} over {plural(judge.turns, 'reply', 'replies')}, {need}"
    if judge.errors:
        detail += f"; {plural(judge.errors, 'reply', 'replies')} could not be judged: run `shadowpilot judge` again"
    return GateCheck(name="judge", passed=judge.score >= min_score and not judge.errors, detail=detail)


def _ms(x: float | None) -> str:
    return "not measured" if x is None else f"{x:g} ms"
