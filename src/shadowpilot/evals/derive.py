"""What scoring derives from a run's raw rows: the agent's first escalation, its hops, the
call's step totals, the pilot day, the human's next reply, and routing attributes read from JSON.

The store only reads and joins (Store.scoring_cases, scoring_steps, scoring_turns); what counts
as "first", a "hop", "the human's next reply" or a "pilot day" is decided here, in pure pandas a
test calls on a hand-built frame. A call is one (case_id, repeat). Each function keeps the exact
meaning the store's SQL gave it, so scores do not move: sums add one step at a time in turn
order (DuckDB's sum; pandas' groupby sum compensates and can differ in the last digit), and
attribute values are DuckDB's json_extract_string text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ..types import AgentDecision
from .columns import first_repeat
from .missing import na_to_none

KEYS = ["case_id", "repeat"]  # one call
CUSTOMER = "customer"  # the speaker whose turns an audio run hears
HUMAN = "agent"  # the speaker whose turns are the human's replies (DESIGN.md: `agent` is the human who answered)


def is_true(s: pd.Series) -> np.ndarray:
    """A nullable boolean column as numpy bools, NA as False (a failed step did not escalate)."""
    return s.fillna(False).to_numpy(dtype=bool)


@dataclass(frozen=True)
class _ByCall:
    """Steps in call order, each call's in turn order (integer sorts only: no string sort)."""

    rows: pd.DataFrame
    number: np.ndarray  # each row's call, 0..n-1, non-decreasing
    first: np.ndarray  # whether a row is its call's first
    ids: pd.Index  # per call: its id, the `calls` value given (else 0..n-1)

    @property
    def starts(self) -> np.ndarray:
        return np.flatnonzero(self.first)

    def per_call(self) -> pd.DataFrame:
        """One row per call: its KEYS, indexed by the call's id."""
        return self.rows.loc[self.first, KEYS].set_axis(self.ids)


