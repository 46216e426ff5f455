"""Comparing two scored runs, A (before) and B (after): what changed, and is B worse beyond noise?

Pure over two score frames (as pilot.score_run gives them; first repeat only).

Statistics, chosen for the 20-to-a-few-hundred cases a pilot has:
- each run's rates carry their Wilson 95% interval;
- the verdict is McNemar's exact test on the cases both runs scored, which are paired (the
  same calls through two agents): of the m cases whose result changed, b went pass -> fail
  and c fail -> pass; two-sided p = min(1, 2 * P(X <= min(b, c))), X ~ Binomial(m, 1/2);
- the interval shown for the pass-rate change is the one that test inverts, so the two can
  never disagree: the Clopper-Pearson interval for theta = b / m, the exact binomial interval
  dual to the doubled-tail test, mapped to the difference B - A = (m / n)(1 - 2 theta) given
  the m changed cases. It excludes zero exactly when p < alpha. The error-rate change gets the
  same exact conditional interval on its own discordant cases;
- precision, recall and routing accuracy have denominators that differ between the runs
  (the cases each agent escalated), so they are not paired: their difference gets
  Newcombe's hybrid score interval for independent proportions (Newcombe 1998, Stat Med
  17:873, method 10). They do not decide the verdict; when one of them (or the error rate)
  moved beyond its interval while the pass rate did not, the explanation says so;
- every difference interval is at the verdict's level, 1 - alpha (95% by default);
- verdict: `worse` when a case marked critical passed on A and fails on B (whatever the
  statistics: a critical case that fails blocks go-live), or when more cases went pass -> fail
  than fail -> pass and McNemar's p is below alpha (default 0.05); `better` the other way round;
  otherwise `within-noise`. On 20 cases that takes at least 6 newly failing cases and none
  newly passing.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from ..formatting import percent, points, rounded
from ..wording import noun, plural
from .columns import first_repeat
from .metrics import wilson_interval
from .missing import na_to_none

Interval = tuple[float, float]


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def clopper_pearson(k: int, m: int, alpha: float = 0.05) -> Interval | None:
    """The exact (Clopper-Pearson) 1 - alpha interval for a binomial proportion k / m; None when
    m = 0. It is the interval the doubled-tail exact test inverts: at theta = 1/2 it excludes
    1/2 exactly when mcnemar_exact(k, m - k) < alpha."""
    if m <= 0:
        return None
    from scipy.special import betaincinv  # the beta quantiles the exact binomial limits are

    lo = 0.0 if k == 0 else float(betaincinv(k, m - k + 1, alpha / 2))
    hi = 1.0 if k == m else float(betaincinv(k + 1, m - k, 1 - alpha / 2))
    return lo, hi


def paired_exact(only_a: int, only_b: int, n: int, alpha: float = 0.05) -> tuple[float, Interval | None]:
    """Difference p_B - p_A of two paired proportions on n cases and its exact conditional
    1 - alpha interval: of the m = only_a + only_b discordant cases, theta = only_a / m counted on
    A only; p_B - p_A = (m / n)(1 - 2 theta), with theta's Clopper-Pearson interval. The interval
    is None when no case is discordant (the exact test then has nothing to go on)."""
    if n == 0:
        return 0.0, None
    m = only_a + only_b
    d = (only_b - only_a) / n
    theta = clopper_pearson(only_a, m, alpha)
    if theta is None:
        return d, None
    return d, ((m / n) * (1 - 2 * theta[1]), (m / n) * (1 - 2 * theta[0]))


def _excludes_zero(iv: Interval | None) -> bool:
    return iv is not None and (iv[0] > 0 or iv[1] < 0)


def newcombe_independent(ka: int, na: int, kb: int, nb: int, alpha: float = 0.05) -> tuple[float, Interval] | None:
    """Difference kb/nb - ka/na of two independent proportions and its 1 - alpha interval
    (method 10); None when either is undefined."""
    if na == 0 or nb == 0:
        return None
    z = NormalDist().inv_cdf(1 - alpha / 2)
    pa, pb = ka / na, kb / nb
    la, ua = wilson_interval(ka, na, z)
    lb, ub = wilson_interval(kb, nb, z)
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


class DecisionFlip(BaseModel):
    """A case whose agent decided otherwise on B than on A: it escalated on one run only
    (`escalation`), or escalated on both and its routing was right on one only (`routing`). Between
    a text run and an audio run of the same agent, these are the cases flipped by hearing."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    what: Literal["escalation", "routing"]
    escalated_a: bool
    escalated_b: bool
    routing_ok_a: bool | None
    routing_ok_b: bool | None


