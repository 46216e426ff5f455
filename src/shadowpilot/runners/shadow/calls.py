"""Per-call state, rebuilt from the event log by applying its records in order.

The server and `shadow calls` share this code, so what the listing shows is what
the server knows. Ordering and deduplication live here: each event has one key
(transcription + SequenceId, conversation + message), a key seen twice is
counted and ignored, and a call's conversation is its events sorted by stream
then sequence number, whatever order they arrived in.

Time: an event is placed at Twilio's own Timestamp when it carries one, at its receipt
time otherwise (`Mark.when`, `Mark.clock` says which). Within a transcription SequenceId
decides the order; a call's streams (a transcription restarted mid-call) are ordered by
when each began; the human's escalation is placed against them by `human.read_human`, on one
clock: Twilio's when the escalation and every customer turn carry its time, receipt otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ...config import ShadowSettings, TwilioSettings
from ...transcripts.twilio import chat_parties
from ...transcripts.twilio.human import HumanReading, RoutedTask, TaskHistory, TaskRouterEvent, named, read_human
from ...types import AgentStep, CallRun, Clock, Outcome, Speaker, Transcript, Turn
from ...wording import customer_turn_number
from .eventlog import LogReader, Record, Skipped
from .records import AgentRecord, BadRecord, EndedRecord, EventRecord, ScoredRecord, read_record
from .wire import ChatParticipant, TaskEvent, parse

CallState = Literal["live", "ended", "scored"]

TERMINAL_TASK_EVENTS = {"task.completed", "task.canceled", "task.wrapup", "task.deleted", "task.system-deleted"}


@dataclass
class Mark:
    """One event in a call's sequence (utterances, and the markers that share their numbering)."""

    key: str
    stream_rank: int
    seq: int
    rx: float  # when this server received it (epoch seconds)
    kind: str
    track: str | None = None
    author: str | None = None
    text: str | None = None
    at: float | None = None  # Twilio's Timestamp (epoch seconds), when the event carried one
    participant: str | None = None  # chat: the author's ParticipantSid
    source: str | None = None  # chat: the message's Source (SMS, WHATSAPP, SDK, API)

    @property
    def when(self) -> float:
        """Where the event sits in time: Twilio's Timestamp, else when it was received."""
        return self.at if self.at is not None else self.rx

    @property
    def clock(self) -> Clock:
        return "twilio" if self.at is not None else "received"


@dataclass
class AgentResult:
    """The agent's answer at one utterance, as logged: a recommendation or an error."""

    recommendation: dict[str, Any] | None
    error: str | None
    ms: float


@dataclass
class TaskState:
    sid: str
    first_rx: float
    call_id: str | None = None
    events: list[TaskRouterEvent] = field(default_factory=list)  # each with its receipt time


@dataclass
class Call:
    call_id: str
    channel: str
    first_rx: float
    last_rx: float
    streams: dict[str, int] = field(default_factory=dict)
    marks: dict[str, Mark] = field(default_factory=dict)
    ended_rx: float | None = None
    ended_why: str | None = None
    results: dict[str, AgentResult] = field(default_factory=dict)
    scored_run: str | None = None
    closed_why: str | None = None  # ended without becoming a case (nothing the customer said)
    first_at: float | None = None  # the earliest Twilio Timestamp of its events
    error: str | None = None  # a transcription-error Twilio reported (the call then ended)
    selftest: bool = False  # a synthetic call from `shadowpilot shadow selftest`

    @property
    def started(self) -> float:
        """When the call began: its earliest Twilio Timestamp, else its first receipt."""
        return self.first_at if self.first_at is not None else self.first_rx

    parties: dict[str, chat_parties.Party] = field(default_factory=dict)  # chat: from participant webhooks

    @property
    def state(self) -> CallState:
        if self.scored_run is not None:
            return "scored"
        return "ended" if self.ended_rx is not None else "live"

    @property
    def done(self) -> bool:
        """Nothing more to do for this call: it is a case, or was closed without one."""
        return self.scored_run is not None or self.closed_why is not None

    def sequence(self) -> list[Mark]:
        """Every mark in conversation order: streams by when they began, then SequenceId."""
        began: dict[int, float] = {}
        for m in self.marks.values():
            began[m.stream_rank] = min(began.get(m.stream_rank, m.when), m.when)
        return sorted(self.marks.values(), key=lambda m: (began[m.stream_rank], m.stream_rank, m.seq, m.key))