def _by_call(steps: pd.DataFrame, calls: np.ndarray | None) -> _ByCall:
    """`calls`: each step's call id (a row of the run's case rows, say; -1 drops the step);
    default: numbered from (case_id, repeat)."""
    if calls is None:
        case = pd.factorize(steps["case_id"])[0].astype(np.int64)
        repeat = steps["repeat"].to_numpy(dtype=np.int64)
        calls = pd.factorize(case * (int(repeat.max(initial=0)) + 1) + repeat)[0]
    keep = np.flatnonzero(calls >= 0)
    order = keep[np.lexsort((steps["turn"].to_numpy(dtype=np.int64)[keep], calls[keep]))]
    ordered = calls[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(order) else np.zeros(0, dtype=bool)
    number = np.cumsum(first) - 1
    return _ByCall(steps.iloc[order], number, first, pd.Index(ordered[first]))


def _text(v: object) -> str:
    return v if isinstance(v, str) else ""  # null as the empty text, as SQL's coalesce(x, '')


def _escalating(steps: pd.DataFrame, calls: np.ndarray | None) -> tuple[pd.DataFrame, np.ndarray | None]:
    esc = is_true(steps["escalate"])
    return steps[esc], None if calls is None else calls[esc]


def first_escalations(steps: pd.DataFrame, calls: np.ndarray | None = None) -> pd.DataFrame:
    """The agent's first escalating step (lowest turn) of each call: one row per call that
    escalated, with the step's columns. A step whose `escalate` is NA (it failed) does not count.
    With `calls` (each step's call id), indexed by call id."""
    by = _by_call(*_escalating(steps, calls))
    out = by.rows.loc[by.first]
    return out.set_axis(by.ids) if calls is not None else out.reset_index(drop=True)


def agent_decisions(steps: pd.DataFrame) -> dict[str, AgentDecision]:
    """case_id -> the agent's decision at its first escalating step on the first repeat (what review
    rules on and a report shows); a case the agent did not escalate is absent. `steps`: a run's
    steps as stored (Store.steps: routing as its JSON text)."""
    first = first_escalations(first_repeat(steps))
    out: dict[str, AgentDecision] = {}
    for row in first.to_dict("records"):
        routing = na_to_none(row.get("routing"))
        ct = na_to_none(row.get("customer_turn"))
        out[str(row["case_id"])] = AgentDecision(
            escalated=True,
            turn=int(row["turn"]),
            customer_turn=None if ct is None else int(ct),
            reason=na_to_none(row.get("reason")),
            urgency=na_to_none(row.get("urgency")),
            queue=na_to_none(row.get("queue")),
            routing=json.loads(routing) if routing else {},
        )
    return out


def hops(steps: pd.DataFrame, calls: np.ndarray | None = None) -> pd.DataFrame:
    """Per call that escalated: its KEYS and `hops`, its escalations to a new destination. A
    destination is the queue (lower-cased) with the routing's JSON text; an escalating step is
    a hop when its destination differs from the call's previous escalating step's, so the same
    destination again straight after is not another hop (A, B, A is three). With `calls`,
    indexed by call id."""
    by = _by_call(*_escalating(steps, calls))
    queue, routing = by.rows["queue"].to_numpy(dtype=object), by.rows["routing"].to_numpy(dtype=object)
    dest = np.array([f"{_text(q).lower()}|{_text(r)}" for q, r in zip(queue, routing, strict=True)], dtype=object)
    hop = by.first.copy()
    hop[1:] |= dest[1:] != dest[:-1]
    out = by.per_call()
    out["hops"] = np.add.reduceat(hop.astype(np.int64), by.starts) if len(hop) else np.zeros(0, np.int64)
    return out if calls is not None else out.reset_index(drop=True)


def _sum_in_order(values: np.ndarray, number: np.ndarray, n: int) -> np.ndarray:
    """Per call, its non-null values added one at a time in row order, starting from 0.0, as
    DuckDB's sum over DOUBLE does; NaN for a call with no value. `number`: each row's call
    (0..n-1, non-decreasing). Vectorised over calls: one pass per step position."""
    keep = ~np.isnan(values)
    v, c = values[keep], number[keep]
    out = np.full(n, np.nan)
    if not len(v):
        return out
    idx = np.arange(len(v))
    start = np.maximum.accumulate(np.where(np.r_[True, c[1:] != c[:-1]], idx, 0))
    rank = idx - start
    acc = np.zeros(n)
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(rank[by_rank]) != 0, True])
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = by_rank[a:b]  # one row per call: the fancy-indexed add has no repeats
        acc[c[rows]] += v[rows]
    has = np.zeros(n, dtype=bool)
    has[c] = True
    out[has] = acc[has]
    return out


def step_totals(steps: pd.DataFrame, calls: np.ndarray | None = None) -> pd.DataFrame:
    """Per call with at least one step: its KEYS, `cost_usd` (summed; NaN when no step reported
    a cost), `cost_steps` (steps that reported one), `spent_usd` (the cost of steps not answered
    from the response cache), `latency_ms_max`, `first_token_ms_max` (NaN when none reported)
    and `cached_steps` (steps answered from the cache). With `calls`, indexed by call id."""
    by = _by_call(steps, calls)
    s, starts, n = by.rows, by.starts, len(by.ids)
    cost = s["cost_usd"].to_numpy(dtype=float, na_value=np.nan)
    cached = is_true(s["cached"])
    out = by.per_call()
    out["cost_usd"] = _sum_in_order(cost, by.number, n)
    reported = (~np.isnan(cost)).astype(np.int64)
    out["cost_steps"] = np.add.reduceat(reported, starts) if n else np.zeros(0, np.int64)
    out["spent_usd"] = _sum_in_order(np.where(cached, np.nan, cost), by.number, n)
    for col in ("latency_ms", "first_token_ms"):
        values = s[col].to_numpy(dtype=float, na_value=np.nan)
        out[f"{col}_max"] = np.fmax.reduceat(values, starts) if n else np.zeros(0)
    out["cached_steps"] = np.add.reduceat(cached.astype(np.int64), starts) if n else np.zeros(0, np.int64)
    return out if calls is not None else out.reset_index(drop=True)


def _utc_day(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True).dt.tz_localize(None).dt.normalize().astype("datetime64[us]")


