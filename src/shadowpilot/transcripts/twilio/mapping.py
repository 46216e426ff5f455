"""Twilio payloads -> Transcripts: speakers, turns, the join with TaskRouter, the human outcome.

Pure functions over records.py's plain dicts; no HTTP. Decisions on fields the wire-format
reference marks uncertain are commented where they are made.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from ...config import TwilioSettings
from ...errors import Problem
from ...types import Outcome, Speaker, Transcript, Turn
from ..validate import check_transcript, problems_from_validation
from . import chat_parties
from .chat_parties import attributes as parse_attributes  # one reading of Twilio's JSON attributes
from .records import CallRecord, ChatRecord, Fetched, Payload, SpeakerReport, TaskInfo, Transfer, Unjoined
from .swap_check import looks_swapped, mostly_swapped

EPOCH = datetime.min.replace(tzinfo=UTC)  # sorts records without a time first


class MappingProblem(Exception):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# -- small parsers -------------------------------------------------------------------------------


def parse_when(value: Any) -> datetime | None:
    """A datetime from a datetime, an ISO-8601 string, or epoch seconds/milliseconds.

    TaskRouter's Timestamp format (epoch vs ISO) is unverified (reference section 5.2), so both
    are read; numbers above 1e11 are taken as milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


def attr_path(attrs: dict[str, Any], path: str) -> Any:
    """A dotted path into task attributes: "conversations.conversation_id"."""
    node: Any = attrs
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def seconds(value: Any) -> float | None:
    """Sentence times are nullable strings in the spec; parse defensively."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -- TaskRouter: tasks from the Task resource and Events ---------------------------------------


def _event_time(e: Payload) -> datetime | None:
    return parse_when(e.get("event_date_ms")) or parse_when(e.get("event_date"))


def _first(data: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if data.get(k) is not None:
            return data[k]
    return None


def tasks_from(tasks: list[Payload], events: list[Payload], queues: dict[str, str]) -> list[TaskInfo]:
    """Merge Task resources and workspace Events into one TaskInfo per task sid.

    Queue: the first queue the task entered (before any transfer), else the resource's queue.
    Transfers: `task.transfer-initiated` events (a later `task.transfer-canceled` removes one; a
    failed transfer still counts: the human decided to escalate). Target fields in event_data are
    read as the REST/SDK snake_case names (`transfer_to`), PascalCase accepted too (unverified,
    reference section 5.2). The target queue's name is the first queue the task entered after the
    transfer, else the TaskQueue's friendly name, else its sid."""
    infos: dict[str, TaskInfo] = {}
    for t in tasks:
        infos[t["sid"]] = TaskInfo(
            sid=t["sid"],
            created=parse_when(t.get("date_created")),
            attributes=parse_attributes(t.get("attributes")),
            queue=t.get("task_queue_friendly_name") or queues.get(t.get("task_queue_sid") or ""),
            priority=t.get("priority"),
            channel=t.get("task_channel_unique_name"),
        )
    timed = [(at, e) for e in events if (at := _event_time(e)) is not None]
    timed.sort(key=lambda pair: pair[0])
    entered: dict[str, list[tuple[datetime, str]]] = {}
    for at, e in timed:
        data = e.get("event_data") or {}
        if isinstance(data, str):
            data = parse_attributes(data)
        rtype = str(e.get("resource_type") or "").lower()
        sid = data.get("task_sid") or (e.get("resource_sid") if rtype == "task" else None)
        if not sid:
            continue
        info = infos.setdefault(sid, TaskInfo(sid=sid))
        attrs = parse_attributes(data.get("task_attributes"))
        if attrs and not info.attributes:
            info.attributes = attrs
        if info.created is None or at < info.created:
            info.created = at
        if info.priority is None and data.get("task_priority") is not None:
            with contextlib.suppress(TypeError, ValueError):
                info.priority = int(data["task_priority"])
        info.channel = info.channel or data.get("task_channel_unique_name")
        etype = e.get("event_type") or ""
        queue_name = data.get("task_queue_name") or queues.get(data.get("task_queue_sid") or "")
        if etype in ("task-queue.entered", "task-queue.moved") and queue_name:
            entered.setdefault(sid, []).append((at, queue_name))
        elif etype == "task.transfer-initiated":
            target = _first(data, "transfer_to", "TransferTo", "transfer_target")
            target = str(target) if target is not None else None
            info.transfers.append(
                Transfer(at=at, queue=queues.get(target or ""), target=target, attributes=attrs or None)
            )
        elif etype == "task.transfer-canceled" and info.transfers:
            info.transfers.pop()
    for sid, seen in entered.items():
        info = infos[sid]
        cut = info.transfers[0].at if info.transfers else None
        before = [q for at, q in seen if cut is None or at <= cut]
        info.queue = before[0] if before else info.queue
        for tr in info.transfers:
            after = [q for at, q in seen if at >= tr.at]
            if (tr.target or "").startswith("WQ") and after:
                tr.queue = after[0]
            elif tr.queue is None and (tr.target or "").startswith("WQ"):
                tr.queue = tr.target
    return sorted(infos.values(), key=lambda i: (i.created is None, i.created or EPOCH, i.sid))


