"""The raw rows the store reads for scoring, in a real DuckDB file, and the frame evals builds
from them: the store reads and joins; what is "first", a "hop" or "the human's next reply" is
evals' (tests/evals/test_derive.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from shadowpilot.evals.derive import human_replies, json_attributes
from shadowpilot.evals.frame import build_frame
from shadowpilot.store import Store
from shadowpilot.types import AgentStep, CallRun, Recommendation, Ruling, RunManifest, Transcript
from tests.conftest import make_case

# Routing values of every scalar type a model holds, and JSON documents beyond them.
VALUES: dict[str, Any] = {
    "s": "Billing",
    "empty": "",
    "nl": "a\nb\u0001é",
    "i": 3,
    "neg": -7,
    "big": 10**25,
    "f": 1.5,
    "tiny": 1e-7,
    "small": 0.000001,
    "huge": 1.5e20,
    "huger": 1e21,
    "e16": 1e16,
    "nz": -0.0,
    "t": True,
    "no": False,
    "null": None,
    "inf": float("inf"),
}
DOCUMENTS = [
    '{"k": {"b": [1, 2.50, "x\\u001f\\\\u001f", null, true], "a": {}}}',
    '{"k": [1,  "x", 1e-7, -0, 1E400]}',
    '{"k": "\\u00e9\\/"}',
    '{"k": 1e-400}',
    '{"k": -1e-9}',
    '{"k": 123e-10}',
    "[1]",
    '"k"',
    "null",
    "{}",
]


def _run(
    store: Store,
    run_id: str,
    cases: list[Transcript],
    steps: dict[tuple[str, int], list[AgentStep]],
    mode: str = "replay",
) -> None:
    fps = {c.id: c.fingerprint() for c in cases}
    store.create_run(
        RunManifest(
            run_id=run_id,
            created_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
            tenant="acme",
            mode=mode,
            agent={"kind": "recorded"},
            cases=fps,
            versions={},
        )
    )
    calls = [CallRun(case_id=c, repeat=r, fingerprint=fps[c], steps=s) for (c, r), s in steps.items()]
    store.add_call_runs(run_id, calls)
    store.finish_run(run_id, "complete")


def _step(case_id: str, k: int, escalate: bool = False, **rec: Any) -> AgentStep:
    rec = Recommendation(case_id=case_id, turn=2 * k, escalate=escalate, reply=f"r{k}", **rec)
    return AgentStep(turn=2 * k, customer_turn=k, recommendation=rec)


def test_json_attributes_read_routing_as_duckdb_json_extract_string_does(tmp_path: Path):
    case = Transcript.model_validate(make_case("a", ["hi"], escalated=True, at_customer_turn=0, routing=VALUES))
    with Store.open(tmp_path / "t.duckdb") as store:
        store.add_cases([(case, None)])
        _run(store, "r", [case], {("a", 0): [_step("a", 0)]})
        rows = store.scoring_cases("r")
        names = [*VALUES, "absent"]
        ours = json_attributes(rows["expected_routing"], names).iloc[0]
        for name in names:
            (theirs,) = store.con.execute(
                "SELECT json_extract_string(expected_routing, ?) FROM cases", ["$." + json.dumps(name)]
            ).fetchone() or (None,)
            assert (None if pd.isna(ours[name]) else ours[name]) == theirs, name
        texts = pd.Series(DOCUMENTS)
        ours_k = json_attributes(texts, ["k"])["k"]
        for text, mine in zip(DOCUMENTS, ours_k, strict=True):
            (theirs,) = store.con.execute("SELECT json_extract_string(CAST(? AS JSON), '$.\"k\"')", [text]).fetchone()
            assert (None if pd.isna(mine) else mine) == theirs, text


def test_scoring_rows_are_the_run_s_calls_steps_and_turns(tmp_path: Path):
    a = Transcript.model_validate(make_case("a", ["one", "two"], escalated=True, at_customer_turn=1, queue="q"))
    b = Transcript.model_validate(make_case("b", ["only"]))
    with Store.open(tmp_path / "t.duckdb") as store:
        store.add_cases([(b, None), (a, None)])
        steps = {
            ("b", 0): [_step("b", 0)],
            ("a", 1): [_step("a", 0), _step("a", 1, True, queue="Q")],
            ("a", 0): [_step("a", 0)],
        }
        _run(store, "r", [a, b], steps, mode="shadow")
        cases = store.scoring_cases("r")
        calls = list(zip(cases["case_id"], cases["repeat"], strict=True))
        assert calls == [("b", 0), ("a", 0), ("a", 1)]  # import order, then repeat
        assert set(cases["mode"]) == {"shadow"} and cases["fingerprint"].tolist()[0] == b.fingerprint()
        s = store.scoring_steps("r")
        assert len(s) == 4 and s.loc[s["escalate"].fillna(False).astype(bool), "queue"].tolist() == ["Q"]
        every, agent = store.scoring_turns("r"), store.scoring_turns("r", ["agent"])
        assert len(every) == 6 and set(agent["speaker"]) == {"agent"} and len(agent) == 3
        assert agent.loc[agent["seq"] == cases["seq"].iloc[1], ["turn", "text"]].values.tolist() == [
            [1, "agent reply 0"],
            [3, "agent reply 1"],
        ]

        frame = build_frame(cases, s, [])
        assert frame["agent_escalated"].tolist() == [False, False, True]
        assert frame["pilot_day"].notna().all()  # shadow: the run's day when the case does not say
        pairs = human_replies(cases, s, agent)
        assert set(pairs["human_reply"]) == {"agent reply 0", "agent reply 1"}


def test_rulings_for_run_are_the_current_rulings_as_stored(tmp_path: Path):
    a = Transcript.model_validate(make_case("a", ["hi"]))
    with Store.open(tmp_path / "t.duckdb") as store:
        store.add_cases([(a, None)])
        _run(store, "r", [a], {("a", 0): [_step("a", 0)]})
        ruling = {
            "case_id": "a",
            "fingerprint": a.fingerprint(),
            "run_id": "r",
            "ruled_by": "ana",
            "ruled_at": datetime(2026, 11, 3, tzinfo=UTC),
            "ai_escalated": True,
            "ai_routing": {"skill": "x"},
        }
        store.add_ruling(Ruling.from_columns({**ruling, "ruling": "unclear"}))
        store.add_ruling(Ruling.from_columns({**ruling, "ruling": "ai_right"}))
        rulings = store.rulings_for_run("r")
        assert rulings["ruling"].tolist() == ["ai_right"]
        assert json.loads(rulings["ai_routing"].iloc[0]) == {"skill": "x"}
        assert not any(c.startswith("ai.") for c in rulings.columns)  # attributes are read by evals