def decision_flips(joined: pd.DataFrame) -> list[DecisionFlip]:
    """The cases both runs decided (no agent error on either) whose decision changed, in A's order."""
    esc: dict[str | None, bool] = {"tp": True, "fp": True, "fn": False, "tn": False}
    out: list[DecisionFlip] = []
    for r in joined[["case_id", "decision_a", "decision_b", "routing_ok_a", "routing_ok_b"]].to_dict("records"):
        ea, eb = esc.get(na_to_none(r["decision_a"])), esc.get(na_to_none(r["decision_b"]))
        if ea is None or eb is None:
            continue
        ra, rb = na_to_none(r["routing_ok_a"]), na_to_none(r["routing_ok_b"])
        ra, rb = (None if ra is None else bool(ra)), (None if rb is None else bool(rb))
        if ea != eb:
            what: Literal["escalation", "routing"] = "escalation"
        elif ea and ra is not None and rb is not None and ra != rb:
            what = "routing"
        else:
            continue
        out.append(
            DecisionFlip(
                case_id=r["case_id"], what=what, escalated_a=ea, escalated_b=eb, routing_ok_a=ra, routing_ok_b=rb
            )
        )
    return out


class McNemar(BaseModel):
    """The verdict's test, with the interval it inverts: of the cases whose result changed, the
    share that went pass -> fail, and its exact interval (excludes 1/2 exactly when p < alpha)."""

    model_config = ConfigDict(frozen=True)

    pass_to_fail: int
    fail_to_pass: int
    p_value: float
    worse_share: float | None = None  # pass_to_fail / (pass_to_fail + fail_to_pass); None: none changed
    worse_share_ci: Interval | None = None  # Clopper-Pearson, at 1 - alpha


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
    critical_regressions: list[str] = []  # critical cases that passed on A and fail on B: worse on their own
    flipped: list[DecisionFlip] = []  # cases whose escalation or routing decision differs (decision_flips)
    # which runs heard audio (`run --audio`): with one of each, `flipped` is what hearing changed
    audio_a: bool = False
    audio_b: bool = False


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


NAMES = {
    "pass_rate": "pass rate",
    "precision": "precision",
    "recall": "recall",
    "routing_accuracy": "routing accuracy",
    "error_rate": "agent errors",
}


def verdict_of(b: int, c: int, n: int, alpha: float = 0.05) -> tuple[Literal["worse", "better", "within-noise"], str]:
    """The pass/fail verdict on n paired cases, b of them pass -> fail and c fail -> pass, and its
    sentence, which quotes the pass-rate change with the interval McNemar's exact test inverts."""
    p = mcnemar_exact(b, c)
    d, ci = paired_exact(b, c, n, alpha)
    change = f"pass rate {points(d)} pts"
    if ci is None:
        change += ", no case changed"
    else:
        change += (
            f", {percent(1 - alpha, 0)} exact interval [{points(ci[0])}, {points(ci[1])}] pts given the "
            f"{plural(b + c, 'case')} that changed"
        )
    if b > c and p < alpha:
        return "worse", (
            f"B is worse beyond noise: {plural(b, 'case')} newly failing and {c} newly passing "
            f"(McNemar exact p = {p:.3g} < {alpha}; {change})."
        )
    if c > b and p < alpha:
        return "better", (
            f"B is better beyond noise: {plural(c, 'case')} newly passing and {b} newly failing "
            f"(McNemar exact p = {p:.3g} < {alpha}; {change})."
        )
    return "within-noise", (
        f"No difference beyond noise: {plural(b, 'case')} newly failing and {c} newly passing "
        f"(McNemar exact p = {p:.3g}, needs < {alpha}; {change})."
    )


