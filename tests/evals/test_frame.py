"""The declared scoring frame, built from hand-built raw rows (no store, no replay)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shadowpilot.evals import columns
from shadowpilot.evals.frame import COLUMNS, build_frame, spec, with_ruled_attributes
from tests.evals.test_derive import steps

DAY = pd.Timestamp("2026-11-02 09:00", tz="UTC")


def cases(*rows: dict[str, Any]) -> pd.DataFrame:
    """Case rows as Store.scoring_cases reads them."""
    base = {
        "case_id": "c",
        "repeat": 0,
        "error": None,
        "n_steps": 3,
        "critical": False,
        "tags": np.array([]),
        "channel": "voice",
        "n_customer_turns": 3,
        "expected_escalated": False,
        "expected_at_turn": None,
        "expected_at_customer_turn": None,
        "expected_reason": None,
        "expected_queue": None,
        "expected_routing": "{}",
        "started_at": DAY,
        "fingerprint": "f",
        "seq": 1,
        "mode": "replay",
        "created_at": DAY,
    }
    return pd.DataFrame([{**base, **r} for r in rows], columns=list(base)).astype({"repeat": "int32"})


def test_the_frame_has_the_declared_columns_in_order_with_a_pair_per_attribute():
    frame = build_frame(cases({}), steps({}), ["skill", "vip"])
    assert list(frame.columns) == [c.name for c in spec(["skill", "vip"])]
    assert list(frame.columns)[len(COLUMNS) :] == [
        columns.expected("skill"),
        columns.agent("skill"),
        columns.expected("vip"),
        columns.agent("vip"),
    ]


def test_the_queue_as_a_required_attribute_keeps_its_own_columns():
    frame = build_frame(
        cases({"expected_queue": "billing", "expected_routing": '{"queue": "other"}'}), steps({}), ["queue"]
    )
    assert list(frame.columns) == [c.name for c in COLUMNS] and frame["expected_queue"].tolist() == ["billing"]


def test_the_agent_side_is_its_first_escalation_and_the_human_side_its_outcome():
    frame = build_frame(
        cases(
            {
                "case_id": "a",
                "expected_escalated": True,
                "expected_at_turn": 2,
                "expected_at_customer_turn": 1,
                "expected_routing": '{"skill": "billing", "vip": true}',
            },
            {"case_id": "b"},
        ),
        steps(
            {"case_id": "a", "turn": 0, "customer_turn": 0},
            {
                "case_id": "a",
                "turn": 2,
                "customer_turn": 1,
                "escalate": True,
                "reason": "billing_dispute",
                "queue": "Billing",
                "routing": '{"skill": "Billing", "vip": false}',
                "summary": "refund",
                "sentiment": "negative",
                "cost_usd": 0.002,
            },
            {"case_id": "a", "turn": 4, "customer_turn": 2, "escalate": True, "queue": "nurse"},
            {"case_id": "b", "turn": 0},
        ),
        ["skill", "vip", "priority"],
    )
    a, b = frame.to_dict("records")
    assert (a["agent_escalated"], a["agent_turn"], a["agent_customer_turn"]) == (True, 2, 1)
    assert a["agent_queue"] == "Billing"
    assert (a["agent_summary"], a["agent_sentiment"], a["hops"], a["cost_usd"]) == ("refund", "negative", 2, 0.002)
    assert (a["expected.skill"], a["agent.skill"], a["expected.vip"], a["agent.vip"]) == (
        "billing",
        "Billing",
        "true",
        "false",
    )
    assert pd.isna(a["expected.priority"]) and pd.isna(a["agent.priority"])
    assert (b["agent_escalated"], b["hops"], b["cached_steps"]) == (False, 0, 0)
    assert pd.isna(b["agent_turn"]) and pd.isna(b["agent_reason"]) and pd.isna(b["cost_usd"])


def test_dtypes_are_the_stores_reading_nullable_only_where_a_value_is_missing():
    both = build_frame(
        cases({"case_id": "a"}, {"case_id": "b"}), steps({"case_id": "a", "escalate": True, "reason": "x"}), ["skill"]
    )
    assert str(both["agent_turn"].dtype) == "Int32" and str(both["agent_reason"].dtype) == "str"
    assert str(both["cost_steps"].dtype) == "Int64"  # b has no steps at all
    assert str(both["agent_sentiment"].dtype) == "object" and both["agent_sentiment"].tolist() == [None, None]
    assert str(both["hops"].dtype) == "int64" and str(both["pilot_day"].dtype) == "datetime64[us]"
    every = build_frame(cases({"case_id": "a"}), steps({"case_id": "a", "escalate": True}), ["skill"])
    assert str(every["agent_turn"].dtype) == "int32" and str(every["cost_steps"].dtype) == "int64"


def test_a_run_without_steps_and_a_run_without_cases():
    bare = build_frame(cases({"error": "agent unreachable", "n_steps": 0}), steps(), ["skill"])
    row = bare.to_dict("records")[0]
    assert (row["agent_escalated"], row["hops"], row["cached_steps"]) == (False, 0, 0) and pd.isna(row["cost_steps"])
    empty = build_frame(cases().iloc[:0], steps(), ["skill"])
    assert empty.empty and list(empty.columns) == [c.name for c in spec(["skill"])]


def test_repeats_are_scored_as_separate_calls():
    frame = build_frame(
        cases({"repeat": 0}, {"repeat": 1}),
        steps({"repeat": 1, "turn": 2, "customer_turn": 1, "escalate": True}, {"repeat": 0, "turn": 0}),
        [],
    )
    assert frame["agent_escalated"].tolist() == [False, True] and frame["agent_customer_turn"].iloc[1] == 1


def test_a_rulings_ai_attributes_read_like_the_agents():
    rulings = pd.DataFrame({"case_id": ["a", "b"], "ai_routing": ['{"skill": "Billing", "vip": true}', "{}"]})
    ruled = with_ruled_attributes(rulings, ["skill", "vip"])
    assert ruled[columns.ruled("skill")].tolist()[0] == "Billing" and ruled[columns.ruled("vip")].iloc[0] == "true"
    assert ruled[columns.ruled("skill")].iloc[1:].isna().all() and list(rulings.columns) == ["case_id", "ai_routing"]


def test_the_contract_lists_every_column_of_the_frame():
    contract = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")
    section = contract.split("## The scoring frame", 1)[1].split("\n## ", 1)[0]
    assert [c.name for c in COLUMNS if f"| `{c.name}` | {c.kind} |" not in section] == []
