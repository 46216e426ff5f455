"""Unreached endpoints (runners.reach): the one classification, and the early stop of a replay.

Connection failures are real ones on 127.0.0.1 (a closed port, TLS spoken to a plain-HTTP
server); a DNS failure is hand-built, since resolving a name could leave this machine.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import openai
import pytest

from shadowpilot.config import AgentSettings, load_settings
from shadowpilot.errors import AgentError, AgentUnreachable, ConfigError, RunAborted
from shadowpilot.runners import build_agent, replay
from shadowpilot.runners.agent import AgentBase
from shadowpilot.runners.http_agent import HttpAgent
from shadowpilot.runners.openai_chat import OpenAIAgent, classify_openai_error, make_client
from shadowpilot.runners.reach import Endpoint, ReachCheck, connect_cause, status_cause
from shadowpilot.types import AgentInput, Recommendation, Transcript
from tests.conftest import make_case, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _post(url: str) -> BaseException:
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            await client.post(url, json={})
        except Exception as exc:
            return exc
    raise AssertionError("the request worked")


class _Plain(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"error": "bad token"}'
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_connection_failures_are_classified_from_the_os_error_whichever_client_raised_them():
    refused = asyncio.run(_post(f"http://127.0.0.1:{free_port()}/x"))
    assert connect_cause(refused) == "refused"

    server = HTTPServer(("127.0.0.1", 0), _Plain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tls = asyncio.run(_post(f"https://127.0.0.1:{server.server_address[1]}/x"))
    finally:
        server.shutdown()
        server.server_close()
    assert connect_cause(tls) == "tls"

    # the openai SDK wraps its own HTTP stack's error: the same OS error is underneath
    async def sdk() -> BaseException:
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", max_retries=0)
        try:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        except Exception as exc:
            return exc
        finally:
            await client.close()
        raise AssertionError("the request worked")

    failure = classify_openai_error(asyncio.run(sdk()), 5.0)
    assert failure is not None and failure.retryable and failure.unreachable == "refused"

    try:  # a name that does not resolve, as the socket layer reports it
        raise socket.gaierror(-2, "Name or service not known")
    except socket.gaierror as dns:
        try:
            raise httpx.ConnectError("[Errno -2] Name or service not known") from dns
        except httpx.ConnectError as wrapped:
            assert connect_cause(wrapped) == "dns"

    # a connection that was made and then broke, or timed out, is not "unreached"
    assert connect_cause(httpx.ReadError("peer closed connection")) is None
    assert connect_cause(ConnectionResetError()) is None
    assert connect_cause(TimeoutError()) is None


def test_refused_keys_and_missing_paths_are_unreached_other_statuses_are_not():
    assert status_cause(401) == status_cause(403) == "auth"
    assert status_cause(404) == "not_found"
    assert [status_cause(s) for s in (400, 408, 422, 429, 500, 503)] == [None] * 6


def test_the_message_names_the_endpoint_and_what_to_check():
    where = Endpoint("the openai agent", "https://llm.example.com/v1", "agent.base_url", "OPENAI_API_KEY")
    auth = where.unreachable(AgentUnreachable("HTTP 401: Incorrect API key provided.", "auth"))
    assert str(auth) == (
        "the openai agent at https://llm.example.com/v1: HTTP 401: Incorrect API key provided.; "
        "the credentials were refused: check OPENAI_API_KEY"
    )
    assert auth.cause == "auth" and "\n" not in str(auth)
    refused = where.unreachable(AgentUnreachable("connection error", "refused"))
    assert str(refused).endswith("connection refused: is a server listening there? check agent.base_url")


def _unreached(n: int = 0) -> AgentUnreachable:
    return AgentUnreachable(f"the http agent at http://127.0.0.1:9/: nothing there ({n})", "refused")


def test_reach_check_stops_after_the_limit_only_while_nothing_has_answered():
    check = ReachCheck(limit=3)
    check.unreachable(_unreached(1))
    check.unreachable(_unreached(2))
    with pytest.raises(RunAborted, match=r"nothing there \(1\) \(3 turns failed like this and none was answered"):
        check.unreachable(_unreached(3))

    check = ReachCheck(limit=3)
    check.unreachable(_unreached())
    check.answered()  # the agent is there after all: failures from now on are failed cases
    for _ in range(10):
        check.unreachable(_unreached())
    check.finish()

    check = ReachCheck(limit=3)
    check.unreachable(_unreached())  # fewer than the limit, but nothing else happened
    with pytest.raises(RunAborted):
        check.finish()
    ReachCheck(limit=3).finish()  # nothing asked, nothing to say


class _Scripted(AgentBase):
    """An agent whose turns fail unreached, fail otherwise, or answer, in the order given."""

    kind = "scripted"

    def __init__(self, script: list[str]):
        self.script = list(script)
        self.asked = 0

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def prompt_hash(self) -> None:
        return None

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        self.asked += 1
        step = self.script.pop(0) if self.script else "answer"
        if step == "unreached":
            raise _unreached(self.asked)
        if step == "error":
            raise AgentError("HTTP 500 Internal Server Error")
        return Recommendation(case_id=ctx.case_id, turn=ctx.turn, escalate=False)


def _cases(n: int) -> list[Transcript]:
    return [Transcript.model_validate(make_case(f"c{i:02d}", ["hello"])) for i in range(n)]


def test_a_replay_that_never_reaches_its_agent_stops_after_a_handful_of_turns():
    agent = _Scripted(["unreached"] * 100)
    seen = []
    with pytest.raises(RunAborted, match="none was answered"):
        asyncio.run(replay(_cases(40), agent, concurrency=1, on_result=seen.append))
    assert agent.asked == 5  # not 40: it stopped at the limit
    assert len(seen) == 4 and all(r.error and "nothing there" in r.error for r in seen)


def test_a_replay_whose_agent_answered_keeps_unreached_turns_as_failed_cases():
    # one answer first, then the agent goes away: every later turn is a failed case, as before
    agent = _Scripted(["answer"] + ["unreached"] * 20)
    runs = asyncio.run(replay(_cases(12), agent, concurrency=1))
    assert len(runs) == 12 and sum(r.error is not None for r in runs) == 11

    # an agent that answers with an error of its own was reached: no abort
    agent = _Scripted(["error"] + ["unreached"] * 20)
    runs = asyncio.run(replay(_cases(12), agent, concurrency=1))
    assert len(runs) == 12 and all(r.error is not None for r in runs)


def test_a_key_is_required_for_a_base_url_off_this_machine_and_not_for_one_on_it(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"needs OPENAI_API_KEY.*agent.base_url https://llm.example.com/v1 is not on"):
        make_client("the openai agent", "agent", "https://llm.example.com/v1", 5.0, environ={})
    with pytest.raises(ConfigError, match=r"the LLM judge needs OPENAI_API_KEY.*judge.base_url"):
        make_client("the LLM judge", "judge", "http://10.0.0.5:8000/v1", 5.0, environ={})
    for local in ("http://127.0.0.1:8000/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1"):
        make_client("the openai agent", "agent", local, 5.0, environ={})
    make_client("the openai agent", "agent", "https://llm.example.com/v1", 5.0, environ={"OPENAI_API_KEY": "k"})

    # through the config, as `run` builds the agent: refused before any request is made
    write_config(tmp_path, '[agent]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "https://llm.example.com/v1"\n')
    settings = load_settings(tmp_path / "shadowpilot.toml", environ={})
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_agent(settings)


def test_the_openai_agent_names_itself_when_unreached():
    async def go() -> None:
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", max_retries=0)
        agent = OpenAIAgent(client, AgentSettings(kind="openai", model="gpt-4o-mini", max_retries=0), "prompt")
        try:
            await agent.recommend(AgentInput(case_id="c", turn=0, channel="voice", customer={}, turns=[]))
        finally:
            await agent.aclose()

    with pytest.raises(AgentUnreachable, match=r"^the openai agent at http://127.0.0.1:\d+/v1/?: connection error"):
        asyncio.run(go())


class _Refuses(_Plain):
    status = 401


def test_the_http_agent_names_its_token_when_refused():
    server = HTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/recommend"

    async def go() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await HttpAgent(url, client).recommend(
                AgentInput(case_id="c", turn=0, channel="voice", customer={}, turns=[])
            )

    try:
        said = rf"^the http agent at {url}: HTTP 401 .*the credentials were refused: check SHADOWPILOT_HTTP_TOKEN$"
        with pytest.raises(AgentUnreachable, match=said):
            asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()
