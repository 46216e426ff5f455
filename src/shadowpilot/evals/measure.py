"""What the verdict counts: the pass rate over the first repeat, or with [gate] require_pass_k
and K repeats, pass^k (a case counts only when every repeat passed; a critical case fails on
any repeat)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..types import GateConfig, PassKSummary
from .metrics import wilson_interval


@dataclass(frozen=True)
class Measure:
    """`lo`/`hi` are exact (decisions use them); `shown_lo`/`shown_hi` are as GateResult stores
    them (4 places), so no sentence shows 20.6% where another shows 20.7% for one bound."""

    what: str  # "pass rate" or "pass^K"
    cases: int  # first-repeat cases
    passed: int
    rate: float
    lo: float
    hi: float
    critical_failed: list[str]
    errors: int

    @property
    def shown_lo(self) -> float:
        return round(self.lo, 4)

    @property
    def shown_hi(self) -> float:
        return round(self.hi, 4)


def pass_rate(s: pd.DataFrame) -> Measure:
    """The pass rate of first-repeat scores, with its Wilson 95% interval."""
    n, passed = len(s), int(s["passed"].sum())
    lo, hi = wilson_interval(passed, n)
    failed = s[~s["passed"]]
    return Measure(
        "pass rate",
        n,
        passed,
        passed / n if n else 0.0,
        lo,
        hi,
        failed.loc[failed["critical"], "case_id"].tolist(),
        int(s["error"].sum()),
    )


def gated(first: Measure, all_repeats: pd.DataFrame, pk: PassKSummary | None, config: GateConfig) -> Measure:
    """The measure the verdict decides on: `first`, or pass^k when asked for and there are repeats."""
    if not (config.require_pass_k and pk is not None):
        return first
    ever_failed = all_repeats.loc[~all_repeats["passed"]]
    critical = list(dict.fromkeys(ever_failed.loc[ever_failed["critical"], "case_id"]))
    lo, hi = pk.pass_k_ci
    return Measure(f"pass^{pk.k}", first.cases, pk.pass_k, pk.pass_k_rate, lo, hi, critical, first.errors)
