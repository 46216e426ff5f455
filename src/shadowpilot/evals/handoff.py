"""Handoff scorer: when the agent escalates, can the human who takes the call use its handoff?

Checked on the agent's first escalation: a summary that is present and not blank, a sentiment,
and every required routing attribute present (the queue needs them to route the call); and the
call's hops (escalations to distinct destinations; with `run --all-turns` an agent can recommend
several, otherwise it is 1) at most `max_hops`. Not scored (NA) when the agent did not escalate.
"""

from __future__ import annotations

import pandas as pd


def _present(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().fillna("").str.len() > 0


def score_handoff(frame: pd.DataFrame, attributes: list[str], max_hops: int) -> pd.DataFrame:
    escalated = frame["agent_escalated"].astype(bool) & frame["error"].isna()
    summary = _present(frame["agent_summary"])
    sentiment = _present(frame["agent_sentiment"])
    attrs = pd.Series(True, index=frame.index)
    for name in attributes:
        attrs &= frame[f"agent.{name}"].notna()
    hops_ok = frame["hops"].astype("int64") <= max_hops
    ok = summary & sentiment & attrs & hops_ok
    out = pd.DataFrame(
        {"handoff_summary": summary, "handoff_sentiment": sentiment, "handoff_attributes": attrs,
         "hops_ok": hops_ok, "handoff_ok": ok},
        index=frame.index,
    ).astype("boolean")  # fmt: skip
    out.loc[~escalated] = pd.NA
    return out
