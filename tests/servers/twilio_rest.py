"""A fake Twilio REST API on 127.0.0.1 for the real `twilio` client (wire-format reference, section 7).

Serves paged Intelligence v2 Transcripts and Sentences, Recordings, Conversations v1 (with
Messages and Participants), TaskRouter Workspaces, TaskQueues, Tasks and Events. Lists answer
`{"<key>": [...], "meta": {"key", "next_page_url", ...}}` with absolute next_page_url on Twilio's
real hosts (as Twilio does), so a client that only overrides base_url would leave loopback:
the host-rewriting HTTP client is what keeps it here. Every request must carry HTTP basic auth
with the account sid and token. Faults can be injected per path: a status served N times
(429 with Retry-After) or for good (404). Every request is logged with its time.

Records follow the examples in Twilio's OpenAPI specs (twilio-oai spec/json: intelligence_v2,
conversations_v1, taskrouter_v1, api_v2010): field names and types (sentence media_channel an
integer, start/end_time and confidence strings, attributes JSON strings), sid prefixes, ISO-8601
dates (RFC 2822 on the 2010 Recording), error bodies `{code, message, more_info, status}`. Like
automatic transcription of recorded calls, a transcript's `channel` may carry no participants;
a TaskRouter Task listing may leave `attributes` null (the single fetch has them).

Recordings (api_v2010): the list `Accounts/{AC}/Recordings.json` filtered by `CallSid`, paged in
the 2010 API's shape (`recordings`, `next_page_uri`, `page`, `page_size`, `uri`...), and each
recording's media `Recordings/{RE}.wav` (`RequestedChannels` honoured: 1 mixes down), answered
as Twilio does with a redirect to the stored file (here an unauthenticated loopback path, as a
signed storage URL is). `media` holds the WAV bytes the tests synthesise.
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
        self.media: dict[str, bytes] = {}  # recording sid -> its WAV file (dual-channel)
        self.conversations: list[dict[str, Any]] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.participants: dict[str, list[dict[str, Any]]] = {}
        self.workspaces: list[dict[str, Any]] = []
        self.queues: dict[str, list[dict[str, Any]]] = {}
        self.tasks: dict[str, list[dict[str, Any]]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.list_hides_attributes: set[str] = set()  # task sids listed with attributes: null
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
        m = re.fullmatch(r"/storage/(RE\w+)\.wav", path)
        if m and m[1] in self.media:  # where the media redirect points: no auth, as a signed URL needs none
            status, body, headers = 200, self.media[m[1]], {}
        else:
            status, body, headers = self._route(h, path, query)
        with self._lock:
            self.log.append(Logged("GET", path, query, time.monotonic(), status))
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "audio/x-wav" if isinstance(body, bytes) else "application/json")
        h.send_header("Content-Length", str(len(raw)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)

    def _error(self, status: int, message: str, code: int | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        code = code or 20000 + status
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return status, body, {}

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
        if re.fullmatch(r"/2010-04-01/Accounts/(AC\w+)/Recordings\.json", path):
            rows = [r for r in self.recordings.values() if q.get("CallSid") in (None, r["call_sid"])]
            return self._page_2010(path, q, "recordings", rows)
        m = re.fullmatch(r"/2010-04-01/Accounts/(AC\w+)/Recordings/(RE\w+)\.wav", path)
        if m:
            if m[2] not in self.media:
                return self._error(404, f"The requested resource {path} was not found", 20404)
            if q.get("RequestedChannels", "2") != "2":
                return self._error(400, "only RequestedChannels=2 is served here", 21211)
            return 302, {}, {"Location": f"/storage/{m[2]}.wav"}
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
        m = re.fullmatch(r"/v1/Workspaces/(WS\w+)", path)
        if m:
            ws = next((w for w in self.workspaces if w["sid"] == m[1]), None)
            return (200, ws, {}) if ws else self._error(404, f"The requested resource {path} was not found", 20404)
        m = re.fullmatch(r"/v1/Workspaces/(WS\w+)/(TaskQueues|Tasks|Events)", path)
        if m:
            if m[1] not in {w["sid"] for w in self.workspaces}:
                return self._error(404, "workspace not found", 20404)
            if m[2] == "TaskQueues":
                return self._page(path, q, "task_queues", self.queues.get(m[1], []))
            if m[2] == "Tasks":
                rows = [
                    {**t, "attributes": None} if t["sid"] in self.list_hides_attributes else t
                    for t in self.tasks.get(m[1], [])
                ]
                return self._page(path, q, "tasks", rows)
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

    def _page_2010(
        self, path: str, q: dict[str, str], key: str, rows: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """A page of the 2010 API: the list under `key` and relative `*_page_uri`s."""
        size = int(q.get("PageSize", "50"))
        page = int(q.get("Page", "0"))
        chunk = rows[page * size : (page + 1) * size]

        def uri(p: int) -> str:
            keep = {k: v for k, v in q.items() if k not in ("Page", "PageToken")}
            keep.update({"Page": str(p), "PageSize": str(size), "PageToken": f"PT{p}"})
            return f"{path}?{urllib.parse.urlencode(keep)}"

        more = (page + 1) * size < len(rows)
        return (
            200,
            {
                key: chunk,
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": uri(page - 1) if page else None,
                "start": page * size,
                "uri": uri(page),
            },
            {},
        )

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
SERVICE = "GA" + "5" * 32  # the Intelligence service
CHAT_SERVICE = "IS" + "4" * 32
MESSAGING_SERVICE = "MG" + "6" * 32
BUSINESS_NUMBER = "+15550000000"


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def rfc2822(dt: datetime) -> str:
    """The 2010 API's date format: "Fri, 14 Oct 2016 21:56:34 +0000"."""
    return dt.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


