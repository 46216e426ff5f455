"""The scoring frame: one row per call (case, repeat) of a run, the human's outcome beside the
agent's first escalation. Every scorer is a pure function of it.

It is declared here (`COLUMNS`, then two columns per required routing attribute, named by
evals/columns.py) and built here from the raw rows the store reads (`build_frame`), so what a
column means is written once, beside the code that fills it; docs/contract.md lists it too.

dtypes are pandas' reading of the store's types, kept exactly (scores and reports depend on
nothing else): `text` is pandas' string dtype (NaN for null), or `object` holding None when the
column has no value at all; `int32`/`int64` become the nullable `Int32`/`Int64` when a row is
null; `day` is datetime64[us] at midnight (the UTC date); `tags` holds a numpy array of strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from . import columns
from .derive import call_rows, first_escalations, hops, json_attributes, pilot_days, step_totals, text_column

Kind = Literal["text", "int32", "int64", "float64", "bool", "day", "tags"]


@dataclass(frozen=True)
class Column:
    """One declared column of the scoring frame."""

    name: str
    kind: Kind
    meaning: str


COLUMNS: tuple[Column, ...] = (
    Column("case_id", "text", "the case"),
    Column("repeat", "int32", "the repeat (0 = first; a run of K repeats has 0 to K-1)"),
    Column("error", "text", "the agent error that failed the call (null: it ran)"),
    Column("n_steps", "int32", "steps the agent took (one per customer turn reached)"),
    Column("critical", "bool", "the tenant's must-never-miss flag"),
    Column("tags", "tags", "the case's tags"),
    Column("channel", "text", "the channel (voice, chat, ...)"),
    Column("n_customer_turns", "int32", "customer turns in the transcript"),
    Column("expected_escalated", "bool", "the human escalated"),
    Column("expected_at_turn", "int32", "transcript index of the customer turn the human escalated after"),
    Column("expected_at_customer_turn", "int32", "the same turn, counted among customer turns"),
    Column("expected_reason", "text", "the human's reason"),
    Column("expected_queue", "text", "the human's queue"),
    Column("pilot_day", "day", "the call's start date (UTC), else a shadow run's creation date; null otherwise"),
    Column("agent_escalated", "bool", "the agent escalated (at some step)"),
    Column("agent_turn", "int32", "transcript index of the agent's first escalating step"),
    Column("agent_customer_turn", "int32", "the same turn, counted among customer turns"),
    Column("agent_reason", "text", "the agent's reason at its first escalation"),
    Column("agent_queue", "text", "the agent's queue at its first escalation"),
    Column("agent_summary", "text", "the agent's handoff summary at its first escalation"),
    Column("agent_sentiment", "text", "the agent's sentiment at its first escalation"),
    Column("hops", "int64", "escalations to a new destination (queue + routing) in the call; 0: none"),
    Column("cost_usd", "float64", "the call's cost, summed over its steps (null: none reported one)"),
    Column("cost_steps", "int64", "steps that reported a cost (null: the call has no steps)"),
    Column("spent_usd", "float64", "the cost of the steps not answered from the response cache"),
    Column("latency_ms_max", "float64", "the call's slowest full reply (ms)"),
    Column("first_token_ms_max", "float64", "the call's slowest first token (ms)"),
    Column("cached_steps", "int64", "steps answered from the response cache"),
)

# Read from the store's case rows as they are.
_CASE = [c.name for c in COLUMNS[:13]]
# From the first escalating step: frame column -> step column.
_FIRST = {
    "agent_turn": "turn",
    "agent_customer_turn": "customer_turn",
    "agent_reason": "reason",
    "agent_queue": "queue",
    "agent_summary": "summary",
    "agent_sentiment": "sentiment",
}
_TOTALS = ["cost_usd", "cost_steps", "spent_usd", "latency_ms_max", "first_token_ms_max", "cached_steps"]
_KINDS = {c.name: c.kind for c in COLUMNS}
_NULLABLE = {"int32": pd.Int32Dtype(), "int64": pd.Int64Dtype()}


def attributes(required: Sequence[str]) -> list[str]:
    """The routing attributes that get their own pair of columns: the required ones, in order,
    except the queue, which has its columns already."""
    return [a for a in required if a != columns.QUEUE]


def spec(required: Sequence[str]) -> list[Column]:
    """Every column of the frame for these required routing attributes, in frame order."""
    per_attribute = []
    for a in attributes(required):
        per_attribute += [
            Column(columns.expected(a), "text", f"the human's `{a}` (from the outcome's routing)"),
            Column(columns.agent(a), "text", f"the agent's `{a}` at its first escalation"),
        ]
    return [*COLUMNS, *per_attribute]


def _positions(per_call: pd.DataFrame, n: int) -> np.ndarray:
    """For each of `n` case rows, its row in `per_call` (indexed by case row), or -1."""
    pos = np.full(n, -1, dtype=np.int64)
    pos[per_call.index.to_numpy(dtype=np.int64)] = np.arange(len(per_call))
    return pos


def _taken(values: pd.Series, pos: np.ndarray, kind: Kind) -> pd.Series:
    """`values` at `pos` (-1: null), in the frame's dtype for `kind`."""
    missing = pos < 0
    if kind == "text":
        if not pd.notna(values.to_numpy(dtype=object)).any():
            return text_column(np.full(len(pos), None, dtype=object))
        texts = values.astype("str").array.take(pos, allow_fill=True)
        return text_column(np.full(len(pos), None, dtype=object)) if missing.all() else pd.Series(texts)
    if kind in ("int32", "int64"):
        ints = values.astype(_NULLABLE[kind]).array.take(pos, allow_fill=True)
        return pd.Series(ints if ints.isna().any() else ints.to_numpy(dtype=kind))
    if kind == "float64":
        floats = values.to_numpy(dtype=float, na_value=np.nan)
        return pd.Series(np.where(missing, np.nan, floats[np.where(missing, 0, pos)] if len(floats) else np.nan))
    raise ValueError(f"no taking of {kind} columns")


