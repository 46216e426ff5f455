"""Twilio webhook payloads -> small typed events. Nothing past this module sees a Twilio field name.

Field names and their certainty: ../shared/reference/twilio-wire-formats.md (sections 1, 4, 5).
The event log keeps each request's raw parameters, so a parsing fix applies on the next
restart to every call not yet scored.

Tampering. Twilio signs a form as the URL followed by every name and value run together
(`Track` `inbound_track` -> `Trackinbound_track`), so a captured request stays validly
signed when characters move across a name/value boundary (`Trac=kinbound_track`). Each
route therefore knows the names Twilio documents for it (`KNOWN`) and refuses a name that
is a piece of a known name or a known name with characters stuck to it (and a known name
whose value begins with the rest of a longer known name): that is what a moved boundary
looks like; so is a value holding a known name that is not sent and sorts right after its own
(`check_swallowed`: the pair after it taken whole). Other unknown names are accepted, because
Twilio adds fields over time and a 400 would lose a real event. Deduplication keys are made
only of fields the route reads, so moving characters between fields it does not read yields the
same key: a duplicate.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from ...transcripts.twilio.chat_parties import Party, party_from_webhook
from ...transcripts.twilio.human import TaskRouterEvent, as_int
from ...when import epoch_of, event_time

Route = Literal["transcriptions", "conversations", "taskrouter"]
ROUTES: dict[str, Route] = {
    "/twilio/transcriptions": "transcriptions",
    "/twilio/conversations": "conversations",
    "/twilio/taskrouter": "taskrouter",
}
SELFTEST_FIELD = "ShadowpilotSelftest"  # our own marker on `shadow selftest` events; Twilio never sends it

# The fields each route reads: content keys are made of these only (so RetryCount, which a
# redelivery changes, and every field not read are left out).
READS: dict[Route, frozenset[str]] = {
    "transcriptions": frozenset(
        {
            "CallSid",
            "TranscriptionSid",
            "TranscriptionEvent",
            "SequenceId",
            "Timestamp",
            "Track",
            "TranscriptionData",
            "Final",
            "ErrorCode",
            "ErrorMessage",
            "TranscriptionErrorCode",
            "TranscriptionError",
            SELFTEST_FIELD,
        }
    ),
    "conversations": frozenset(
        {
            "EventType",
            "ConversationSid",
            "MessageSid",
            "Index",
            "Author",
            "Body",
            "ParticipantSid",
            "Source",
            "StateTo",
            "Identity",
            "Attributes",
            "MessagingBinding.Type",
            "MessagingBinding.Address",
            SELFTEST_FIELD,
        }
    ),
    "taskrouter": frozenset(
        {
            "EventType",
            "TaskSid",
            "ResourceType",
            "ResourceSid",
            "TaskAttributes",
            "TimestampMs",
            "Timestamp",
            "TaskQueueSid",
            "TaskQueueName",
            "TaskPriority",
            "TaskChannelUniqueName",
            "TransferTo",
            "TransferTargetSid",
            "TransferType",
            SELFTEST_FIELD,
        }
    ),
}
# Every name Twilio documents for the route (wire-format reference 1.3, 4.1, 5.2): the ones read,
# and the others, which are ignored but must not be mistaken for a tampered name.
KNOWN: dict[Route, frozenset[str]] = {
    "transcriptions": READS["transcriptions"]
    | {
        "AccountSid",
        "LanguageCode",
        "Stability",
        "ProviderConfiguration",
        "RetryCount",
    },
    "conversations": READS["conversations"]
    | {
        "AccountSid",
        "ChatServiceSid",
        "ClientIdentity",
        "RetryCount",
        "WebhookSid",
        "WebhookType",
        "DateCreated",
        "DateUpdated",
        "Media",
        "MessagingServiceSid",
        "StateFrom",
        "StateUpdated",
        "Reason",
        "RoleSid",
        "MessagingBinding.ProxyAddress",
        "MessagingBinding.ProjectedAddress",
        "MessagingBinding.AuthorAddress",
        "MessagingBinding.Level",
        "MessagingBinding.Name",
        "LastReadMessageIndex",
        "LastReadTimestamp",
        "FriendlyName",
        "UniqueName",
        "State",
        "MessageBody",
    },
    "taskrouter": READS["taskrouter"]
    | {
        "AccountSid",
        "WorkspaceSid",
        "WorkspaceName",
        "EventDescription",
        "TaskAge",
        "TaskAssignmentStatus",
        "TaskChannelSid",
        "TaskQueueTargetExpression",
        "TaskQueueEnteredDate",
        "TaskDateCreated",
        "TaskCanceledReason",
        "TaskCompletedReason",
        "TaskVersion",
        "TaskTimeout",
        "WorkflowSid",
        "WorkflowName",
        "WorkerSid",
        "WorkerName",
        "WorkerAttributes",
        "WorkerActivitySid",
        "WorkerActivityName",
        "WorkerPreviousActivitySid",
        "WorkerPreviousActivityName",
        "WorkerTimeInPreviousActivity",
        "WorkerTimeInPreviousActivityMs",
        "WorkerVersion",
        "ReservationSid",
        "ReservationTimeout",
        "ReservationVersion",
        "TransferMode",
        "TransferStatus",
        "TransferSid",
        "TransferStarted",
        "TransferInitiatingWorkerSid",
        "TransferInitiatingReservationSid",
        "TransferFailedReason",
        "ActivitySid",
        "ActivityName",
        "ActivityAvailable",
        "TargetChangedReason",
        "RetryCount",
    },
}
# Twilio's SID formats, from its OpenAPI specs (twilio-oai: each Sid property's `pattern`, e.g.
# `^CA[0-9a-fA-F]{32}$`): two capital letters naming the resource, then 32 hex digits. The fields
# checked are the ids each route reads or that say whose event it is; a value of another shape is
# no event Twilio sent (a name/value boundary moved into it, a forged id): 400, naming the field.
# Empty values are left alone (a system message carries no ParticipantSid).
SID_PREFIXES: dict[Route, dict[str, str]] = {
    "transcriptions": {"AccountSid": "AC", "CallSid": "CA", "TranscriptionSid": "GT"},
    "conversations": {
        "AccountSid": "AC",
        "ConversationSid": "CH",
        "MessageSid": "IM",
        "ParticipantSid": "MB",
        "ChatServiceSid": "IS",
        "MessagingServiceSid": "MG",
        "WebhookSid": "WH",
    },
    "taskrouter": {
        "AccountSid": "AC",
        "WorkspaceSid": "WS",
        "TaskSid": "WT",
        "TaskQueueSid": "WQ",
        "WorkerSid": "WK",
        "ReservationSid": "WR",
        "WorkflowSid": "WW",
        "TaskChannelSid": "TC",
    },
}
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def check_sids(route: Route, params: dict[str, Any]) -> None:
    """Refuse a Sid field whose value is not the shape Twilio's spec gives it (BadPayload names
    the field and the shape). A task's ResourceSid is a TaskSid when ResourceType is `task`."""
    prefixes = SID_PREFIXES[route]
    fields = list(prefixes.items())
    if route == "taskrouter" and (_s(params.get("ResourceType")) or "").lower() == "task":
        fields.append(("ResourceSid", "WT"))
    for name, prefix in fields:
        value = params.get(name)
        if value is None or value == "":
            continue
        text = _s(value) or ""
        if not (text.startswith(prefix) and _SID.fullmatch(text)):
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise BadPayload(f"field {name}: expected {prefix} and 32 hex digits (a Twilio {name}), got {shown!r}")