class CallBook:
    """Every call the log mentions, and the TaskRouter tasks that tell what the humans did."""

    def __init__(self, shadow: ShadowSettings, twilio: TwilioSettings):
        self.shadow = shadow
        self.twilio = twilio  # how TaskRouter is read: the same [twilio] settings as `import twilio`
        self.calls: dict[str, Call] = {}
        self.tasks: dict[str, TaskState] = {}
        self.queue_names: dict[str, str] = {}  # TaskQueue sid -> name, from every callback that carried both
        self.seen: set[str] = set()
        self.events = 0
        self.duplicates = 0  # event records whose key was already logged: must stay 0
        self.bad = 0
        self.skipped: list[Skipped] = []  # log lines not applied, and why (reported at start and by `shadow calls`)

    # -- applying log records -----------------------------------------------------------

    def apply(self, record: Record, line: int | None = None) -> set[str]:
        """Apply one log record; returns the ids of the calls it changed. A record that is
        not one of the kinds in records.py, or an event its route cannot read, is skipped and
        noted in `skipped` (with its log line when known), never raised."""
        try:
            rec = read_record(record)
        except BadRecord as exc:
            self._skip(line, str(exc))
            return set()
        if isinstance(rec, EventRecord):
            return self._apply_event(rec, line)
        call = self.calls.get(rec.call)
        if call is None:
            return set()
        if isinstance(rec, AgentRecord):
            call.results[rec.ukey] = AgentResult(rec.rec, rec.error, rec.ms)
        elif isinstance(rec, EndedRecord):
            if call.ended_rx is None:
                call.ended_rx, call.ended_why = rec.rx, rec.why
        elif isinstance(rec, ScoredRecord):
            call.scored_run = rec.run_id
        else:
            call.closed_why = rec.why
        return {call.call_id}

    def _skip(self, line: int | None, why: str) -> None:
        self.bad += 1
        self.skipped.append(Skipped(line or 0, why))

    def _apply_event(self, record: EventRecord, line: int | None) -> set[str]:
        key, rx = record.key, record.rx
        if key in self.seen:
            self.duplicates += 1
            return set()
        self.seen.add(key)
        self.events += 1
        try:
            parsed = parse(record.route, record.p, self.shadow.task_call_keys)
        except ValueError as exc:  # BadPayload, or a model a field did not fit
            self._skip(line, f"event not readable: {exc}")
            return set()
        if parsed is None:
            return set()
        if parsed.key != key:  # logged under an older key scheme: today's key is what a redelivery gets
            if parsed.key in self.seen:
                self.duplicates += 1
                return set()
            self.seen.add(parsed.key)
        event = parsed.event
        if isinstance(event, TaskEvent):
            return self._apply_task(event, rx)
        channel = "chat" if isinstance(event, ChatParticipant) else event.channel
        call = self.calls.get(event.call_id)
        if call is None:
            call = self.calls[event.call_id] = Call(event.call_id, channel, rx, rx)
        call.last_rx = max(call.last_rx, rx)
        if isinstance(event, ChatParticipant):
            known = call.parties.get(event.party.sid)
            call.parties[event.party.sid] = event.party.merged(known) if known else event.party
            return {call.call_id}
        call.selftest = call.selftest or event.selftest
        if event.at is not None:
            call.first_at = event.at if call.first_at is None else min(call.first_at, event.at)
        if event.seq is not None:
            rank = call.streams.setdefault(event.stream, len(call.streams))
            call.marks[key] = Mark(
                key,
                rank,
                event.seq,
                rx,
                event.kind,
                event.track,
                event.author,
                event.text,
                at=event.at,
                participant=event.participant,
                source=event.source,
            )
        if event.kind == "error" and call.error is None:
            call.error = event.error
        ended = {"stopped": "transcription stopped", "closed": "conversation closed", "error": "transcription error"}
        if event.kind in ended and call.ended_rx is None:
            call.ended_rx = rx
            call.ended_why = ended[event.kind] + (f": {event.error}" if event.error else "")
        return {call.call_id}

    def _apply_task(self, parsed: TaskEvent, rx: float) -> set[str]:
        event = parsed.event.model_copy(update={"received": datetime.fromtimestamp(rx, UTC)})
        task = self.tasks.get(event.task_sid)
        if task is None:
            task = self.tasks[event.task_sid] = TaskState(event.task_sid, rx)
        task.events.append(event)
        if event.queue_sid and event.queue_name:
            self.queue_names[event.queue_sid] = event.queue_name
        if task.call_id is None and parsed.call_id:
            task.call_id = parsed.call_id
        return {task.call_id} if task.call_id in self.calls else set()

    # -- reading a call -----------------------------------------------------------------

    # -- who is who in a chat: transcripts/twilio/chat_parties, the importer's rule -----------

    def parties(self, call: Call) -> list[chat_parties.Party]:
        """The chat's participants: from participant webhooks, completed by what each message
        tells of its author (its ParticipantSid and Source)."""
        out = dict(call.parties)
        for m in call.sequence():
            seen = chat_parties.party_from_message(m.participant, m.author, m.source)
            if seen is not None:
                out[seen.sid] = out[seen.sid].merged(seen) if seen.sid in out else seen
        return list(out.values())

    def chat_decision(self, call: Call) -> chat_parties.Decision:
        tasks = [e.attributes for t in self.call_tasks(call) for e in t.events if e.attributes]
        return chat_parties.decide(
            self.parties(call),
            roles=self.twilio.roles,
            role_attributes=self.twilio.chat_role_attributes,
            customers=chat_parties.customer_ids(tasks),
        )

    def label(self, call: Call) -> str:
        """The case's channel: voice, or the chat's binding type (sms, whatsapp, ..., chat)."""
        return chat_parties.channel_label(self.parties(call)) if call.channel == "chat" else call.channel

    def no_customer(self, call: Call) -> str | None:
        """Why a chat's customer cannot be told (the importer's words), or None."""
        if call.channel != "chat":
            return None
        return self.chat_decision(call).problem(self.twilio.chat_role_attributes)

    def speaker(self, call: Call, mark: Mark, decision: chat_parties.Decision | None = None) -> Speaker:
        if call.channel == "chat":
            decision = decision or self.chat_decision(call)
            party = chat_parties.author_party(self.parties(call), mark.participant, mark.author)
            if party is None:
                return "system"
            # undecided (nothing names the customer yet): not the customer, so the agent is not asked
            return decision.speakers.get(party, "agent")
        outbound = "outbound" in (mark.track or "").lower()
        return self.shadow.outbound_track if outbound else self.shadow.inbound_track

    def utterances(self, call: Call, marks: list[Mark] | None = None) -> list[tuple[Mark, Turn]]:
        """The call's utterances in conversation order, each once, with who said them."""
        said = [m for m in (marks if marks is not None else call.sequence()) if m.kind == "utterance"]
        decision = self.chat_decision(call) if call.channel == "chat" else None
        return [(m, Turn(speaker=self.speaker(call, m, decision), text=m.text or "")) for m in said]

    def call_tasks(self, call: Call) -> list[TaskState]:
        return sorted((t for t in self.tasks.values() if t.call_id == call.call_id), key=lambda t: t.first_rx)

    def routing_known(self, call: Call) -> bool:
        """Every task for the call has finished (completed, canceled, wrapping up)."""
        tasks = self.call_tasks(call)
        return bool(tasks) and all(any(e.kind in TERMINAL_TASK_EVENTS for e in t.events) for t in tasks)

    def history(self, call: Call) -> TaskHistory:
        """The call's tasks as the typed TaskRouter history import builds too, queue sids named
        from every callback seen ([twilio] queue_names fills the rest, in read_human)."""
        tasks = [RoutedTask(sid=t.sid, events=t.events) for t in self.call_tasks(call)]
        return named(TaskHistory(tasks=tasks), self.queue_names)

    def human(self, call: Call, said: list[tuple[Mark, Turn]] | None = None) -> HumanReading:
        """What the humans did (human.read_human, the rule import uses), with each turn's Twilio
        Timestamp and receipt time, so the escalation is placed on whichever clock both sides share."""
        said = self.utterances(call) if said is None else said
        turns = [turn for _, turn in said]
        starts = [datetime.fromtimestamp(m.at, UTC) if m.at is not None else None for m, _ in said]
        received: list[datetime | None] = [datetime.fromtimestamp(m.rx, UTC) for m, _ in said]
        return read_human(self.history(call), turns, starts, self.twilio, received=received)

    def outcome(self, call: Call, said: list[tuple[Mark, Turn]] | None = None) -> Outcome:
        return self.human(call, said).outcome

    def to_case(self, call: Call, tenant: str, call_run: CallRun, asked: list[str]) -> tuple[Transcript, CallRun]:
        """The finished call as a case, and the agent's steps re-indexed to the case's turns.

        `asked[i]` is the key of the utterance the turn loop saw as its i-th event, so a
        late (out-of-order) utterance still lands at its place in the conversation.
        """
        said = self.utterances(call)
        turns = [turn for _, turn in said]
        index = {m.key: i for i, (m, _) in enumerate(said)}
        ordinal = {m.key: n for n, (m, _) in enumerate(p for p in said if p[1].speaker == "customer")}
        reading = self.human(call, said)
        case = Transcript(
            id=call.call_id,
            tenant=tenant,
            channel=self.label(call),
            started_at=datetime.fromtimestamp(call.started, UTC),
            customer=reading.customer,
            turns=turns,
            outcome=reading.outcome,
            tags=self.tags(call),
        )
        steps = []
        for step in call_run.steps:
            key = asked[step.turn] if step.turn < len(asked) else None
            if key not in index or key not in ordinal:
                continue
            turn = index[key]
            rec = step.recommendation
            if rec is not None:
                rec = rec.model_copy(update={"case_id": case.id, "turn": turn})
            steps.append(AgentStep(turn=turn, customer_turn=ordinal[key], recommendation=rec, error=step.error))
        steps.sort(key=lambda s: s.turn)
        fixed = CallRun(case_id=case.id, fingerprint=case.fingerprint(), steps=steps, error=call_run.error)
        return case, fixed

    def tags(self, call: Call) -> list[str]:
        """The case's tags: a selftest or a call whose transcription failed is told apart in reports."""
        return ["shadow", *(["selftest"] if call.selftest else []), *(["transcription-error"] if call.error else [])]

    # -- the `shadow calls` view ----------------------------------------------------------

    def describe(self, call: Call) -> dict[str, Any]:
        said = self.utterances(call)
        results = list(call.results.values())
        outcome = self.outcome(call, said)
        turns = [t for _, t in said]
        first_esc = None
        for i, (m, _turn) in enumerate(said):
            r = call.results.get(m.key)
            if r and r.recommendation and r.recommendation.get("escalate"):
                first_esc = i
                break
        return {
            "call_id": call.call_id,
            "channel": self.label(call),
            "state": call.state,
            "started_at": datetime.fromtimestamp(call.started, UTC).isoformat(),
            "ended": call.ended_why,
            "selftest": call.selftest,
            "transcription_error": call.error,
            # how its events were placed in time: by Twilio's Timestamp or by receipt
            "placed_by": {c: sum(m.clock == c for m in call.marks.values()) for c in ("twilio", "received")},
            "utterances": [{"speaker": t.speaker, "text": t.text} for _, t in said],
            # `*_at_turn` are transcript indices (0-based over every utterance), as in the case;
            # `*_at_customer_turn` is what people read ("customer turn N", from 1: wording.py)
            "agent": {
                "answered": sum(r.error is None for r in results),
                "errors": sum(r.error is not None for r in results),
                "escalated_at_turn": first_esc,
                "escalated_at_customer_turn": customer_turn_number(turns, first_esc),
            },
            "human": {
                "routing_known": self.routing_known(call),
                **outcome.model_dump(mode="json"),
                "at_customer_turn": customer_turn_number(turns, outcome.at_turn),
            },
            "run_id": call.scored_run,
            "closed": call.closed_why,
        }

    def listing(self) -> dict[str, Any]:
        calls = sorted(self.calls.values(), key=lambda c: c.first_rx)
        return {"calls": [self.describe(c) for c in calls]}


def load_book(records: Any, shadow: ShadowSettings, twilio: TwilioSettings) -> CallBook:
    book = CallBook(shadow, twilio)
    for record in records:
        book.apply(record)
    return book


def replay(book: CallBook, path: Path) -> list[Skipped]:
    """Apply every record of the log at `path`; returns every line skipped (not JSON, not a
    record, or an event its route cannot read), in line order. The server's start and
    `shadow calls` both read the log through this, so they skip the same lines."""
    reader = LogReader(path)
    for line, record in reader:
        book.apply(record, line)
    book.skipped = sorted([*reader.skipped, *book.skipped], key=lambda s: s.line)
    return book.skipped


def skipped_summary(skipped: list[Skipped], path: Path, *, show: int = 10) -> str:
    """One line for the operator: how many lines were skipped, which, and the first reason."""
    lines = ", ".join(str(s.line) for s in skipped[:show]) + (", ..." if len(skipped) > show else "")
    return (
        f"skipped {len(skipped)} line(s) of {path} that are not usable records (line {lines}; "
        f"line {skipped[0].line}: {skipped[0].why})"
    )