@dataclass
class CallSpec:
    """One call: (speaker, text) lines; optional transfer after customer line k to a queue.

    `participants`: the transcript's channel names the participants with their roles (as a
    transcript created through the API can); False: `channel` has only `media_properties`, and
    `channel={}` with `media=False` too (automatic transcription; the spec's own examples).
    `customer_channel`: the media channel the customer speaks on; default where Twilio puts it
    without participants (2), else 1."""

    n: int
    lines: list[tuple[str, str]]
    start: datetime
    transfer_after: int | None = None  # index in `lines` of the customer line after which the human transferred
    transfer_queue: str = BILLING
    attributes: dict[str, Any] = field(default_factory=dict)
    with_task: bool = True
    customer_channel: int | None = None
    call_sid_in_key: bool = True  # False: only the recording links the transcript to the call
    participants: bool = True
    media: bool = True  # the channel names the recording (media_properties.source_sid)
    list_attributes: bool = True  # False: the Task listing carries attributes: null


def add_workspace(fake: FakeTwilio) -> None:
    links = {
        k: f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/{v}"
        for k, v in (("task_queues", "TaskQueues"), ("tasks", "Tasks"), ("events", "Events"))
    }
    fake.workspaces.append(
        {
            "sid": WS,
            "account_sid": fake.account_sid,
            "friendly_name": "Support",
            "date_created": "2026-01-05T10:00:00Z",
            "date_updated": "2026-01-05T10:00:00Z",
            "default_activity_name": "Offline",
            "default_activity_sid": "WA" + "1" * 32,
            "event_callback_url": "",
            "events_filter": None,
            "multi_task_enabled": True,
            "prioritize_queue_order": "FIFO",
            "timeout_activity_name": "Offline",
            "timeout_activity_sid": "WA" + "1" * 32,
            "url": f"https://taskrouter.twilio.com/v1/Workspaces/{WS}",
            "links": links,
        }
    )
    fake.queues[WS] = [
        {
            "sid": s,
            "account_sid": fake.account_sid,
            "friendly_name": n,
            "workspace_sid": WS,
            "assignment_activity_name": None,
            "assignment_activity_sid": None,
            "max_reserved_workers": 1,
            "reservation_activity_name": None,
            "reservation_activity_sid": None,
            "target_workers": None,
            "task_order": "FIFO",
            "date_created": "2026-01-05T10:00:00Z",
            "date_updated": "2026-01-05T10:00:00Z",
            "url": f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/TaskQueues/{s}",
            "links": {},
        }
        for s, n in QUEUES.items()
    ]
    fake.tasks.setdefault(WS, [])
    fake.events.setdefault(WS, [])


def _event(fake: FakeTwilio, n: int, etype: str, at: datetime, data: dict[str, Any]) -> None:
    ev = sid("EV", len(fake.events[WS]) + 1 + n * 10)
    fake.events[WS].append(
        {
            "sid": ev,
            "account_sid": fake.account_sid,
            "workspace_sid": WS,
            "actor_sid": WS,
            "actor_type": "workspace",
            "actor_url": f"https://taskrouter.twilio.com/v1/Workspaces/{WS}",
            "description": f"Task {data['task_sid']} {etype}",
            "event_type": etype,
            "event_date": iso(at),
            "event_date_ms": int(at.timestamp() * 1000),
            "event_data": data,
            "resource_type": "task",
            "resource_sid": data["task_sid"],
            "resource_url": f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Tasks/{data['task_sid']}",
            "source": "twilio",
            "source_ip_address": "127.0.0.1",
            "url": f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Events/{ev}",
        }
    )


