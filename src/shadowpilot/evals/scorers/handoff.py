"""Handoff scorer: when the agent escalates, can the human who takes the call use its handoff?

Checked on the agent's first escalation: a summary that is present and not blank, a sentiment,
and every required routing attribute present (the queue needs them to route the call); and the
call's hops (escalations to distinct destinations; with `run --all-turns` an agent can recommend
several, otherwise it is 1) at most `max_hops`. Not scored (NA) when the agent did not escalate.
The check is on with [gate] check_handoff.
"""

from __future__ import annotations

import pandas as pd

from ...types import GateConfig, HandoffSummary
from ...wording import plural
from .. import columns as col
from ..scorer import CaseInputs, GateInputs, ScorerResult, check

COLUMNS = ["handoff_summary", "handoff_sentiment", "handoff_attributes", "hops_ok", "handoff_ok"]


def _present(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().fillna("").str.len() > 0


def score_handoff(frame: pd.DataFrame, attributes: list[str], max_hops: int) -> pd.DataFrame:
    escalated = frame["agent_escalated"].astype(bool) & frame["error"].isna()
    summary = _present(frame["agent_summary"])
    sentiment = _present(frame["agent_sentiment"])
    attrs = pd.Series(True, index=frame.index)
    for name in attributes:
        attrs &= frame[col.agent(name)].notna()
    hops_ok = frame["hops"].astype("int64") <= max_hops
    ok = summary & sentiment & attrs & hops_ok
    out = pd.DataFrame(
        dict(zip(COLUMNS, (summary, sentiment, attrs, hops_ok, ok), strict=True)), index=frame.index
    ).astype("boolean")
    out.loc[~escalated] = pd.NA
    return out


def handoff_summary(s: pd.DataFrame) -> HandoffSummary | None:
    if "handoff_ok" not in s:
        return None
    esc = s[s["handoff_ok"].notna()]
    return HandoffSummary(
        escalations=len(esc),
        with_summary=int(esc["handoff_summary"].sum()),
        with_sentiment=int(esc["handoff_sentiment"].sum()),
        with_attributes=int(esc["handoff_attributes"].sum()),
        max_hops=int(esc["hops"].max()) if len(esc) else 0,
        over_hops=esc.loc[~esc["hops_ok"].astype(bool), "case_id"].tolist(),
        ok=int(esc["handoff_ok"].sum()),
        failed=esc.loc[~esc["handoff_ok"].astype(bool), "case_id"].tolist(),
    )


def _detail(h: HandoffSummary, max_hops: int) -> str:
    bad = h.failed
    failing = f"; failing: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}" if bad else ""
    return (
        f"{h.ok}/{plural(h.escalations, 'escalation')} with summary, sentiment, the required "
        f"attributes and at most {plural(max_hops, 'hop')}{failing}"
    )


class HandoffScorer:
    name = "handoff"

    def needs(self, config: GateConfig) -> list[str]:
        return [
            "agent_escalated",
            "error",
            "agent_summary",
            "agent_sentiment",
            "hops",
            *(col.agent(a) for a in config.required_attributes),
        ]

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        c = inputs.config
        out = score_handoff(inputs.frame, list(c.required_attributes), c.max_hops)
        return out.assign(hops=inputs.frame["hops"])

    def gate(self, inputs: GateInputs) -> ScorerResult:
        h = handoff_summary(inputs.scores)
        if not inputs.config.check_handoff or h is None:
            return ScorerResult(h)
        return ScorerResult(h, [check("handoff", not h.failed, _detail(h, inputs.config.max_hops))])
