"""The http agent: the tenant's own agent behind a URL.

Each customer turn is one POST of the conversation so far:
`{"case_id", "turn", "channel", "customer", "turns": [{"speaker", "text"}, ...]}`.
The answer is a Recommendation without case_id/turn, or a TaskRouter-style
routing payload `{"Attributes": {...}, "Target": {"Type": "TaskQueue", "Sid": "WQ..."}}`
(optionally beside reply/escalate), which is an escalation routed by those
attributes to that queue.

A bad answer (not JSON, a wrong shape, a 4xx, a redirect, more than
`max_answer_bytes`) is an AgentError naming the field: a failed case, never a pass.
429, 5xx, timeouts and dropped connections are retried with exponential backoff and
jitter, honouring Retry-After within the turn's deadline (runners.retry).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from ..errors import AgentError, AgentUnreachable, ConfigError
from ..types import AgentInput, Recommendation
from ..urls import safe_url
from .agent import AgentBase, AgentUsage
from .answer_cap import DEFAULT_MAX_ANSWER_BYTES, AnswerTooLarge, declared_too_large, read_capped
from .masking import register
from .reach import Endpoint, connect_cause, status_cause
from .retry import Failure, RetryPolicy, retry, retry_after_s, status_retryable

if TYPE_CHECKING:
    from ..config import Settings

# Optional bearer token for the tenant's agent; read where it is used, never stored.
TOKEN_ENV = "SHADOWPILOT_HTTP_TOKEN"
# Routing attributes the scorer compares; matched case-insensitively in Attributes ("Skill" -> skill).
_CANONICAL_ATTRS = ("skill", "priority", "vip")
# What is read of an error body (4xx, 5xx) for the message: the start says what went wrong.
_ERROR_BODY_BYTES = 4096
# Recommendation fields a routing payload may carry inside Attributes instead of beside them.
_LIFTED = ("reason", "urgency", "summary", "sentiment", "reply", "queue")


def request_body(ctx: AgentInput) -> dict[str, Any]:
    """What the tenant's agent is sent at one customer turn (DESIGN.md "Agents")."""
    return {
        "case_id": ctx.case_id,
        "turn": ctx.turn,
        "channel": ctx.channel,
        "customer": ctx.customer,
        "turns": [{"speaker": t.speaker, "text": t.text} for t in ctx.turns],
    }


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _shape(value: Any) -> str:
    return json.dumps(value)[:80] if not isinstance(value, str) else repr(_short(value, 80))


def _attributes(raw: Any) -> dict[str, Any]:
    """TaskRouter Attributes: an object, or (as Twilio's REST API sends them) a JSON string of one."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise AgentError(f"field Attributes: a string that is not JSON: {_shape(raw)}") from None
    if not isinstance(raw, dict):
        raise AgentError(f"field Attributes: expected an object of routing attributes, got {_shape(raw)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.lower() if key.lower() in _CANONICAL_ATTRS else key
        if isinstance(value, list | dict):
            if name == "skills" and isinstance(value, list) and len(value) == 1 and "skill" not in raw:
                out["skill"] = value[0]
            value = json.dumps(value, sort_keys=True)  # routing holds scalars; keep the rest, readable
        out[name] = value
    return out


def _queue(target: Any) -> str:
    """The queue a Target names: its friendly name when given, else its Sid."""
    if not isinstance(target, dict):
        raise AgentError(
            f'field Target: expected an object like {{"Type": "TaskQueue", "Sid": "WQ..."}}, got {_shape(target)}'
        )
    kind = target.get("Type")
    if kind is not None and str(kind).lower() != "taskqueue":
        raise AgentError(f"field Target.Type: expected 'TaskQueue', got {_shape(kind)}")
    for field in ("FriendlyName", "Name", "Sid"):
        value = target.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise AgentError(f"field Target.{field}: expected a non-empty string, got {_shape(value)}")
        return value
    raise AgentError("field Target: needs a Sid (or FriendlyName) naming the TaskQueue")


def parse_answer(data: Any, ctx: AgentInput) -> Recommendation:
    """The agent's JSON answer -> a Recommendation for this turn, or an AgentError naming the bad field."""
    if not isinstance(data, dict):
        raise AgentError(f"the answer is not a JSON object: {_shape(data)}")
    for field, expected in (("case_id", ctx.case_id), ("turn", ctx.turn)):
        if field in data and data[field] is not None and data[field] != expected:
            raise AgentError(f"field {field}: the answer is for {data[field]!r}, the question was for {expected!r}")
    fields = {k: v for k, v in data.items() if k not in ("case_id", "turn", "Attributes", "Target")}
    attributes, target = data.get("Attributes"), data.get("Target")
    if attributes is not None or target is not None:
        attrs = _attributes(attributes) if attributes is not None else {}
        for name in _LIFTED:
            if fields.get(name) is None and isinstance(attrs.get(name), str):
                fields[name] = attrs[name]
        if target is not None:
            fields["queue"] = _queue(target)
        routing = fields.get("routing")
        if routing is not None and not isinstance(routing, dict):
            raise AgentError(f"field routing: expected an object, got {_shape(routing)}")
        fields["routing"] = {**attrs, **(routing or {})}
        fields.setdefault("escalate", True)  # a routing payload is an escalation unless it says otherwise
    if "escalate" not in fields:
        keys = ", ".join(sorted(data)) or "none"
        raise AgentError(
            "field escalate: missing (expected true or false, or a routing payload with Attributes and Target); "
            f"the answer has keys: {keys}"
        )
    if not isinstance(fields["escalate"], bool):
        raise AgentError(f"field escalate: expected true or false, got {_shape(fields['escalate'])}")
    try:
        return Recommendation.model_validate({**fields, "case_id": ctx.case_id, "turn": ctx.turn})
    except ValidationError as exc:
        bad = "; ".join(
            f"field {'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {_shape(e.get('input'))})"
            for e in exc.errors()[:5]
        )
        raise AgentError(f"bad recommendation: {bad}") from None


