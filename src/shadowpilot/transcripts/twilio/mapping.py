"""Twilio payloads -> Transcripts: speakers, turns, the join with TaskRouter; the human outcome
is read by human.py (shared with the shadow server).

Pure functions over records.py's plain dicts; no HTTP. Decisions on fields the wire-format
reference marks uncertain are commented where they are made.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from ...config import TwilioSettings
from ...errors import AudioError, Problem
from ...types import Speaker, Transcript, Turn
from ...when import event_time, parse_when
from ..validate import check_transcript, problems_from_validation
from . import chat_parties
from .human import (
    EPOCH,
    HumanReading,
    TaskHistory,
    TaskRouterEvent,
    as_int,
    attr_path,
    parse_attributes,
    read_human,
)
from .records import CallRecord, ChatRecord, Fetched, Payload, SpeakerReport, TaskInfo, Unjoined
from .swap_check import looks_swapped, mostly_swapped


class MappingProblem(Exception):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# -- small parsers -------------------------------------------------------------------------------


def seconds(value: Any) -> float | None:
    """Sentence times are nullable strings in the spec; parse defensively."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -- TaskRouter: tasks from the Task resource and Events ---------------------------------------


def _event_data(e: Payload) -> dict[str, Any]:
    data = e.get("event_data") or {}
    return parse_attributes(data) if isinstance(data, str) else data


def _first(data: dict[str, Any], *keys: str) -> Any:
    return next((data[k] for k in keys if data.get(k) is not None), None)


def router_event(e: Payload, queues: dict[str, str]) -> TaskRouterEvent | None:
    """One Event resource as a TaskRouterEvent; None for events about no task.

    Time: `event_date_ms` (milliseconds), else `event_date`. event_data keys are the REST
    snake_case names (`task_queue_sid`, `transfer_to`); PascalCase transfer names are accepted
    too (unverified, wire-format reference 5.2). Queue names come from the TaskQueues listing."""
    data = _event_data(e)
    rtype = str(e.get("resource_type") or "").lower()
    sid = data.get("task_sid") or (e.get("resource_sid") if rtype == "task" else None)
    if not sid:
        return None
    at, precision = event_time(e.get("event_date_ms"))
    if at is None:
        at, precision = event_time(e.get("event_date"))
    queue_sid = data.get("task_queue_sid")
    target = _first(data, "transfer_to", "TransferTo")
    return TaskRouterEvent(
        task_sid=str(sid),
        kind=str(e.get("event_type") or ""),
        at=at,
        at_precision_s=precision,
        queue_sid=queue_sid,
        queue_name=data.get("task_queue_name") or queues.get(queue_sid or ""),
        attributes=parse_attributes(data["task_attributes"]) if data.get("task_attributes") else None,
        priority=as_int(data.get("task_priority")),
        channel=data.get("task_channel_unique_name"),
        transfer_to=str(target) if target is not None else None,
        transfer_to_name=queues.get(str(target)) if target is not None else None,
        transfer_type=_first(data, "transfer_type", "TransferType"),
    )


def tasks_from(tasks: list[Payload], events: list[Payload], queues: dict[str, str]) -> list[TaskInfo]:
    """Task resources and workspace Events -> one RoutedTask per task sid, its events attached;
    what the human did is read from them by human.read_human, as the shadow server does."""
    infos: dict[str, TaskInfo] = {}
    for t in tasks:
        infos[t["sid"]] = TaskInfo(
            sid=t["sid"],
            created=parse_when(t.get("date_created")),
            attributes=parse_attributes(t.get("attributes")),
            queue_sid=t.get("task_queue_sid"),
            queue_name=t.get("task_queue_friendly_name") or queues.get(t.get("task_queue_sid") or ""),
            priority=as_int(t.get("priority")),
            channel=t.get("task_channel_unique_name"),
        )
    for e in events:
        event = router_event(e, queues)
        if event is None:
            continue
        info = infos.setdefault(event.task_sid, TaskInfo(sid=event.task_sid))
        info.events.append(event)
    for info in infos.values():
        seen = info.first_seen()
        info.created = seen if seen is not None else info.created
        if not info.attributes:  # a task known only from its events (the resource was deleted)
            info.attributes = next((e.attributes for e in info.ordered() if e.attributes), {})
        info.priority = info.latest_priority()
        info.channel = info.channel or next((e.channel for e in info.events if e.channel), None)
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


def human(
    tasks: list[TaskInfo], turns: list[Turn], starts: list[float | None], t0: datetime | None, cfg: TwilioSettings
) -> HumanReading:
    """The human outcome of an imported call or chat: turn offsets from `t0` made absolute (Twilio's
    clock, as the events are) and handed to the one reading the shadow server uses too."""
    absolute = [t0 + timedelta(seconds=s) if t0 is not None and s is not None else None for s in starts]
    return read_human(TaskHistory(tasks=tasks), turns, absolute, cfg)


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

    @property
    def customer_channel(self) -> int | None:
        """The recording channel (1 or 2) that holds the customer: the same rule that made the
        transcript's speakers says which half of a dual-channel recording the customer is."""
        return next((ch for ch, sp in sorted(self.speakers.items()) if sp == "customer" and ch in (1, 2)), None)


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


def default_customer_channel(cfg: TwilioSettings) -> int | None:
    """The customer's channel of a recording that comes with no participant roles (a file import's
    `audio`): `[twilio] channels` when set, else Twilio's default (channel 2)."""
    return call_speakers({}, cfg).customer_channel


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
    channels = channels or call_speakers(t, cfg)
    turns, starts = call_turns(record, channels.speakers)
    started_at = parse_when(t.get("media_start_time"))
    reading = human(tasks, turns, starts, started_at, cfg)
    audio = None
    if record.recording is not None:  # `--audio`: its customer channel by the rule that made the speakers
        from ..audio import describe

        try:
            audio = describe(record.recording, channels.customer_channel)
        except AudioError as exc:
            raise MappingProblem("audio", str(exc).replace(str(record.recording), "the call's Recording")) from None
    return Transcript(
        id=record.call_sid or t["sid"],
        channel="voice",
        started_at=started_at or parse_when(t.get("date_created")),
        customer=reading.customer,
        turns=turns,
        outcome=reading.outcome,
        tags=[reading.first_queue] if reading.first_queue else [],
        audio=audio,
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


def _message_index(message: Mapping[str, Any]) -> int:
    """A chat message's place in its conversation; one without an index sorts last."""
    index = message.get("index")
    return index if isinstance(index, int) else 1 << 30


def chat_turns(
    record: ChatRecord, speakers: dict[str, Speaker]
) -> tuple[list[Turn], list[float | None], datetime | None]:
    parties = chat_parties_of(record)
    msgs = sorted(record.messages, key=_message_index)
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
    reading = human(tasks, turns, starts, t0, cfg)
    return Transcript(
        id=c["sid"],
        channel=chat_channel(record),
        started_at=parse_when(c.get("date_created")) or t0,
        customer=reading.customer,
        turns=turns,
        outcome=reading.outcome,
        tags=[reading.first_queue] if reading.first_queue else [],
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
    for chat in fetched.chats:
        sid = chat.conversation["sid"]
        used_convs.add(sid)
        tasks = joined.by_conversation.get(sid, [])
        if not tasks:
            skip = cfg.without_task == "skip"
            note = "no TaskRouter task has this conversation sid"
            note += "; skipped" if skip else "; imported as not escalated"
            out.unjoined.append(Unjoined("chat-without-task", sid, sid, note))
            if skip:
                continue
        built = _build(chat_transcript, chat, tasks, cfg, f"twilio:{sid}")
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
