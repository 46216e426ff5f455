"""The http agent: the real HttpAgent and httpx over loopback against a small tenant agent server."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import pytest

from shadowpilot.config import load_settings
from shadowpilot.errors import AgentError, AgentUnreachable, ConfigError
from shadowpilot.runners.agent import Agent
from shadowpilot.runners.events import TranscriptEvents
from shadowpilot.runners.http_agent import HttpAgent
from shadowpilot.runners.turn_loop import run_call
from shadowpilot.transcripts.redact import Redactor
from shadowpilot.types import AgentInput, Recommendation, Transcript, Turn
from tests.conftest import make_case
from tests.servers.tenant_agent import TenantAgent


def ctx(*customer_lines: str, customer: dict[str, Any] | None = None, case_id: str = "call-1") -> AgentInput:
    """The conversation up to the last customer line (human agent replies in between)."""
    turns: list[Turn] = []
    for i, line in enumerate(customer_lines):
        if i:
            turns.append(Turn(speaker="agent", text=f"agent reply {i}"))
        turns.append(Turn(speaker="customer", text=line))
    return AgentInput(case_id=case_id, turn=len(turns) - 1, channel="voice", customer=customer or {}, turns=turns)


async def ask(url: str, *inputs: AgentInput, timeout_s: float = 5.0, **kw) -> tuple[list[Recommendation], HttpAgent]:
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        agent = HttpAgent(url, client, backoff_s=0.01, **kw)
        return [await agent.recommend(c) for c in inputs], agent


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- both answer shapes


def test_flat_answers_map_to_recommendations_and_the_request_carries_the_conversation():
    calm = ctx("Hi, I'd like to book a haircut", customer={"vip": True, "plan": "gold"})
    upset = ctx("Hi", "I was double charged for my colour last week", customer={"vip": True})
    with TenantAgent("flat") as server:
        (first, second), agent = run(ask(server.url, calm, upset))
    assert isinstance(agent, Agent) and agent.kind == "http"
    assert (first.case_id, first.turn, first.escalate, first.reply) == (
        "call-1",
        0,
        False,
        "Sure, I can help with that.",
    )
    assert first.routing == {} and first.queue is None
    assert (second.turn, second.escalate, second.reason, second.queue) == (2, True, "billing_dispute", "billing-tier2")
    assert second.routing == {"skill": "billing", "priority": "high", "vip": True}
    assert first.latency_ms is not None and first.latency_ms > 0
    assert agent.requests == 2
    assert server.requests[1] == {
        "case_id": "call-1",
        "turn": 2,
        "channel": "voice",
        "customer": {"vip": True},
        "turns": [
            {"speaker": "customer", "text": "Hi"},
            {"speaker": "agent", "text": "agent reply 1"},
            {"speaker": "customer", "text": "I was double charged for my colour last week"},
        ],
    }


def test_routing_payload_maps_attributes_to_routing_and_target_to_queue():
    with TenantAgent("routing") as server:
        (calm, urgent), _ = run(ask(server.url, ctx("book me in"), ctx("it's an emergency", customer={"vip": True})))
    assert calm.escalate is False and calm.routing == {}
    assert urgent.escalate is True
    assert urgent.queue == "emergency"  # the Target's FriendlyName
    # the scored attributes, and the tenant's other attributes kept beside them
    assert urgent.routing == {
        "skill": "emergency",
        "priority": "urgent",
        "vip": True,
        "reason": "emergency",
        "language": "en-US",
    }
    assert urgent.reason == "emergency"  # lifted out of Attributes
    assert urgent.reply == "Let me connect you with someone who can help."


def test_routing_payload_with_attributes_as_a_json_string_and_only_a_sid():
    # Twilio's REST API carries task Attributes as a JSON string; a Target may name only its Sid
    with TenantAgent("routing", attributes_as_string=True, friendly_name=False) as server:
        (rec,), _ = run(ask(server.url, ctx("get me a supervisor")))
    assert rec.escalate is True
    assert rec.queue == "WQ0000000000000000000000000000general"
    assert rec.routing["skill"] == "general" and rec.routing["priority"] == "normal" and rec.routing["vip"] is False


def test_replay_through_the_real_turn_loop_escalates_at_the_trigger_turn():
    case = make_case("call-7", ["hello", "my bill is wrong", "I was double charged", "hello?"])
    t = Transcript.model_validate(case)

    async def go():
        async with httpx.AsyncClient(timeout=5) as client:
            return await run_call(TranscriptEvents(t), HttpAgent(_url, client), fingerprint=t.fingerprint())

    with TenantAgent("routing") as server:
        _url = server.url
        result = run(go())
        sent = [len(body["turns"]) for body in server.requests]
    assert result.error is None
    assert [s.turn for s in result.steps] == [0, 2, 4]  # stops at the first escalation
    assert result.escalation is not None and result.escalation.recommendation.queue == "billing-tier2"
    assert sent == [1, 3, 5]  # the conversation so far, human replies included


# ---------------------------------------------------------------- broken agents


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("not_json", r"not JSON \(text/html\).*502 Bad Gateway"),
        ("no_escalate", r"field escalate: missing.*keys: reply"),
        ("bad_type", r"field escalate: expected true or false, got 'yes'"),
        ("bad_target", r"field Target\.Type: expected 'TaskQueue', got 'Worker'"),
        ("bad_request", r"HTTP 400 Bad Request: .*turns\[0\]\.speaker: unknown role"),
    ],
)
def test_a_broken_answer_is_an_agent_error_naming_the_problem_and_is_not_retried(mode, message):
    with TenantAgent(mode) as server:

        async def go():
            async with httpx.AsyncClient(timeout=5) as client:
                agent = HttpAgent(server.url, client, backoff_s=0.01)
                with pytest.raises(AgentError, match=message) as info:
                    await agent.recommend(ctx("I need a supervisor"))
                return agent, str(info.value)

        agent, text = run(go())
        assert agent.requests == 1 and len(server.requests) == 1
    assert text.startswith(f"http agent {server.url}: ")  # which agent, then what was wrong


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([1, 2], r"not a JSON object"),
        ({"escalate": True, "routing": ["billing"]}, r"field routing: Input should be a valid dictionary"),
        ({"escalate": True, "routing": {"skill": {"name": "x"}}}, r"field routing\.skill"),
        ({"escalate": False, "reply": 42}, r"field reply: Input should be a valid string \(got 42\)"),
        ({"Attributes": ["billing"], "Target": {"Sid": "WQ1"}}, r"field Attributes: expected an object"),
        ({"Attributes": "{not json", "Target": {"Sid": "WQ1"}}, r"field Attributes: a string that is not JSON"),
        ({"Attributes": {}, "Target": "billing"}, r"field Target: expected an object"),
        ({"Attributes": {}, "Target": {"Type": "TaskQueue"}}, r"field Target: needs a Sid"),
        ({"Target": {"Sid": 7}}, r"field Target\.Sid: expected a non-empty string"),
        ({"escalate": True, "turn": 9}, r"field turn: the answer is for 9, the question was for 0"),
    ],
)
def test_wrong_shapes_name_the_field(answer, message):
    from shadowpilot.runners.http_agent import parse_answer

    with pytest.raises(AgentError, match=message):
        parse_answer(answer, ctx("hi"))


def test_an_explicit_escalate_false_beside_routing_attributes_is_honoured():
    from shadowpilot.runners.http_agent import parse_answer

    rec = parse_answer({"escalate": False, "Attributes": {"Skill": "billing"}}, ctx("hi"))
    assert rec.escalate is False and rec.routing == {"skill": "billing"}


# ---------------------------------------------------------------- retries and timeouts


def test_5xx_is_retried_until_the_agent_answers():
    with TenantAgent("flaky", fail_times=2) as server:
        (rec,), agent = run(ask(server.url, ctx("I need a supervisor"), max_retries=3))
        assert len(server.requests) == 3
    assert rec.escalate is True and agent.requests == 3


def test_5xx_that_never_ends_is_an_agent_error_after_the_retries():
    with TenantAgent("down") as server, pytest.raises(AgentError) as info:
        run(ask(server.url, ctx("hi"), max_retries=2))
    assert "HTTP 500 Internal Server Error: upstream model failed" in str(info.value)
    assert str(info.value).endswith("after 2 retries")
    assert len(server.requests) == 3


def test_429_is_retried_after_the_servers_retry_after():
    with TenantAgent("rate_limited", fail_times=1, retry_after="0.3") as server:
        started = time.perf_counter()
        (rec,), agent = run(ask(server.url, ctx("hi"), max_retries=2))
        elapsed = time.perf_counter() - started
    assert rec.escalate is False and agent.requests == 2
    assert elapsed >= 0.3  # waited as told, not the 10 ms backoff


def test_a_slow_agent_times_out_as_an_agent_error():
    with TenantAgent("slow", delay_s=3.0) as server:
        with pytest.raises(AgentError, match=r"timed out at 0.2 s after 1 retry$"):
            run(ask(server.url, ctx("hi"), timeout_s=0.2, max_retries=1))
        assert len(server.requests) == 2


@pytest.mark.timing
def test_a_slow_agent_is_cut_at_its_timeout_not_waited_for():
    """Two 0.2 s attempts at an agent that takes 3 s: well under one full answer (a speed bound, so `-m timing`)."""
    with TenantAgent("slow", delay_s=3.0) as server:
        started = time.perf_counter()
        with pytest.raises(AgentError):
            run(ask(server.url, ctx("hi"), timeout_s=0.2, max_retries=1))
        elapsed = time.perf_counter() - started
    assert elapsed < 2.0


def test_nothing_listening_is_an_agent_error_after_the_retries():
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # unreached (runners.reach): still an agent error, naming the URL and the likely cause
    said = rf"^the http agent at http://127.0.0.1:{port}/recommend: connection failed \(ConnectError.*after 1 retry; "
    said += r"connection refused: is a server listening there\? check agent.url$"
    with pytest.raises(AgentUnreachable, match=said):
        run(ask(f"http://127.0.0.1:{port}/recommend", ctx("hi"), max_retries=1))


def _eight_concurrent_calls(server: TenantAgent) -> tuple[list[Recommendation], float]:
    async def go() -> tuple[list[Recommendation], float]:
        async with httpx.AsyncClient(timeout=5) as client:
            agent = HttpAgent(server.url, client)
            started = time.perf_counter()
            recs = await asyncio.gather(*(agent.recommend(ctx("hi", case_id=f"c{i}")) for i in range(8)))
            return list(recs), time.perf_counter() - started

    return run(go())


def test_one_agent_serves_concurrent_calls_in_parallel():
    with TenantAgent("slow", delay_s=0.5) as server:
        recs, _ = _eight_concurrent_calls(server)
        assert server.peak_in_flight == 8  # all eight in flight at once: parallel, whatever the machine's load
    assert sorted(r.case_id for r in recs) == [f"c{i}" for i in range(8)]


@pytest.mark.timing
def test_eight_concurrent_calls_take_far_less_than_one_after_the_other():
    with TenantAgent("slow", delay_s=0.5) as server:
        _, elapsed = _eight_concurrent_calls(server)
    assert elapsed < 8 * 0.5 / 2


# ---------------------------------------------------------------- redaction before sending


class RedactingAgent:
    """The composition the runner uses for non-loopback endpoints: redact, then ask."""

    kind = "http"

    def __init__(self, agent: HttpAgent, redactor: Redactor):
        self.agent, self.redactor = agent, redactor

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        return await self.agent.recommend(self.redactor.redact_input(ctx))


def test_the_tenant_agent_receives_no_planted_personal_data():
    planted = {
        "phone": "+1 (555) 123-4567",
        "email": "mary.jones@example.com",
        "dob": "1985-04-03",
        "member_id": "HX-4471923",
        "address": "12 Harbour Street",
        "ssn": "123-45-6789",
    }
    lines = [
        "Hi, this is Mary, call me back on 555 123 4567 or email mary dot jones at example dot com",
        "I was born on 3 April 1985 and my member id is HX 4471923",
        "Card 4111 1111 1111 1111 was double charged, I live at 12 Harbour Street, SSN 123-45-6789",
    ]
    t = Transcript.model_validate({**make_case("call-9", lines), "customer": {"name": "Mary", "vip": True, **planted}})

    async def go():
        async with httpx.AsyncClient(timeout=5) as client:
            agent = RedactingAgent(HttpAgent(server_url, client), Redactor())
            return await run_call(TranscriptEvents(t), agent, fingerprint=t.fingerprint())

    with TenantAgent("flat") as server:
        server_url = server.url
        result = run(go())
        wire = b"\n".join(server.raw).decode()
        last = server.requests[-1]
    assert result.error is None and len(server.requests) == 3
    # the agent still follows the call: it escalates on the third customer turn
    assert result.escalation is not None and result.escalation.turn == 4
    for secret in [*planted.values(), "555 123 4567", "4471923", "1985", "4111", "mary dot jones", "Harbour", "Mary"]:
        assert secret not in wire, secret
    assert last["customer"] == {
        "name": "[NAME_1]",  # "this is Mary" in the first turn is the same [NAME_1]
        "vip": True,
        "phone": "[PHONE_1]",
        "email": "[EMAIL_1]",
        "dob": "[DOB_1]",
        "member_id": "[MEMBER_ID_1]",
        "address": "[ADDRESS_1]",
        "ssn": "[SSN_1]",
    }
    # the same values in the turns get the profile's placeholders
    said = " ".join(turn["text"] for turn in last["turns"])
    for placeholder in ("[PHONE_1]", "[EMAIL_1]", "[DOB_1]", "[MEMBER_ID_1]", "[ADDRESS_1]", "[SSN_1]", "[CARD_1]"):
        assert placeholder in said
    assert t.turns[0].text == lines[0]  # the stored case keeps the original


# ---------------------------------------------------------------- config, manifest, lifecycle


def write_config(tmp_path, agent: str):
    path = tmp_path / "shadowpilot.toml"
    path.write_text(f'[tenant]\nname = "acme"\n\n[agent]\n{agent}\n', encoding="utf-8")
    return load_settings(path, environ={})


def test_from_settings_uses_the_configured_timeout_and_hides_secrets_from_the_manifest(tmp_path):
    settings = write_config(
        tmp_path, 'kind = "http"\nurl = "https://user:pw@agent.example.com/v1/rec?key=s3cret"\ntimeout_s = 7.5\n'
    )

    async def go():
        agent = HttpAgent.from_settings(settings, environ={"SHADOWPILOT_HTTP_TOKEN": "tok"})
        described, headers, client = agent.describe(), agent.headers, agent.client
        await agent.aclose()
        return described, headers, client

    described, headers, client = run(go())
    assert described == {"kind": "http", "url": "https://agent.example.com/v1/rec", "timeout_s": 7.5, "max_retries": 4}
    assert "s3cret" not in json.dumps(described) and "pw" not in json.dumps(described)
    assert headers == {"Authorization": "Bearer tok"}
    assert client.is_closed  # the agent made the client, so it closes it


def test_an_injected_client_is_left_open_for_its_owner():
    async def go():
        async with httpx.AsyncClient() as client:
            agent = HttpAgent("http://127.0.0.1:9/x", client)
            await agent.aclose()
            return client.is_closed, agent.prompt_hash()

    assert run(go()) == (False, None)


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ('kind = "http"', r"field agent\.url: the http agent needs the URL"),
        ('kind = "http"\nurl = "agent.example.com/rec"', r"field agent\.url: expected an http:// or https:// URL"),
    ],
)
def test_a_missing_or_bad_url_is_a_config_error(tmp_path, agent, message):
    settings = write_config(tmp_path, agent)
    with pytest.raises(ConfigError, match=message):
        HttpAgent.from_settings(settings)