def pilot_days(cases: pd.DataFrame) -> pd.Series:
    """The pilot day of each case row: the date (UTC) its call started, else, in a shadow run
    (live calls), the date (UTC) the run was created; NaT for a replayed case that does not
    say when it happened. From `started_at`, `mode` and `created_at`."""
    started = _utc_day(cases["started_at"])
    created = _utc_day(cases["created_at"]).where(cases["mode"].to_numpy(dtype=object) == "shadow")
    return started.where(started.notna(), created)


def call_rows(cases: pd.DataFrame, steps: pd.DataFrame) -> np.ndarray:
    """Each step's call as its row in `cases` (one row per call), -1 for a call not there."""
    n = len(cases)
    ids = np.concatenate([cases["case_id"].to_numpy(dtype=object), steps["case_id"].to_numpy(dtype=object)])
    names = pd.factorize(ids)[0]
    repeats = np.concatenate([cases["repeat"].to_numpy(dtype=np.int64), steps["repeat"].to_numpy(dtype=np.int64)])
    keys = names.astype(np.int64) * (int(repeats.max(initial=0)) + 1) + repeats
    return pd.Index(keys[:n]).get_indexer(keys[n:])


def human_replies(
    cases: pd.DataFrame, steps: pd.DataFrame, turns: pd.DataFrame, calls: np.ndarray | None = None
) -> pd.DataFrame:
    """Per step with a reply: `case_id`, `repeat`, `turn`, `reply` and `human_reply`, the text
    of the first `agent`-speaker turn after the customer turn answered (NA when none follows).

    `cases`: the run's case rows, for the case version (`seq`) each call used; `turns`: those
    versions' turns (`seq`, `turn`, `speaker`, `text`; other speakers may be left out). An
    `agent` turn without text is passed over, as if it were not there. `calls`: each step's
    row in `cases` (call_rows), when already known."""
    rows = call_rows(cases, steps) if calls is None else calls
    replied = pd.notna(steps["reply"].to_numpy(dtype=object))
    s = steps.loc[replied, [*KEYS, "turn", "reply"]].reset_index(drop=True)
    rows = rows[replied]
    seq = cases["seq"].to_numpy(dtype=np.int64)
    version = np.where(rows >= 0, seq[np.where(rows >= 0, rows, 0)] if len(seq) else -1, -1)
    human = turns["speaker"].to_numpy(dtype=object) == HUMAN
    said = turns[human & pd.notna(turns["text"].to_numpy(dtype=object))]
    asked_turn, said_turn = s["turn"].to_numpy(dtype=np.int64), said["turn"].to_numpy(dtype=np.int64)
    stride = int(max(asked_turn.max(initial=0), said_turn.max(initial=0))) + 2
    at = said["seq"].to_numpy(dtype=np.int64) * stride + said_turn
    order = np.argsort(at, kind="stable")
    at, texts = at[order], said["text"].to_numpy(dtype=object)[order]
    k = np.searchsorted(at, version * stride + asked_turn, side="right")  # the first human turn after
    found = (k < len(at)) & (version >= 0)
    found[found] &= at[k[found]] // stride == version[found]  # ... in the same case version
    reply = np.full(len(s), None, dtype=object)
    reply[found] = texts[k[found]]
    s["human_reply"] = text_column(reply)
    return s


def heard_references(
    cases: pd.DataFrame, steps: pd.DataFrame, turns: pd.DataFrame, calls: np.ndarray | None = None
) -> pd.DataFrame:
    """Per step of an audio run whose customer turn was heard: `case_id`, `repeat`, `turn`, `heard`
    (what the ASR made of the turn's audio), `reference` (the turn's text in the case version
    the call used: what was said), and the step's `asr_ms`, `audio_s` and `asr_cost_usd` when
    the steps carry them. Empty for a text run. `turns` as for human_replies (the
    customer's turns at least)."""
    rows = call_rows(cases, steps) if calls is None else calls
    heard = pd.notna(steps["heard"].to_numpy(dtype=object)) if "heard" in steps else np.zeros(len(steps), bool)
    timed = [c for c in ("asr_ms", "audio_s", "asr_cost_usd") if c in steps]
    s = steps.loc[heard, [*KEYS, "turn", "heard", *timed]].reset_index(drop=True)
    rows = rows[heard]
    seq = cases["seq"].to_numpy(dtype=np.int64)
    s["seq"] = np.where(rows >= 0, seq[np.where(rows >= 0, rows, 0)] if len(seq) else -1, -1)
    said = turns.loc[turns["speaker"].to_numpy(dtype=object) == CUSTOMER, ["seq", "turn", "text"]]
    said = said.astype({"seq": "int64", "turn": "int64"})
    out = s.astype({"turn": "int64"}).merge(said, on=["seq", "turn"], how="left", sort=False)
    out = out.rename(columns={"text": "reference"})
    return out[[*KEYS, "turn", "heard", "reference", *timed]]


