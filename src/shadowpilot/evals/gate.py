"""The gate: pure function of scored cases and a GateConfig -> GateResult.

The gate's four core checks (min_cases, pass_rate, critical, errors) and every scorer's optional
checks fold into one verdict (`fold`); the words live in verdict_text.py. pass^k, the breakdowns
and the evidence are the gate's, not scorers': they count the case verdict (`passed`, which reads
several scorers' columns) and the evidence follows the measure the verdict decides on. A failed
gate is a result, not an exception.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..types import Budgets, EvidenceSummary, Failure, GateCheck, GateConfig, GateResult, JudgeSummary, Verdict
from . import verdict_text as text
from .breakdown import breakdowns, pass_k
from .columns import first_repeat
from .measure import Measure, gated, pass_rate
from .metrics import passes_needed
from .scorer import GateInputs, Scorer, check
from .scorers import SCORERS


def core_checks(m: Measure, config: GateConfig) -> list[GateCheck]:
    """The checks every gate runs, on the measure the verdict counts (pass rate or pass^k)."""
    measured = m.lo if config.use_lower_bound else m.rate
    return [
        check("min_cases", m.cases >= config.min_cases, text.min_cases_detail(m, config), "core"),
        check("pass_rate", measured >= config.pass_rate, text.pass_rate_detail(m, config), "core"),
        check("critical", not m.critical_failed, text.critical_detail(m.critical_failed), "core"),
        check("errors", m.errors <= config.max_errors, text.errors_detail(m.errors, config), "core"),
    ]


def fold(checks: list[GateCheck], m: Measure, config: GateConfig) -> tuple[Verdict, str]:
    """The verdict and its explanation. Too few cases is insufficient evidence, whatever else; a
    point estimate under the bar, a critical failure, too many errors or any failed optional check
    is no-go; a point estimate over the bar whose lower bound (use_lower_bound) is not, insufficient
    evidence; otherwise go."""
    core = {c.name: c for c in checks if c.kind == "core"}
    failed = [c for c in checks if c.kind == "optional" and not c.passed]
    if not core["min_cases"].passed:
        return "insufficient-evidence", text.too_few(m, config)
    below_bar, errors_over = m.rate < config.pass_rate, not core["errors"].passed
    if below_bar or not core["critical"].passed or errors_over or failed:
        return "no-go", text.not_ready(m, config, below_bar=below_bar, errors_over=errors_over, failed=failed)
    if not core["pass_rate"].passed:
        return "insufficient-evidence", text.lower_bound_short(m, config)
    return "go", text.ready(m, config)


def evidence(m: Measure, config: GateConfig) -> EvidenceSummary:
    """How far the evidence is from the bar, in cases; `caution` when the 95% lower bound is under
    it, whatever use_lower_bound says (10/10 is a 100% pass rate and a 72% lower bound)."""
    short = max(0, config.min_cases - m.cases)
    point = passes_needed(m.passed, m.cases, config.pass_rate, lower_bound=False)
    lower = passes_needed(m.passed, m.cases, config.pass_rate, lower_bound=True)
    return EvidenceSummary(
        min_cases_short=short,
        passes_needed_point=point,
        passes_needed_lower_bound=lower,
        note=text.evidence_note(m, config, short, point, lower),
        lower_bound=m.shown_lo,
        lower_bound_clears_bar=lower == 0,
        caution=text.caution(m, config, lower),
    )


def evaluate_gate(
    scores: pd.DataFrame,
    config: GateConfig,
    run_id: str,
    *,
    budgets: Budgets | None = None,
    timings: pd.DataFrame | None = None,
    judge: JudgeSummary | None = None,
    judge_min_score: float | None = None,
    scorers: Sequence[Scorer] = SCORERS,
) -> GateResult:
    """Decide go / no-go / insufficient-evidence from scored cases (first repeat, or all K
    repeats with `require_pass_k`). `timings` are the run's per-step times (Store.step_timings);
    `scorers` those score_frame ran (each adds its summary and checks)."""
    s = first_repeat(scores)
    inputs = GateInputs(s, scores, config, run_id, budgets or Budgets(), timings, judge, judge_min_score)
    first = pass_rate(s)
    pk = pass_k(scores) if "repeat" in scores else None
    m = gated(first, scores, pk, config)
    shares = [scorer.gate(inputs) for scorer in scorers]
    checks = [*core_checks(m, config), *(c for share in shares for c in share.checks)]
    verdict, explanation = fold(checks, m, config)
    failed = s[~s["passed"]]
    return GateResult(
        run_id=run_id,
        verdict=verdict,
        passed=verdict == "go",
        pass_rate=round(first.rate, 4),
        pass_rate_ci=(first.shown_lo, first.shown_hi),
        bar=config.pass_rate,
        cases=first.cases,
        passed_cases=first.passed,
        errors=first.errors,
        critical_failed=m.critical_failed,
        failures=[Failure(case_id=c, why=w or "failed") for c, w in zip(failed["case_id"], failed["why"], strict=True)],
        checks=checks,
        explanation=explanation,
        config=config,
        summaries=tuple(share.summary for share in shares if share.summary is not None),
        pass_k=pk,
        breakdowns=breakdowns(s) if "tags" in s else {},
        evidence=evidence(m, config),
    )