@dataclass
class Joined:
    by_call: dict[str, list[TaskInfo]]
    by_conversation: dict[str, list[TaskInfo]]
    unkeyed: list[TaskInfo]


def join_keys(tasks: Iterable[TaskInfo], cfg: TwilioSettings) -> Joined:
    """Tasks by the call sid / conversation sid in their attributes (Flex conventions:
    `call_sid`, `conversationSid`; the attribute paths are configurable)."""
    out = Joined({}, {}, [])
    for t in tasks:
        call = next((v for p in cfg.call_sid_attributes if isinstance(v := attr_path(t.attributes, p), str)), None)
        conv = next(
            (v for p in cfg.conversation_sid_attributes if isinstance(v := attr_path(t.attributes, p), str)), None
        )
        if call:
            out.by_call.setdefault(call, []).append(t)
        elif conv:
            out.by_conversation.setdefault(conv, []).append(t)
        else:
            out.unkeyed.append(t)
    return out


# -- the human outcome ----------------------------------------------------------------------------


def escalations(tasks: list[TaskInfo]) -> list[Transfer]:
    """Transfers of the call's tasks, plus every later task for the same call (the blind-transfer
    pattern that creates a new task), in time order."""
    out = [tr for t in tasks for tr in t.transfers]
    ordered = sorted(tasks, key=lambda t: t.created or EPOCH)
    for later in ordered[1:]:
        if later.created is not None:
            out.append(Transfer(at=later.created, queue=later.queue, target=later.sid, attributes=later.attributes))
    return sorted(out, key=lambda tr: tr.at)


def escalation_turn(turns: list[Turn], starts: list[float | None], offset: float | None) -> int | None:
    """The customer turn after which the human escalated: the last customer turn that began at or
    before the transfer. A transfer before the customer said anything maps to the first customer
    turn (the earliest point the agent is asked). Unknown times: None (timing is not scored)."""
    customer = [i for i, t in enumerate(turns) if t.speaker == "customer"]
    if offset is None or not customer or any(starts[i] is None for i in customer):
        return None
    before = [i for i in customer if (starts[i] or 0.0) <= offset]
    return before[-1] if before else customer[0]


def _priority(value: Any, task_priority: int | None, cfg: TwilioSettings) -> Any:
    if value is not None:
        return value
    if task_priority is None:
        return None
    return cfg.priority_names.get(str(task_priority), task_priority)


def outcome_for(
    tasks: list[TaskInfo],
    turns: list[Turn],
    starts: list[float | None],
    started_at: datetime | None,
    cfg: TwilioSettings,
) -> Outcome:
    """No task or no transfer: not escalated. Else the first transfer: its time as a customer
    turn, its target queue, and routing from the task attributes at the transfer."""
    found = escalations(tasks)
    if not found:
        return Outcome(escalated=False)
    tr = found[0]
    first = min(tasks, key=lambda t: t.created or EPOCH)
    attrs = tr.attributes or first.attributes
    routing: dict[str, Any] = {}
    for key, path in cfg.routing_attributes.items():
        value = attr_path(attrs, path)
        if key == "priority":
            value = _priority(value, first.priority, cfg)
        if value is not None:
            routing[key] = value if isinstance(value, str | bool | int | float) else json.dumps(value)
    offset = (tr.at - started_at).total_seconds() if started_at is not None else None
    reason = attr_path(attrs, cfg.reason_attribute) if cfg.reason_attribute else None
    urgency = attr_path(attrs, cfg.urgency_attribute) if cfg.urgency_attribute else None
    return Outcome(
        escalated=True,
        at_turn=escalation_turn(turns, starts, offset),
        reason=str(reason) if reason is not None else None,
        urgency=str(urgency) if urgency is not None else None,
        queue=tr.queue,
        routing=routing,
    )


