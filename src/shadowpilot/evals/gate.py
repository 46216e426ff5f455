"""The gate: pure function of scored cases and a GateConfig -> GateResult.

A failed gate is a result, not an exception.
"""

from __future__ import annotations

import pandas as pd

from ..types import (
    EscalationSummary,
    Failure,
    GateCheck,
    GateConfig,
    GateResult,
    RoutingSummary,
)
from .metrics import f1, ratio, wilson_interval


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def evaluate_gate(scores: pd.DataFrame, config: GateConfig, run_id: str) -> GateResult:
    """Decide go / no-go / insufficient-evidence from scored cases (first repeat)."""
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
    critical_failed = failed.loc[failed["critical"], "case_id"].tolist()
    failures = [Failure(case_id=r.case_id, why=r.why or "failed") for r in failed.itertuples()]

    measure, measured = ("lower bound", lo) if config.use_lower_bound else ("pass rate", pass_rate)
    checks = [
        GateCheck(name="min_cases", passed=n >= config.min_cases,
                  detail=f"{n} cases (at least {config.min_cases} needed for a verdict)"),
        GateCheck(name="pass_rate", passed=measured >= config.pass_rate,
                  detail=f"{measure} {measured:.1%} against the bar {config.pass_rate:.0%} "
                         f"({passed_n}/{n} passed; 95% interval {lo:.1%}-{hi:.1%})"),
        GateCheck(name="critical", passed=not critical_failed,
                  detail="no critical case failed" if not critical_failed
                  else f"critical case(s) failed: {', '.join(critical_failed)}"),
        GateCheck(name="errors", passed=errors <= config.max_errors,
                  detail=f"{errors} agent error(s) (at most {config.max_errors} allowed)"),
    ]  # fmt: skip
    ok = {c.name: c.passed for c in checks}

    if not ok["min_cases"]:
        verdict = "insufficient-evidence"
        explanation = (
            f"Only {n} cases; the gate needs at least {config.min_cases} to decide. Import or replay more calls."
        )
    elif not ok["critical"] or not ok["errors"] or pass_rate < config.pass_rate:
        verdict = "no-go"
        reasons = []
        if pass_rate < config.pass_rate:
            reasons.append(f"{passed_n}/{n} cases passed ({pass_rate:.1%}), below the bar of {config.pass_rate:.0%}")
        if critical_failed:
            reasons.append(f"critical case(s) failed: {', '.join(critical_failed)}")
        if not ok["errors"]:
            reasons.append(f"{errors} agent error(s), more than the {config.max_errors} allowed")
        explanation = "Not ready: " + "; ".join(reasons) + "."
    elif not ok["pass_rate"]:
        # the point estimate clears the bar but, on this many cases, the interval does not
        verdict = "insufficient-evidence"
        explanation = (
            f"The pass rate {pass_rate:.1%} clears the bar {config.pass_rate:.0%}, but with {n} cases "
            f"the 95% lower bound is {lo:.1%}; more cases are needed to be sure (use_lower_bound is on)."
        )
    else:
        verdict = "go"
        explanation = f"Ready: {passed_n}/{n} cases passed ({pass_rate:.1%} against the bar {config.pass_rate:.0%})."

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
    )