MAX_JSON_DEPTH = 32  # TaskAttributes and TranscriptionData are shallow; deeper is not Twilio's

SpokenKind = Literal["started", "utterance", "partial", "stopped", "error", "closed", "other"]


class BadPayload(ValueError):
    """A signed request whose fields are not what its route expects (answered 400, not logged)."""


@dataclass(frozen=True)
class Spoken:
    """An event in a call's own sequence: a transcription callback or a chat message."""

    call_id: str
    channel: Literal["voice", "chat"]
    stream: str  # the TranscriptionSid (voice) or ConversationSid (chat): SequenceId/Index count within it
    seq: int | None  # None: not part of the sequence (a chat state change)
    kind: SpokenKind
    track: str | None = None  # voice: inbound_track / outbound_track
    author: str | None = None  # chat: the message author
    text: str | None = None
    at: float | None = None  # when Twilio says it happened (epoch s); None: place it by receipt time
    error: str | None = None  # transcription-error: Twilio's code and message
    selftest: bool = False  # sent by `shadowpilot shadow selftest`, not by Twilio
    participant: str | None = None  # chat: the author's ParticipantSid (MB...), None for system/API messages
    source: str | None = None  # chat: how the message came in (SMS, WHATSAPP, SDK, API)


@dataclass(frozen=True)
class ChatParticipant:
    """onParticipantAdded/-Updated: who a chat participant is (binding, identity, attributes)."""

    call_id: str  # the ConversationSid
    party: Party


