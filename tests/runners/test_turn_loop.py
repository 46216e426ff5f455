"""The turn loop and replay: what the agent sees, when it stops, how failures are recorded."""

from __future__ import annotations

import asyncio

import pytest

from shadowpilot.runners.events import TranscriptEvents
from shadowpilot.runners.python import PythonAgent
from shadowpilot.runners.replay import replay
from shadowpilot.runners.turn_loop import run_call
from shadowpilot.types import AgentInput, Transcript
from tests.conftest import make_case


def transcript(case_id: str = "c1", lines: int = 3, **kw) -> Transcript:
    return Transcript.model_validate(make_case(case_id, [f"customer says {i}" for i in range(lines)], **kw))


def agent_of(fn) -> PythonAgent:
    return PythonAgent("test:fn", fn=fn)


def run(t: Transcript, agent, **kw):
    return asyncio.run(run_call(TranscriptEvents(t), agent, fingerprint=t.fingerprint(), **kw))


def test_agent_sees_the_real_conversation_up_to_each_customer_turn():
    seen: list[AgentInput] = []

    def fn(ctx: AgentInput):
        seen.append(ctx)
        return {"escalate": False, "reply": "sure"}

    t = transcript(lines=3)
    result = run(t, agent_of(fn))
    assert [c.turn for c in seen] == [0, 2, 4]
    assert [len(c.turns) for c in seen] == [1, 3, 5]
    assert all(c.turns[-1].speaker == "customer" for c in seen)
    # the human's replies are in the conversation the agent sees (shadow mode: the human answers)
    assert seen[2].turns[1].text == "agent reply 0" and seen[2].turns[3].text == "agent reply 1"
    assert [s.customer_turn for s in result.steps] == [0, 1, 2]
    assert result.error is None and result.escalation is None


def test_stops_at_the_first_escalation_unless_all_turns():
    def fn(ctx: AgentInput):
        return {"escalate": ctx.turn >= 2, "reason": "x"}

    t = transcript(lines=4)
    assert [s.turn for s in run(t, agent_of(fn)).steps] == [0, 2]
    every = run(t, agent_of(fn), all_turns=True)
    assert [s.turn for s in every.steps] == [0, 2, 4, 6]
    assert every.escalation is not None and every.escalation.turn == 2


def test_an_agent_exception_is_a_failed_case_and_stops_the_call():
    def fn(ctx: AgentInput):
        if ctx.turn == 2:
            raise RuntimeError("model said no")
        return {"escalate": False}

    result = run(transcript(lines=3), agent_of(fn))
    assert result.error == "RuntimeError: model said no"
    assert [(s.turn, s.error is not None) for s in result.steps] == [(0, False), (2, True)]


def test_a_hanging_agent_times_out_as_an_agent_error():
    async def fn(ctx: AgentInput):
        await asyncio.sleep(5)

    result = run(transcript(lines=2), agent_of(fn), timeout_s=0.05)
    assert result.error is not None and result.error.startswith("timeout after 0.05 s")


@pytest.mark.parametrize("bad", [None, "escalate", {"escalate": "perhaps"}])
def test_a_malformed_answer_is_an_agent_error(bad):
    result = run(transcript(lines=1), agent_of(lambda ctx: bad))
    assert result.error is not None and result.steps[-1].recommendation is None


def test_replay_is_bounded_and_keeps_case_order():
    in_flight = 0
    peak = 0

    async def fn(ctx: AgentInput):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return {"escalate": False}

    cases = [transcript(f"c{i:02d}", lines=2) for i in range(12)]
    finished: list[str] = []
    results = asyncio.run(replay(cases, agent_of(fn), concurrency=3, on_result=lambda r: finished.append(r.case_id)))
    assert peak == 3  # the pool was kept full, and never over-full
    assert [r.case_id for r in results] == [c.id for c in cases]
    assert sorted(finished) == [c.id for c in cases]
    assert all(len(r.steps) == 2 for r in results)
