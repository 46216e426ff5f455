"""A small tenant HTTP agent on 127.0.0.1, for the http agent's tests.

It escalates when the last customer turn contains a trigger phrase, and answers
in the flat Recommendation shape or the TaskRouter routing-payload shape. The
broken modes misbehave the ways real endpoints do: non-JSON, wrong shapes,
4xx, 5xx (for a while or for good), 429 with Retry-After, too slow.

    with TenantAgent("routing") as server:
        ... POST to server.url ...
        server.requests  # the JSON bodies it received, in order

`hold()` makes every request wait (received and counted, not answered) until
`release()`: a run that is certainly still running, however fast the machine.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRIGGERS = {
    "supervisor": ("requested_human", "general", "normal", "WQ0000000000000000000000000000general", "general"),
    "emergency": ("emergency", "emergency", "urgent", "WQ00000000000000000000000000emergency", "emergency"),
    "double charged": ("billing_dispute", "billing", "high", "WQ000000000000000000000000000billing", "billing-tier2"),
}
MODES = (
    "flat",  # a Recommendation without case_id/turn
    "routing",  # {"reply", "Attributes": {...}, "Target": {"Type": "TaskQueue", "Sid", "FriendlyName"}} to escalate
    "not_json",  # 200 with an HTML body
    "no_escalate",  # {"reply": ...}: the escalate field is missing
    "bad_type",  # {"escalate": "yes", "routing": [...]}
    "bad_target",  # a routing payload whose Target is a Worker
    "bad_request",  # 400 with a JSON error
    "flaky",  # 500 for the first `fail_times` requests, then flat
    "down",  # 500 always
    "rate_limited",  # 429 with Retry-After for the first `fail_times` requests, then flat
    "slow",  # flat, after `delay_s`
    "huge_stream",  # a JSON answer of `size` bytes, no Content-Length, written 64 KiB at a time
    "huge_json",  # the same with its Content-Length declared
    "redirect",  # 307 to `location` (another server)
    "echo_token",  # 400 whose body quotes the request's Authorization header
)
HUGE_PIECE = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # a burst of concurrent connects must not overflow the listen backlog (the default 5 drops
    # SYNs, which the client resends a second later)
    request_queue_size = 256


def decide(body: dict[str, Any]) -> tuple[bool, tuple[str, str, str, str, str] | None]:
    customer_turns = [t["text"].lower() for t in body.get("turns", []) if t.get("speaker") == "customer"]
    last = customer_turns[-1] if customer_turns else ""
    for phrase, route in TRIGGERS.items():
        if phrase in last:
            return True, route
    return False, None


class TenantAgent:
    def __init__(
        self,
        mode: str = "flat",
        *,
        fail_times: int = 2,
        delay_s: float = 2.0,
        retry_after: str = "0.2",
        attributes_as_string: bool = False,
        friendly_name: bool = True,
        size: int = 50_000_000,
        location: str = "http://127.0.0.1:9/recommend",
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        self.mode = mode
        self.fail_times = fail_times
        self.delay_s = delay_s
        self.retry_after = retry_after
        self.attributes_as_string = attributes_as_string
        self.friendly_name = friendly_name
        self.size = size
        self.location = location
        self.sent_bytes = 0  # body bytes of huge answers written
        self.cut_off = 0  # huge answers whose reader closed the connection before they ended
        self.requests: list[dict[str, Any]] = []  # bodies received, in order
        self.raw: list[bytes] = []  # the same, as bytes on the wire
        self._headers: dict[str, str] = {}  # the last request's headers (echo_token echoes them)
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._open = threading.Event()
        self._open.set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first (use it as a context manager)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/recommend"

    def hold(self) -> None:
        """Requests from now on wait before they are answered, until release()."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def answer(self, body: dict[str, Any], n: int) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for the n-th request (0-based)."""
        escalate, route = decide(body)
        reply = "Let me connect you with someone who can help." if escalate else "Sure, I can help with that."
        vip = bool(body.get("customer", {}).get("vip", False))
        flat: dict[str, Any] = {"reply": reply, "escalate": escalate, "sentiment": "neutral"}
        if route:
            reason, skill, priority, sid, name = route
            flat.update(
                reason=reason, urgency="high", queue=name, routing={"skill": skill, "priority": priority, "vip": vip}
            )
        mode = self.mode
        if mode in ("flaky", "down", "rate_limited") and (mode == "down" or n < self.fail_times):
            if mode == "rate_limited":
                return 429, {"Retry-After": self.retry_after}, b'{"error": "slow down"}'
            return 500, {}, b"upstream model failed"
        if mode == "slow":
            self._stop.wait(self.delay_s)
        if mode == "not_json":
            return 200, {"Content-Type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>"
        if mode == "no_escalate":
            return 200, {}, json.dumps({"reply": reply}).encode()
        if mode == "bad_type":
            return 200, {}, json.dumps({"escalate": "yes", "reply": reply}).encode()
        if mode == "bad_request":
            return 400, {}, json.dumps({"error": "turns[0].speaker: unknown role"}).encode()
        if mode == "redirect":
            return 307, {"Location": self.location}, b""
        if mode == "echo_token":
            echoed = {"error": f"refused Authorization: {self._headers.get('Authorization')}", "headers": self._headers}
            return 400, {}, json.dumps(echoed).encode()
        if mode in ("routing", "bad_target"):
            if not route:
                return 200, {}, json.dumps({"reply": reply, "escalate": False}).encode()
            reason, skill, priority, sid, name = route
            attrs: Any = {"skill": skill, "priority": priority, "vip": vip, "reason": reason, "language": "en-US"}
            target: dict[str, Any] = {"Type": "TaskQueue", "Sid": sid}
            if self.friendly_name:
                target["FriendlyName"] = name
            if mode == "bad_target":
                target = {"Type": "Worker", "Sid": "WK0000000000000000000000000000000"}
            if self.attributes_as_string:
                attrs = json.dumps(attrs)
            return 200, {}, json.dumps({"reply": reply, "Attributes": attrs, "Target": target}).encode()
        return 200, {}, json.dumps(flat).encode()

    def __enter__(self) -> TenantAgent:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with agent._lock:
                    agent._headers = dict(self.headers.items())
                    n = len(agent.requests)
                    agent.raw.append(raw)
                    agent.requests.append(json.loads(raw or b"{}"))
                    agent.in_flight += 1
                    agent.peak_in_flight = max(agent.peak_in_flight, agent.in_flight)
                try:
                    while not agent._open.wait(0.05) and not agent._stop.is_set():
                        pass
                    if agent.mode in ("huge_stream", "huge_json"):
                        self._huge()
                        return
                    status, headers, body = agent.answer(agent.requests[n], n)
                    self.send_response(status)
                    headers = {"Content-Type": "application/json", **headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    if agent.mode in ("huge_stream", "huge_json"):
                        with agent._lock:
                            agent.cut_off += 1
                    # else the client gave up (a timeout test)
                finally:
                    with agent._lock:
                        agent.in_flight -= 1

            def _huge(self) -> None:
                """`{"reply": "xxx...", "escalate": false}` of agent.size bytes, counting what went out."""
                head, tail = b'{"escalate": false, "reply": "', b'"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if agent.mode == "huge_json":
                    self.send_header("Content-Length", str(len(head) + agent.size + len(tail)))
                self.end_headers()
                self.wfile.write(head)
                sent = 0
                while sent < agent.size and not agent._stop.is_set():
                    piece = b"x" * min(HUGE_PIECE, agent.size - sent)
                    self.wfile.write(piece)
                    sent += len(piece)
                    with agent._lock:
                        agent.sent_bytes += len(piece)
                self.wfile.write(tail)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="tenant-agent", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
