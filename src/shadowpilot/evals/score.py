"""Per-case scoring: every scorer's columns, then the case verdict (pass/fail with a reason a
person can read).

Everything here is column arithmetic over the scoring frame (one row per case and repeat); the
`why` text is assembled column by column, never row by row. A case passes when the agent did not
fail, its escalation decision is right and on time, and its routing matched: the case verdict
reads the escalation and routing scorers' columns, so those two are in every scorer list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..types import GateConfig
from ..wording import customer_turn_from_ordinal
from . import columns as col
from .scorer import CaseInputs, Scorer, missing_columns
from .scorers import SCORERS

STORED_COLUMNS = [
    "case_id",
    "repeat",
    "decision",
    "timing",
    "turn_delta",
    "routing_ok",
    "attributes",
    "passed",
    "error",
    "critical",
    "why",
    "reply_turns",
    "reply_wer",
    "reply_mer",
    "reply_cer",
    "cost_usd",
    "latency_ms_max",
    "first_token_ms_max",
    "hops",
    "handoff_ok",
    "penalty",
    "asr_turns",
    "asr_wer",
]

# Carried from the scoring frame for the gate's breakdowns (evals/breakdown.py).
CARRIED = ["tags", "channel", "expected_reason", "expected_escalated", "pilot_day"]


def _join(parts: list[pd.Series], sep: str = "; ") -> pd.Series:
    """Element-wise join of string columns, skipping NA: the `why` of every row at once."""
    out = pd.Series(pd.NA, index=parts[0].index, dtype="object")
    for part in parts:
        has, have = part.notna(), out.notna()
        out = out.where(~(has & have), out + sep + part)
        out = out.where(~(has & ~have), part)
    return out


def _shown(s: pd.Series, who: str, name: str) -> pd.Series:
    """What one side chose, the way a person reads it: "agent 'billing'", "human True", and
    "the agent gave no queue" when it chose nothing."""
    text = s.astype("string")
    quoted = "'" + text + "'"
    is_str = s.map(lambda v: type(v) is str) if len(s) else pd.Series(dtype=bool)
    shown = (who + " " + quoted.where(is_str, text)).astype(object)
    return shown.where(s.notna(), f"the {who} gave no {name}")


def _why(rows: pd.DataFrame, esc: pd.DataFrame, attrs: list[str]) -> pd.Series:
    idx = rows.index
    na = pd.Series(pd.NA, index=idx, dtype="object")
    errored = rows["error"].notna()
    d = esc["decision"]
    parts = [
        ("agent error: " + rows["error"].astype(object)).where(errored, na),
        na.mask(d.eq("fn").fillna(False) & ~errored, "missed escalation"),
        (
            "unnecessary escalation at customer turn "
            + customer_turn_from_ordinal(rows["agent_customer_turn"].astype("Int64")).astype(str)
        ).where(d.eq("fp").fillna(False) & ~errored, na),
    ]
    timing = esc["timing"]
    off = timing.isin(["early", "late"])
    n = esc["turn_delta"].abs()
    turns: pd.Series = n.astype(str) + np.where(n.eq(1).fillna(False), " customer turn ", " customer turns ")
    parts.append(("escalated " + turns + timing.astype(object)).where(off, na))
    for name in attrs:
        wrong = esc[col.match(name)].eq(False).fillna(False).astype(bool)
        shown = _shown(rows[col.agent(name)], "agent", name) + ", " + _shown(rows[col.expected(name)], "human", name)
        parts.append((f"wrong {name}: " + shown).where(wrong, na))
    return _join(parts)


def _why_failed(rows: pd.DataFrame, scored: pd.DataFrame, attrs: list[str], failed: pd.Series) -> pd.Series:
    """`why` for the failed rows only (None for the others): the text is built per row, so
    building it for the few that fail gives the same text for a fraction of the time."""
    why = np.full(len(rows), None, dtype=object)
    f = failed.to_numpy(dtype=bool)
    if f.any():
        why[f] = _why(rows[f], scored[f], attrs).to_numpy(dtype=object)
    return pd.Series(why, index=rows.index, dtype=object)


def _attributes_json(scored: pd.DataFrame, attrs: list[str]) -> pd.Series:
    parts = []
    for name in attrs:
        m = scored[col.match(name)]
        key = '"' + name + '": '
        parts.append(pd.Series(np.where(m.fillna(False), key + "true", key + "false"), index=m.index).where(m.notna()))
    inner = _join(parts, ", ") if parts else pd.Series(pd.NA, index=scored.index, dtype="object")
    return ("{" + inner.fillna("") + "}").astype(object)


def scorer_columns(inputs: CaseInputs, scorers: Sequence[Scorer]) -> pd.DataFrame:
    """Every scorer's per-case columns, in list order (a column already made is kept, not repeated)."""
    missing = missing_columns(scorers, inputs.config, inputs.frame.columns)
    if missing:
        raise ValueError(
            "the scoring frame lacks columns: " + "; ".join(f"{k} needs {', '.join(v)}" for k, v in missing.items())
        )
    scored = pd.DataFrame(index=inputs.frame.index)
    for scorer in scorers:
        new = scorer.columns(inputs, scored)
        scored = pd.concat([scored, new.loc[:, ~new.columns.isin(scored.columns)]], axis=1)
    return scored


def score_frame(
    frame: pd.DataFrame,
    config: GateConfig,
    reply_turns: pd.DataFrame | None = None,
    scorers: Sequence[Scorer] = SCORERS,
    asr_turns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Scores for every (case, repeat) of a scoring frame. Pure: same inputs, same scores.

    `reply_turns` is `evals.reply.score_replies` over the run's reply pairs (None: not scored);
    `asr_turns` is `evals.scorers.asr.score_hearing` over an audio run's heard turns (None: a text run).
    """
    scored = scorer_columns(CaseInputs(frame, config, reply_turns, asr_turns), scorers)
    attrs = col.matched(col.routed(config.required_attributes), scored.columns)
    errored = frame["error"].notna()
    timing_ok = scored["timing"].isna() | (scored["timing"] == "on_time")
    routing_ok = scored["routing_ok"].fillna(True).astype(bool)
    passed = ~errored & scored["decision"].isin(["tp", "tn"]) & timing_ok & routing_ok
    verdict = pd.DataFrame(
        {
            "case_id": frame["case_id"],
            "repeat": frame["repeat"],
            "decision": scored["decision"],
            "timing": scored["timing"],
            "turn_delta": scored["turn_delta"],
            "routing_ok": scored["routing_ok"],
            "attributes": _attributes_json(scored, attrs),
            "passed": passed.astype(bool),
            "error": errored.astype(bool),
            "critical": frame["critical"].astype(bool),
            "why": _why_failed(frame, scored, attrs, ~passed),
        },
        index=frame.index,
    )
    rest = scored.loc[:, ~scored.columns.isin(verdict.columns)]
    carried = frame[[c for c in CARRIED if c in frame and c not in rest]]
    return pd.concat([verdict, rest, carried], axis=1)
