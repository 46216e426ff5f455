"""The derivations scoring makes from a run's raw rows, on hand-built frames (no store, no replay)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shadowpilot.evals.derive import (
    call_rows,
    first_escalations,
    hops,
    human_replies,
    json_attributes,
    json_text,
    pilot_days,
    step_totals,
)

ROUTE = '{"skill": "billing"}'


def steps(*rows: dict[str, Any]) -> pd.DataFrame:
    """Steps as Store.scoring_steps reads them; unspecified columns null."""
    base = {
        "case_id": "c",
        "repeat": 0,
        "turn": 0,
        "customer_turn": 0,
        "escalate": False,
        "reply": "ok",
        "reason": None,
        "queue": None,
        "routing": "{}",
        "summary": None,
        "sentiment": None,
        "latency_ms": None,
        "first_token_ms": None,
        "cost_usd": None,
        "cached": False,
    }
    frame = pd.DataFrame([{**base, **r} for r in rows], columns=list(base))
    return frame.astype(
        {
            "repeat": "int32",
            "turn": "int32",
            "customer_turn": "int32",
            "latency_ms": float,
            "first_token_ms": float,
            "cost_usd": float,
        }
    )


def by_call(frame: pd.DataFrame) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["case_id"], r["repeat"]): r for r in frame.to_dict("records")}


# -- first escalation -------------------------------------------------------------------------


def test_the_first_escalation_is_the_lowest_escalating_turn_per_call_and_repeat():
    s = steps(
        {"turn": 4, "escalate": True, "reason": "late"},
        {"turn": 0, "escalate": True, "reason": "at turn 0"},
        {"turn": 2, "escalate": False},
        {"repeat": 1, "turn": 2, "escalate": True, "reason": "second repeat"},
        {"case_id": "quiet", "turn": 0},
    )
    first = by_call(first_escalations(s))
    assert set(first) == {("c", 0), ("c", 1)}  # a call that never escalates is absent
    assert (first["c", 0]["turn"], first["c", 0]["reason"]) == (0, "at turn 0")
    assert first["c", 1]["reason"] == "second repeat"


def test_a_failed_step_does_not_escalate_and_no_steps_means_no_escalation():
    failed = steps({"turn": 0, "escalate": None, "reply": None}, {"turn": 2, "escalate": True})
    failed["escalate"] = failed["escalate"].astype("boolean")
    assert first_escalations(failed)["turn"].tolist() == [2]
    assert first_escalations(steps()).empty and hops(steps()).empty and step_totals(steps()).empty


# -- hops -------------------------------------------------------------------------------------


def test_hops_count_escalations_to_a_new_destination():
    s = steps(
        # the same destination twice (queue compared lower-cased) is one hop
        {"case_id": "same", "turn": 0, "escalate": True, "queue": "Billing", "routing": ROUTE},
        {"case_id": "same", "turn": 2, "escalate": True, "queue": "billing", "routing": ROUTE},
        # a new routing is a new destination; going back is another hop
        {"case_id": "back", "turn": 0, "escalate": True, "queue": "billing", "routing": ROUTE},
        {"case_id": "back", "turn": 2, "escalate": True, "queue": "billing", "routing": '{"skill": "nurse"}'},
        {"case_id": "back", "turn": 4, "escalate": True, "queue": "billing", "routing": ROUTE},
        # non-escalating steps between do not break a run of the same destination
        {"case_id": "gap", "turn": 0, "escalate": True, "queue": None, "routing": "{}"},
        {"case_id": "gap", "turn": 2, "escalate": False},
        {"case_id": "gap", "turn": 4, "escalate": True, "queue": None, "routing": "{}"},
        {"case_id": "none", "turn": 0},
    )
    got = {k: r["hops"] for k, r in by_call(hops(s)).items()}
    assert got == {("same", 0): 1, ("back", 0): 3, ("gap", 0): 1}


def test_hops_follow_turn_order_not_row_order():
    s = steps(
        {"turn": 4, "escalate": True, "queue": "a"},
        {"turn": 0, "escalate": True, "queue": "a"},
        {"turn": 2, "escalate": True, "queue": "b"},
    )
    assert hops(s)["hops"].tolist() == [3]  # a, b, a


# -- step totals ------------------------------------------------------------------------------


def test_costs_are_added_one_step_at_a_time_in_turn_order():
    s = steps(*({"turn": 2 * k, "cost_usd": 0.1} for k in range(10)))
    total = step_totals(s)["cost_usd"].iloc[0]
    assert total == 0.9999999999999999  # as the store's sum gives it; a compensated sum says 1.0
    assert total != math.fsum([0.1] * 10)


def test_step_totals_per_call():
    s = steps(
        {"turn": 0, "cost_usd": 0.5, "latency_ms": 900.0, "first_token_ms": 300.0, "cached": True},
        {"turn": 2, "cost_usd": 0.25, "latency_ms": 1200.0},
        {"turn": 4, "cost_usd": None, "latency_ms": None, "cached": None},
        {"repeat": 1, "turn": 0, "error": "timeout"},  # a call whose only step reported nothing
    )
    s["cached"] = s["cached"].astype("boolean")
    t = by_call(step_totals(s))
    first = t["c", 0]
    assert (first["cost_usd"], first["cost_steps"], first["spent_usd"]) == (0.75, 2, 0.25)
    assert (first["latency_ms_max"], first["first_token_ms_max"], first["cached_steps"]) == (1200.0, 300.0, 1)
    bare = t["c", 1]
    assert np.isnan(bare["cost_usd"]) and np.isnan(bare["spent_usd"]) and np.isnan(bare["latency_ms_max"])
    assert (bare["cost_steps"], bare["cached_steps"]) == (0, 0)


def test_spent_is_null_when_every_costed_step_came_from_the_cache():
    t = step_totals(steps({"turn": 0, "cost_usd": 0.5, "cached": True}))
    assert t["cost_usd"].iloc[0] == 0.5 and np.isnan(t["spent_usd"].iloc[0])


# -- pilot day --------------------------------------------------------------------------------


def test_the_pilot_day_is_the_utc_start_date_else_a_shadow_runs_creation_date():
    created = pd.Timestamp("2026-11-05 23:30", tz="UTC")
    cases = pd.DataFrame(
        {
            "started_at": pd.to_datetime(
                [
                    "2026-11-02 23:30:00-05:00",  # 04:30 UTC on the 3rd
                    None,
                    None,
                ],
                utc=True,
            ),
            "mode": ["replay", "shadow", "replay"],
            "created_at": [created] * 3,
        }
    )
    days = pilot_days(cases)
    assert str(days.dtype) == "datetime64[us]"
    assert days.tolist()[:2] == [pd.Timestamp("2026-11-03"), pd.Timestamp("2026-11-05")]
    assert pd.isna(days.iloc[2])  # a replayed case that does not say when


# -- the human's next reply -------------------------------------------------------------------


def turns(seq: int, *said: tuple[str, str | None]) -> list[dict[str, Any]]:
    return [{"seq": seq, "turn": i, "speaker": sp, "text": text} for i, (sp, text) in enumerate(said)]


def test_the_human_reply_is_the_next_agent_turn_of_the_case_version_the_call_used():
    cases = pd.DataFrame({"case_id": ["c", "c", "d"], "repeat": [0, 1, 0], "seq": [7, 7, 8]})
    t = pd.DataFrame(
        turns(7, ("customer", "hi"), ("bot", "a bot"), ("agent", None), ("agent", "hello"), ("customer", "bye"))
        + turns(6, ("customer", "hi"), ("agent", "an older version"))
        + turns(8, ("customer", "hi"), ("agent", "sure"), ("customer", "thanks"))
    )
    s = steps(
        {"turn": 0, "reply": "hey"},
        {"repeat": 1, "turn": 0, "reply": "hey again"},
        {"turn": 4, "reply": "goodbye"},  # no agent turn after the last customer turn
        {"case_id": "d", "turn": 0, "reply": None},  # no reply: not a pair
        {"case_id": "d", "turn": 2, "reply": "you're welcome"},
    )
    pairs = human_replies(cases, s, t)
    got = {(r["case_id"], r["repeat"], r["turn"]): r["human_reply"] for r in pairs.to_dict("records")}
    assert got[("c", 0, 0)] == "hello"  # the bot's turn and the agent turn without text are passed over
    assert got[("c", 1, 0)] == "hello"  # repeats share the case's turns
    assert pd.isna(got[("c", 0, 4)]) and pd.isna(got[("d", 0, 2)])
    assert len(pairs) == 4 and pairs["reply"].tolist()[0] == "hey"


def test_the_human_reply_ignores_other_speakers_left_out_by_the_store():
    cases = pd.DataFrame({"case_id": ["c"], "repeat": [0], "seq": [1]})
    only_agent = pd.DataFrame([{"seq": 1, "turn": 3, "speaker": "agent", "text": "later"}])
    pairs = human_replies(cases, steps({"turn": 0}, {"turn": 2}, {"turn": 4}), only_agent)
    assert pairs["human_reply"].tolist()[:2] == ["later", "later"] and pd.isna(pairs["human_reply"].iloc[2])


def test_steps_map_to_their_call_row():
    cases = pd.DataFrame({"case_id": ["a", "a", "b"], "repeat": [0, 1, 0]})
    s = steps({"case_id": "b"}, {"case_id": "a", "repeat": 1}, {"case_id": "zz"}, {"case_id": "a", "repeat": 3})
    assert call_rows(cases, s).tolist() == [2, 1, -1, -1]


# -- routing attributes from JSON (DuckDB json_extract_string's reading) ----------------------


@pytest.mark.parametrize(
    ("json_value", "text"),
    [
        ('"Billing"', "Billing"),
        ('""', ""),
        ('"a\\nb \\u00e9"', "a\nb é"),
        ("3", "3"),
        ("-0", "0"),
        ("123456789012345678901234", "123456789012345678901234"),
        ("1.50", "1.5"),
        ("1e3", "1000.0"),
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        ("1.5e20", "150000000000000000000.0"),
        ("1e21", "1e21"),
        ("-0.0", "-0.0"),
        ("1e400", "1e400"),
        ("NaN", "NaN"),
        ("true", "true"),
        ("false", "false"),
        ("null", None),
        ("{}", "{}"),
        ('"\\u001f"', "\u001f"),
        ('["\\u001f\\\\u001f"]', '["\\u001F\\\\u001f"]'),
        ('{"b": [1, 2.50, "\\u0001é", null, true], "a": {}}', '{"b":[1,2.5,"\\u0001é",null,true],"a":{}}'),
        ('[1,  "x", 1e-7]', '[1,"x",1e-7]'),
    ],
)
def test_an_attribute_of_every_json_type_reads_as_the_store_reads_it(json_value: str, text: str | None):
    got = json_attributes(pd.Series(['{"vip": ' + json_value + "}"]), ["vip"])["vip"].iloc[0]
    assert (None if pd.isna(got) else got) == text


def test_absent_attributes_and_documents_that_are_not_objects_read_as_null():
    texts = pd.Series(['{"skill": "billing"}', "[1, 2]", '"skill"', "null", None, '{"priority": 1}'])
    got = json_attributes(texts, ["skill", "missing"])
    assert got["skill"].tolist()[0] == "billing" and got["skill"].iloc[1:].isna().all()
    assert str(got["skill"].dtype) == "str"
    assert str(got["missing"].dtype) == "object" and got["missing"].tolist() == [None] * 6  # no value at all


def test_json_text_of_python_values():
    assert [json_text(v) for v in ("x", 2, 2.0, True, None, {"a": [1.5e-7]})] == [
        "x",
        "2",
        "2.0",
        "true",
        None,
        '{"a":[1.5e-7]}',
    ]
