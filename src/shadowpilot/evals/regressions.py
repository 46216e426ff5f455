"""`gate --baseline RUN`: no case may pass on the baseline and fail now unless someone ruled on it.

Kept apart from the gate itself: the check is one extra GateCheck appended to a GateResult.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from ..types import GateCheck, GateResult
from ..wording import plural

CHECK_NAME = "no regressions"


def _first(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[scores["repeat"] == 0] if "repeat" in scores else scores


def regressions(baseline: pd.DataFrame, current: pd.DataFrame, ruled: Collection[str] = ()) -> list[str]:
    """Case ids (current order) that passed on the baseline and fail now, without a ruling.
    Cases are matched by id; a case only one run has cannot regress."""
    base = _first(baseline).set_index("case_id")["passed"].astype(bool)
    now = _first(current)
    was_passing = now["case_id"].map(base).fillna(False).astype(bool)
    hit = now[was_passing & ~now["passed"].astype(bool) & ~now["case_id"].isin(set(ruled))]
    return hit["case_id"].tolist()


def regression_check(
    baseline: pd.DataFrame, current: pd.DataFrame, baseline_run: str, ruled: Collection[str] = ()
) -> GateCheck:
    """The gate check: passes when no unruled case regressed since `baseline_run`."""
    hit = regressions(baseline, current, ruled)
    if not hit:
        detail = f"no case that passed on {baseline_run} fails now (unless ruled on)"
    else:
        detail = (f"{plural(len(hit), 'case')} passed on {baseline_run} and failing now: {', '.join(hit)} "
                  "(review them with `shadowpilot review` to accept)")  # fmt: skip
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
