"""The gate's prose: check details, the verdict's explanation and the evidence sentences.

Kept apart from the logic (gate.py, evidence.py) so the numbers can be tested without the words
and the words read in one place. Each sentence prints the interval as GateResult stores it.
"""

from __future__ import annotations

from ..types import GateCheck, GateConfig
from ..wording import plural
from .measure import Measure


def min_cases_detail(m: Measure, config: GateConfig) -> str:
    return f"{plural(m.cases, 'case')} (at least {config.min_cases} needed for a verdict)"


def pass_rate_detail(m: Measure, config: GateConfig) -> str:
    measure, shown = (f"{m.what} lower bound", m.shown_lo) if config.use_lower_bound else (m.what, m.rate)
    return (
        f"{measure} {shown:.1%} against the bar {config.pass_rate:.0%} "
        f"({m.passed}/{m.cases} passed; 95% interval {m.shown_lo:.1%}-{m.shown_hi:.1%})"
    )


def critical_detail(critical_failed: list[str]) -> str:
    if not critical_failed:
        return "no critical case failed"
    return f"{plural(len(critical_failed), 'critical case')} failed: {', '.join(critical_failed)}"


def errors_detail(errors: int, config: GateConfig) -> str:
    return f"{plural(errors, 'agent error')} (at most {config.max_errors} allowed)"


def too_few(m: Measure, config: GateConfig) -> str:
    return (
        f"Only {plural(m.cases, 'case')}; the gate needs at least {config.min_cases} to decide. "
        "Import or replay more calls."
    )


def not_ready(m: Measure, config: GateConfig, *, below_bar: bool, errors_over: bool, failed: list[GateCheck]) -> str:
    """No-go: the reasons in a fixed order (the bar, critical cases, errors, then the failed optional checks)."""
    reasons = []
    if below_bar:
        reasons.append(
            f"{m.passed}/{plural(m.cases, 'case')} passed ({m.what} {m.rate:.1%}), "
            f"below the bar of {config.pass_rate:.0%}"
        )
    if m.critical_failed:
        reasons.append(critical_detail(m.critical_failed))
    if errors_over:
        reasons.append(f"{plural(m.errors, 'agent error')}, more than the {config.max_errors} allowed")
    reasons += [f"{c.name}: {c.detail}" for c in failed]
    return "Not ready: " + "; ".join(reasons) + "."


def lower_bound_short(m: Measure, config: GateConfig) -> str:
    """The point estimate clears the bar but, on this many cases, the interval does not."""
    return (
        f"The {m.what} {m.rate:.1%} clears the bar {config.pass_rate:.0%}, but with {plural(m.cases, 'case')} "
        f"the 95% lower bound is {m.shown_lo:.1%}; more cases are needed to be sure (use_lower_bound is on)."
    )


def ready(m: Measure, config: GateConfig) -> str:
    bar = f"{config.pass_rate:.0%}"
    return f"Ready: {m.passed}/{plural(m.cases, 'case')} passed ({m.what} {m.rate:.1%} against the bar {bar})."


def caution(m: Measure, config: GateConfig, lower: int | None) -> str | None:
    """The sentence beside the verdict when the 95% lower bound is under the bar (None when it clears)."""
    if lower == 0:
        return None
    need = (
        f"{plural(lower, 'more passing case')} in a row would lift it over"
        if lower is not None
        else "no number of passing cases lifts it over a bar of 100%"
    )
    uses = (
        "use_lower_bound is on: the gate requires it"
        if config.use_lower_bound
        else "the gate decides on the point estimate; use_lower_bound would require the bound"
    )
    return (
        f"Thin evidence: on {plural(m.cases, 'case')} the 95% lower bound of the {m.what} is {m.shown_lo:.1%}, "
        f"under the {config.pass_rate:.0%} bar; {need} ({uses})."
    )


def evidence_note(m: Measure, config: GateConfig, short: int, point: int | None, lower: int | None) -> str:
    """How far the evidence is from the bar: missing cases, then the rate against the bar."""
    n, passed, bar, lo = m.cases, m.passed, config.pass_rate, m.shown_lo
    rate = passed / n if n else 0.0
    parts = []
    if short:
        parts.append(f"{plural(n, 'case')}, but min_cases is {config.min_cases}: {short} more before any verdict")
    if point == 0:  # and when the lower bound does not clear the bar, `caution` says by how much
        head = f"{m.what} {passed}/{n} = {rate:.1%} clears the {bar:.0%} bar"
        parts.append(f"{head}, and so does its 95% lower bound ({lo:.1%})" if lower == 0 else head)
    else:
        more = None if point is None else plural(point, "more passing case")
        need = "it cannot reach the bar" if more is None else f"{more} in a row would clear it"
        parts.append(f"{m.what} {passed}/{n} = {rate:.1%} is below the {bar:.0%} bar: {need}")
    return "; ".join(parts) + "."
