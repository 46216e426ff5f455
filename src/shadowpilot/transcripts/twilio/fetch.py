"""REST pulls with an injected `twilio.rest.Client`: transcripts, chats, tasks and their events.

Listings follow the SDK's paging (meta.next_page_url); rate limits are retried below the SDK
(http.py). One call or chat that fails (a 404 on its sentences, say) is recorded as a Failure
and the others go on; a failure of a whole listing (bad credentials, no such workspace) stops
the import with a clear error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from ...config import TwilioSettings
from ...errors import UsageError
from .mapping import parse_when, tasks_from
from .records import CallRecord, ChatRecord, Failure, Fetched, Payload, TaskInfo

# stage ("calls" | "chats" | "outcomes"), done, total (None while still listing)
ProgressFn = Callable[[str, int, int | None], None]

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
# TaskRouter events of a transfer can come a while after the call started; look this far past --until.
EVENT_MARGIN = timedelta(days=1)

TRANSCRIPT_FIELDS = (
    "sid",
    "service_sid",
    "status",
    "channel",
    "customer_key",
    "media_start_time",
    "date_created",
    "duration",
    "language_code",
)
SENTENCE_FIELDS = ("sid", "media_channel", "sentence_index", "start_time", "end_time", "transcript", "confidence")
CONVERSATION_FIELDS = ("sid", "friendly_name", "unique_name", "attributes", "state", "date_created", "date_updated")
MESSAGE_FIELDS = ("sid", "index", "author", "body", "participant_sid", "date_created", "attributes")
PARTICIPANT_FIELDS = ("sid", "identity", "attributes", "messaging_binding")
TASK_FIELDS = (
    "sid",
    "attributes",
    "date_created",
    "priority",
    "task_queue_sid",
    "task_queue_friendly_name",
    "task_channel_unique_name",
    "assignment_status",
)
EVENT_FIELDS = ("sid", "event_type", "event_date", "event_date_ms", "event_data", "resource_type", "resource_sid")


def dump(instance: Any, fields: Iterable[str]) -> Payload:
    """An SDK instance back to a plain dict of the fields the mapping reads."""
    return {f: getattr(instance, f, None) for f in fields}


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(exc: Exception) -> int | None:
    """The HTTP status behind an SDK error: TwilioRestException carries it; a failed *page* of a
    listing raises a bare TwilioException("Unable to fetch page", response) instead."""
    if isinstance(exc, TwilioRestException):
        return exc.status
    response = exc.args[1] if len(exc.args) > 1 else None
    return getattr(response, "status_code", None)


def _describe(exc: Exception) -> str:
    if isinstance(exc, TwilioRestException):
        return f"HTTP {exc.status} (Twilio error {exc.code}): {exc.msg}"
    status = _status(exc)
    if status is not None:
        try:
            body = json.loads(exc.args[1].text)
            return f"HTTP {status} (Twilio error {body.get('code')}): {body.get('message')}"
        except (ValueError, AttributeError):
            return f"HTTP {status}"
    return f"{type(exc).__name__}: {exc}"


def _listing(what: str, fn: Callable[[], list[Any]], missing: str | None = None) -> list[Any]:
    """A whole listing; its failure stops the import with one line (exit 2): the credentials
    (401/403), the setting naming a resource Twilio does not have (404, `missing`), or Twilio's
    own failure. Unreachable hosts are told by http.py below the SDK."""
    try:
        return fn()
    except TwilioException as exc:  # TwilioRestException included
        status = _status(exc)
        if status == 401:
            raise UsageError(
                f"Twilio refused {what} (HTTP 401): the account sid or auth token is wrong; "
                "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            ) from None
        if status == 403:
            raise UsageError(
                f"Twilio refused {what} (HTTP 403, {_describe(exc)}): the credentials in TWILIO_ACCOUNT_SID "
                "and TWILIO_AUTH_TOKEN may not read this resource, or the product is not enabled on the account"
            ) from None
        if status == 404:
            raise UsageError(missing or f"Twilio has no {what} (HTTP 404): {_describe(exc)}") from None
        raise UsageError(f"Twilio failed while listing {what}: {_describe(exc)}; try again later") from None


def _in_window(when: datetime | None, since: datetime, until: datetime) -> bool:
    return when is None or since <= when < until


def _no_workspace(cfg: TwilioSettings) -> str | None:
    if not cfg.workspace_sid:
        return None
    return (
        f"[twilio] workspace_sid = {cfg.workspace_sid!r}: this Twilio account has no such TaskRouter "
        "workspace (HTTP 404); check the WS... sid in shadowpilot.toml, or remove it to use the account's "
        "only workspace"
    )


def resolve_workspace(client: Client, cfg: TwilioSettings) -> str:
    """The configured workspace (checked first, so a wrong sid fails before any call is fetched)
    or the account's only one."""
    if cfg.workspace_sid:
        ws = cfg.workspace_sid
        _listing("the TaskRouter workspace", lambda: [client.taskrouter.v1.workspaces(ws).fetch()], _no_workspace(cfg))
        return ws
    found = _listing("TaskRouter workspaces", lambda: list(client.taskrouter.v1.workspaces.stream(limit=2)))
    if len(found) == 1:
        return str(found[0].sid)
    if not found:
        raise UsageError("this Twilio account has no TaskRouter workspace; set [twilio] workspace_sid")
    raise UsageError("this Twilio account has several TaskRouter workspaces; set [twilio] workspace_sid")


