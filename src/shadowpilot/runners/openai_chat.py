"""The `openai` agent: any OpenAI-compatible chat-completions endpoint, with the tenant's prompt and an escalation tool.

One streamed request per customer turn, so time to first token and full-reply latency are
measured where the customer would feel them. The model escalates by calling the tool
(DESIGN.md "Agents"); its arguments become the Recommendation's reason, urgency, routing
and queue. A malformed tool call is an AgentError: the case fails, it never passes.

The SDK's own retries are off (the client is made with max_retries=0): `retry.retry`
does them, so Retry-After, jitter and the count of requests are ours and measured.
The client follows no redirects (redaction is decided for `base_url`, so nothing may be sent
elsewhere) and reads no more than `max_answer_bytes` of an answer (runners.answer_cap).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import openai

from ..config import AgentSettings, ModelPrice, Settings
from ..errors import AgentError, AgentUnreachable, ConfigError
from ..types import AgentInput, Recommendation
from ..urls import safe_url
from .agent import AgentBase, AgentUsage, content_hash
from .answer_cap import DEFAULT_MAX_ANSWER_BYTES, AnswerTooLarge, cap_hook, too_large_in
from .masking import register
from .pricing import cost_usd
from .reach import Endpoint, connect_cause, status_cause
from .retry import Failure, RetryPolicy, retry, retry_after_s, status_retryable

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

URGENCY = ("low", "normal", "high", "critical")
PRIORITY = ("low", "normal", "high", "urgent")
ROLES = {"customer": "user", "agent": "assistant", "bot": "assistant", "system": "system"}
# Local servers (vLLM, Ollama) take any key; the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"

DEFAULT_PROMPT = (
    "You are a contact-centre assistant. Answer the customer briefly and helpfully. "
    "When a human colleague should take over (the customer asks for one, an emergency, a complaint, "
    "a dispute you cannot resolve), call the escalation tool with the reason, urgency and routing."
)

_STRING_ARGS = ("reason", "skill", "queue", "summary", "sentiment")


def escalation_tool(name: str = "escalate", extra_attributes: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The function tool the model calls to escalate: DESIGN.md's flat arguments plus the tenant's attributes."""
    properties: dict[str, Any] = {
        "reason": {"type": "string", "description": "Why a human should take over, as a short snake_case label."},
        "urgency": {"type": "string", "enum": list(URGENCY), "description": "How urgent the handover is."},
        "skill": {"type": "string", "description": "The skill the human agent needs (routing attribute)."},
        "priority": {"type": "string", "enum": list(PRIORITY), "description": "Queue priority (routing attribute)."},
        "vip": {"type": "boolean", "description": "Whether the customer is a VIP (routing attribute)."},
        "queue": {"type": "string", "description": "The target queue, when known."},
        "summary": {"type": "string", "description": "One or two sentences for the human who takes over."},
        "sentiment": {"type": "string", "description": "The customer's mood: positive, neutral or negative."},
    }
    for attr in extra_attributes:
        properties.setdefault(attr, {"type": "string", "description": f"Routing attribute {attr}."})
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": "Hand the conversation to a human agent, with the reason, urgency and routing attributes.",
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": ["reason", "urgency"],
                "additionalProperties": False,
            },
        },
    }


def build_messages(prompt: str, ctx: AgentInput) -> list[dict[str, str]]:
    """System prompt (with channel and customer profile), then the conversation so far in chat roles."""
    profile = json.dumps(ctx.customer, sort_keys=True, ensure_ascii=False) if ctx.customer else "none on file"
    system = f"{prompt.rstrip()}\n\n---\nChannel: {ctx.channel}.\nCustomer profile: {profile}."
    messages = [{"role": "system", "content": system}]
    messages += [{"role": ROLES[t.speaker], "content": t.text} for t in ctx.turns]
    return messages


