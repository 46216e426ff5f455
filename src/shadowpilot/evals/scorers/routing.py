"""Routing scorer: when both escalated, do the agent's routing attributes and queue match
the human's? Strings compare case-insensitively; an attribute the agent omits is a mismatch;
an attribute the human's outcome does not carry is not scored."""

from __future__ import annotations

import pandas as pd

from ...formatting import rounded
from ...types import GateConfig, RoutingSummary
from .. import columns as col
from ..metrics import ratio
from ..scorer import CaseInputs, GateInputs, ScorerResult


def _norm(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().str.lower()


def score_routing(frame: pd.DataFrame, attributes: list[str], both_escalated: pd.Series) -> pd.DataFrame:
    """One nullable boolean column per attribute (columns.match(name), the queue last):
    True/False where scored, NA where not; and `routing_ok` over the scored ones."""
    out = pd.DataFrame(index=frame.index)
    for name in col.routed(attributes):
        expected, got = _norm(frame[col.expected(name)]), _norm(frame[col.agent(name)])
        scored = both_escalated & expected.notna()
        match = (expected == got).fillna(False).astype("boolean")
        out[col.match(name)] = match.where(scored)  # NA where not scored
    matches = out.astype("boolean")
    # all scored attributes matched (vacuously true when nothing is scored)
    ok = (~matches.fillna(True)).sum(axis=1) == 0
    out["routing_ok"] = ok.astype("boolean").where(both_escalated)
    return out


def routing_summary(s: pd.DataFrame, attributes: list[str]) -> RoutingSummary:
    """Accuracy over the cases where both escalated, and per attribute over those that scored it."""
    both = s[s["decision"] == "tp"]
    per_attribute: dict[str, float | None] = {}
    for name in col.matched(col.routed(attributes), s.columns):
        scored = both[col.match(name)].dropna()
        per_attribute[name] = rounded(ratio(int(scored.astype(bool).sum()), len(scored)))
    routing_scored = both["routing_ok"].dropna()
    return RoutingSummary(
        cases=len(both),
        accuracy=rounded(ratio(int(routing_scored.astype(bool).sum()), len(routing_scored))),
        per_attribute=per_attribute,
    )


class RoutingScorer:
    name = "routing"

    def needs(self, config: GateConfig) -> list[str]:
        return [c for a in col.routed(config.required_attributes) for c in (col.expected(a), col.agent(a))]

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        return score_routing(inputs.frame, list(inputs.config.required_attributes), scored["decision"] == "tp")

    def gate(self, inputs: GateInputs) -> ScorerResult:
        return ScorerResult(routing_summary(inputs.scores, list(inputs.config.required_attributes)))