def customer_profile(tasks: list[TaskInfo], cfg: TwilioSettings) -> dict[str, Any]:
    if not tasks:
        return {}
    attrs = min(tasks, key=lambda t: t.created or EPOCH).attributes
    return {k: v for k, path in cfg.customer_attributes.items() if (v := attr_path(attrs, path)) is not None}


def _tags(tasks: list[TaskInfo]) -> list[str]:
    first = min(tasks, key=lambda t: t.created or EPOCH) if tasks else None
    return [first.queue] if first and first.queue else []


# -- calls ------------------------------------------------------------------------------------------


# Twilio's labels for a transcript whose channel names no participants (automatic transcription
# of recorded calls): "By default, Voice Intelligence treats channel 1 of a dual-channel
# recording as the Agent audio and channel 2 as the Customer audio" (Voice Intelligence best
# practices, twilio.com/docs/voice/intelligence/voice-intelligence-best-practices).
TWILIO_DEFAULT_CHANNELS: dict[int, Speaker] = {1: "agent", 2: "customer"}

SpeakerSource = Literal["participants", "twilio-default", "config"]
SPEAKER_SOURCES: tuple[SpeakerSource, ...] = ("participants", "twilio-default", "config")
SPEAKER_RULES: dict[str, str] = {  # how the import summary names each rule
    "participants": "the transcript's participant roles",
    "twilio-default": "Twilio's default (channel 1 agent, 2 customer)",
    "config": "[twilio] channels",
}


@dataclass(frozen=True)
class ChannelMap:
    """Media channel -> speaker for one transcript, and which rule decided it."""

    speakers: dict[int, Speaker]
    source: SpeakerSource


