"""`gate --baseline RUN`: no case may pass on the baseline and fail now unless the AI was ruled right.

Kept apart from the gate itself: the check is one extra GateCheck appended to a GateResult.
`gate --baseline` and `report --baseline` both build it here, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from ..types import GateCheck, GateResult
from ..wording import noun, plural
from .columns import first_repeat

CHECK_NAME = "no regressions"
# The one ruling that clears a regression: the label was wrong, so the "failure" is not one.
# `human_right` says the AI was wrong (a real regression) and `unclear` decides nothing.
CLEARING_RULING = "ai_right"


def cleared(rulings: pd.DataFrame | None, run_id: str) -> dict[str, str]:
    """Ruled cases of `run_id` (Store.rulings_for_run) -> their ruling, for rulings made from that run.

    A ruling made from an older run says nothing about what this run did."""
    if rulings is None or rulings.empty:
        return {}
    mine = rulings[rulings["run_id"] == run_id]
    return dict(zip(mine["case_id"], mine["ruling"], strict=True))


def regressions(baseline: pd.DataFrame, current: pd.DataFrame, excused: Collection[str] = ()) -> list[str]:
    """Case ids (current order) that passed on the baseline and fail now, except `excused` ones.
    Cases are matched by id; a case only one run has cannot regress."""
    base = first_repeat(baseline).set_index("case_id")["passed"].astype(bool)
    now = first_repeat(current)
    was_passing = now["case_id"].map(base).fillna(False).astype(bool)
    hit = now[was_passing & ~now["passed"].astype(bool) & ~now["case_id"].isin(set(excused))]
    return hit["case_id"].tolist()


def regression_check(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    baseline_run: str,
    run_id: str,
    rulings: pd.DataFrame | None = None,
) -> GateCheck:
    """The gate check: passes when no case regressed since `baseline_run`, except cases ruled
    `ai_right` from `run_id` (the label was wrong). `rulings`: Store.rulings_for_run(run_id)."""
    by_case = cleared(rulings, run_id)
    hit = regressions(baseline, current, {c for c, r in by_case.items() if r == CLEARING_RULING})
    if not hit:
        detail = f"no case that passed on {baseline_run} fails now (only an 'AI was right' ruling excuses one)"
    else:
        from .rulings import RULING_LABEL

        named = [f"{c} (ruled: {RULING_LABEL.get(by_case[c], by_case[c])})" if c in by_case else c for c in hit]
        detail = (
            f"{plural(len(hit), 'case')} passed on {baseline_run} and {noun(len(hit), 'fails', 'fail')} now: "
            f"{', '.join(named)}; only "
            "a ruling that the AI was right clears one ('human was right' and 'unclear' keep it)"
        )
    return GateCheck(name=CHECK_NAME, passed=not hit, detail=detail)


def with_check(result: GateResult, check: GateCheck) -> GateResult:
    """The gate result with an extra check; a failed check makes the verdict no-go."""
    checks = [*result.checks, check]
    if check.passed:
        return result.model_copy(update={"checks": checks})
    if result.verdict == "no-go":
        explanation = f"{result.explanation} Also: {check.name}: {check.detail}."
    else:
        explanation = f"Not ready: {check.name}: {check.detail}."
        if result.verdict == "insufficient-evidence":
            explanation += f" ({result.explanation})"
    return result.model_copy(update={"checks": checks, "verdict": "no-go", "passed": False, "explanation": explanation})
