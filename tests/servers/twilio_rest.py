"""A fake Twilio REST API on 127.0.0.1 for the real `twilio` client (wire-format reference, section 7).

Serves paged Intelligence v2 Transcripts and Sentences, Recordings, Conversations v1 (with
Messages and Participants), TaskRouter Workspaces, TaskQueues, Tasks and Events. Lists answer
`{"<key>": [...], "meta": {"key", "next_page_url", ...}}` with absolute next_page_url on Twilio's
real hosts (as Twilio does), so a client that only overrides base_url would leave loopback:
the host-rewriting HTTP client is what keeps it here. Every request must carry HTTP basic auth
with the account sid and token. Faults can be injected per path: a status served N times
(429 with Retry-After) or for good (404). Every request is logged with its time.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOSTS = {
    "/v2/Transcripts": "intelligence.twilio.com",
    "/v1/Conversations": "conversations.twilio.com",
    "/v1/Workspaces": "taskrouter.twilio.com",
    "/2010-04-01": "api.twilio.com",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # a burst of concurrent connects must not overflow the listen backlog (the default 5 drops
    # SYNs, which the client resends a second later)
    request_queue_size = 256


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(raw: str | None) -> datetime | None:
    if not raw:
        return None
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, str]
    at: float
    status: int


@dataclass
class Fault:
    status: int
    times: int | None  # None: for good
    headers: dict[str, str] = field(default_factory=dict)
    page: int | None = None  # only this page of a list (0-based)


class FakeTwilio:
    """The data is plain dicts shaped like Twilio's JSON; tests fill it, then start the server."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "fake-token-not-real"):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.transcripts: list[dict[str, Any]] = []
        self.sentences: dict[str, list[dict[str, Any]]] = {}
        self.recordings: dict[str, dict[str, Any]] = {}
        self.conversations: list[dict[str, Any]] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.participants: dict[str, list[dict[str, Any]]] = {}
        self.workspaces: list[dict[str, Any]] = []
        self.queues: dict[str, list[dict[str, Any]]] = {}
        self.tasks: dict[str, list[dict[str, Any]]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.log: list[Logged] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------------

    def fail(self, path: str, status: int, *, times: int | None = 1, page: int | None = None, **headers: str) -> None:
        """Answer `status` at `path` (`times` times, None: always), e.g. 429 with Retry_After="1"."""
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        self.faults.setdefault(path, []).append(Fault(status, times, hdrs, page))

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests_to(self, pattern: str) -> list[Logged]:
        return [r for r in self.log if re.fullmatch(pattern, r.path)]

    # -- serving --------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(h.path)
        path = url.path
        query = dict(urllib.parse.parse_qsl(url.query))
        status, body, headers = self._route(h, path, query)
        with self._lock:
            self.log.append(Logged("GET", path, query, time.monotonic(), status))
        raw = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)

    def _error(self, status: int, message: str, code: int | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        return status, {"code": code or 20000 + status, "message": message, "status": status}, {}

    def _route(
        self, h: BaseHTTPRequestHandler, path: str, q: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if h.headers.get("Authorization") != expected:
            return self._error(401, "Authenticate", 20003)
        page = int(q.get("Page", "0"))
        with self._lock:
            for fault in self.faults.get(path, []):
                if fault.times == 0 or (fault.page is not None and fault.page != page):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                status, body, _ = self._error(fault.status, "injected fault")
                return status, body, dict(fault.headers)
        m = re.fullmatch(r"/v2/Transcripts/(GT\w+)/Sentences", path)
        if m:
            return self._page(path, q, "sentences", self.sentences.get(m[1], []))
        if path == "/v2/Transcripts":
            rows = [t for t in self.transcripts if self._transcript_matches(t, q)]
            return self._page(path, q, "transcripts", rows)
        m = re.fullmatch(r"/2010-04-01/Accounts/(AC\w+)/Recordings/(RE\w+)\.json", path)
        if m:
            rec = self.recordings.get(m[2])
            return (200, rec, {}) if rec else self._error(404, "recording not found", 20404)
        if path == "/v1/Conversations":
            rows = [c for c in self.conversations if self._conversation_matches(c, q)]
            return self._page(path, q, "conversations", rows)
        m = re.fullmatch(r"/v1/Conversations/(CH\w+)/(Messages|Participants)", path)
        if m:
            if m[2] == "Messages":
                rows = sorted(self.messages.get(m[1], []), key=lambda r: r["index"], reverse=q.get("Order") == "desc")
                return self._page(path, q, "messages", rows)
            return self._page(path, q, "participants", self.participants.get(m[1], []))
        if path == "/v1/Workspaces":
            return self._page(path, q, "workspaces", self.workspaces)
        m = re.fullmatch(r"/v1/Workspaces/(WS\w+)/(TaskQueues|Tasks|Events)", path)
        if m:
            if m[1] not in {w["sid"] for w in self.workspaces}:
                return self._error(404, "workspace not found", 20404)
            if m[2] == "TaskQueues":
                return self._page(path, q, "task_queues", self.queues.get(m[1], []))
            if m[2] == "Tasks":
                return self._page(path, q, "tasks", self.tasks.get(m[1], []))
            rows = [e for e in self.events.get(m[1], []) if self._event_matches(e, q)]
            return self._page(path, q, "events", rows)
        m = re.fullmatch(r"/v1/Workspaces/(WS\w+)/Tasks/(WT\w+)", path)
        if m:
            task = next((t for t in self.tasks.get(m[1], []) if t["sid"] == m[2]), None)
            return (200, task, {}) if task else self._error(404, "task not found", 20404)
        return self._error(404, f"no route {path}", 20404)

    def _page(
        self, path: str, q: dict[str, str], key: str, rows: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        size = int(q.get("PageSize", "50"))
        page = int(q.get("Page", "0"))
        chunk = rows[page * size : (page + 1) * size]
        host = next(h for prefix, h in HOSTS.items() if path.startswith(prefix))

        def url(p: int) -> str:
            keep = {k: v for k, v in q.items() if k not in ("Page", "PageToken")}
            keep.update({"Page": str(p), "PageSize": str(size), "PageToken": f"PT{p}"})
            return f"https://{host}{path}?{urllib.parse.urlencode(keep)}"

        more = (page + 1) * size < len(rows)
        meta = {
            "page": page,
            "page_size": size,
            "first_page_url": url(0),
            "url": url(page),
            "key": key,
            "previous_page_url": url(page - 1) if page else None,
            "next_page_url": url(page + 1) if more else None,
        }
        return 200, {key: chunk, "meta": meta}, {}

    @staticmethod
    def _transcript_matches(t: dict[str, Any], q: dict[str, str]) -> bool:
        start = _when(t.get("media_start_time"))
        if q.get("ServiceSid") and t.get("service_sid") != q["ServiceSid"]:
            return False
        if q.get("Status") and t.get("status") != q["Status"]:
            return False
        if q.get("AfterStartTime") and (start is None or start < _when(q["AfterStartTime"])):  # type: ignore[operator]
            return False
        return not (q.get("BeforeStartTime") and (start is None or start >= _when(q["BeforeStartTime"])))  # type: ignore[operator]

    @staticmethod
    def _conversation_matches(c: dict[str, Any], q: dict[str, str]) -> bool:
        created = _when(c["date_created"])
        assert created is not None
        if q.get("State") and c.get("state") != q["State"]:
            return False
        if q.get("StartDate") and created < _when(q["StartDate"]):  # type: ignore[operator]
            return False
        return not (q.get("EndDate") and created >= _when(q["EndDate"]))  # type: ignore[operator]

    @staticmethod
    def _event_matches(e: dict[str, Any], q: dict[str, str]) -> bool:
        at = _when(e["event_date"])
        assert at is not None
        if q.get("TaskSid") and e["event_data"].get("task_sid") != q["TaskSid"]:
            return False
        if q.get("StartDate") and at < _when(q["StartDate"]):  # type: ignore[operator]
            return False
        return not (q.get("EndDate") and at > _when(q["EndDate"]))  # type: ignore[operator]


# -- building a tenant's records --------------------------------------------------------------------

WS = "WS" + "9" * 32
QUEUES = {"WQ" + "1" * 32: "front-desk", "WQ" + "2" * 32: "billing-tier2", "WQ" + "3" * 32: "clinical"}
FRONT, BILLING, CLINICAL = list(QUEUES)


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


@dataclass
class CallSpec:
    """One call: (speaker, text) lines; optional transfer after customer line k to a queue."""

    n: int
    lines: list[tuple[str, str]]
    start: datetime
    transfer_after: int | None = None  # index in `lines` of the customer line after which the human transferred
    transfer_queue: str = BILLING
    attributes: dict[str, Any] = field(default_factory=dict)
    with_task: bool = True
    customer_channel: int = 1
    call_sid_in_key: bool = True  # False: only the recording links the transcript to the call


def add_workspace(fake: FakeTwilio) -> None:
    fake.workspaces.append({"sid": WS, "friendly_name": "Support", "account_sid": fake.account_sid})
    fake.queues[WS] = [{"sid": s, "friendly_name": n, "workspace_sid": WS} for s, n in QUEUES.items()]
    fake.tasks.setdefault(WS, [])
    fake.events.setdefault(WS, [])


def _event(fake: FakeTwilio, n: int, etype: str, at: datetime, data: dict[str, Any]) -> None:
    fake.events[WS].append(
        {
            "sid": sid("EV", len(fake.events[WS]) + 1 + n * 10),
            "account_sid": fake.account_sid,
            "workspace_sid": WS,
            "event_type": etype,
            "event_date": iso(at),
            "event_date_ms": int(at.timestamp() * 1000),
            "event_data": data,
            "resource_type": "task",
            "resource_sid": data["task_sid"],
            "description": etype,
        }
    )


def add_call(fake: FakeTwilio, spec: CallSpec) -> dict[str, str]:
    """A finished call: transcript (participants with roles), sentences 3 s apart, and its task
    with queue-entered and (optionally) transfer events at the right moment."""
    call, transcript, task, rec = sid("CA", spec.n), sid("GT", spec.n), sid("WT", spec.n), sid("RE", spec.n)
    agent_channel = 2 if spec.customer_channel == 1 else 1
    fake.transcripts.append(
        {
            "sid": transcript,
            "account_sid": fake.account_sid,
            "service_sid": "GA" + "5" * 32,
            "status": "completed",
            "customer_key": call if spec.call_sid_in_key else f"crm-{spec.n}",
            "media_start_time": iso(spec.start),
            "date_created": iso(spec.start + timedelta(minutes=10)),
            "channel": {
                "media_properties": {"source_sid": rec},
                "participants": [
                    {"channel_participant": spec.customer_channel, "role": "Customer", "user_id": f"cust-{spec.n}"},
                    {"channel_participant": agent_channel, "role": "Agent", "user_id": "agent-7"},
                ],
            },
            "duration": 3 * len(spec.lines),
            "language_code": "en-US",
        }
    )
    fake.recordings[rec] = {"sid": rec, "call_sid": call, "account_sid": fake.account_sid}
    fake.sentences[transcript] = [
        {
            "sid": sid("GX", spec.n * 1000 + i),
            "media_channel": str(spec.customer_channel if who == "customer" else agent_channel),
            "sentence_index": i,
            "start_time": f"{3.0 * i:.2f}",
            "end_time": f"{3.0 * i + 2.5:.2f}",
            "transcript": text,
            "confidence": "0.93",
        }
        for i, (who, text) in enumerate(spec.lines)
    ]
    if spec.with_task:
        attrs = {"call_sid": call, "from": f"+1555{spec.n:07d}", "direction": "inbound", "type": "inbound"}
        attrs.update(spec.attributes)
        fake.tasks[WS].append(
            {
                "sid": task,
                "workspace_sid": WS,
                "attributes": json.dumps(attrs),
                "assignment_status": "completed",
                "date_created": iso(spec.start),
                "priority": 0,
                "task_queue_sid": FRONT,
                "task_queue_friendly_name": QUEUES[FRONT],
                "task_channel_unique_name": "voice",
                "reason": "completed",
            }
        )
        base = {
            "task_sid": task,
            "task_attributes": json.dumps(attrs),
            "task_priority": 0,
            "task_channel_unique_name": "voice",
        }
        _event(fake, spec.n, "task.created", spec.start, base)
        _event(
            fake,
            spec.n,
            "task-queue.entered",
            spec.start + timedelta(seconds=0.5),
            {**base, "task_queue_sid": FRONT, "task_queue_name": QUEUES[FRONT]},
        )
        if spec.transfer_after is not None:
            at = spec.start + timedelta(seconds=3.0 * spec.transfer_after + 2.8)
            _event(
                fake,
                spec.n,
                "task.transfer-initiated",
                at,
                {**base, "transfer_to": spec.transfer_queue, "transfer_type": "QUEUE", "transfer_mode": "COLD"},
            )
            _event(
                fake,
                spec.n,
                "task-queue.entered",
                at + timedelta(seconds=1),
                {**base, "task_queue_sid": spec.transfer_queue, "task_queue_name": QUEUES[spec.transfer_queue]},
            )
        _event(fake, spec.n, "task.completed", spec.start + timedelta(seconds=3.0 * len(spec.lines) + 5), base)
    return {"call_sid": call, "transcript_sid": transcript, "task_sid": task}


def add_chat(
    fake: FakeTwilio,
    n: int,
    lines: list[tuple[str, str]],
    start: datetime,
    *,
    transfer_after: int | None = None,
    transfer_queue: str = CLINICAL,
    attributes: dict[str, Any] | None = None,
    with_task: bool = True,
) -> dict[str, str]:
    """A closed SMS conversation: customer bound by SMS, agent by chat identity; messages 20 s apart."""
    conv, task = sid("CH", n), sid("WT", 10_000 + n)
    cust, agent = sid("MB", n * 2), sid("MB", n * 2 + 1)
    fake.conversations.append(
        {
            "sid": conv,
            "account_sid": fake.account_sid,
            "chat_service_sid": "IS" + "4" * 32,
            "friendly_name": f"chat {n}",
            "attributes": "{}",
            "state": "closed",
            "date_created": iso(start),
            "date_updated": iso(start + timedelta(minutes=5)),
        }
    )
    fake.participants[conv] = [
        {
            "sid": cust,
            "conversation_sid": conv,
            "identity": None,
            "attributes": "{}",
            "messaging_binding": {"type": "sms", "address": f"+1555{n:07d}", "proxy_address": "+15550000000"},
        },
        {
            "sid": agent,
            "conversation_sid": conv,
            "identity": "agent.lee",
            "attributes": "{}",
            "messaging_binding": None,
        },
    ]
    fake.messages[conv] = [
        {
            "sid": sid("IM", n * 100 + i),
            "conversation_sid": conv,
            "index": i,
            "body": text,
            "author": f"+1555{n:07d}" if who == "customer" else "agent.lee",
            "participant_sid": cust if who == "customer" else agent,
            "attributes": "{}",
            "date_created": iso(start + timedelta(seconds=20 * i)),
        }
        for i, (who, text) in enumerate(lines)
    ]
    if with_task:
        attrs = {
            "conversationSid": conv,
            "channelType": "sms",
            "customerAddress": f"+1555{n:07d}",
            **(attributes or {}),
        }
        base = {
            "task_sid": task,
            "task_attributes": json.dumps(attrs),
            "task_priority": 0,
            "task_channel_unique_name": "chat",
        }
        _event(
            fake,
            10_000 + n,
            "task-queue.entered",
            start,
            {**base, "task_queue_sid": FRONT, "task_queue_name": QUEUES[FRONT]},
        )
        if transfer_after is not None:
            at = start + timedelta(seconds=20 * transfer_after + 5)
            _event(fake, 10_000 + n, "task.transfer-initiated", at, {**base, "transfer_to": transfer_queue})
    return {"conversation_sid": conv, "task_sid": task}


def add_orphan_task(fake: FakeTwilio, n: int, at: datetime) -> str:
    """A voice task whose call has no transcript."""
    task, call = sid("WT", 20_000 + n), sid("CA", 20_000 + n)
    attrs = json.dumps({"call_sid": call})
    fake.tasks[WS].append(
        {
            "sid": task,
            "workspace_sid": WS,
            "attributes": attrs,
            "assignment_status": "completed",
            "date_created": iso(at),
            "priority": 0,
            "task_queue_sid": FRONT,
            "task_queue_friendly_name": QUEUES[FRONT],
            "task_channel_unique_name": "voice",
        }
    )
    _event(
        fake,
        20_000 + n,
        "task-queue.entered",
        at,
        {"task_sid": task, "task_attributes": attrs, "task_queue_sid": FRONT, "task_queue_name": QUEUES[FRONT]},
    )
    return call