async def _error_text(response: httpx.Response) -> str:
    """The start of an error body, for the message (the rest is not read)."""
    got = bytearray()
    async for chunk in response.aiter_bytes():
        got += chunk
        if len(got) >= _ERROR_BODY_BYTES:
            break
    return bytes(got[:_ERROR_BODY_BYTES]).decode("utf-8", "replace")


@dataclass(frozen=True)
class _Answer:
    """A 2xx answer as read: its content type and at most max_answer_bytes of its body."""

    content_type: str
    body: bytes
    latency_ms: float


class _Failed(Exception):
    """One failed attempt, for runners.retry to judge."""

    def __init__(self, what: str, retryable: bool, retry_after_s: float | None = None, unreachable: str | None = None):
        super().__init__(what)
        self.failure = Failure(what, retryable, retry_after_s, unreachable)


def _classify(exc: BaseException) -> Failure | None:
    return exc.failure if isinstance(exc, _Failed) else None


class HttpAgent(AgentBase):
    """The tenant's agent over HTTP, through an injected httpx.AsyncClient."""

    kind = "http"

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        headers: Mapping[str, str] | None = None,
        owns_client: bool = False,
        seed: int | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: Callable[[], float] | None = None,
    ):
        self.url = url
        self.client = client
        self.max_answer_bytes = max_answer_bytes
        # `retry_policy` replaces the three settings above (tests give both retrying paths one policy)
        self.policy = retry_policy or RetryPolicy(max_retries=max_retries, base_s=backoff_s, cap_s=max_backoff_s)
        self.max_retries = self.policy.max_retries
        self.headers = dict(headers or {})
        self.owns_client = owns_client
        self.requests = 0  # HTTP requests made, retries included
        self._rng = rng or random.Random(seed).random
        self._sleep = sleep
        self._where = f"http agent {safe_url(url)}"
        self.endpoint = Endpoint("the http agent", safe_url(url), "agent.url", TOKEN_ENV)

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> HttpAgent:
        """An agent with its own client: timeout and connection pool from `[agent]`."""
        cfg = settings.agent
        if not cfg.url:
            raise ConfigError("field agent.url: the http agent needs the URL of the tenant's agent")
        if urlsplit(cfg.url).scheme not in ("http", "https") or not urlsplit(cfg.url).hostname:
            raise ConfigError(f"field agent.url: expected an http:// or https:// URL, got {safe_url(cfg.url)!r}")
        env = os.environ if environ is None else environ
        token = env.get(TOKEN_ENV)
        register(token, TOKEN_ENV)
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(cfg.timeout_s),
            limits=httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency),
            follow_redirects=False,  # a redirect is an agent error: the conversation goes where agent.url says only
        )
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return cls(
            cfg.url,
            client,
            max_retries=cfg.max_retries,
            max_answer_bytes=cfg.max_answer_bytes,
            headers=headers,
            owns_client=True,
        )

    @property
    def timeout_s(self) -> float:
        return self.client.timeout.read or 0.0

    @property
    def turn_timeout_s(self) -> float:
        """The longest one turn can take with every retry (for a caller's overall deadline)."""
        return self.policy.deadline_s(self.timeout_s)

    def describe(self) -> dict[str, Any]:
        timeout = self.client.timeout
        return {
            "kind": self.kind,
            "url": safe_url(self.url),
            "timeout_s": timeout.read,
            "max_retries": self.max_retries,
        }

    def prompt_hash(self) -> str | None:
        """None: what the tenant's agent is told lives behind its URL, out of our sight."""
        return None

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        answer = await self._post(request_body(ctx))
        try:
            data = json.loads(answer.body)
        except ValueError:
            text = answer.body.decode("utf-8", "replace")
            raise AgentError(
                f"{self._where}: the answer is not JSON ({answer.content_type}): {_short(text) or '(empty body)'!r}"
            ) from None
        try:
            rec = parse_answer(data, ctx)
        except AgentError as exc:
            raise AgentError(f"{self._where}: {exc}") from None
        return rec.model_copy(update={"latency_ms": answer.latency_ms})

    async def _post(self, body: dict[str, Any]) -> _Answer:
        """POST with retries (runners.retry); returns the 2xx answer, timed by the attempt that answered."""

        async def attempt() -> _Answer:
            self.requests += 1
            started = time.perf_counter()
            try:
                # httpx's timeout bounds each read; this bounds the whole attempt (a server that drips)
                async with asyncio.timeout(self.timeout_s or None):
                    content_type, raw = await self._exchange(body)
            except TimeoutError:
                raise _Failed(f"timed out at {self.timeout_s:g} s", retryable=True) from None
            except httpx.TimeoutException:
                raise _Failed(f"timed out at {self.timeout_s:g} s", retryable=True) from None
            except httpx.TransportError as exc:
                raise _Failed(
                    f"connection failed ({type(exc).__name__}: {exc or 'no detail'})",
                    retryable=True,
                    unreachable=connect_cause(exc),
                ) from None
            return _Answer(content_type, raw, (time.perf_counter() - started) * 1000)

        try:
            return await retry(
                attempt, _classify, self.policy, sleep=self._sleep, rng=self._rng, deadline_s=self.turn_timeout_s
            )
        except AgentUnreachable as exc:
            raise self.endpoint.unreachable(exc) from None
        except AgentError as exc:
            raise AgentError(f"{self._where}: {exc}") from None

    async def _exchange(self, body: dict[str, Any]) -> tuple[str, bytes]:
        """One request, its answer read as it streams in and never past max_answer_bytes."""
        async with self.client.stream("POST", self.url, json=body, headers=self.headers) as response:
            status = response.status_code
            if status < 300:
                if declared_too_large(response.headers, self.max_answer_bytes):
                    raise AnswerTooLarge(self.max_answer_bytes)
                raw = await read_capped(response.aiter_bytes(), self.max_answer_bytes)
                return response.headers.get("content-type", "no content-type"), raw
            text = await _error_text(response)
            detail = f"HTTP {status} {response.reason_phrase}: {_short(text) or '(empty body)'}"
            if status < 400:
                where = response.headers.get("location", "elsewhere")
                raise _Failed(
                    f"{detail}; it redirects to {where} (redirects are not followed): set agent.url to that",
                    retryable=False,
                )
            # other 4xx: the request itself is wrong, so no retry
            wait = retry_after_s(response.headers)
            raise _Failed(detail, status_retryable(status), wait, status_cause(status))

    def cacheable(self, configured: bool | None) -> bool:
        """Cached only with `[agent] cache = true`: the tenant's agent may answer differently each time."""
        return configured is True

    @property
    def usage(self) -> AgentUsage:
        return AgentUsage(requests=self.requests)  # what its answers cost is the tenant's to say

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> HttpAgent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