@dataclass(frozen=True)
class TaskEvent:
    """A TaskRouter callback about a task, in the typed form the import reads too (human.py)."""

    call_id: str | None  # from the task's attributes, when this event carries them
    event: TaskRouterEvent


@dataclass(frozen=True)
class Parsed:
    key: str  # the deduplication key: one event, however often Twilio delivers it
    event: Spoken | TaskEvent | ChatParticipant


def _s(value: Any) -> str | None:
    """A parameter as text: form values are strings; JSON bodies may carry numbers or objects."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _depth(value: Any) -> int:
    """How deeply containers nest in `value`, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_depth(value: Any, name: str) -> None:
    if _depth(value) > MAX_JSON_DEPTH:
        raise BadPayload(f"field {name}: JSON nested deeper than {MAX_JSON_DEPTH} levels")


def json_value(text: str, name: str) -> Any:
    """JSON text as Python, or BadPayload naming the field (never a RecursionError: a 500)."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise BadPayload(f"field {name}: not JSON (or nested too deeply)") from None
    check_depth(obj, name)
    return obj


def _json_obj(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, dict):
        check_depth(value, name)
        return value
    text = _s(value)
    if not text:
        return {}
    obj = json_value(text, name)
    if not isinstance(obj, dict):
        raise BadPayload(f"field {name}: expected a JSON object")
    return obj


_DIGITS = re.compile(r"[0-9]{1,18}")


def _int(value: Any, name: str) -> int:
    """Digits only: int() would also take `1_0`, ` 7`, `+7` and `٣` (the same event under
    another key, a tampered copy)."""
    text = _s(value) if not isinstance(value, bool) else None
    if text is None or not _DIGITS.fullmatch(text):
        raise BadPayload(f"field {name}: expected an integer (digits only), got {value!r}")
    return int(text)


# For each known name, the longer known names it begins (`Timestamp`: `TimestampMs`), worked out
# once: check_names runs on every webhook and for every event a restart replays.
_LONGER: dict[Route, dict[str, tuple[str, ...]]] = {
    route: {name: tuple(o for o in names if len(o) > len(name) and o.startswith(name)) for name in names}
    for route, names in KNOWN.items()
}


def check_names(route: Route, params: dict[str, Any]) -> None:
    """Refuse a parameter name that only a boundary moved between names and values makes
    (see the module docstring); BadPayload names it and the known name it was cut from."""
    known, longer_names = KNOWN[route], _LONGER[route]
    for name, value in params.items():
        if name in known:
            rest = _s(value) if isinstance(value, str) else None
            for other in longer_names[name]:
                if other not in params and rest is not None and (name + rest).startswith(other):
                    raise BadPayload(f"parameter {name}: its value starts with the rest of {other} (a tampered copy)")
            continue
        for other in known:
            if other.startswith(name) or name.startswith(other) or other.endswith(name) or name.endswith(other):
                raise BadPayload(
                    f"parameter {name!r} is not one Twilio sends to this route: it is {other} with characters "
                    "moved between a name and a value (a tampered copy)"
                )
    check_swallowed(route, params)


# The names whose text in a value shows it swallowed the pairs after it: CamelCase compounds and
# Timestamp. Single words (Final, Body, Index, Source...) may be free text, so they are not evidence.
_SWALLOWABLE: dict[Route, list[str]] = {
    route: sorted(n for n in names if n == "Timestamp" or sum(c.isupper() for c in n) >= 2)
    for route, names in KNOWN.items()
}


# A route's read fields that hold short names, not prose, and so must hold no name Twilio could
# have sent after them, documented or not (it sends undocumented ones: "do not validate against
# other attributes that you may see", its TaskRouter Event resource page). Their enumerated values
# (TransferType QUEUE, ResourceType Worker...) are what Twilio sends, never a swallowed name.
_NAME_FIELDS: dict[Route, dict[str, frozenset[str]]] = {
    "taskrouter": {
        "EventType": frozenset(),
        "ResourceType": frozenset({"Task", "Reservation", "Worker", "Activity", "Workflow", "Workspace"}),
        "TaskQueueName": frozenset(),
        "TaskChannelUniqueName": frozenset(),
        "TransferTo": frozenset(),
        "TransferType": frozenset({"QUEUE", "WORKER"}),
    },
}
_NAME_LIKE = re.compile(r"[A-Z][A-Za-z0-9.]*")


def check_swallowed(route: Route, params: dict[str, Any]) -> None:
    """Refuse a value that took the name and value after it (`A=x&B=y` -> `A=xBy`, the same
    signature: Twilio signs the names in sorted order, run together with their values). The sign
    is a name in the value that is not sent and sorts between this name and the next one sent:
    only a swallowed pair puts it there. In any value, a known name is that sign; in a short-name
    field (`_NAME_FIELDS`), any capitalised word is, so an undocumented pair swallowed whole
    (`TaskQueueName=front-deskTaskQueueNewx`) is caught too. A task event is keyed by the fields it
    reads, so such a copy would be a new event (its queue name changed, its queue sid gone)."""
    names = sorted(params)
    evidence = _SWALLOWABLE[route]
    short = _NAME_FIELDS.get(route, {})
    for i, name in enumerate(names):
        value = params[name]
        if not isinstance(value, str) or not value:
            continue
        after = names[i + 1] if i + 1 < len(names) else None
        lo = bisect.bisect_right(evidence, name)
        hi = bisect.bisect_left(evidence, after) if after is not None else len(evidence)
        for other in evidence[lo:hi]:
            if other in value:
                raise BadPayload(
                    f"parameter {name}: its value holds {other}, a name Twilio sends after it and did not "
                    "send here (a tampered copy)"
                )
        if name in short and value not in short[name]:
            for word in _NAME_LIKE.findall(value):
                if name < word and (after is None or word < after):
                    raise BadPayload(
                        f"parameter {name}: its value holds {word!r}, which sorts as a name sent after it "
                        "would (a tampered copy: the pair after it taken into its value)"
                    )


def _required(params: dict[str, Any], name: str) -> str:
    value = _s(params.get(name))
    if not value:
        raise BadPayload(f"field {name} is missing")
    return value


def content_key(prefix: str, route: Route, params: dict[str, Any]) -> str:
    """A key for an event without an id of its own: a digest of the fields its route reads."""
    body = {k: _s(v) for k, v in params.items() if k in READS[route]}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
    return f"{prefix}:{digest}"


RTT_KINDS: dict[str, SpokenKind] = {
    "transcription-started": "started",
    "transcription-content": "utterance",  # or "partial": see Final below
    "transcription-stopped": "stopped",
    "transcription-error": "error",
}


def _error_text(params: dict[str, Any]) -> str:
    """transcription-error's ErrorCode and ErrorMessage (older write-ups name them TranscriptionErrorCode
    and TranscriptionError), as one line for the call record."""
    code = _s(params.get("ErrorCode")) or _s(params.get("TranscriptionErrorCode"))
    message = _s(params.get("ErrorMessage")) or _s(params.get("TranscriptionError"))
    return " ".join(x for x in (f"[{code}]" if code else None, message) if x) or "no error details given"


def parse_transcription(params: dict[str, Any]) -> Parsed:
    """A Real-Time Transcription callback (form-encoded; TranscriptionData is a JSON string).

    started/content/stopped carry SequenceId, which orders them within their TranscriptionSid
    and, with the CallSid and TranscriptionSid (then all three required), deduplicates them;
    transcription-error carries none (ErrorCode, ErrorMessage, Timestamp), so it is keyed by
    the fields read. A content event is a partial result only when Final is "false"
    (sent with partialResults=true); without Final it is taken as final, so no words are dropped.
    Timestamp (ISO 8601 or epoch s/ms) places the event; unreadable or absent, receipt time does.
    """
    check_names("transcriptions", params)
    call_id = _required(params, "CallSid")
    event = _required(params, "TranscriptionEvent")
    kind: SpokenKind = RTT_KINDS.get(event, "other")
    raw_seq = _s(params.get("SequenceId"))
    # content must be ordered, so its SequenceId is required; the markers are taken without one
    seq = _int(raw_seq, "SequenceId") if raw_seq is not None or kind == "utterance" else None
    # keyed by sequence: the TranscriptionSid is part of the key, so it must be there
    stream = _required(params, "TranscriptionSid") if seq is not None else _s(params.get("TranscriptionSid")) or call_id
    text = error = None
    if kind == "utterance":
        data = _json_obj(params.get("TranscriptionData"), "TranscriptionData")
        text = str(data.get("transcript") or "").strip()
        final = (_s(params.get("Final")) or "true").strip().lower() != "false"
        kind = "utterance" if final and text else "partial"
    elif kind == "error":
        error = _error_text(params)
    spoken = Spoken(
        call_id,
        "voice",
        stream,
        seq,
        kind,
        track=_s(params.get("Track")),
        text=text,
        at=epoch_of(params.get("Timestamp")),
        error=error,
        selftest=(_s(params.get(SELFTEST_FIELD)) or "").lower() == "true",
    )
    key = f"rtt:{call_id}:{stream}:{seq}" if seq is not None else content_key(f"rtt-{kind}", "transcriptions", params)
    return Parsed(key, spoken)


def parse_conversation(params: dict[str, Any]) -> Parsed | None:
    """A Conversations (v1) post-event webhook; None for events that do not change the conversation.

    Messages keep their ParticipantSid and Source and participants their binding, identity and
    attributes: the evidence transcripts/twilio/chat_parties reads to tell the customer."""
    event = _s(params.get("EventType"))
    closing = event == "onConversationStateUpdated" and (_s(params.get("StateTo")) or "").lower() == "closed"
    if event not in ("onMessageAdded", "onParticipantAdded", "onParticipantUpdated") and not closing:
        return None
    check_names("conversations", params)
    if event == "onMessageAdded":
        conv = _required(params, "ConversationSid")
        message = _required(params, "MessageSid")  # with the conversation, the key
        index = _int(params.get("Index"), "Index")
        body = (_s(params.get("Body")) or "").strip()
        kind: SpokenKind = "utterance" if body else "other"  # a media-only message carries no words to judge
        spoken = Spoken(
            conv,
            "chat",
            conv,
            index,
            kind,
            author=_s(params.get("Author")) or "system",
            text=body,
            participant=_s(params.get("ParticipantSid")),
            source=_s(params.get("Source")),
        )
        return Parsed(f"chat:{conv}:{message}", spoken)
    if event in ("onParticipantAdded", "onParticipantUpdated"):
        conv = _required(params, "ConversationSid")
        if isinstance(params.get("Attributes"), str) and params["Attributes"].strip():
            json_value(params["Attributes"], "Attributes")  # nesting bounded before chat_parties reads it
        party = party_from_webhook(params)
        if party is None:
            raise BadPayload("field ParticipantSid is missing")
        return Parsed(content_key("chat-party", "conversations", params), ChatParticipant(conv, party))
    conv = _required(params, "ConversationSid")
    return Parsed(content_key("chat-state", "conversations", params), Spoken(conv, "chat", conv, None, "closed"))


def parse_taskrouter(params: dict[str, Any], call_keys: list[str]) -> Parsed | None:
    """A TaskRouter event callback; None for events about no task (workers, activities...).

    Time: `TimestampMs` when sent (seen in third-party handlers, unverified), else `Timestamp`
    (epoch seconds or ISO: unverified, both read). Transfer fields: `TransferTo`/`TransferType`
    (PascalCase of the REST names; unverified, wire-format reference 5.2)."""
    task_sid = _s(params.get("TaskSid"))
    if not task_sid and (_s(params.get("ResourceType")) or "").lower() == "task":
        task_sid = _s(params.get("ResourceSid"))
    if not task_sid:
        return None
    check_names("taskrouter", params)
    event_type = _required(params, "EventType")
    attrs = _json_obj(params.get("TaskAttributes"), "TaskAttributes") if params.get("TaskAttributes") else None
    call_id = next((str(attrs[k]) for k in call_keys if attrs.get(k)), None) if attrs else None
    at, precision = event_time(_s(params.get("TimestampMs")))
    if at is None:
        at, precision = event_time(_s(params.get("Timestamp")))
    event = TaskRouterEvent(
        task_sid=task_sid,
        kind=event_type,
        at=at,
        at_precision_s=precision,
        queue_sid=_s(params.get("TaskQueueSid")),
        queue_name=_s(params.get("TaskQueueName")),
        attributes=attrs,
        priority=as_int(_s(params.get("TaskPriority"))),
        channel=_s(params.get("TaskChannelUniqueName")),
        transfer_to=_s(params.get("TransferTo")) or _s(params.get("TransferTargetSid")),
        transfer_type=_s(params.get("TransferType")),
    )
    return Parsed(content_key("task", "taskrouter", params), TaskEvent(call_id, event))


def parse(route: Route, params: dict[str, Any], call_keys: list[str]) -> Parsed | None:
    if route == "transcriptions":
        return parse_transcription(params)
    if route == "conversations":
        return parse_conversation(params)
    return parse_taskrouter(params, call_keys)
