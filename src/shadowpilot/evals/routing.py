"""Routing scorer: when both escalated, do the agent's routing attributes and queue match
the human's? Strings compare case-insensitively; an attribute the agent omits is a mismatch;
an attribute the human's outcome does not carry is not scored."""

from __future__ import annotations

import pandas as pd


def _norm(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().str.lower()


def score_routing(frame: pd.DataFrame, attributes: list[str], both_escalated: pd.Series) -> pd.DataFrame:
    """One nullable boolean column per attribute (`match.<name>`, plus `match.queue`):
    True/False where scored, NA where not; and `routing_ok` over the scored ones."""
    pairs = [(name, f"expected.{name}", f"agent.{name}") for name in attributes]
    pairs.append(("queue", "expected_queue", "agent_queue"))
    out = pd.DataFrame(index=frame.index)
    for name, exp_col, agent_col in pairs:
        expected, got = _norm(frame[exp_col]), _norm(frame[agent_col])
        scored = both_escalated & expected.notna()
        match = (expected == got).fillna(False).astype("boolean")
        out[f"match.{name}"] = match.where(scored, pd.NA)
    matches = out.astype("boolean")
    # all scored attributes matched (vacuously true when nothing is scored)
    ok = (~matches.fillna(True)).sum(axis=1) == 0
    out["routing_ok"] = ok.astype("boolean").where(both_escalated, pd.NA)
    return out
