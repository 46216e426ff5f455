"""A small OpenAI-compatible transcription server for tests: `POST /v1/audio/transcriptions`.

It reads what the real `openai` client sends (multipart/form-data: `file`, `model`, `language`,
`response_format`, `timestamp_granularities[]`...) and answers in the shapes of OpenAI's API
reference: `json` -> `{"text", "usage": {"type": "duration", "seconds"}}`, `verbose_json` ->
`{"task", "language", "duration", "text", "segments": [{"id", "seek", "start", "end", "text",
"tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"}], "usage"}`,
`text` -> the bare text.

    with TranscriptionServer(text="I'd like to book an appointment") as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        server.add_fault("429", retry_after="0.1")   # the next request gets a 429
        ...
        server.requests   # what was received, in order (Received: the form fields and the file)

What is "heard" is `policy(received) -> str` (default: the fixed `text`). One-shot faults queue up:

    "429"    HTTP 429 with a Retry-After header (`retry_after`, default "1")
    "500"    HTTP 500 with an OpenAI-style error body
    "hang"   never answers (until the server closes), so the client times out
    "huge"   a 200 JSON answer of `size` bytes, chunked without a Content-Length
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from tests.servers.loopback import Background, StateServer

FaultKind = Literal["429", "500", "hang", "huge"]


@dataclass(frozen=True)
class Received:
    """One transcription request: its form fields (a repeated field keeps every value) and the uploaded file."""

    fields: dict[str, list[str]]
    filename: str | None
    content_type: str | None
    audio: bytes

    def field(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


Policy = Callable[[Received], str]


@dataclass
class _Fault:
    kind: FaultKind
    retry_after: str | None = None
    size: int = 10_000_000


@dataclass
class _State:
    policy: Policy
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[Received] = field(default_factory=list)
    faults: deque[_Fault] = field(default_factory=deque)


def parse_form(content_type: str, body: bytes) -> Received:
    """A multipart/form-data body, read with the standard library's MIME parser."""
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    fields: dict[str, list[str]] = {}
    filename = ctype = None
    audio = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            filename, ctype, audio = part.get_filename(), part.get_content_type(), payload
        elif isinstance(name, str):
            fields.setdefault(name, []).append(payload.decode("utf-8"))
    return Received(fields, filename, ctype, audio)


def audio_seconds(audio: bytes) -> float:
    """How long a WAV upload is (0.0 when it is not one), for the answer's `duration`."""
    from shadowpilot.asr.audio import parse_wav
    from shadowpilot.errors import AudioError

    try:
        return parse_wav(audio).duration_s
    except AudioError:
        return 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body are two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per answer
    disable_nagle_algorithm = True
    server: StateServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, raw: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/audio/transcriptions":
            self._error(404, f"no route {self.path}", "invalid_request_error")
            return
        content_type = self.headers.get("Content-Type") or ""
        if not content_type.startswith("multipart/form-data"):
            self._error(400, "expected multipart/form-data", "invalid_request_error")
            return
        received = parse_form(content_type, raw)
        with state.lock:
            state.requests.append(received)
            fault = state.faults.popleft() if state.faults else None
        try:
            self._answer(received, fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _answer(self, received: Received, fault: _Fault | None) -> None:
        state = self.server.state
        if received.field("model") is None or not received.audio:
            self._error(400, "model and file are required", "invalid_request_error")
            return
        if fault is not None and fault.kind == "429":
            self._error(429, "Rate limit reached", "rate_limit_error", {"Retry-After": fault.retry_after or "1"})
            return
        if fault is not None and fault.kind == "500":
            self._error(500, "The server had an error while processing your request.", "server_error")
            return
        if fault is not None and fault.kind == "hang":
            state.stop.wait()
            self.close_connection = True
            return
        if fault is not None and fault.kind == "huge":
            self._huge(fault.size)
            return
        text = state.policy(received)
        seconds = audio_seconds(received.audio)
        usage = {"type": "duration", "seconds": round(seconds)}
        fmt = received.field("response_format") or "json"
        if fmt == "text":
            self._send(200, text.encode(), "text/plain; charset=utf-8")
            return
        if fmt == "verbose_json":
            segment = {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": round(seconds, 2),
                "text": f" {text}",
                "tokens": [50364, 50414],
                "temperature": 0.0,
                "avg_logprob": -0.25,
                "compression_ratio": 1.2,
                "no_speech_prob": 0.01,
            }
            body: dict[str, Any] = {
                "task": "transcribe",
                "language": "english",
                "duration": round(seconds, 2),
                "text": text,
                "segments": [segment] if text else [],
                "usage": usage,
            }
        else:
            body = {"text": text, "usage": usage}
        self._send(200, json.dumps(body).encode(), "application/json")

    def _huge(self, size: int) -> None:
        state = self.server.state
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b"x" * 16384
        sent = 0
        self._chunk(b'{"text": "')
        while sent < size and not state.stop.is_set():
            self._chunk(piece)
            sent += len(piece)
        self._chunk(b'"}')
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class TranscriptionServer:
    """A context manager running the fake server in a background thread on 127.0.0.1:<ephemeral>."""

    def __init__(self, text: str = "I would like to book an appointment.", *, policy: Policy | None = None):
        self._state = _State(policy or (lambda _received: text))
        self._background = Background(_Handler, self._state)

    def __enter__(self) -> TranscriptionServer:
        self._background.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._background.close()  # wakes hanging and sleeping handlers first

    @property
    def base_url(self) -> str:
        return self._background.base_url

    def add_fault(self, kind: FaultKind, *, times: int = 1, retry_after: str | None = None, size: int = 10_000_000):
        """Serve `kind` to the next `times` requests (after any faults already queued)."""
        with self._state.lock:
            self._state.faults.extend(_Fault(kind, retry_after, size) for _ in range(times))

    @property
    def requests(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.requests)