def _limited(items: Iterable[Any], limit: int | None) -> tuple[list[Any], bool]:
    out: list[Any] = []
    for item in items:
        if limit is not None and len(out) >= limit:
            return out, True
        out.append(item)
    return out, False


def _fetch_call(client: Client, cfg: TwilioSettings, transcript: Payload) -> CallRecord | Failure:
    sid = transcript["sid"]
    key = transcript.get("customer_key")
    try:
        sentences = [
            dump(s, SENTENCE_FIELDS)
            for s in client.intelligence.v2.transcripts(sid).sentences.stream(redacted=False, page_size=cfg.page_size)
        ]
        call_sid = key if isinstance(key, str) and CALL_SID.match(key) else None
        if call_sid is None:
            call_sid = None
            source = ((transcript.get("channel") or {}).get("media_properties") or {}).get("source_sid")
            if isinstance(source, str) and source.startswith("RE"):
                call_sid = client.recordings(source).fetch().call_sid
    except (TwilioRestException, TwilioException) as exc:
        return Failure("call", sid, _describe(exc), key if isinstance(key, str) and CALL_SID.match(key) else None)
    return CallRecord(transcript=transcript, sentences=sentences, call_sid=call_sid)


def _fetch_chat(client: Client, cfg: TwilioSettings, conversation: Payload) -> ChatRecord | Failure:
    sid = conversation["sid"]
    try:
        conv = client.conversations.v1.conversations(sid)
        messages = [dump(m, MESSAGE_FIELDS) for m in conv.messages.stream(order="asc", page_size=cfg.page_size)]
        participants = [dump(p, PARTICIPANT_FIELDS) for p in conv.participants.stream(page_size=cfg.page_size)]
    except (TwilioRestException, TwilioException) as exc:
        return Failure("chat", sid, _describe(exc), sid)
    return ChatRecord(conversation=conversation, messages=messages, participants=participants)


def _each(
    items: list[Payload],
    fn: Callable[[Payload], Any],
    concurrency: int,
    stage: str,
    progress: ProgressFn | None,
) -> list[Any]:
    """fn over items on a small thread pool, results in input order, progress as each finishes."""
    if progress:
        progress(stage, 0, len(items))
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(fn, item) for item in items]
        out = []
        for done, fut in enumerate(futures, start=1):
            out.append(fut.result())
            if progress:
                progress(stage, done, len(items))
    return out


