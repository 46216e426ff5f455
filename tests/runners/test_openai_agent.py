"""The openai agent, with the real `openai.AsyncOpenAI` client talking HTTP to the test server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from shadowpilot.config import AgentSettings, ModelPrice, Settings
from shadowpilot.errors import AgentError, AgentUnreachable, ConfigError
from shadowpilot.runners.openai_chat import OpenAIAgent, from_settings
from shadowpilot.runners.pricing import DEFAULT_PRICES
from shadowpilot.runners.retry import RetryPolicy
from shadowpilot.types import AgentInput, Recommendation, Turn
from tests.servers.openai_server import OpenAIServer, Reply, last_user_text, trigger_policy

PROMPT = "You are Acme Health's assistant. Escalate emergencies."
ROUTED = {
    "reason": "billing_dispute",
    "urgency": "high",
    "skill": "billing",
    "priority": "urgent",
    "vip": True,
    "queue": "billing-tier2",
    "summary": "Customer was double charged.",
    "sentiment": "negative",
    "region": "emea",
}


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def ctx(*lines: str, customer: dict[str, Any] | None = None, channel: str = "voice") -> AgentInput:
    """Customer lines alternating with the human agent's replies; the last line is the customer's."""
    turns = []
    for i, line in enumerate(lines):
        turns.append(Turn(speaker="customer", text=line))
        if i < len(lines) - 1:
            turns.append(Turn(speaker="agent", text=f"agent reply {i}"))
    return AgentInput(
        case_id="call-1",
        turn=len(turns) - 1,
        channel=channel,
        customer={"vip": True, "plan": "gold"} if customer is None else customer,
        turns=turns,
    )


def make_agent(
    server: OpenAIServer,
    *,
    prompt: str = PROMPT,
    prices: dict[str, ModelPrice] | None = None,
    policy: RetryPolicy | None = None,
    sleep: Any = asyncio.sleep,
    **settings: Any,
) -> OpenAIAgent:
    values: dict[str, Any] = {"kind": "openai", "model": "gpt-4o-mini", "base_url": server.base_url, "timeout_s": 5}
    values.update(settings)
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    return OpenAIAgent(
        client,
        AgentSettings(**values),
        prompt,
        prices=prices,
        retry_policy=policy or RetryPolicy(max_retries=values.get("max_retries", 4), base_s=0.01, cap_s=0.05),
        sleep=sleep,
    )


def ask(server: OpenAIServer, context: AgentInput, **kwargs: Any) -> tuple[Recommendation, OpenAIAgent]:
    """One recommend() on a fresh agent (the SDK client lives in the event loop that made it)."""

    async def go() -> tuple[Recommendation, OpenAIAgent]:
        agent = make_agent(server, **kwargs)
        try:
            return await agent.recommend(context), agent
        finally:
            await agent.aclose()

    return asyncio.run(go())


def ask_error(server: OpenAIServer, context: AgentInput, **kwargs: Any) -> tuple[str, OpenAIAgent]:
    holder: dict[str, OpenAIAgent] = {}

    async def go() -> None:
        agent = holder["agent"] = make_agent(server, **kwargs)
        try:
            await agent.recommend(context)
        finally:
            await agent.aclose()

    with pytest.raises(AgentError) as err:
        asyncio.run(go())
    return str(err.value), holder["agent"]


# -- answers ----------------------------------------------------------------------------------------------------------


def test_plain_reply_is_no_escalation_and_the_request_carries_prompt_roles_and_tool(server: OpenAIServer) -> None:
    rec, agent = ask(server, ctx("Hi, where is my order?", "It was due Monday", channel="chat"))
    assert rec.escalate is False
    assert rec.reply == "Thanks, I can help you with that."
    assert rec.routing == {} and rec.reason is None
    assert (rec.case_id, rec.turn) == ("call-1", 2)

    (body,) = server.requests
    assert body["model"] == "gpt-4o-mini"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    system = body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith(PROMPT)
    assert "chat" in system["content"] and '"plan": "gold"' in system["content"]
    assert [m["role"] for m in body["messages"][1:]] == ["user", "assistant", "user"]
    assert body["messages"][-1]["content"] == "It was due Monday"
    (tool,) = body["tools"]
    assert tool["function"]["name"] == "escalate"
    params = tool["function"]["parameters"]
    assert params["required"] == ["reason", "urgency"]
    assert params["properties"]["urgency"]["enum"] == ["low", "normal", "high", "critical"]
    assert params["properties"]["priority"]["enum"] == ["low", "normal", "high", "urgent"]
    assert params["properties"]["vip"]["type"] == "boolean"
    assert agent.requests == 1


def test_system_turns_stay_system_and_bot_turns_are_assistant(server: OpenAIServer) -> None:
    context = AgentInput(
        case_id="c",
        turn=3,
        channel="voice",
        customer={},
        turns=[
            Turn(speaker="system", text="Call transferred from IVR"),
            Turn(speaker="bot", text="Hello, how can I help?"),
            Turn(speaker="customer", text="Billing question"),
        ],
    )
    ask(server, context)
    roles = [m["role"] for m in server.requests[0]["messages"]]
    assert roles == ["system", "system", "assistant", "user"]
    assert "none on file" in server.requests[0]["messages"][0]["content"]


def test_escalation_tool_call_split_across_chunks_becomes_routing(server: OpenAIServer) -> None:
    server.policy = trigger_policy("double charged", ROUTED, tool="escalate_to_human")
    rec, _ = ask(server, ctx("I was double charged"), escalate_tool="escalate_to_human", tool_attributes=["region"])
    assert rec.escalate is True
    assert rec.reason == "billing_dispute" and rec.urgency == "high"
    assert rec.routing == {"skill": "billing", "priority": "urgent", "vip": True, "region": "emea"}
    assert rec.queue == "billing-tier2"
    assert rec.summary == "Customer was double charged." and rec.sentiment == "negative"
    assert rec.reply == "Let me connect you with a colleague."
    tool = server.requests[0]["tools"][0]["function"]
    assert tool["name"] == "escalate_to_human"
    assert tool["parameters"]["properties"]["region"]["type"] == "string"


def test_routing_holds_only_the_attributes_the_model_gave(server: OpenAIServer) -> None:
    server.policy = trigger_policy("supervisor", {"reason": "requested_human", "urgency": "low", "skill": "general"})
    rec, _ = ask(server, ctx("Get me a supervisor"))
    assert rec.escalate and rec.routing == {"skill": "general"} and rec.queue is None


# -- tokens, cost, timing ---------------------------------------------------------------------------------------------


def fixed_usage(body: dict[str, Any]) -> Reply:
    return Reply(content="Sure.", prompt_tokens=1000, completion_tokens=500)


def test_usage_gives_tokens_and_cost_from_the_price_table(server: OpenAIServer) -> None:
    server.policy = fixed_usage
    rec, agent = ask(server, ctx("hello"))
    price = DEFAULT_PRICES["gpt-4o-mini"]
    assert (rec.tokens_in, rec.tokens_out) == (1000, 500)
    assert rec.cost_usd == pytest.approx((1000 * price.input + 500 * price.output) / 1e6)
    assert agent.spend_usd == pytest.approx(rec.cost_usd)
    assert (agent.tokens_in, agent.tokens_out) == (1000, 500)


def test_config_price_overrides_the_table_for_dated_models(server: OpenAIServer) -> None:
    server.policy = fixed_usage
    prices = {"gpt-4o-mini": ModelPrice(input=1.0, output=2.0)}
    rec, _ = ask(server, ctx("hello"), model="gpt-4o-mini-2024-07-18", prices=prices)
    assert rec.cost_usd == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)


def test_unknown_model_has_tokens_but_no_cost(server: OpenAIServer) -> None:
    server.policy = fixed_usage
    rec, agent = ask(server, ctx("hello"), model="llama-3.1-8b-instruct")
    assert rec.tokens_in == 1000 and rec.cost_usd is None and agent.spend_usd == 0


def test_first_token_and_full_reply_latency_are_measured() -> None:
    with OpenAIServer(latency_s=0.05, chunk_interval_s=0.01) as server:
        rec, _ = ask(server, ctx("hello"))
    assert rec.first_token_ms is not None and rec.latency_ms is not None
    assert rec.first_token_ms >= 50
    # the reply streams in ~10 chunks 10 ms apart after the first
    assert rec.latency_ms >= rec.first_token_ms + 50


def test_tool_call_delta_counts_as_first_token(server: OpenAIServer) -> None:
    server.policy = trigger_policy("supervisor", escalation_reply=None)
    rec, _ = ask(server, ctx("supervisor please"))
    assert rec.escalate and rec.reply is None
    assert rec.first_token_ms is not None and rec.first_token_ms <= rec.latency_ms


# -- retries ----------------------------------------------------------------------------------------------------------


def test_429_retry_after_is_honoured(server: OpenAIServer) -> None:
    server.add_fault("429", retry_after="0.2")
    start = time.perf_counter()
    # backoff windows of at most 10 ms: only Retry-After explains a 0.2 s wait
    rec, agent = ask(server, ctx("hello"), policy=RetryPolicy(max_retries=2, base_s=0.005, cap_s=0.01))
    elapsed = time.perf_counter() - start
    assert rec.reply and agent.requests == 2 and agent.retries == 1
    assert elapsed >= 0.2  # a lower bound: a loaded machine only makes it longer (the upper one is -m timing)


@pytest.mark.timing
def test_429_retry_after_is_waited_and_no_longer(server: OpenAIServer) -> None:
    server.add_fault("429", retry_after="0.2")
    start = time.perf_counter()
    ask(server, ctx("hello"), policy=RetryPolicy(max_retries=2, base_s=0.005, cap_s=0.01))
    assert 0.2 <= time.perf_counter() - start < 1.5


def test_500_then_success_is_retried(server: OpenAIServer) -> None:
    server.add_fault("500")
    rec, agent = ask(server, ctx("hello"))
    assert rec.reply == "Thanks, I can help you with that."
    assert agent.requests == 2 and len(server.requests) == 2


def test_500_forever_fails_after_max_retries_with_jittered_backoff(server: OpenAIServer) -> None:
    server.add_fault("500", times=10)
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    policy = RetryPolicy(max_retries=3, base_s=0.5, cap_s=1.5)
    message, agent = ask_error(server, ctx("hello"), policy=policy, sleep=record)
    assert message == "HTTP 500 after 3 retries"
    assert agent.requests == 4 and len(server.requests) == 4
    assert len(waits) == 3
    for n, wait in enumerate(waits):
        assert 0 <= wait <= min(1.5, 0.5 * 2**n)


def test_hang_times_out_and_fails_the_turn(server: OpenAIServer) -> None:
    server.add_fault("hang", times=5)
    start = time.perf_counter()
    message, agent = ask_error(server, ctx("hello"), timeout_s=0.3, max_retries=1)
    elapsed = time.perf_counter() - start
    assert message == "timeout after 0.3 s after 1 retry"
    assert agent.requests == 2
    assert elapsed >= 0.6  # both attempts waited their timeout (the upper bound is -m timing)


@pytest.mark.timing
def test_a_hang_is_cut_at_the_timeout(server: OpenAIServer) -> None:
    server.add_fault("hang", times=5)
    start = time.perf_counter()
    ask_error(server, ctx("hello"), timeout_s=0.3, max_retries=1)
    assert 0.6 <= time.perf_counter() - start < 3


def test_broken_stream_is_retried(server: OpenAIServer) -> None:
    server.add_fault("broken")
    rec, agent = ask(server, ctx("hello"))
    assert rec.reply == "Thanks, I can help you with that."
    assert agent.requests == 2


def test_broken_stream_every_time_says_so(server: OpenAIServer) -> None:
    server.add_fault("broken", times=3)
    message, _ = ask_error(server, ctx("hello"), max_retries=2)
    assert message.startswith("stream broke mid-reply") and message.endswith("after 2 retries")


def test_client_error_is_not_retried(server: OpenAIServer) -> None:
    async def go() -> None:
        client = openai.AsyncOpenAI(base_url=server.base_url + "/nope", api_key="k", max_retries=0)
        agent = OpenAIAgent(client, AgentSettings(kind="openai", model="gpt-4o-mini", max_retries=3), PROMPT)
        try:
            await agent.recommend(ctx("hello"))
        finally:
            assert agent.requests == 1
            await agent.aclose()

    # a wrong base_url: unreached (runners.reach), so the message names the URL and what to check
    said = r": HTTP 404: no route /v1/nope/chat/completions; nothing answers at that path: check agent.base_url"
    with pytest.raises(AgentUnreachable, match=said):
        asyncio.run(go())
    assert server.requests == []  # the route does not exist, so the server recorded nothing


# -- malformed tool calls ---------------------------------------------------------------------------------------------


def test_malformed_tool_arguments_fail_the_turn_without_retry(server: OpenAIServer) -> None:
    server.add_fault("malformed")
    message, agent = ask_error(server, ctx("hello"))
    assert "tool call 'escalate': arguments are not JSON" in message
    assert agent.requests == 1


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("escalate", {"urgency": "high"}, "missing required argument 'reason'"),
        ("escalate", {"reason": "x", "urgency": "very high"}, "argument 'urgency' is 'very high'; expected one of"),
        ("escalate", {"reason": "x", "urgency": "low", "priority": "p1"}, "argument 'priority' is 'p1'"),
        ("escalate", {"reason": "x", "urgency": "low", "vip": "yes"}, "argument 'vip' must be true or false"),
        ("escalate", {"reason": "x", "urgency": "low", "skill": 7}, "argument 'skill' must be a string"),
        ("escalate", '["reason"]', "arguments must be a JSON object"),
        ("transfer_call", {"reason": "x", "urgency": "low"}, "unknown tool 'transfer_call'"),
    ],
)
def test_bad_tool_calls_are_agent_errors(server: OpenAIServer, tool: str, args: Any, expected: str) -> None:
    server.policy = lambda body: Reply(content=None, calls=[(tool, args)])
    message, _ = ask_error(server, ctx("hello"))
    assert expected in message


def test_enum_values_are_accepted_in_any_case(server: OpenAIServer) -> None:
    server.policy = lambda body: Reply(content=None, calls=[("escalate", {"reason": "x", "urgency": "High"})])
    rec, _ = ask(server, ctx("hello"))
    assert rec.urgency == "high"


# -- identity and config ----------------------------------------------------------------------------------------------


def test_prompt_hash_follows_prompt_and_tool(server: OpenAIServer) -> None:
    def agent(**kw: Any) -> OpenAIAgent:
        return make_agent(server, **kw)

    assert agent().prompt_hash() == agent().prompt_hash()
    assert agent(prompt=PROMPT + " Be brief.").prompt_hash() != agent().prompt_hash()
    assert agent(tool_attributes=["region"]).prompt_hash() != agent().prompt_hash()
    assert agent(escalate_tool="handoff").prompt_hash() != agent().prompt_hash()


def _settings(tmp_path: Path, **agent: Any) -> Settings:
    return Settings(
        agent=AgentSettings(kind="openai", **agent), root=tmp_path, source=str(tmp_path / "shadowpilot.toml")
    )


def test_describe_names_the_config_and_never_the_key(tmp_path: Path) -> None:
    (tmp_path / "prompt.md").write_text(PROMPT, encoding="utf-8")
    settings = _settings(
        tmp_path, model="gpt-4o", prompt="prompt.md", base_url="https://user:pw@gw.example/v1?api-key=sk-in-url"
    )
    agent = from_settings(settings, environ={"OPENAI_API_KEY": "sk-secret-123"})
    described = agent.describe()
    text = json.dumps(described)
    assert "sk-secret-123" not in text and "sk-in-url" not in text and "pw@" not in text
    assert described["base_url"] == "https://gw.example/v1"
    assert described["model"] == "gpt-4o" and described["prompt"] == str(tmp_path / "prompt.md")
    assert agent.prompt == PROMPT


def test_without_key_or_base_url_config_error_names_openai_api_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        from_settings(_settings(tmp_path, model="gpt-4o"), environ={})


def test_missing_prompt_file_is_a_config_error_naming_field_and_path(tmp_path: Path) -> None:
    settings = _settings(tmp_path, model="gpt-4o", prompt="prompts/acme.md")
    with pytest.raises(ConfigError) as err:
        from_settings(settings, environ={"OPENAI_API_KEY": "k"})
    assert "agent.prompt" in str(err.value) and str(tmp_path / "prompts" / "acme.md") in str(err.value)


def test_model_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agent\.model"):
        from_settings(_settings(tmp_path), environ={"OPENAI_API_KEY": "k"})


def test_local_server_needs_no_key(tmp_path: Path, server: OpenAIServer) -> None:
    settings = _settings(tmp_path, model="qwen2.5:7b", base_url=server.base_url)

    async def go() -> Recommendation:
        agent = from_settings(settings, environ={})
        try:
            return await agent.recommend(ctx("get me a supervisor"))
        finally:
            await agent.aclose()

    rec = asyncio.run(go())
    assert rec.escalate and rec.reason == "requested_human"
    assert server.requests[0]["model"] == "qwen2.5:7b"


# -- the test server itself speaks the wire format --------------------------------------------------------------------


def test_server_streams_tool_arguments_in_pieces_and_usage_last(server: OpenAIServer) -> None:
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "supervisor now"}],
    }
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=5) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    arg_parts = [
        tc["function"]["arguments"]
        for c in chunks
        for ch in c["choices"]
        for tc in ch["delta"].get("tool_calls", [])
        if tc["function"].get("arguments")
    ]
    assert len(arg_parts) >= 2 and json.loads("".join(arg_parts))["reason"] == "requested_human"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


def test_server_answers_non_streamed_and_counts_concurrency() -> None:
    async def go(server: OpenAIServer) -> list[Any]:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        try:
            return await asyncio.gather(
                *(
                    client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"supervisor {i}"}])
                    for i in range(16)
                )
            )
        finally:
            await client.close()

    with OpenAIServer(latency_s=0.2) as server:
        answers = asyncio.run(go(server))
        assert server.peak_concurrency == 16  # 16 requests overlapped, not queued, whatever the machine's load
    message = answers[0].choices[0].message
    assert message.tool_calls[0].function.name == "escalate"
    assert answers[0].usage.prompt_tokens > 0
    assert sorted(last_user_text(b) for b in server.requests) == sorted(f"supervisor {i}" for i in range(16))