def call_speakers(transcript: Payload, cfg: TwilioSettings) -> ChannelMap:
    """`[twilio] channels` when set (it overrides both); else the roles of the transcript's
    channel participants; else Twilio's documented default (channel 1 agent, 2 customer).
    A channel the winning rule leaves out is filled from the next one."""
    roles = {k.lower(): v for k, v in cfg.roles.items()}
    configured: dict[int, Speaker] = {}
    for ch_s, speaker in cfg.channels.items():
        with contextlib.suppress(ValueError):
            configured[int(ch_s)] = speaker
    named: dict[int, Speaker] = {}
    participants = ((transcript.get("channel") or {}).get("participants")) or []
    for p in participants:
        if not isinstance(p, dict):
            continue
        role = str(p.get("role") or "").strip().lower()
        try:
            ch = int(p.get("channel_participant"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if role in roles:
            named[ch] = roles[role]
    source: SpeakerSource = "config" if configured else "participants" if named else "twilio-default"
    return ChannelMap({**TWILIO_DEFAULT_CHANNELS, **named, **configured}, source)


def call_turns(record: CallRecord, speakers: dict[int, Speaker]) -> tuple[list[Turn], list[float | None]]:
    """Sentences in order, consecutive sentences of one speaker merged into one turn."""

    def order(s: Payload) -> tuple[int, float]:
        idx = s.get("sentence_index")
        return (idx if isinstance(idx, int) else 1 << 30, seconds(s.get("start_time")) or 0.0)

    turns: list[Turn] = []
    starts: list[float | None] = []
    for s in sorted(record.sentences, key=order):
        text = (s.get("transcript") or "").strip()
        if not text:
            continue
        try:
            channel = int(s.get("media_channel"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise MappingProblem(
                f"sentences[{s.get('sentence_index')}].media_channel", "missing or not a number"
            ) from None
        speaker = speakers.get(channel)
        if speaker is None:
            raise MappingProblem(
                f"sentences[{s.get('sentence_index')}].media_channel",
                f"media channel {channel} is neither Twilio's channel 1 (agent) nor 2 (customer) and has no "
                "participant role; map it in [twilio] channels",
            )
        start, end = seconds(s.get("start_time")), seconds(s.get("end_time"))
        if turns and turns[-1].speaker == speaker:
            last = turns[-1]
            turns[-1] = Turn(speaker=speaker, text=f"{last.text} {text}", start_s=last.start_s, end_s=end or last.end_s)
        else:
            turns.append(Turn(speaker=speaker, text=text, start_s=start, end_s=end))
            starts.append(start)
    return turns, starts


def call_transcript(
    record: CallRecord, tasks: list[TaskInfo], cfg: TwilioSettings, channels: ChannelMap | None = None
) -> Transcript:
    t = record.transcript
    turns, starts = call_turns(record, (channels or call_speakers(t, cfg)).speakers)
    started_at = parse_when(t.get("media_start_time"))
    return Transcript(
        id=record.call_sid or t["sid"],
        channel="voice",
        started_at=started_at or parse_when(t.get("date_created")),
        customer=customer_profile(tasks, cfg),
        turns=turns,
        outcome=outcome_for(tasks, turns, starts, started_at, cfg),
        tags=_tags(tasks),
    )


# -- chats ------------------------------------------------------------------------------------------


def chat_parties_of(record: ChatRecord) -> list[chat_parties.Party]:
    return [chat_parties.party_from_rest(p) for p in record.participants]


def chat_speakers(record: ChatRecord, tasks: list[TaskInfo], cfg: TwilioSettings) -> dict[str, Speaker]:
    """Participant sid -> speaker by chat_parties' rule (the live server's too); a chat whose
    customer cannot be told is a bad record."""
    decision = chat_parties.decide(
        chat_parties_of(record),
        roles=cfg.roles,
        role_attributes=cfg.chat_role_attributes,
        customers=chat_parties.customer_ids(t.attributes for t in tasks),
    )
    problem = decision.problem(cfg.chat_role_attributes)
    if problem:
        raise MappingProblem("participants", problem)
    return decision.speakers


def chat_turns(
    record: ChatRecord, speakers: dict[str, Speaker]
) -> tuple[list[Turn], list[float | None], datetime | None]:
    parties = chat_parties_of(record)
    msgs = sorted(record.messages, key=lambda m: m.get("index") if isinstance(m.get("index"), int) else 1 << 30)
    times = [parse_when(m.get("date_created")) for m in msgs]
    known = [t for t in times if t is not None]
    t0 = min(known) if known else None
    turns: list[Turn] = []
    starts: list[float | None] = []
    for m, at in zip(msgs, times, strict=True):
        text = (m.get("body") or "").strip()
        if not text:
            continue
        psid = chat_parties.author_party(parties, m.get("participant_sid"), m.get("author"))
        if psid is None:
            speaker: Speaker = "system"
        elif psid in speakers:
            speaker = speakers[psid]
        else:
            raise MappingProblem(
                f"messages[{m.get('index')}].author", f"author {m.get('author')!r} is not a participant"
            )
        offset = (at - t0).total_seconds() if at is not None and t0 is not None else None
        if turns and turns[-1].speaker == speaker:
            turns[-1] = Turn(speaker=speaker, text=f"{turns[-1].text}\n{text}")
        else:
            turns.append(Turn(speaker=speaker, text=text))
            starts.append(offset)
    return turns, starts, t0


def chat_channel(record: ChatRecord) -> str:
    """The chat's channel label by chat_parties' rule (sms, whatsapp, ..., else chat)."""
    return chat_parties.channel_label(chat_parties_of(record))


def chat_transcript(record: ChatRecord, tasks: list[TaskInfo], cfg: TwilioSettings) -> Transcript:
    c = record.conversation
    turns, starts, t0 = chat_turns(record, chat_speakers(record, tasks, cfg))
    return Transcript(
        id=c["sid"],
        channel=chat_channel(record),
        started_at=parse_when(c.get("date_created")) or t0,
        customer=customer_profile(tasks, cfg),
        turns=turns,
        outcome=outcome_for(tasks, turns, starts, t0, cfg),
        tags=_tags(tasks),
    )


# -- everything -------------------------------------------------------------------------------------


@dataclass
class Mapped:
    cases: list[tuple[Transcript, str]]  # (case, source "twilio:<sid>")
    problems: list[Problem]
    unjoined: list[Unjoined]
    speakers: SpeakerReport = field(default_factory=SpeakerReport)


SWAP_FIX: dict[SpeakerSource, str] = {
    "twilio-default": "if your recordings put the customer on channel 1, set [twilio] channels = "
    '{ "1" = "customer", "2" = "agent" }',
    "participants": "check the roles your transcripts' channel participants carry, or override them "
    "with [twilio] channels",
    "config": "check [twilio] channels: it may have customer and agent the wrong way round",
}


def speaker_report(mapped: list[tuple[Transcript, SpeakerSource]]) -> SpeakerReport:
    """Calls per mapping rule, the calls that look swapped (swap_check), and a hint per rule
    that looks wrong for most of its calls."""
    rep = SpeakerReport(by_source={s: 0 for s in SPEAKER_SOURCES})
    for case, source in mapped:
        rep.by_source[source] += 1
        if looks_swapped(case.turns):
            rep.swapped[case.id] = source
    for source in SPEAKER_SOURCES:
        n = sum(1 for s in rep.swapped.values() if s == source)
        if mostly_swapped(n, rep.by_source[source]):
            total = rep.by_source[source]
            rep.hints.append(f"{n} of {total} calls mapped by {SPEAKER_RULES[source]} look swapped: {SWAP_FIX[source]}")
    return rep


def _build(fn: Any, record: Any, tasks: list[TaskInfo], cfg: TwilioSettings, source: str) -> Transcript | list[Problem]:
    try:
        t = fn(record, tasks, cfg)
    except MappingProblem as exc:
        return [Problem(source, None, exc.field, exc.message)]
    except ValidationError as exc:
        return problems_from_validation(exc, source, None)
    issues = check_transcript(t)
    if issues:
        return [Problem(source, None, f, m) for f, m in issues]
    return t


def map_fetched(fetched: Fetched, cfg: TwilioSettings, since: datetime, until: datetime) -> Mapped:
    """Join calls and chats with their tasks and build the cases; report what did not join."""
    joined = join_keys(fetched.tasks, cfg)
    out = Mapped([], [], [])
    used_calls: set[str] = set()
    used_convs: set[str] = set()
    call_maps: list[tuple[Transcript, SpeakerSource]] = []
    for rec in fetched.calls:
        sid = rec.transcript["sid"]
        tasks = joined.by_call.get(rec.call_sid or "", [])
        if rec.call_sid:
            used_calls.add(rec.call_sid)
        if not tasks:
            note = (
                "no TaskRouter task has this call_sid"
                if rec.call_sid
                else "no CallSid for this transcript (customer_key is not a CallSid and no recording)"
            )
            skip = cfg.without_task == "skip"
            note += "; skipped" if skip else "; imported as not escalated"
            out.unjoined.append(Unjoined("call-without-task", sid, rec.call_sid, note))
            if skip:
                continue
        channels = call_speakers(rec.transcript, cfg)
        built = _build(functools.partial(call_transcript, channels=channels), rec, tasks, cfg, f"twilio:{sid}")
        if isinstance(built, list):
            out.problems.extend(built)
        else:
            out.cases.append((built, f"twilio:{sid}"))
            call_maps.append((built, channels.source))
    out.speakers = speaker_report(call_maps)
    for rec in fetched.chats:
        sid = rec.conversation["sid"]
        used_convs.add(sid)
        tasks = joined.by_conversation.get(sid, [])
        if not tasks:
            skip = cfg.without_task == "skip"
            note = "no TaskRouter task has this conversation sid"
            note += "; skipped" if skip else "; imported as not escalated"
            out.unjoined.append(Unjoined("chat-without-task", sid, sid, note))
            if skip:
                continue
        built = _build(chat_transcript, rec, tasks, cfg, f"twilio:{sid}")
        if isinstance(built, list):
            out.problems.extend(built)
        else:
            out.cases.append((built, f"twilio:{sid}"))
    if not fetched.truncated:  # with --limit, most tasks' calls were simply not fetched
        failed = {f.key for f in fetched.failures if f.key}

        def in_window(ts: list[TaskInfo]) -> bool:
            first = min(ts, key=lambda t: t.created or EPOCH)
            return first.created is not None and since <= first.created < until

        if "calls" in cfg.sources:
            for call, ts in joined.by_call.items():
                if call not in used_calls and call not in failed and in_window(ts):
                    note = "no completed Intelligence transcript for this call"
                    out.unjoined.append(Unjoined("task-without-call", ts[0].sid, call, note))
        if "chats" in cfg.sources:
            for conv, ts in joined.by_conversation.items():
                if conv not in used_convs and conv not in failed and in_window(ts):
                    note = "no finished conversation in the window for this task"
                    out.unjoined.append(Unjoined("task-without-chat", ts[0].sid, conv, note))
        for t in joined.unkeyed:
            if t.created is not None and since <= t.created < until:
                note = "the task's attributes carry no call or conversation sid"
                out.unjoined.append(Unjoined("task-without-key", t.sid, None, note))
    return out