def fetch_calls(
    client: Client,
    cfg: TwilioSettings,
    since: datetime,
    until: datetime,
    limit: int | None,
    progress: ProgressFn | None = None,
) -> tuple[list[CallRecord], list[Failure], bool]:
    kwargs: dict[str, Any] = {
        "after_start_time": iso(since),
        "before_start_time": iso(until),
        "status": "completed",
        "page_size": cfg.page_size,
    }
    if cfg.intelligence_service_sid:
        kwargs["service_sid"] = cfg.intelligence_service_sid

    def listing() -> list[Payload]:
        out = []
        for t in client.intelligence.v2.transcripts.stream(**kwargs):
            p = dump(t, TRANSCRIPT_FIELDS)
            # the server filters too; this guards against one that ignores a filter
            if p.get("status") == "completed" and _in_window(
                parse_when(p.get("media_start_time") or p.get("date_created")), since, until
            ):
                out.append(p)
                if progress:
                    progress("calls", 0, None)
            if limit is not None and len(out) > limit:
                break
        return out

    missing = None
    if cfg.intelligence_service_sid:
        missing = (
            f"[twilio] intelligence_service_sid = {cfg.intelligence_service_sid!r}: Twilio has no such "
            "Intelligence service on this account (HTTP 404); check the GA... sid in shadowpilot.toml, or "
            "remove it to import every service's transcripts"
        )
    transcripts, truncated = _limited(_listing("Intelligence transcripts", listing, missing), limit)
    results = _each(transcripts, lambda t: _fetch_call(client, cfg, t), cfg.concurrency, "calls", progress)
    return (
        [r for r in results if isinstance(r, CallRecord)],
        [r for r in results if isinstance(r, Failure)],
        truncated,
    )


def fetch_chats(
    client: Client,
    cfg: TwilioSettings,
    since: datetime,
    until: datetime,
    limit: int | None,
    progress: ProgressFn | None = None,
) -> tuple[list[ChatRecord], list[Failure], bool]:
    kwargs: dict[str, Any] = {"start_date": iso(since), "end_date": iso(until), "page_size": cfg.page_size}
    if len(cfg.conversation_states) == 1:
        kwargs["state"] = cfg.conversation_states[0]

    def listing() -> list[Payload]:
        out = []
        for c in client.conversations.v1.conversations.stream(**kwargs):
            p = dump(c, CONVERSATION_FIELDS)
            if p.get("state") in cfg.conversation_states and _in_window(
                parse_when(p.get("date_created")), since, until
            ):
                out.append(p)
            if limit is not None and len(out) > limit:
                break
        return out

    conversations, truncated = _limited(_listing("Conversations", listing), limit)
    results = _each(conversations, lambda c: _fetch_chat(client, cfg, c), cfg.concurrency, "chats", progress)
    return (
        [r for r in results if isinstance(r, ChatRecord)],
        [r for r in results if isinstance(r, Failure)],
        truncated,
    )


def fetch_tasks(
    client: Client,
    cfg: TwilioSettings,
    workspace_sid: str,
    since: datetime,
    until: datetime,
    progress: ProgressFn | None = None,
) -> list[TaskInfo]:
    """Tasks as the Task resource (while it still exists) and the workspace's Events tell them.

    TaskRouter deletes finished tasks after a while; its Events are kept ~30 days and carry the
    task's attributes, queue and transfers, so the events are the main source and the Task
    resource fills gaps."""
    ws = client.taskrouter.v1.workspaces(workspace_sid)
    if progress:
        progress("outcomes", 0, None)
    missing = _no_workspace(cfg)
    queues = {
        q.sid: q.friendly_name
        for q in _listing(
            "TaskRouter task queues", lambda: list(ws.task_queues.stream(page_size=cfg.page_size)), missing
        )
    }
    tasks = [
        dump(t, TASK_FIELDS)
        for t in _listing("TaskRouter tasks", lambda: list(ws.tasks.stream(page_size=cfg.page_size)), missing)
    ]
    if progress:
        progress("outcomes", 1, None)
    end = until + EVENT_MARGIN
    events = [
        dump(e, EVENT_FIELDS)
        for e in _listing(
            "TaskRouter events",
            lambda: list(ws.events.stream(start_date=since, end_date=end, page_size=cfg.page_size)),
            missing,
        )
    ]
    for t in tasks:  # the listing may leave attributes out; a single fetch has them
        if t.get("attributes") is None:
            try:
                t["attributes"] = ws.tasks(t["sid"]).fetch().attributes
            except (TwilioRestException, TwilioException):
                t["attributes"] = None
    if progress:
        progress("outcomes", 2, 2)
    return tasks_from(tasks, events, queues)


RECORDING_FIELDS = ("sid", "call_sid", "status", "channels", "media_url", "uri", "start_time", "conference_sid")
API = "https://api.twilio.com"
MAX_RECORDING_BYTES = 512 * 1024 * 1024  # transcripts/audio.MAX_AUDIO_BYTES: what an import reads