def compare_scores(
    scores_a: pd.DataFrame, scores_b: pd.DataFrame, run_a: str, run_b: str, alpha: float = 0.05
) -> Comparison:
    """What changed from run A to run B, case by case, and whether B is worse beyond noise."""
    a, b = first_repeat(scores_a), first_repeat(scores_b)
    joined = a.merge(b, on="case_id", suffixes=("_a", "_b"))  # B's order within A's: both are import order
    pa, pb = joined["passed_a"].astype(bool), joined["passed_b"].astype(bool)

    def changes(mask: pd.Series, side: str) -> list[CaseChange]:
        rows = joined[mask]
        return [
            CaseChange(case_id=r["case_id"], critical=bool(r[f"critical_{side}"]), why=na_to_none(r[f"why_{side}"]))
            for r in rows.to_dict("records")
        ]

    newly_failing, newly_passing = changes(pa & ~pb, "b"), changes(~pa & pb, "a")
    ca, cb = _counts(a), _counts(b)
    metrics: dict[str, MetricDelta] = {}
    for name in ca:
        (ka, na), (kb, nb) = ca[name], cb[name]
        level = percent(1 - alpha, 0)
        ci: Interval | None
        if name in ("pass_rate", "error_rate"):
            col = "passed" if name == "pass_rate" else "error"
            _, only_a, only_b, _ = _paired(joined[f"{col}_a"], joined[f"{col}_b"])
            delta: float | None
            delta, ci = paired_exact(only_a, only_b, len(joined), alpha) if len(joined) else (None, None)
            method = (
                f"exact conditional {level} interval (Clopper-Pearson on the {only_a + only_b} of "
                f"{len(joined)} paired cases that changed; the interval McNemar's exact test inverts)"
            )
            if len(joined) and ci is None:
                method = f"no case of the {len(joined)} both runs scored changed: no interval"
        else:
            diff = newcombe_independent(ka, na, kb, nb, alpha)
            delta, ci = (None, None) if diff is None else diff
            method = f"Newcombe hybrid score {level} interval (independent: the denominators differ between runs)"
        metrics[name] = MetricDelta(
            a=_rate(ka, na),
            b=_rate(kb, nb),
            delta=rounded(delta, 4),
            delta_ci=None if ci is None else _round(ci),
            method=method,
        )

    b_n, c_n = len(newly_failing), len(newly_passing)
    verdict, explanation = verdict_of(b_n, c_n, len(joined), alpha)
    p = mcnemar_exact(b_n, c_n)
    share = clopper_pearson(b_n, b_n + c_n, alpha)
    mc = McNemar(
        pass_to_fail=b_n,
        fail_to_pass=c_n,
        p_value=round(p, 6),
        worse_share=round(b_n / (b_n + c_n), 4) if b_n + c_n else None,
        worse_share_ci=None if share is None else _round(share),
    )
    critical = [ch.case_id for ch in newly_failing if ch.critical]
    if critical:
        head = (
            f"B is worse: critical {noun(len(critical), 'case')} {', '.join(critical)} passed on A and "
            f"{noun(len(critical), 'fails', 'fail')} on B, and a critical case that fails blocks go-live "
            "whatever the statistics."
        )
        explanation = f"{head} By the statistics alone: {explanation[:1].lower()}{explanation[1:]}"
        verdict = "worse"
    elif verdict == "within-noise":
        moved = [NAMES[k] for k, m in metrics.items() if k != "pass_rate" and _excludes_zero(m.delta_ci)]
        if moved:
            explanation += (
                f" The change in {' and '.join(moved)} is beyond its own {percent(1 - alpha, 0)} interval, "
                "but the verdict is on pass/fail alone: a case can trade one kind of failure for "
                "another."
            )
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
        critical_regressions=critical,
        flipped=decision_flips(joined),
    )
