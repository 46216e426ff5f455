"""Comparing two scored runs, A (before) and B (after): what changed, and is B worse beyond noise?

Pure over two score frames (as pilot.score_run gives them; first repeat only).

Statistics, chosen for the 20-to-a-few-hundred cases a pilot has:
- each run's rates carry their Wilson 95% interval;
- the pass rate and the error rate are compared on the cases both runs scored, paired
  (the same calls through two agents are not independent samples): the difference B - A
  gets Newcombe's paired score interval (Newcombe 1998, Stat Med 17:2635, method 10), and
  the verdict uses McNemar's exact test on the discordant cases (passed on A and failed on
  B, against failed on A and passed on B): two-sided p = min(1, 2 * P(X <= min(b, c))),
  X ~ Binomial(b + c, 1/2);
- precision, recall and routing accuracy have denominators that differ between the runs
  (the cases each agent escalated), so they are not paired: their difference gets
  Newcombe's hybrid score interval for independent proportions (Newcombe 1998, Stat Med
  17:873, method 10);
- verdict: `worse` when more cases went pass -> fail than fail -> pass and McNemar's p is
  below alpha (default 0.05); `better` the other way round; otherwise `within-noise`.
  On 20 cases that takes at least 6 newly failing cases and none newly passing.
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from ..wording import plural
from .metrics import wilson_interval

Interval = tuple[float, float]


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def newcombe_paired(both: int, only_a: int, only_b: int, neither: int) -> tuple[float, Interval]:
    """Difference p_B - p_A of two paired proportions and its 95% interval (method 10).

    both: cases counted in A and in B; only_a: in A, not in B; only_b: in B, not in A."""
    n = both + only_a + only_b + neither
    if n == 0:
        return 0.0, (-1.0, 1.0)
    pa, pb = (both + only_a) / n, (both + only_b) / n
    la, ua = wilson_interval(both + only_a, n)
    lb, ub = wilson_interval(both + only_b, n)
    denom = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = 0.0 if denom == 0 else (both * neither - only_a * only_b) / math.sqrt(denom)
    d = pb - pa
    lower = d - math.sqrt(max(0.0, (pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2))
    upper = d + math.sqrt(max(0.0, (ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2))
    return d, (max(-1.0, lower), min(1.0, upper))


def newcombe_independent(ka: int, na: int, kb: int, nb: int) -> tuple[float, Interval] | None:
    """Difference kb/nb - ka/na of two independent proportions and its 95% interval
    (method 10); None when either is undefined."""
    if na == 0 or nb == 0:
        return None
    pa, pb = ka / na, kb / nb
    la, ua = wilson_interval(ka, na)
    lb, ub = wilson_interval(kb, nb)
    d = pb - pa
    return d, (max(-1.0, d - math.hypot(pb - lb, ua - pa)), min(1.0, d + math.hypot(ub - pb, pa - la)))


class Rate(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: float | None
    ci: Interval | None
    k: int
    n: int


class MetricDelta(BaseModel):
    """One metric on A and on B, and B - A with its interval."""

    model_config = ConfigDict(frozen=True)

    a: Rate
    b: Rate
    delta: float | None
    delta_ci: Interval | None
    method: str  # how delta_ci was computed


class CaseChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    critical: bool
    why: str | None  # why it fails on B (newly failing) or failed on A (newly passing)


class McNemar(BaseModel):
    model_config = ConfigDict(frozen=True)

    pass_to_fail: int
    fail_to_pass: int
    p_value: float


class Comparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_a: str
    run_b: str
    cases_a: int
    cases_b: int
    common: int
    newly_failing: list[CaseChange]
    newly_passing: list[CaseChange]
    only_in_a: list[str]
    only_in_b: list[str]
    metrics: dict[str, MetricDelta]
    mcnemar: McNemar
    alpha: float
    verdict: Literal["worse", "better", "within-noise"]
    worse: bool
    explanation: str


def _rate(k: int, n: int) -> Rate:
    return Rate(value=round(k / n, 4) if n else None, ci=_round(wilson_interval(k, n)) if n else None, k=k, n=n)


def _round(iv: Interval) -> Interval:
    return (round(iv[0], 4), round(iv[1], 4))


def _counts(s: pd.DataFrame) -> dict[str, tuple[int, int]]:
    d = s["decision"]
    tp, fp, fn = (int((d == k).sum()) for k in ("tp", "fp", "fn"))
    routed = s.loc[d == "tp", "routing_ok"].dropna().astype(bool)
    return {
        "pass_rate": (int(s["passed"].sum()), len(s)),
        "precision": (tp, tp + fp),
        "recall": (tp, tp + fn),
        "routing_accuracy": (int(routed.sum()), len(routed)),
        "error_rate": (int(s["error"].sum()), len(s)),
    }


def _paired(a: pd.Series, b: pd.Series) -> tuple[int, int, int, int]:
    a, b = a.astype(bool), b.astype(bool)
    return int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum())


def compare_scores(scores_a: pd.DataFrame, scores_b: pd.DataFrame, run_a: str, run_b: str,
                   alpha: float = 0.05) -> Comparison:  # fmt: skip
    """What changed from run A to run B, case by case, and whether B is worse beyond noise."""
    a = scores_a[scores_a["repeat"] == 0] if "repeat" in scores_a else scores_a
    b = scores_b[scores_b["repeat"] == 0] if "repeat" in scores_b else scores_b
    joined = a.merge(b, on="case_id", suffixes=("_a", "_b"))  # B's order within A's: both are import order
    pa, pb = joined["passed_a"].astype(bool), joined["passed_b"].astype(bool)

    def changes(mask: pd.Series, side: str) -> list[CaseChange]:
        rows = joined[mask]
        return [CaseChange(case_id=r["case_id"], critical=bool(r[f"critical_{side}"]),
                           why=None if pd.isna(r[f"why_{side}"]) else r[f"why_{side}"])
                for r in rows.to_dict("records")]  # fmt: skip

    newly_failing, newly_passing = changes(pa & ~pb, "b"), changes(~pa & pb, "a")
    ca, cb = _counts(a), _counts(b)
    metrics: dict[str, MetricDelta] = {}
    for name in ca:
        (ka, na), (kb, nb) = ca[name], cb[name]
        if name in ("pass_rate", "error_rate"):
            col = "passed" if name == "pass_rate" else "error"
            delta, ci = newcombe_paired(*_paired(joined[f"{col}_a"], joined[f"{col}_b"]))
            diff: tuple[float, Interval] | None = (delta, ci) if len(joined) else None
            method = f"Newcombe paired score interval on the {len(joined)} cases both runs scored"
        else:
            diff = newcombe_independent(ka, na, kb, nb)
            method = "Newcombe hybrid score interval (independent: the denominators differ between runs)"
        metrics[name] = MetricDelta(
            a=_rate(ka, na),
            b=_rate(kb, nb),
            delta=None if diff is None else round(diff[0], 4),
            delta_ci=None if diff is None else _round(diff[1]),
            method=method,
        )

    b_n, c_n = len(newly_failing), len(newly_passing)
    p = mcnemar_exact(b_n, c_n)
    mc = McNemar(pass_to_fail=b_n, fail_to_pass=c_n, p_value=round(p, 6))
    if b_n > c_n and p < alpha:
        verdict: Literal["worse", "better", "within-noise"] = "worse"
        explanation = (f"B is worse beyond noise: {plural(b_n, 'case')} newly failing and {c_n} newly passing "
                       f"(McNemar exact p = {p:.3g} < {alpha}).")  # fmt: skip
    elif c_n > b_n and p < alpha:
        verdict = "better"
        explanation = (f"B is better beyond noise: {plural(c_n, 'case')} newly passing and {b_n} newly failing "
                       f"(McNemar exact p = {p:.3g} < {alpha}).")  # fmt: skip
    else:
        verdict = "within-noise"
        explanation = (f"No difference beyond noise: {plural(b_n, 'case')} newly failing and {c_n} newly passing "
                       f"(McNemar exact p = {p:.3g}, needs < {alpha}).")  # fmt: skip
    ids_a, ids_b = set(a["case_id"]), set(b["case_id"])
    return Comparison(
        run_a=run_a,
        run_b=run_b,
        cases_a=len(a),
        cases_b=len(b),
        common=len(joined),
        newly_failing=newly_failing,
        newly_passing=newly_passing,
        only_in_a=[c for c in a["case_id"] if c not in ids_b],
        only_in_b=[c for c in b["case_id"] if c not in ids_a],
        metrics=metrics,
        mcnemar=mc,
        alpha=alpha,
        verdict=verdict,
        worse=verdict == "worse",
        explanation=explanation,
    )