def _task(
    fake: FakeTwilio, task: str, attrs: dict[str, Any], at: datetime, channel: str, *, list_attributes: bool = True
) -> None:
    fake.tasks[WS].append(
        {
            "sid": task,
            "account_sid": fake.account_sid,
            "workspace_sid": WS,
            "age": 25200,
            "assignment_status": "completed",
            "attributes": json.dumps(attrs),
            "date_created": iso(at),
            "date_updated": iso(at + timedelta(minutes=5)),
            "task_queue_entered_date": iso(at),
            "virtual_start_time": iso(at),
            "priority": 0,
            "reason": "completed",
            "timeout": 86400,
            "task_queue_sid": FRONT,
            "task_queue_friendly_name": QUEUES[FRONT],
            "task_channel_sid": "TC" + "2" * 32,
            "task_channel_unique_name": channel,
            "workflow_sid": "WW" + "3" * 32,
            "workflow_friendly_name": "Default",
            "ignore_capacity": False,
            "routing_target": None,
            "addons": "{}",
            "url": f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Tasks/{task}",
            "links": {},
        }
    )
    if not list_attributes:
        fake.list_hides_attributes.add(task)


def add_call(fake: FakeTwilio, spec: CallSpec) -> dict[str, str]:
    """A finished call: transcript (with or without participant roles), sentences 3 s apart, its
    Recording, and its task with queue-entered and (optionally) transfer events at the right moment."""
    call, transcript, task, rec = sid("CA", spec.n), sid("GT", spec.n), sid("WT", spec.n), sid("RE", spec.n)
    customer_channel = spec.customer_channel or (1 if spec.participants else 2)
    agent_channel = 2 if customer_channel == 1 else 1
    channel: dict[str, Any] = {"media_properties": {"source_sid": rec}} if spec.media else {}
    if spec.participants:
        channel["participants"] = [
            {
                "channel_participant": customer_channel,
                "role": "Customer",
                "user_id": f"cust-{spec.n}",
                "media_participant_id": f"+1555{spec.n:07d}",
            },
            {"channel_participant": agent_channel, "role": "Agent", "user_id": "agent-7", "full_name": "A. Agent"},
        ]
    url = f"https://intelligence.twilio.com/v2/Transcripts/{transcript}"
    fake.transcripts.append(
        {
            "account_sid": fake.account_sid,
            "service_sid": SERVICE,
            "sid": transcript,
            "date_created": iso(spec.start + timedelta(minutes=10)),
            "date_updated": iso(spec.start + timedelta(minutes=11)),
            "status": "completed",
            "channel": channel,
            "data_logging": False,
            "language_code": "en-US",
            "customer_key": call if spec.call_sid_in_key else (None if spec.n % 2 else f"crm-{spec.n}"),
            "media_start_time": iso(spec.start),
            "duration": 3 * len(spec.lines),
            "url": url,
            "redaction": False,
            "encryption_credential_sid": None,
            "links": {
                k: f"{url}/{v}"
                for k, v in (("sentences", "Sentences"), ("media", "Media"), ("operator_results", "OperatorResults"))
            },
        }
    )
    fake.recordings[rec] = {
        "account_sid": fake.account_sid,
        "api_version": "2010-04-01",
        "call_sid": call,
        "conference_sid": None,
        "channels": 2,
        "date_created": rfc2822(spec.start),
        "date_updated": rfc2822(spec.start),
        "start_time": rfc2822(spec.start),
        "price": "-0.00250",
        "price_unit": "USD",
        "duration": str(3 * len(spec.lines)),
        "sid": rec,
        "source": "DialVerb",
        "status": "completed",
        "error_code": None,
        "encryption_details": None,
        "media_url": f"https://api.twilio.com/2010-04-01/Accounts/{fake.account_sid}/Recordings/{rec}",
        "uri": f"/2010-04-01/Accounts/{fake.account_sid}/Recordings/{rec}.json",
        "subresource_uris": {},
    }
    fake.sentences[transcript] = [
        {
            "media_channel": customer_channel if who == "customer" else agent_channel,
            "sentence_index": i,
            "start_time": f"{3.0 * i:.2f}",
            "end_time": f"{3.0 * i + 2.5:.2f}",
            "transcript": text,
            "sid": sid("GX", spec.n * 1000 + i),
            "confidence": "0.93",
            "words": [{"word": w, "start_time": None, "end_time": None} for w in text.split()],
        }
        for i, (who, text) in enumerate(spec.lines)
    ]
    if spec.with_task:
        attrs = {"call_sid": call, "from": f"+1555{spec.n:07d}", "direction": "inbound", "type": "inbound"}
        attrs.update(spec.attributes)
        _task(fake, task, attrs, spec.start, "voice", list_attributes=spec.list_attributes)
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


DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def phone_call(topic: str) -> list[tuple[str, str]]:
    """A call as it sounds: the business answers, the customer asks."""
    return [
        ("agent", "Thank you for calling Acme Health, this is Sam, how can I help?"),
        ("customer", f"Hi, I'm calling about {topic}."),
        ("agent", "Sure, let me look that up."),
        ("customer", "Thanks, that would be great."),
    ]


def roleless_tenant(n_calls: int = 3, *, customer_channel: int | None = None) -> FakeTwilio:
    """Automatic transcription of recorded calls: no participants on any transcript, `channel`
    empty or holding only the recording; one Task listed with attributes: null."""
    f = FakeTwilio()
    add_workspace(f)
    for n in range(1, n_calls + 1):
        add_call(
            f,
            CallSpec(
                n,
                phone_call(f"topic {n}"),
                DAY + timedelta(hours=n),
                participants=False,
                media=n % 2 == 1,
                customer_channel=customer_channel,
                list_attributes=n != 2,
            ),
        )
    return f


# -- chats ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A chat participant: bound by SMS/WhatsApp (binding + address) or a chat identity.

    `source`: the Source a live onMessageAdded carries for its messages (SMS, WHATSAPP, SDK, API)."""

    key: str  # what the dialogue lines call it: "customer", "agent", "frontdesk"...
    identity: str | None = None
    binding: str | None = None
    address: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def author(self) -> str:
        return self.identity or self.address or "system"

    @property
    def message_source(self) -> str:
        return self.source or (self.binding.upper() if self.binding else "SDK")


def sms_members(n: int) -> list[Member]:
    """The common SMS chat: the customer bound by SMS, an agent by chat identity."""
    return [Member("customer", binding="sms", address=f"+1555{n:07d}"), Member("agent", identity="agent.lee")]


@dataclass
class ChatSpec:
    """One conversation as Twilio holds it; `rest` is what the REST API serves, `webhooks`
    what the Conversations webhooks post for it, so import and live read the same chat."""

    n: int
    lines: list[tuple[str, str]]  # (member key, text)
    start: datetime
    members: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.members = self.members or sms_members(self.n)

    @property
    def conversation_sid(self) -> str:
        return sid("CH", self.n)

    def participant_sid(self, key: str) -> str:
        i = next(i for i, m in enumerate(self.members) if m.key == key)
        return sid("MB", self.n * 10 + i)

    def member(self, key: str) -> Member:
        return next(m for m in self.members if m.key == key)

    def at(self, i: int) -> datetime:
        return self.start + timedelta(seconds=20 * i)

    def participants(self, account_sid: str) -> list[dict[str, Any]]:
        conv = self.conversation_sid
        out = []
        for m in self.members:
            psid = self.participant_sid(m.key)
            binding = (
                {
                    "type": m.binding,
                    "address": m.address,
                    "proxy_address": BUSINESS_NUMBER if m.binding == "sms" else f"whatsapp:{BUSINESS_NUMBER}",
                }
                if m.binding
                else None
            )
            out.append(
                {
                    "account_sid": account_sid,
                    "conversation_sid": conv,
                    "sid": psid,
                    "identity": m.identity,
                    "attributes": json.dumps(m.attributes),
                    "messaging_binding": binding,
                    "role_sid": "RL" + "7" * 32,
                    "date_created": iso(self.start),
                    "date_updated": iso(self.start),
                    "url": f"https://conversations.twilio.com/v1/Conversations/{conv}/Participants/{psid}",
                    "last_read_message_index": None,
                    "last_read_timestamp": None,
                }
            )
        return out

    def messages(self, account_sid: str) -> list[dict[str, Any]]:
        conv = self.conversation_sid
        out = []
        for i, (who, text) in enumerate(self.lines):
            m = self.member(who)
            msid = sid("IM", self.n * 100 + i)
            out.append(
                {
                    "sid": msid,
                    "account_sid": account_sid,
                    "conversation_sid": conv,
                    "body": text,
                    "media": None,
                    "author": m.author,
                    "participant_sid": self.participant_sid(who),
                    "attributes": "{}",
                    "date_created": iso(self.at(i)),
                    "date_updated": iso(self.at(i)),
                    "index": i,
                    "delivery": None,
                    "content_sid": None,
                    "url": f"https://conversations.twilio.com/v1/Conversations/{conv}/Messages/{msid}",
                    "links": {},
                }
            )
        return out

    def conversation(self, account_sid: str) -> dict[str, Any]:
        conv = self.conversation_sid
        url = f"https://conversations.twilio.com/v1/Conversations/{conv}"
        return {
            "sid": conv,
            "account_sid": account_sid,
            "chat_service_sid": CHAT_SERVICE,
            "messaging_service_sid": MESSAGING_SERVICE,
            "friendly_name": f"chat {self.n}",
            "unique_name": None,
            "attributes": "{}",
            "state": "closed",
            "date_created": iso(self.start),
            "date_updated": iso(self.start + timedelta(minutes=5)),
            "timers": {"date_inactive": None, "date_closed": iso(self.start + timedelta(minutes=5))},
            "bindings": {},
            "url": url,
            "links": {k: f"{url}/{k.title()}" for k in ("participants", "messages", "webhooks")},
        }

    def webhooks(self, account_sid: str, *, participants: bool = True) -> list[dict[str, str]]:
        """The post-event webhooks (form fields) Twilio sends for this conversation, in order:
        onParticipantAdded per member (when subscribed), onMessageAdded per line, then closed."""
        conv = self.conversation_sid
        common = {"AccountSid": account_sid, "ChatServiceSid": CHAT_SERVICE, "ConversationSid": conv, "RetryCount": "0"}
        out: list[dict[str, str]] = []
        if participants:
            for p, m in zip(self.participants(account_sid), self.members, strict=True):
                ev = {
                    **common,
                    "EventType": "onParticipantAdded",
                    "ParticipantSid": p["sid"],
                    "DateCreated": iso(self.start),
                    "Attributes": p["attributes"],
                    "RoleSid": p["role_sid"],
                    "Source": m.message_source,
                }
                if p["messaging_binding"]:
                    b = p["messaging_binding"]
                    ev.update(
                        {
                            "MessagingBinding.Type": b["type"],
                            "MessagingBinding.Address": b["address"],
                            "MessagingBinding.ProxyAddress": b["proxy_address"],
                        }
                    )
                else:
                    ev["Identity"] = p["identity"]
                out.append(ev)
        for msg, (who, _text) in zip(self.messages(account_sid), self.lines, strict=True):
            m = self.member(who)
            ev = {
                **common,
                "EventType": "onMessageAdded",
                "MessageSid": msg["sid"],
                "Index": str(msg["index"]),
                "Author": msg["author"],
                "Body": msg["body"],
                "Attributes": "{}",
                "ParticipantSid": msg["participant_sid"],
                "DateCreated": msg["date_created"].replace("Z", ".000Z"),
                "MessagingServiceSid": MESSAGING_SERVICE,
                "Source": m.message_source,
            }
            if m.message_source == "SDK":
                ev["ClientIdentity"] = m.author
            out.append(ev)
        out.append(
            {
                **common,
                "EventType": "onConversationStateUpdated",
                "StateFrom": "active",
                "StateTo": "closed",
                "Reason": "API",
                "Source": "API",
                "MessagingServiceSid": MESSAGING_SERVICE,
                "StateUpdated": iso(self.start + timedelta(minutes=5)),
            }
        )
        return out


def add_chat_spec(fake: FakeTwilio, spec: ChatSpec) -> None:
    conv = spec.conversation_sid
    fake.conversations.append(spec.conversation(fake.account_sid))
    fake.participants[conv] = spec.participants(fake.account_sid)
    fake.messages[conv] = spec.messages(fake.account_sid)


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
    members: list[Member] | None = None,
) -> dict[str, str]:
    """A closed conversation (default: customer bound by SMS, agent by chat identity; messages
    20 s apart) and its Flex messaging task."""
    spec = ChatSpec(n, lines, start, members or [])
    add_chat_spec(fake, spec)
    conv, task = spec.conversation_sid, sid("WT", 10_000 + n)
    customer = next((m for m in spec.members if m.binding), spec.members[0])
    if with_task:
        attrs = {
            "conversationSid": conv,
            "channelType": customer.binding or "web",
            "customerAddress": customer.address or customer.identity,
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
    attrs = {"call_sid": call}
    _task(fake, task, attrs, at, "voice")
    _event(
        fake,
        20_000 + n,
        "task-queue.entered",
        at,
        {
            "task_sid": task,
            "task_attributes": json.dumps(attrs),
            "task_queue_sid": FRONT,
            "task_queue_name": QUEUES[FRONT],
        },
    )
    return call
