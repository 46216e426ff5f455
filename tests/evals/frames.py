"""Hand-built scoring frames for the scorer and gate unit tests: no DuckDB, no replay.

The columns and dtypes are those Store.scoring_frame returns (one row per case and repeat).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from shadowpilot.evals import columns as col
from shadowpilot.evals import score_frame
from shadowpilot.types import GateConfig

ATTRS = ["skill", "priority", "vip"]


def case(
    case_id: str = "c1",
    *,
    human: bool = False,
    human_turn: int | None = None,
    agent: bool = False,
    agent_turn: int | None = None,
    error: str | None = None,
    critical: bool = False,
    repeat: int = 0,
    expected: dict[str, Any] | None = None,
    got: dict[str, Any] | None = None,
    summary: str | None = "caller wants a refund",
    sentiment: str | None = "calm",
    hops: int | None = None,
    cost: float | None = None,
    spent: float | None = None,
    tags: list[str] | None = None,
    channel: str = "voice",
    reason: str | None = None,
) -> dict[str, Any]:
    """One row; `expected` and `got` map routing attributes (and `queue`) to the human's and
    the agent's choices. The agent's choices, summary and sentiment only count when it escalated."""
    row: dict[str, Any] = {
        "case_id": case_id,
        "repeat": repeat,
        "error": error,
        "critical": critical,
        "tags": list(tags or []),
        "channel": channel,
        "expected_escalated": human,
        "expected_at_customer_turn": human_turn,
        "expected_reason": reason,
        "pilot_day": pd.Timestamp("2026-11-02"),
        "agent_escalated": agent,
        "agent_customer_turn": agent_turn,
        "agent_summary": summary if agent else None,
        "agent_sentiment": sentiment if agent else None,
        "hops": (1 if agent else 0) if hops is None else hops,
        "cost_usd": cost,
        "cost_steps": 0 if cost is None else 1,
        "spent_usd": cost if spent is None else spent,
        "latency_ms_max": None,
        "first_token_ms_max": None,
        "cached_steps": 0,
    }
    for a in col.routed(ATTRS):
        row[col.expected(a)] = (expected or {}).get(a)
        row[col.agent(a)] = (got or {}).get(a) if agent else None
    return row


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    f = pd.DataFrame(list(rows))
    for c in ("expected_at_customer_turn", "agent_customer_turn"):
        f[c] = f[c].astype("Int32")
    f["repeat"] = f["repeat"].astype("int32")
    f["hops"] = f["hops"].astype("int64")
    for c in ("cost_usd", "spent_usd", "latency_ms_max", "first_token_ms_max"):
        f[c] = f[c].astype("float64")
    return f


def scored(
    *rows: dict[str, Any], config: GateConfig | None = None, reply_turns: pd.DataFrame | None = None
) -> pd.DataFrame:
    return score_frame(frame(*rows), config or GateConfig(), reply_turns)


ROUTE = {"skill": "billing", "priority": "high", "vip": "true", "queue": "billing-tier2"}


def good(case_id: str, **kw: Any) -> dict[str, Any]:
    """A passing case: both escalate at the same customer turn with the human's routing."""
    return case(case_id, human=True, human_turn=1, agent=True, agent_turn=1, expected=ROUTE, got=ROUTE, **kw)


def missed(case_id: str, **kw: Any) -> dict[str, Any]:
    return case(case_id, human=True, human_turn=1, expected=ROUTE, **kw)


def quiet(case_id: str, **kw: Any) -> dict[str, Any]:
    """A passing case: neither escalates."""
    return case(case_id, **kw)