def build_frame(
    cases: pd.DataFrame, steps: pd.DataFrame, required: Sequence[str], calls: np.ndarray | None = None
) -> pd.DataFrame:
    """The scoring frame of a run, from its case rows (Store.scoring_cases: one row per call, in
    import order then repeat) and its steps (Store.scoring_steps, in any order), with a pair of
    columns per required routing attribute. `calls`: each step's row in `cases` (call_rows),
    when already known. Pure: same rows, same frame."""
    n = len(cases)
    rows = call_rows(cases, steps) if calls is None else calls
    out = cases[_CASE].reset_index(drop=True)
    out["pilot_day"] = pilot_days(cases).reset_index(drop=True)
    first = first_escalations(steps, rows)
    at = _positions(first, n)
    out["agent_escalated"] = at >= 0
    for col, step_col in _FIRST.items():
        out[col] = _taken(first[step_col], at, _KINDS[col])
    hopped = hops(steps, rows)
    out["hops"] = _taken(hopped["hops"], _positions(hopped, n), "int64").fillna(0).astype("int64")
    totals = step_totals(steps, rows)
    t = _positions(totals, n)
    for col in _TOTALS:
        out[col] = _taken(totals[col], t, _KINDS[col])
    out["cached_steps"] = out["cached_steps"].fillna(0).astype("int64")
    names = attributes(required)
    expected = json_attributes(cases["expected_routing"].reset_index(drop=True), names)
    agent = json_attributes(_taken(first["routing"], at, "text"), names)
    for a in names:
        out[columns.expected(a)] = expected[a]
        out[columns.agent(a)] = agent[a]
    return out


def with_ruled_attributes(rulings: pd.DataFrame, required: Sequence[str]) -> pd.DataFrame:
    """Rulings (Store.rulings_for_run) with the AI's routing attributes they were made on as
    `ai.<name>` columns, read from `ai_routing` as the frame reads the agent's, so a ruling's
    values compare like the agent's."""
    names = attributes(required)
    values = json_attributes(rulings["ai_routing"], names)
    out = rulings.copy()
    for a in names:
        out[columns.ruled(a)] = values[a]
    return out