def parse_escalation(tool: str, raw: str, extra_attributes: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The escalation tool's arguments, checked against its schema; AgentError naming what is wrong."""
    where = f"tool call {tool!r}"
    try:
        args = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        shown = raw if len(raw) <= 200 else raw[:200] + "..."
        raise AgentError(f"{where}: arguments are not JSON ({exc}): {shown}") from None
    if not isinstance(args, dict):
        raise AgentError(f"{where}: arguments must be a JSON object, got {type(args).__name__}")
    args = {k: v for k, v in args.items() if v is not None}
    for name in ("reason", "urgency"):
        if not (isinstance(args.get(name), str) and args[name].strip()):
            raise AgentError(f"{where}: missing required argument {name!r}")
    for name in (*_STRING_ARGS, "urgency", "priority", *extra_attributes):
        if name in args and not isinstance(args[name], str):
            raise AgentError(f"{where}: argument {name!r} must be a string, got {json.dumps(args[name])}")
    for name, allowed in (("urgency", URGENCY), ("priority", PRIORITY)):
        if name in args:
            value = args[name].strip().lower()
            if value not in allowed:
                raise AgentError(f"{where}: argument {name!r} is {args[name]!r}; expected one of {', '.join(allowed)}")
            args[name] = value
    if "vip" in args and not isinstance(args["vip"], bool):
        raise AgentError(f"{where}: argument 'vip' must be true or false, got {json.dumps(args['vip'])}")
    return args


class _StreamBroken(Exception):
    """The stream stopped before the reply finished (connection dropped, or no finish_reason)."""


@dataclass
class _Streamed:
    answer_bytes: int = 0  # UTF-8 bytes of content and tool-call arguments so far
    content: str = ""
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    first_token_ms: float | None = None
    latency_ms: float = 0.0


def _safe_url(url: str | None) -> str | None:
    """A base_url for the manifest and messages (urls.safe_url); None when there is none."""
    return safe_url(url) if url else None


def classify_openai_error(exc: BaseException, timeout_s: float) -> Failure | None:
    """What an openai SDK error means for runners.retry: 429, 5xx, timeouts and dropped
    connections are retried (Retry-After / retry-after-ms honoured); other API errors are not.
    A connection that could not be made, a refused key (401/403) or a 404 is marked unreached
    (runners.reach). None for anything else (it propagates unchanged). A redirect is not followed:
    it fails, naming where it pointed; an answer past max_answer_bytes fails, never retried."""
    big = too_large_in(exc)
    if big is not None:
        return Failure(str(big), False)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        headers = exc.response.headers
        if 300 <= status < 400:
            where = headers.get("location") or "elsewhere"
            return Failure(
                f"HTTP {status}: it redirects to {where} (redirects are not followed: set base_url to that)", False
            )
        wait = retry_after_s(headers)
        retryable = status_retryable(status)
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("message") if isinstance(body.get("message"), str) else exc.message
        what = f"HTTP {status}" if retryable else f"HTTP {status}: {detail}"
        return Failure(what, retryable, wait, status_cause(status))
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return Failure(f"timeout after {timeout_s:g} s", True)
    if isinstance(exc, openai.APIConnectionError):
        return Failure(f"connection error ({exc.__cause__ or exc})", True, unreachable=connect_cause(exc))
    if isinstance(exc, openai.APIError):
        return Failure(f"API error: {exc.message}", False)
    return None


class OpenAIAgent(AgentBase):
    """Streams one chat completion per customer turn; `requests` and `spend_usd` add up over the run."""

    kind = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        settings: AgentSettings,
        prompt: str,
        *,
        prices: Mapping[str, ModelPrice] | None = None,
        prompt_path: str | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ):
        if not settings.model:
            raise ConfigError("field agent.model: the openai agent needs a model name (for example gpt-4o-mini)")
        self.client = client
        self.settings = settings
        self.model: str = settings.model
        self.prompt = prompt
        self.prompt_path = prompt_path
        self.prices = dict(prices or {})
        self.tool = escalation_tool(settings.escalate_tool, settings.tool_attributes)
        self.retry_policy = retry_policy or RetryPolicy(max_retries=settings.max_retries)
        self._sleep = sleep
        self._rng = rng
        self.endpoint = Endpoint(
            "the openai agent", _safe_url(str(client.base_url)) or "", "agent.base_url", "OPENAI_API_KEY"
        )
        # Run totals, for the progress bar and the manifest.
        self.requests = 0
        self.retries = 0
        self.spend_usd = 0.0
        self.tokens_in = 0
        self.tokens_out = 0

    # -- the Agent protocol -------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "kind": self.kind,
            "model": self.model,
            "base_url": _safe_url(s.base_url),
            "prompt": self.prompt_path,
            "escalate_tool": s.escalate_tool,
            "tool_attributes": list(s.tool_attributes),
            "temperature": s.temperature,
            "timeout_s": s.timeout_s,
            "max_retries": self.retry_policy.max_retries,
        }

    def prompt_hash(self) -> str:
        return content_hash(json.dumps({"prompt": self.prompt, "tools": [self.tool]}, sort_keys=True))

    @property
    def turn_timeout_s(self) -> float:
        """The longest one turn can take with every retry (for a caller's overall deadline)."""
        return self.retry_policy.deadline_s(self.settings.timeout_s)

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        messages = build_messages(self.prompt, ctx)

        def note_retry(_failure: Failure, _delay: float) -> None:
            self.retries += 1

        try:
            got = await retry(
                lambda: self._attempt(messages),
                self._classify,
                self.retry_policy,
                sleep=self._sleep,
                rng=self._rng,
                on_retry=note_retry,
                deadline_s=self.turn_timeout_s,
            )
        except AgentUnreachable as exc:
            raise self.endpoint.unreachable(exc) from exc
        return self._recommendation(ctx, got)

    def cacheable(self, configured: bool | None) -> bool:
        """Cached unless `[agent] cache = false`: every answer is a paid request."""
        return configured is not False

    @property
    def usage(self) -> AgentUsage:
        return AgentUsage(requests=self.requests, spend_usd=self.spend_usd)

    def warm_up(self) -> None:
        """The SDK's chat resource and streamed-answer types now (~70 ms of imports and pydantic
        schemas on this SDK's first streamed chunk, measured on a 2-core machine), not inside the
        first turn's time to first token. No request is sent."""
        import anyio._backends._asyncio  # noqa: F401  # loaded by httpcore's first anyio.Event()
        from openai.types.chat import ChatCompletionChunk

        _ = self.client.chat.completions
        call = {"index": 0, "id": "w", "type": "function", "function": {"name": "w", "arguments": "{}"}}
        delta = {"role": "assistant", "content": "", "tool_calls": [call]}
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        choice = {"index": 0, "delta": delta, "finish_reason": "stop"}
        ChatCompletionChunk.construct(
            id="w", object="chat.completion.chunk", created=0, model="w", choices=[choice], usage=usage
        )

    async def aclose(self) -> None:
        await self.client.close()

    # -- one request ----------------------------------------------------------------------------------------------
    async def _attempt(self, messages: list[dict[str, str]]) -> _Streamed:
        self.requests += 1
        timeout = self.settings.timeout_s
        extra: dict[str, Any] = {}
        if self.settings.temperature is not None:
            extra["temperature"] = self.settings.temperature
        got = _Streamed()
        start = time.perf_counter()
        # The SDK's timeout bounds each read; this bounds the whole streamed reply.
        async with asyncio.timeout(timeout):
            stream = await self.client.chat.completions.create(
                model=self.model,
                # the SDK's params are TypedDicts of these very dicts: typed at this one boundary
                messages=cast("list[ChatCompletionMessageParam]", messages),
                tools=[cast("ChatCompletionToolParam", self.tool)],
                stream=True,
                stream_options={"include_usage": True},
                timeout=timeout,
                **extra,
            )
            try:
                async for chunk in stream:
                    self._absorb(chunk, got, start, self.settings.max_answer_bytes)
            except openai.APITimeoutError:
                raise
            except openai.APIConnectionError as exc:
                big = too_large_in(exc)
                if big is not None:
                    raise big from None
                raise _StreamBroken(f"stream broke mid-reply ({exc.__cause__ or exc})") from exc
            finally:
                await stream.close()
        got.latency_ms = (time.perf_counter() - start) * 1000
        if got.finish_reason is None:
            raise _StreamBroken("stream ended before the reply finished")
        return got

    @staticmethod
    def _absorb(chunk: Any, got: _Streamed, start: float, limit: int = DEFAULT_MAX_ANSWER_BYTES) -> None:
        """One streamed chunk into `got`; AnswerTooLarge once content and tool-call arguments pass `limit`
        (raised mid-stream: the stream is closed and the rest never read)."""
        if chunk.usage is not None:
            got.tokens_in = chunk.usage.prompt_tokens
            got.tokens_out = chunk.usage.completion_tokens
        for choice in chunk.choices or ():
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta is not None and (delta.content or delta.tool_calls) and got.first_token_ms is None:
                got.first_token_ms = (time.perf_counter() - start) * 1000
            if delta is not None and delta.content:
                got.answer_bytes += len(delta.content.encode())
                if got.answer_bytes > limit:
                    raise AnswerTooLarge(limit)
                got.content += delta.content
            for part in (delta.tool_calls if delta is not None else None) or ():
                slot = got.calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                if part.id:
                    slot["id"] = part.id
                if part.function is not None:
                    got.answer_bytes += len((part.function.name or "").encode())
                    got.answer_bytes += len((part.function.arguments or "").encode())
                    if got.answer_bytes > limit:
                        raise AnswerTooLarge(limit)
                    slot["name"] += part.function.name or ""
                    slot["arguments"] += part.function.arguments or ""
            if choice.finish_reason:
                got.finish_reason = choice.finish_reason

    def _classify(self, exc: BaseException) -> Failure | None:
        if isinstance(exc, _StreamBroken):
            return Failure(str(exc), True)
        return classify_openai_error(exc, self.settings.timeout_s)

    # -- the answer -----------------------------------------------------------------------------------------------
    def _recommendation(self, ctx: AgentInput, got: _Streamed) -> Recommendation:
        tool_name = self.settings.escalate_tool
        args: dict[str, Any] | None = None
        for index in sorted(got.calls):
            call = got.calls[index]
            if call["name"] != tool_name:
                raise AgentError(f"the model called unknown tool {call['name']!r} (it was offered only {tool_name!r})")
            if args is None:
                args = parse_escalation(tool_name, call["arguments"], self.settings.tool_attributes)
        cost = cost_usd(self.model, got.tokens_in, got.tokens_out, self.prices)
        self.tokens_in += got.tokens_in or 0
        self.tokens_out += got.tokens_out or 0
        self.spend_usd += cost or 0.0
        fields: dict[str, Any] = {}
        if args is not None:
            routing_keys = ("skill", "priority", "vip", *self.settings.tool_attributes)
            fields = {
                "routing": {k: args[k] for k in routing_keys if k in args},
                **{k: args.get(k) for k in ("reason", "urgency", "queue", "summary", "sentiment")},
            }
        return Recommendation(
            case_id=ctx.case_id,
            turn=ctx.turn,
            escalate=args is not None,
            reply=got.content or None,
            latency_ms=round(got.latency_ms, 1),
            first_token_ms=None if got.first_token_ms is None else round(got.first_token_ms, 1),
            tokens_in=got.tokens_in,
            tokens_out=got.tokens_out,
            cost_usd=cost,
            **fields,
        )