# -- routing attributes read from JSON, as DuckDB's json_extract_string reads them ------------


class _Raw(str):
    """A number kept as written: DuckDB writes an infinite or NaN number back as its text."""


def _parse_float(text: str) -> float | _Raw:
    x = float(text)
    return _Raw(text) if math.isinf(x) else x


def _double(x: float) -> str:
    """A finite double as DuckDB (yyjson) writes it: the shortest digits that read back the
    same, positional from 1e-6 up to 1e21 ("1000.0", "0.000001"), else "1.5e-7", "1e21"."""
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    t = Decimal(repr(x)).normalize().as_tuple()
    digits = "".join(map(str, t.digits))
    e10 = len(digits) - 1 + int(t.exponent)
    sign = "-" if t.sign else ""
    if -6 <= e10 < 21:
        if e10 >= 0:
            return f"{sign}{digits[: e10 + 1].ljust(e10 + 1, '0')}.{digits[e10 + 1 :] or '0'}"
        return f"{sign}0.{'0' * (-e10 - 1)}{digits}"
    return f"{sign}{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e{e10}"


_ESCAPE = re.compile(r"\\(u00[0-9a-f]{2}|.)")


def _string(s: str) -> str:
    """A JSON string literal as yyjson writes one: like json.dumps without ASCII escaping,
    control characters as upper-case \\u00XX."""
    text = json.dumps(s, ensure_ascii=False)
    return _ESCAPE.sub(lambda m: "\\u" + m[1][1:].upper() if m[1].startswith("u") else m[0], text)


def _minified(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ",".join(f"{_string(k)}:{_minified(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_minified(x) for x in v) + "]"
    if isinstance(v, str):
        return str(v) if isinstance(v, _Raw) else _string(v)
    return _scalar(v)


def _scalar(v: Any) -> str:
    if v is True or v is False:
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        return _double(v)
    return str(v)  # an int: Python keeps every digit, as DuckDB keeps the text of a big one


def json_text(v: Any) -> str | None:
    """One attribute's value as text: a string as is, a number or boolean as its JSON text,
    an object or array as minified JSON; None for null or absent."""
    if v is None:
        return None
    if isinstance(v, str):
        return str(v)
    if isinstance(v, dict | list):
        return _minified(v)
    return _scalar(v)


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=_parse_float, parse_constant=_Raw)


def json_attributes(texts: pd.Series, names: Sequence[str]) -> pd.DataFrame:
    """Routing attributes read from JSON objects (one per row; NA for none): a column per name
    (same index), each value as `json_text` gives it, read as DuckDB's json_extract_string
    reads `$."<name>"` (a row that is not an object has no attributes). The one reading of a
    routing attribute, for the human's outcome, the agent's escalation and a ruling alike, so
    their values compare. Each distinct JSON text is parsed once."""
    codes, uniques = pd.factorize(texts)
    docs = [_loads(str(u)) for u in uniques]
    out = pd.DataFrame(index=texts.index)
    for name in names:
        values = np.array(
            [json_text(d.get(name)) if isinstance(d, dict) else None for d in docs] + [None], dtype=object
        )
        out[name] = text_column(values[codes], texts.index)  # code -1 (NA) takes the trailing None
    return out


def text_column(values: np.ndarray | Sequence[Any], index: pd.Index | None = None) -> pd.Series:
    """Text values (None for null) as the store reads a text column into pandas: pandas'
    string dtype, NaN for null; `object` holding None when there is no value at all."""
    s = pd.Series(values, index=index, dtype=object)
    return s.astype("str") if pd.notna(s.to_numpy()).any() else s.where(s.notna(), None)
