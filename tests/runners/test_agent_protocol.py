"""The Agent protocol's optional members: their defaults, how wrappers pass them on, and the
cache decision that rests on them. Pure: no server, no store."""

from __future__ import annotations

import asyncio
from typing import Any

from shadowpilot.config import AgentSettings, BaselineSettings
from shadowpilot.runners.agent import Agent, AgentBase, AgentUsage, turn_deadline_s
from shadowpilot.runners.baseline import BaselineAgent
from shadowpilot.runners.cache import CachedAgent
from shadowpilot.runners.redacting import RedactingAgent
from shadowpilot.transcripts.redact import Redactor
from shadowpilot.types import AgentInput, Recommendation


class Remote(AgentBase):
    """An agent with its own deadline, usage and connections."""

    kind = "remote"

    def __init__(self) -> None:
        self.closed = 0
        self.warmed = 0

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        return Recommendation(case_id=ctx.case_id, turn=ctx.turn, escalate=False)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def prompt_hash(self) -> str | None:
        return None

    @property
    def turn_timeout_s(self) -> float | None:
        return 42.0

    def cacheable(self, configured: bool | None) -> bool:
        return configured is not False

    @property
    def usage(self) -> AgentUsage:
        return AgentUsage(requests=7, spend_usd=0.25)

    def warm_up(self) -> None:
        self.warmed += 1

    async def aclose(self) -> None:
        self.closed += 1


def test_the_base_gives_no_deadline_no_cache_no_usage_and_nothing_to_close() -> None:
    agent = BaselineAgent(BaselineSettings())
    assert isinstance(agent, Agent)
    assert agent.turn_timeout_s is None and turn_deadline_s(agent, 5.0) == 5.0
    assert not any(agent.cacheable(c) for c in (None, True, False))  # a baseline is never cached
    assert agent.usage == AgentUsage(requests=0, spend_usd=None)
    asyncio.run(agent.aclose())


def test_wrappers_pass_deadline_cache_policy_usage_warm_up_and_aclose_through() -> None:
    inner = Remote()
    cached = CachedAgent(inner, lambda _key: None)
    redacted = RedactingAgent(inner, Redactor(["phone"]), ["phone"])
    for wrapper in (cached, redacted, CachedAgent(redacted, lambda _key: None)):
        assert isinstance(wrapper, Agent) and wrapper.kind == "remote"
        assert turn_deadline_s(wrapper, 5.0) == 42.0
        assert wrapper.usage == AgentUsage(requests=7, spend_usd=0.25)
        assert wrapper.cacheable(None) and not wrapper.cacheable(False)
        wrapper.warm_up()
        asyncio.run(wrapper.aclose())
    assert inner.closed == 3 and inner.warmed == 3
    assert not hasattr(cached, "closed")  # nothing else is forwarded


def test_the_cache_decision_comes_from_cacheable() -> None:
    import openai

    from shadowpilot.runners.http_agent import HttpAgent
    from shadowpilot.runners.openai_chat import OpenAIAgent

    client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)
    agent = OpenAIAgent(client, AgentSettings(kind="openai", model="m"), "Be helpful.")
    assert agent.cacheable(None) and agent.cacheable(True) and not agent.cacheable(False)  # [agent] cache = false
    import httpx

    http = HttpAgent("http://127.0.0.1:9/recommend", httpx.AsyncClient())
    assert http.cacheable(True) and not http.cacheable(None) and not http.cacheable(False)  # opt-in
    assert agent.usage == AgentUsage(requests=0, spend_usd=0.0) and http.usage == AgentUsage(requests=0)


def test_a_replay_warms_the_agent_up_once_before_its_first_turn() -> None:
    from shadowpilot.types import Transcript
    from shadowpilot.workflow.runs import _replay_and_close
    from tests.conftest import make_case

    order: list[str] = []

    class Ordered(Remote):
        def warm_up(self) -> None:
            order.append("warm")

        async def recommend(self, ctx: AgentInput) -> Recommendation:
            order.append("ask")
            return await super().recommend(ctx)

    cases = [Transcript.model_validate(make_case(f"c{i}", ["I need a refund", "thanks"])) for i in range(3)]
    agent = Ordered()
    asyncio.run(_replay_and_close(cases, agent, concurrency=2))
    assert order[0] == "warm" and order.count("warm") == 1 and order.count("ask") >= 3
    assert agent.closed == 1


def test_the_openai_agent_warms_up_without_sending_a_request() -> None:
    """Warming up loads the SDK's streamed-answer parts; it must never cost a request (or tokens)."""
    from shadowpilot.runners.openai_chat import OpenAIAgent, make_client
    from shadowpilot.types import Turn
    from tests.servers.openai_server import OpenAIServer

    with OpenAIServer() as server:
        client = make_client("the openai agent", "agent", server.base_url, 10, {"OPENAI_API_KEY": "k"})
        agent = OpenAIAgent(client, AgentSettings(kind="openai", model="m", max_retries=0), "Be helpful.")
        agent.warm_up()
        assert server.requests == []
        ctx = AgentInput(case_id="c", turn=0, channel="voice", customer={}, turns=[Turn(speaker="customer", text="hi")])

        async def one_turn() -> None:
            try:
                await agent.recommend(ctx)
            finally:
                await agent.aclose()

        asyncio.run(one_turn())
        assert len(server.requests) == 1
