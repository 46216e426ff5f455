"""Both retrying paths, the agents' (async, httpx) and Twilio import's (sync, requests under the
twilio SDK), fed the same answers: they wait the same, because both ask runners.retry.next_wait.

The transports are canned (httpx.MockTransport, a requests adapter), the sleeps recorded and the
jitter fixed, so nothing here waits or opens a socket.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import requests
from requests.adapters import BaseAdapter

from shadowpilot.errors import AgentError
from shadowpilot.runners.http_agent import HttpAgent
from shadowpilot.runners.retry import RetryPolicy, next_wait
from shadowpilot.transcripts.twilio.http import RetryingHttpClient, twilio_policy
from shadowpilot.types import AgentInput, Turn

Answer = tuple[int, dict[str, str]]  # status, headers
OK_BODY = b'{"escalate": false, "reply": "ok"}'


def http_date(delta_s: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=delta_s), usegmt=True)


def agent_waits(answers: list[Answer], policy: RetryPolicy, timeout_s: float = 30.0) -> tuple[list[float], int]:
    """The http agent's sleeps over `answers` (then a 2xx), and the requests it made."""
    left = list(answers)
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if left:
            status, headers = left.pop(0)
            return httpx.Response(status, headers=headers, content=b"busy")
        return httpx.Response(200, headers={"content-type": "application/json"}, content=OK_BODY)

    async def sleep(delay: float) -> None:
        waits.append(delay)

    async def go() -> int:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=timeout_s)
        agent = HttpAgent("http://agent.test/rec", client, retry_policy=policy, sleep=sleep, rng=lambda: 0.5)
        turns = [Turn(speaker="customer", text="hi")]
        ctx = AgentInput(case_id="c1", turn=0, channel="voice", customer={}, turns=turns)
        try:
            await agent.recommend(ctx)
        finally:
            await client.aclose()
        return agent.requests

    return waits, asyncio.run(go())


class Canned(BaseAdapter):
    """A requests transport answering from a list, then 200."""

    def __init__(self, answers: list[Answer]):
        super().__init__()
        self.left = list(answers)
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        self.sent += 1
        status, headers = self.left.pop(0) if self.left else (200, {"content-type": "application/json"})
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = b"{}"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def twilio_waits(answers: list[Answer], policy: RetryPolicy, timeout_s: float = 30.0) -> tuple[list[float], int, int]:
    """The Twilio client's sleeps over `answers` (then a 200), the requests it sent and the last status."""
    waits: list[float] = []
    client = RetryingHttpClient(
        max_retries=policy.max_retries,
        max_backoff_s=policy.cap_s,
        timeout=timeout_s,
        sleep=waits.append,
        rng=lambda: 0.5,
    )
    assert client.policy == policy
    canned = Canned(answers)
    assert client.session is not None
    client.session.mount("https://", canned)
    response = client.request("GET", "https://api.twilio.test/v1/Workspaces")
    return waits, canned.sent, response.status_code


def test_the_same_answers_make_both_paths_wait_the_same() -> None:
    policy = twilio_policy(max_retries=5, max_backoff_s=30.0)
    answers: list[Answer] = [
        (429, {"Retry-After": "3"}),  # delay-seconds
        (503, {"Retry-After": http_date(-60)}),  # an HTTP date in the past: retry now
        (429, {"Retry-After": http_date(86_400)}),  # a day away: cut to the policy's maximum
        (503, {}),  # nothing asked: full-jitter backoff, 0.5 x the fourth window (0.5 x 2**3 = 4 s)
        (429, {"Retry-After": "soon"}),  # garbled: backoff too, 0.5 x 8 s
    ]
    agent, agent_requests = agent_waits(answers, policy)
    twilio, twilio_requests, status = twilio_waits(answers, policy)
    assert agent == twilio == [3.0, 0.0, 30.0, 2.0, 4.0]
    assert agent_requests == twilio_requests == 6 and status == 200


def test_an_http_date_is_honoured_on_both_paths() -> None:
    """Twilio's client used to fall back to backoff on an HTTP-date Retry-After; now both read it."""
    policy = twilio_policy(max_retries=2, max_backoff_s=30.0)
    answers: list[Answer] = [(429, {"Retry-After": http_date(12)})]
    (agent,), _ = agent_waits(answers, policy)
    (twilio,), _, _ = twilio_waits(answers, policy)
    assert 10.0 < agent <= 12.0 and 10.0 < twilio <= 12.0  # a date has whole seconds; the clock moved on


def test_a_retry_after_past_the_deadline_stops_both_paths_without_waiting() -> None:
    # one 1 s attempt and one retry: the deadline is 2 x 1 s + the 0.5 s backoff window = 2.5 s
    policy = twilio_policy(max_retries=1, max_backoff_s=1000.0)
    assert policy.deadline_s(1.0) == 2.5
    answers: list[Answer] = [(429, {"Retry-After": "100"})]
    said = r"retry after 100 s, more than the 2\.5 s left of this turn's 2\.5 s deadline"
    with pytest.raises(AgentError, match=said):
        agent_waits(answers, policy, timeout_s=1.0)
    waits, sent, status = twilio_waits(answers, policy, timeout_s=1.0)
    assert (waits, sent, status) == ([], 1, 429)  # the 429 goes up to the SDK, which raises it


def test_out_of_retries_both_paths_stop_after_the_same_number_of_requests() -> None:
    policy = twilio_policy(max_retries=2, max_backoff_s=30.0)
    answers: list[Answer] = [(503, {})] * 5
    with pytest.raises(AgentError, match=r"after 2 retries$"):
        agent_waits(answers, policy)
    waits, sent, status = twilio_waits(answers, policy)
    assert (waits, sent, status) == ([0.25, 0.5], 3, 503)


def test_next_wait_caps_a_retry_after_only_when_the_policy_has_a_maximum() -> None:
    capped = RetryPolicy(max_retries=3, cap_s=8.0, retry_after_cap_s=8.0)
    uncapped = RetryPolicy(max_retries=3, cap_s=8.0)
    assert next_wait(capped, 0, 120.0).seconds == 8.0
    assert next_wait(uncapped, 0, 120.0).seconds == 120.0  # the agents: waited as asked, within the deadline
    assert next_wait(uncapped, 0, 120.0, elapsed_s=0.0, deadline_s=60.0).give_up is not None
    assert next_wait(uncapped, 0, None, rng=lambda: 0.5).seconds == 0.25
    assert next_wait(uncapped, 3, None).give_up == " after 3 retries"
    assert next_wait(RetryPolicy(max_retries=0), 0, None).give_up == " (no retries)"
