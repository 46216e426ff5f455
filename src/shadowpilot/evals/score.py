"""Per-case scoring: the scorers combined into pass/fail with a reason a person can read.

Everything here is column arithmetic over the scoring frame (one row per case and repeat); the
`why` text is assembled column by column, never row by row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..types import GateConfig
from ..wording import customer_turn_from_ordinal
from .escalation import score_escalation
from .handoff import score_handoff
from .reply import REPLY_COUNT_COLUMNS, rates, reply_counts
from .routing import score_routing
from .weights import penalties

STORED_COLUMNS = [
    "case_id", "repeat", "decision", "timing", "turn_delta", "routing_ok", "attributes",
    "passed", "error", "critical", "why",
    "reply_turns", "reply_wer", "reply_mer", "reply_cer", "cost_usd", "latency_ms_max", "first_token_ms_max",
    "hops", "handoff_ok", "penalty",
]  # fmt: skip

# Carried from the scoring frame for the gate's summaries and breakdowns.
CARRIED = ["tags", "channel", "expected_reason", "expected_escalated", "pilot_day", "agent_escalated",
           "cost_usd", "cost_steps", "spent_usd", "latency_ms_max", "first_token_ms_max", "cached_steps",
           "hops"]  # fmt: skip


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
    is_str = s.map(type).eq(str) if len(s) else pd.Series(dtype=bool)
    shown = (who + " " + quoted.where(is_str, text)).astype(object)
    return shown.where(s.notna(), f"the {who} gave no {name}")


def _why(rows: pd.DataFrame, esc: pd.DataFrame, routing: pd.DataFrame, match_cols: list[str]) -> pd.Series:
    idx = rows.index
    na = pd.Series(pd.NA, index=idx, dtype="object")
    errored = rows["error"].notna()
    d = esc["decision"]
    parts = [
        ("agent error: " + rows["error"].astype(object)).where(errored, na),
        na.mask(d.eq("fn").fillna(False) & ~errored, "missed escalation"),
        ("unnecessary escalation at customer turn "
         + customer_turn_from_ordinal(rows["agent_customer_turn"].astype("Int64")).astype(str)).where(
            d.eq("fp").fillna(False) & ~errored, na
        ),
    ]
    timing = esc["timing"]
    off = timing.isin(["early", "late"])
    n = esc["turn_delta"].abs()
    turns = n.astype(str) + np.where(n.eq(1).fillna(False), " customer turn ", " customer turns ")
    parts.append(("escalated " + turns + timing.astype(object)).where(off, na))
    for col in match_cols:
        name = col.removeprefix("match.")
        exp_col = "expected_queue" if name == "queue" else f"expected.{name}"
        got_col = "agent_queue" if name == "queue" else f"agent.{name}"
        wrong = routing[col].eq(False).fillna(False).astype(bool)
        text = f"wrong {name}: " + _shown(rows[got_col], "agent", name) + ", " + _shown(rows[exp_col], "human", name)
        parts.append(text.where(wrong, na))
    return _join(parts)


def _why_failed(
    rows: pd.DataFrame, esc: pd.DataFrame, routing: pd.DataFrame, match_cols: list[str], failed: pd.Series
) -> pd.Series:
    """`why` for the failed rows only (None for the others): the text is built per row, so
    building it for the few that fail gives the same text for a fraction of the time."""
    why = np.full(len(rows), None, dtype=object)
    f = failed.to_numpy(dtype=bool)
    if f.any():
        why[f] = _why(rows[f], esc[f], routing[f], match_cols).to_numpy(dtype=object)
    return pd.Series(why, index=rows.index, dtype=object)


def _attributes_json(routing: pd.DataFrame, match_cols: list[str]) -> pd.Series:
    parts = []
    for col in match_cols:
        m = routing[col]
        key = '"' + col.removeprefix("match.") + '": '
        parts.append(pd.Series(np.where(m.fillna(False), key + "true", key + "false"), index=m.index).where(m.notna()))
    inner = _join(parts, ", ") if parts else pd.Series(pd.NA, index=routing.index, dtype="object")
    return ("{" + inner.fillna("") + "}").astype(object)


def score_frame(frame: pd.DataFrame, config: GateConfig, reply_turns: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores for every (case, repeat) of a scoring frame. Pure: same inputs, same scores.

    `reply_turns` is `evals.reply.score_replies` over the run's reply pairs (None: not scored).
    """
    attributes = list(config.required_attributes)
    esc = score_escalation(frame, config.escalation_turn_tolerance)
    routing = score_routing(frame, attributes, esc["decision"] == "tp")
    handoff = score_handoff(frame, attributes, config.max_hops)
    errored = frame["error"].notna()
    timing_ok = esc["timing"].isna() | (esc["timing"] == "on_time")
    routing_ok = routing["routing_ok"].fillna(True).astype(bool)
    passed = ~errored & esc["decision"].isin(["tp", "tn"]) & timing_ok & routing_ok
    match_cols = [c for c in routing.columns if c.startswith("match.")]

    out = pd.DataFrame(
        {
            "case_id": frame["case_id"],
            "repeat": frame["repeat"],
            "decision": esc["decision"],
            "timing": esc["timing"],
            "turn_delta": esc["turn_delta"],
            "routing_ok": routing["routing_ok"],
            "attributes": _attributes_json(routing, match_cols),
            "passed": passed.astype(bool),
            "error": errored.astype(bool),
            "critical": frame["critical"].astype(bool),
            "why": _why_failed(frame, esc, routing, match_cols, ~passed),
        },
        index=frame.index,
    )
    out["penalty"] = penalties(out, config.weights)
    out = pd.concat([out, routing[match_cols], handoff, frame[[c for c in CARRIED if c in frame]]], axis=1)
    return _with_replies(out, reply_turns)


def _with_replies(out: pd.DataFrame, reply_turns: pd.DataFrame | None) -> pd.DataFrame:
    if reply_turns is None or reply_turns.empty:
        counts = pd.DataFrame(0, index=out.index, columns=REPLY_COUNT_COLUMNS)
    else:
        per_case = reply_counts(reply_turns, ["case_id", "repeat"])
        counts = out[["case_id", "repeat"]].merge(per_case, on=["case_id", "repeat"], how="left")
        counts = counts[REPLY_COUNT_COLUMNS].fillna(0).astype("int64").set_axis(out.index)
    r = rates(*(counts[c] for c in REPLY_COUNT_COLUMNS[1:]))
    out = pd.concat([out, counts], axis=1)
    out["reply_wer"], out["reply_mer"], out["reply_cer"] = r["wer"], r["mer"], r["cer"]
    return out