def _recording_of(client: Client, record: CallRecord) -> Payload | None:
    """The call's Recording: the one its transcript was made from (media_properties.source_sid,
    so its channels are the transcript's media channels), else the call's own completed
    recordings (dual-channel first); None when the call has none."""
    source = ((record.transcript.get("channel") or {}).get("media_properties") or {}).get("source_sid")
    if isinstance(source, str) and source.startswith("RE"):
        return dump(client.recordings(source).fetch(), RECORDING_FIELDS)
    if not record.call_sid:
        return None
    found = [dump(r, RECORDING_FIELDS) for r in client.recordings.stream(call_sid=record.call_sid, limit=20)]
    done = [r for r in found if r.get("status") in (None, "completed")]
    done.sort(key=lambda r: r.get("channels") != 2)
    return done[0] if done else None


def _media_url(client: Client, rec: Payload) -> str:
    """The Recording's WAV media: `<media_url>.wav` (Twilio's format extension), asking for both
    channels of a dual-channel one (a conference recording downloads mixed without it)."""
    base = rec.get("media_url") or API + str(rec.get("uri") or "").removesuffix(".json")
    if not base or base == API:
        base = f"{API}/2010-04-01/Accounts/{client.account_sid}/Recordings/{rec['sid']}"
    url = str(base).removesuffix(".json") + ".wav"
    return url + ("?RequestedChannels=2" if rec.get("channels") == 2 else "")


def fetch_recordings(
    client: Client, cfg: TwilioSettings, calls: list[CallRecord], folder: Path, progress: ProgressFn | None = None
) -> None:
    """`import twilio --audio`: each call's Recording downloaded into `folder` (a private temporary
    folder), set on its record; a call without one keeps `recording` None. A failure (credentials,
    a recording Twilio no longer has, Twilio's own error) stops the import with one line, as a
    listing's does: the import is all or nothing."""
    from .http import MediaRefused, RetryingHttpClient, download

    http = client.http_client if isinstance(client.http_client, RetryingHttpClient) else RetryingHttpClient()
    auth = (client.username or "", client.password or "")

    def one(record: CallRecord) -> None:
        rec = _listing(
            f"the recording of call {record.call_sid or record.transcript['sid']}",
            lambda: [_recording_of(client, record)],
        )[0]
        if rec is None:
            return
        dest = folder / f"{rec['sid']}.wav"

        def get() -> list[int]:
            try:
                return [download(http, _media_url(client, rec), auth, dest, MAX_RECORDING_BYTES)]
            except MediaRefused as exc:
                if exc.status == 413:  # ours: larger than an import reads
                    raise UsageError(f"recording {rec['sid']}: {exc.text}; it was not imported") from None
                raise TwilioRestException(exc.status, str(rec["sid"]), _media_error(exc)) from None

        _listing(f"the media of recording {rec['sid']}", get)
        record.recording = dest

    _each(calls, one, cfg.concurrency, "recordings", progress)  # type: ignore[arg-type]


def _media_error(exc: Exception) -> str:
    text = getattr(exc, "text", "")
    try:
        body = json.loads(text)
        return str(body.get("message") or text)
    except ValueError:
        return text[:200] or str(exc)


def fetch_all(
    client: Client,
    cfg: TwilioSettings,
    since: datetime,
    until: datetime,
    limit: int | None = None,
    progress: ProgressFn | None = None,
    audio_folder: Path | None = None,
) -> Fetched:
    """Everything `import twilio` needs, for calls and chats that started in [since, until);
    with `audio_folder`, each call's Recording downloaded there too."""
    out = Fetched()
    workspace = resolve_workspace(client, cfg)
    if "calls" in cfg.sources:
        calls, failures, truncated = fetch_calls(client, cfg, since, until, limit, progress)
        out.calls, out.truncated = calls, truncated
        out.failures.extend(failures)
    if "chats" in cfg.sources:
        chats, failures, truncated = fetch_chats(client, cfg, since, until, limit, progress)
        out.chats, out.truncated = chats, out.truncated or truncated
        out.failures.extend(failures)
    out.tasks = fetch_tasks(client, cfg, workspace, since, until, progress)
    if audio_folder is not None:
        fetch_recordings(client, cfg, out.calls, audio_folder, progress)
    return out
