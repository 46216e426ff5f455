"""Pass rate by group (tag, channel, the human's escalation reason, pilot day), each with its
Wilson 95% interval, so a tenant sees where the agent is weak. A case with several tags counts
in each; a case with none is under "(untagged)". Groups are sorted by pass rate, worst first; days in date order."""

from __future__ import annotations

import pandas as pd

from ..types import BreakdownRow, PassKSummary
from .metrics import wilson_arrays, wilson_interval


def _rows(keys: pd.Series, passed: pd.Series, by_key: bool = False) -> list[BreakdownRow]:
    g = pd.DataFrame({"key": keys.astype(str).to_numpy(), "passed": passed.astype(int).to_numpy()})
    agg = g.groupby("key", sort=True)["passed"].agg(["size", "sum"])
    lo, hi = wilson_arrays(agg["sum"].to_numpy(), agg["size"].to_numpy())
    agg = agg.assign(rate=agg["sum"] / agg["size"], lo=lo, hi=hi)
    if not by_key:
        agg = agg.sort_values(["rate", "size"], ascending=[True, False], kind="stable")
    return [
        BreakdownRow(
            key=str(k),
            cases=int(n),
            passed=int(p),
            pass_rate=round(float(r), 4),
            ci=(round(float(a), 4), round(float(b), 4)),
        )
        for k, n, p, r, a, b in zip(agg.index, agg["size"], agg["sum"], agg["rate"], agg["lo"], agg["hi"], strict=True)
    ]


def breakdowns(s: pd.DataFrame) -> dict[str, list[BreakdownRow]]:
    """First-repeat scores -> {"tag": [...], "channel": [...], "reason": [...], "day": [...]}."""
    if s.empty:
        return {}
    tags = s[["tags", "passed"]].assign(tags=s["tags"].map(lambda t: list(t) if len(t) else ["(untagged)"]))
    tags = tags.explode("tags")
    reason = s["expected_reason"].where(s["expected_escalated"].astype(bool), "(not escalated)")
    return {
        "tag": _rows(tags["tags"], tags["passed"]),
        "channel": _rows(s["channel"].fillna("(unknown)"), s["passed"]),
        "reason": _rows(reason.fillna("(no reason given)"), s["passed"]),
        "day": _rows(s["pilot_day"].astype(str).where(s["pilot_day"].notna(), "(unknown)"), s["passed"], by_key=True),
    }


def pass_k(scores: pd.DataFrame) -> PassKSummary | None:
    """pass^k over K repeats (None with a single repeat): a case passes^k when all K repeats
    passed; it flips when some passed and some did not."""
    k = int(scores["repeat"].nunique())
    if k < 2:
        return None
    per_case = scores.groupby("case_id", sort=False)["passed"].agg(["all", "any"])
    n, all_passed = len(per_case), int(per_case["all"].sum())
    lo, hi = wilson_interval(all_passed, n)
    flips = per_case.index[per_case["any"] & ~per_case["all"]].tolist()
    return PassKSummary(
        k=k,
        cases=n,
        pass_k=all_passed,
        pass_k_rate=round(all_passed / n, 4),
        pass_k_ci=(round(lo, 4), round(hi, 4)),
        flips=flips,
    )
