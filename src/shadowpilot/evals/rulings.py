"""Adjudication: an engineer's ruling on a disagreement between the AI and the human.

A ruling is made on one case version (its fingerprint) from one run. `ai_right` says the
human erred: for scoring, the case's expected outcome becomes the AI's decision on that run
(escalated or not, when, reason, queue and routing), so later runs are scored against the
corrected label while the original stays visible. `human_right` and `unclear` change no
score; they are shown beside it. Applying rulings is a pure step over the scoring frame,
before the scorers, so a stored run can be re-scored with them at any time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from ..types import AgentDecision, Ruling, RulingKind, Transcript
from .missing import na_to_none

__all__ = [
    "RULINGS",
    "RULING_LABEL",
    "Disagreement",
    "Ruling",
    "RulingKind",
    "apply_rulings",
    "ruling_text",
    "show_rulings",
]

RULINGS: tuple[str, ...] = ("human_right", "ai_right", "unclear")
RULING_LABEL = {"human_right": "human was right", "ai_right": "AI was right", "unclear": "unclear"}

# scoring-frame column -> the ruling's column that replaces it on `ai_right`
_OVERRIDES = {
    "expected_escalated": "ai_escalated",
    "expected_at_turn": "ai_at_turn",
    "expected_at_customer_turn": "ai_at_customer_turn",
    "expected_reason": "ai_reason",
    "expected_queue": "ai_queue",
}
_SHOWN = {
    "ruling": "ruling",
    "note": "ruling_note",
    "ruled_by": "ruled_by",
    "ruled_at": "ruled_at",
    "run_id": "ruled_from",
}


class Disagreement(BaseModel):
    """A failed case of a run where the AI and the human differ (decision, timing or routing)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    case_id: str
    fingerprint: str
    critical: bool
    decision: str | None  # tp | fp | fn
    timing: str | None  # early | late | on_time | None
    why: str | None  # the failure, scored against the human's outcome (no ruling applied)
    transcript: Transcript
    ai: AgentDecision  # the AI's decision on the case (first repeat)
    ai_reply: str | None = None  # what the agent said at its escalation turn (None: it kept the call)
    ruling: Ruling | None = None  # the current ruling on this case version, if any


def ruling_text(ruling: str, by: str | None, note: str | None) -> str:
    """`ruled: AI was right, by ana: the human forgot the VIP flag`."""
    text = f"ruled: {RULING_LABEL.get(ruling, ruling)}"
    if by:
        text += f", by {by}"
    if note:
        text += f": {note}"
    return text


def _replace(col: pd.Series, mask: np.ndarray, values: pd.Series) -> pd.Series:
    """`col` with `values` where `mask`, keeping col's dtype when the new values allow it."""
    new = pd.Series(
        np.where(mask, values.to_numpy(dtype=object), col.to_numpy(dtype=object)), index=col.index, dtype=object
    )
    try:
        return new.astype(col.dtype)
    except (TypeError, ValueError):
        return new


def apply_rulings(frame: pd.DataFrame, rulings: pd.DataFrame | None) -> pd.DataFrame:
    """The scoring frame with rulings applied. Pure.

    `rulings`: one row per ruled case (the current ruling), as Store.rulings_for_run gives it.
    When both frames carry `fingerprint`, a ruling applies only to the case version it was
    made on. Adds `ruling`, `ruling_note`, `ruled_by`, `ruled_at`, `ruled_from` (NA when not
    ruled) and `original_<column>` for every expected column a ruling may replace.
    """
    out = frame.copy()
    expected_attrs = [c for c in frame.columns if c.startswith("expected.")]
    overrides = {**_OVERRIDES, **{c: "ai." + c.removeprefix("expected.") for c in expected_attrs}}
    for col in overrides:
        if col in out:
            out["original_" + col] = out[col]
    if rulings is None or rulings.empty:
        for col in _SHOWN.values():
            out[col] = pd.Series(pd.NA, index=out.index, dtype=object)
        return out

    keys = ["case_id"] + (["fingerprint"] if "fingerprint" in frame and "fingerprint" in rulings else [])
    current = rulings.drop_duplicates(keys, keep="last")
    merged = out[keys].merge(current, on=keys, how="left")  # keeps the frame's row order
    merged.index = out.index
    for src, col in _SHOWN.items():
        out[col] = merged[src].astype(object).where(merged[src].notna(), pd.NA) if src in merged else pd.NA
    ai_right = (merged["ruling"] == "ai_right").to_numpy()
    if ai_right.any():
        for col, src in overrides.items():
            if col in out:
                values = merged[src] if src in merged else pd.Series(None, index=out.index, dtype=object)
                out[col] = _replace(out[col], ai_right, values)
    return out


def show_rulings(scores: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Scores with each ruled case's ruling in a `ruling` column and in `why`
    ("missed escalation (ruled: human was right, by ana: ...)"). `frame` is the
    apply_rulings output the scores were computed from (same index)."""
    if "ruling" not in frame:
        return scores
    out = scores.copy()
    out["ruling"] = frame["ruling"]
    ruled = frame.index[frame["ruling"].notna()]
    for i in ruled:
        text = ruling_text(str(frame.at[i, "ruling"]), _str(frame.at[i, "ruled_by"]), _str(frame.at[i, "ruling_note"]))
        why = _str(out.at[i, "why"])
        out.at[i, "why"] = f"{why} ({text})" if why else text
    return out


def _str(v: object) -> str | None:
    v = na_to_none(v)
    return None if v is None else str(v)
