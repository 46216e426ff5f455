"""Per-case scoring: the scorers combined into pass/fail with a reason a person can read."""

from __future__ import annotations

import json

import pandas as pd

from ..types import GateConfig
from .escalation import score_escalation
from .routing import score_routing

STORED_COLUMNS = [
    "case_id", "repeat", "decision", "timing", "turn_delta", "routing_ok", "attributes",
    "passed", "error", "critical", "why",
]  # fmt: skip


def _shown(value: object) -> str:
    return "nothing" if pd.isna(value) else repr(value)


def score_frame(frame: pd.DataFrame, config: GateConfig) -> pd.DataFrame:
    """Scores for every (case, repeat) of a scoring frame. Pure: same frame, same scores."""
    attributes = list(config.required_attributes)
    esc = score_escalation(frame, config.escalation_turn_tolerance)
    routing = score_routing(frame, attributes, esc["decision"] == "tp")
    errored = frame["error"].notna()
    timing_ok = esc["timing"].isna() | (esc["timing"] == "on_time")
    routing_ok = routing["routing_ok"].fillna(True).astype(bool)
    passed = ~errored & esc["decision"].isin(["tp", "tn"]) & timing_ok & routing_ok

    match_cols = [c for c in routing.columns if c.startswith("match.")]
    why: list[str | None] = []
    attrs_json: list[str] = []
    rows = pd.concat([frame, esc, routing], axis=1)
    for row in rows.to_dict("records"):
        matches = {c.removeprefix("match."): bool(row[c]) for c in match_cols if not pd.isna(row[c])}
        attrs_json.append(json.dumps(matches))
        reasons = []
        if not pd.isna(row["error"]):
            reasons.append(f"agent error: {row['error']}")
        elif row["decision"] == "fn":
            reasons.append("missed escalation")
        elif row["decision"] == "fp":
            reasons.append(f"unnecessary escalation at turn {row['agent_turn']}")
        if row["timing"] in ("early", "late"):
            n = abs(int(row["turn_delta"]))
            reasons.append(f"escalated {n} customer turn{'s' if n != 1 else ''} {row['timing']}")
        for name, ok in matches.items():
            if not ok:
                exp_col = "expected_queue" if name == "queue" else f"expected.{name}"
                got_col = "agent_queue" if name == "queue" else f"agent.{name}"
                reasons.append(f"wrong {name}: agent {_shown(row[got_col])}, human {_shown(row[exp_col])}")
        why.append("; ".join(reasons) or None)

    out = pd.DataFrame(
        {
            "case_id": frame["case_id"],
            "repeat": frame["repeat"],
            "decision": esc["decision"],
            "timing": esc["timing"],
            "turn_delta": esc["turn_delta"],
            "routing_ok": routing["routing_ok"],
            "attributes": attrs_json,
            "passed": passed.astype(bool),
            "error": errored.astype(bool),
            "critical": frame["critical"].astype(bool),
            "why": why,
        },
        index=frame.index,
    )
    return pd.concat([out, routing[match_cols]], axis=1)
