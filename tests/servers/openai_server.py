"""A small OpenAI-compatible chat-completions server for tests and benchmarks.

It speaks the wire format the real `openai` client expects: `POST /v1/chat/completions`,
streamed as SSE (`data: {chat.completion.chunk}` events over chunked HTTP/1.1, tool-call
arguments split across several chunks, `data: [DONE]`, a usage-only last chunk when the
request asks `stream_options.include_usage`) or as one `chat.completion` JSON object.

    with OpenAIServer(latency_s=0.05) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        server.add_fault("429", retry_after="0.2")    # the next request gets a 429
        ...
        server.requests          # the JSON bodies received, in order
        server.peak_concurrency  # the most requests in flight at once

What the model "says" is decided by `policy(body) -> Reply`; the default escalates
(tool `escalate`) when the last user message contains "supervisor", else replies in
words. One-shot faults queue up and are served to the next requests in order:

    "429"        HTTP 429 with a Retry-After header (`retry_after`, default "1")
    "500"        HTTP 500 with an OpenAI-style error body
    "hang"       never answers (until the server closes), so the client times out
    "malformed"  the reply's tool call carries arguments that are not JSON
    "broken"     a stream that starts, then the connection drops mid-body
    "huge"       an answer of `size` bytes of content (default 50 MB), streamed or one JSON body
                 sent chunked without a Content-Length; `sent_bytes` and `cut_off` say how much
                 went out before the client closed the connection
    "redirect"   HTTP 307 to `location` (another server)
    "echo_auth"  HTTP 400 whose error message quotes the request's Authorization header

With `api_key` set, a request without `Authorization: Bearer <api_key>` gets OpenAI's 401
(`invalid_api_key`) and is counted in `rejected`, not in `requests`.

Each request sleeps `latency_s` before its first byte and `chunk_interval_s` between
stream chunks. Threads, one per connection, so 16+ concurrent requests overlap.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from tests.servers.loopback import Background, StateServer

FaultKind = Literal["429", "500", "hang", "malformed", "broken", "huge", "redirect", "echo_auth"]
HUGE_PIECE = 16 * 1024  # content per streamed chunk of a "huge" answer


@dataclass(frozen=True)
class Reply:
    """What the fake model answers: words, tool calls (name, arguments), and optionally exact usage.

    Arguments given as a dict are sent as JSON; as a str, sent verbatim (to test malformed calls).
    Usage left None is estimated at ~4 characters per token.
    """

    content: str | None = "Thanks, I can help you with that."
    calls: Sequence[tuple[str, dict[str, Any] | str]] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


Policy = Callable[[dict[str, Any]], Reply]


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def trigger_policy(
    trigger: str = "supervisor",
    arguments: dict[str, Any] | None = None,
    *,
    tool: str = "escalate",
    reply: str = "Thanks, I can help you with that.",
    escalation_reply: str | None = "Let me connect you with a colleague.",
) -> Policy:
    """Escalate via `tool` with `arguments` when the last user message contains `trigger` (any case)."""
    args = arguments if arguments is not None else {"reason": "requested_human", "urgency": "normal"}

    def policy(body: dict[str, Any]) -> Reply:
        if trigger.lower() in last_user_text(body).lower():
            return Reply(content=escalation_reply, calls=[(tool, args)])
        return Reply(content=reply)

    return policy


@dataclass
class _Fault:
    kind: FaultKind
    retry_after: str | None = None
    location: str | None = None
    size: int = 50_000_000


@dataclass
class _State:
    policy: Policy
    latency_s: float
    chunk_interval_s: float
    api_key: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[_Fault] = field(default_factory=deque)
    in_flight: int = 0
    peak: int = 0
    rejected: int = 0  # requests refused with 401 (a wrong or missing key)
    sent_bytes: int = 0  # bytes of "huge" answers written
    cut_off: int = 0  # "huge" answers the client stopped reading before they ended


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _pieces(text: str, parts: int) -> list[str]:
    """`text` cut into about `parts` non-empty pieces (how a model streams tool arguments)."""
    if not text:
        return []
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Each SSE chunk is its own small write: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per reply.
    disable_nagle_algorithm = True
    server: StateServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read assertions, not access logs
        pass

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, headers)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _sse(self, payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {data}\n\n".encode())

    # -- requests ---------------------------------------------------------------------------------------------
    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}", "invalid_request_error")
            return
        if state.api_key is not None and self.headers.get("Authorization") != f"Bearer {state.api_key}":
            error = {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
            with state.lock:
                state.rejected += 1
            self._send_json(401, {"error": error})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "body is not JSON", "invalid_request_error")
            return
        with state.lock:
            state.requests.append(body)
            fault = state.faults.popleft() if state.faults else None
            state.in_flight += 1
            state.peak = max(state.peak, state.in_flight)
        try:
            self._answer(body, fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-answer (a timeout, a Ctrl-C)
            if fault is not None and fault.kind == "huge":
                with state.lock:
                    state.cut_off += 1
        finally:
            with state.lock:
                state.in_flight -= 1

    def _answer(self, body: dict[str, Any], fault: _Fault | None) -> None:
        state = self.server.state
        kind = fault.kind if fault else None
        if kind == "429":
            self._error(429, "Rate limit reached", "rate_limit_error", {"Retry-After": fault.retry_after or "1"})
            return
        if kind == "500":
            self._error(500, "The server had an error while processing your request.", "server_error")
            return
        if kind == "hang":
            state.stop.wait()
            self.close_connection = True
            return
        if kind == "redirect":
            self.send_response(307)
            self.send_header("Location", fault.location or "http://127.0.0.1:9/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "echo_auth":
            self._error(400, f"Bad request from {self.headers.get('Authorization')}", "invalid_request_error")
            return
        if kind == "huge":
            self._huge(body, fault.size)
            return
        reply = state.policy(body)
        if kind == "malformed":
            calls = list(reply.calls) or [("escalate", {})]
            reply = Reply(reply.content, [(calls[0][0], '{"reason": "billing", "urgency": ')], *_usage_of(reply))
        if state.latency_s and state.stop.wait(state.latency_s):
            return
        if body.get("stream"):
            self._stream(body, reply, broken=kind == "broken")
        else:
            self._complete(body, reply)

    def _huge(self, body: dict[str, Any], size: int) -> None:
        """`size` bytes of content, chunked with no Content-Length, counting what was written."""
        state = self.server.state
        streamed = bool(body.get("stream"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if streamed else "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {**self._ids(body), "object": "chat.completion.chunk"}
        if not streamed:
            head = {
                **self._ids(body),
                "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "@@"}}],
            }
            before, after = json.dumps(head).split('"@@"')
            self._write_chunk(before.encode() + b'"')
        sent = 0
        while sent < size and not state.stop.is_set():
            piece = "x" * HUGE_PIECE
            if streamed:
                self._sse({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            else:
                self._write_chunk(piece.encode())
            sent += HUGE_PIECE
            with state.lock:
                state.sent_bytes += HUGE_PIECE
        if streamed:
            self._sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self._sse("[DONE]")
        else:
            self._write_chunk(b'"' + after.encode())
        self._write_chunk(b"")

    def _ids(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
        }

    def _usage(self, body: dict[str, Any], reply: Reply) -> dict[str, int]:
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = _tokens("".join(str(m.get("content") or "") for m in body.get("messages", [])))
        completion = reply.completion_tokens
        if completion is None:
            completion = _tokens((reply.content or "") + "".join(_arguments(a) for _, a in reply.calls))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _complete(self, body: dict[str, Any], reply: Reply) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.calls:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": _arguments(args)}}
                for i, (name, args) in enumerate(reply.calls)
            ]
        self._send_json(
            200,
            {
                **self._ids(body),
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if reply.calls else "stop",
                    }
                ],
                "usage": self._usage(body, reply),
                "system_fingerprint": None,
            },
        )

    def _stream(self, body: dict[str, Any], reply: Reply, broken: bool) -> None:
        state = self.server.state
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {**self._ids(body), "object": "chat.completion.chunk", "system_fingerprint": None}
        if include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": piece} for piece in re.findall(r"\S+\s*|\s+", reply.content or "")]
        for index, (name, args) in enumerate(reply.calls):
            head = {"index": index, "id": f"call_{index}", "type": "function"}
            deltas.append({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                for piece in _pieces(_arguments(args), 3)
            ]

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for n, delta in enumerate(deltas):
            if n and state.chunk_interval_s and state.stop.wait(state.chunk_interval_s):
                return
            self._sse(chunk(delta))
            if broken and n >= 1:  # drop the connection mid-body: no final chunk, no [DONE]
                self.close_connection = True
                return
        self._sse(chunk({}, "tool_calls" if reply.calls else "stop"))
        if include_usage:
            self._sse({**base, "choices": [], "usage": self._usage(body, reply)})
        self._sse("[DONE]")
        self._write_chunk(b"")


def _arguments(args: dict[str, Any] | str) -> str:
    return args if isinstance(args, str) else json.dumps(args)


def _usage_of(reply: Reply) -> tuple[int | None, int | None]:
    return reply.prompt_tokens, reply.completion_tokens


class OpenAIServer:
    """A context manager running the fake server in a background thread on 127.0.0.1:<ephemeral>."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        latency_s: float = 0.0,
        chunk_interval_s: float = 0.0,
        api_key: str | None = None,
    ):
        self._state = _State(policy or trigger_policy(), latency_s, chunk_interval_s, api_key)
        self._background = Background(_Handler, self._state)

    def start(self) -> OpenAIServer:
        self._background.start()
        return self

    def close(self) -> None:
        self._background.close()  # wakes hanging and sleeping handlers first

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        return self._background.base_url

    @property
    def policy(self) -> Policy:
        return self._state.policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self._state.policy = policy

    def add_fault(
        self,
        kind: FaultKind,
        *,
        times: int = 1,
        retry_after: str | None = None,
        location: str | None = None,
        size: int = 50_000_000,
    ) -> None:
        """Serve `kind` to the next `times` requests (after any faults already queued)."""
        with self._state.lock:
            self._state.faults.extend(_Fault(kind, retry_after, location, size) for _ in range(times))

    @property
    def sent_bytes(self) -> int:
        """Content bytes of "huge" answers written so far."""
        with self._state.lock:
            return self._state.sent_bytes

    @property
    def cut_off(self) -> int:
        """ "huge" answers whose reader closed the connection before they ended."""
        with self._state.lock:
            return self._state.cut_off

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of the JSON bodies received so far, in arrival order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def rejected(self) -> int:
        """How many requests were refused for a wrong or missing key."""
        with self._state.lock:
            return self._state.rejected

    @property
    def peak_concurrency(self) -> int:
        with self._state.lock:
            return self._state.peak