def make_client(
    who: str,
    section: str,
    base_url: str | None,
    timeout_s: float,
    environ: Mapping[str, str] | None = None,
    *,
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    key_env: str = "OPENAI_API_KEY",
) -> openai.AsyncOpenAI:
    """An SDK client for `who` (the agent, the judge, the ASR engine): the key from `key_env`
    (OPENAI_API_KEY unless [asr] names another), or a placeholder for a `base_url` on this machine
    (vLLM, Ollama take none). A server elsewhere without a key is refused here, before the first
    request, rather than answering 401 on every turn.
    The SDK's own retries are off: runners.retry does them, counted. Its HTTP client follows no
    redirect (the SDK's default client follows them, taking the conversation to a host redaction
    was not decided for) and reads at most `max_answer_bytes` of an answer."""
    from ..transcripts.redact import is_loopback_url

    env = os.environ if environ is None else environ
    key = env.get(key_env) or None
    if key is None:
        if not base_url:
            raise ConfigError(
                f"{who} needs {key_env} in the environment "
                f"(or {section}.base_url pointing at an OpenAI-compatible server on this machine)"
            )
        if not is_loopback_url(base_url):
            raise ConfigError(
                f"{who} needs {key_env} in the environment: {section}.base_url {_safe_url(base_url)} "
                f"is not on this machine (set {key_env}, to any value if that server takes no key)"
            )
        key = PLACEHOLDER_KEY
    register(key if key != PLACEHOLDER_KEY else None, key_env)
    http = openai.DefaultAsyncHttpxClient(
        timeout=timeout_s, follow_redirects=False, event_hooks={"response": [cap_hook(max_answer_bytes)]}
    )
    return openai.AsyncOpenAI(
        api_key=key, base_url=base_url or None, max_retries=0, timeout=timeout_s, http_client=http
    )


def from_settings(settings: Settings, *, environ: Mapping[str, str] | None = None) -> OpenAIAgent:
    """The openai agent the config names, with its client made here (key from OPENAI_API_KEY)."""
    agent = settings.agent
    source = settings.source
    if not agent.model:
        raise ConfigError("field agent.model: the openai agent needs a model name (for example gpt-4o-mini)", source)
    prompt, prompt_path = DEFAULT_PROMPT, None
    if agent.prompt:
        path = settings.resolve(agent.prompt)
        prompt_path = str(path)
        try:
            prompt = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"field agent.prompt: no such prompt file {path}", source) from None
        except UnicodeDecodeError:
            raise ConfigError(f"field agent.prompt: prompt file {path} is not UTF-8 text", source) from None
        except OSError as exc:
            raise ConfigError(f"field agent.prompt: cannot read prompt file {path}: {exc.strerror}", source) from None
        if not prompt.strip():
            raise ConfigError(f"field agent.prompt: prompt file {path} is empty", source)
    client = make_client(
        "the openai agent", "agent", agent.base_url, agent.timeout_s, environ, max_answer_bytes=agent.max_answer_bytes
    )
    return OpenAIAgent(client, agent, prompt, prices=settings.prices, prompt_path=prompt_path)
