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

Growth: a call that is done (scored, or closed without a case) is released from memory when
its `scored` / `closed` record carries the call's summary (its `shadow calls` view): only a
small `Finished` stays, so a late or retried event for it is recognised and ignored. Tasks
are indexed by call, so reading one call never scans every task of the pilot. A task that
names no call in memory (no call attribute, or a call this server never saw: the workspace's
other calls) is an orphan: the oldest go past `[shadow] max_orphan_tasks` (tasks naming no
call at all, counted as they arrive, so a replay drops the same ones) and every orphan older
than `orphan_task_ttl_s` (`expire_tasks`, on the server's clock). A dropped task leaves memory
at once; its acknowledged events stay in the log until the next compaction, which leaves them
in the archive and writes why to dropped-tasks.jsonl (checkpoint.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from ...config import ShadowSettings, TwilioSettings
from ...transcripts.twilio import chat_parties
from ...transcripts.twilio.human import HumanReading, RoutedTask, TaskHistory, TaskRouterEvent, named, read_human
from ...types import AgentStep, CallRun, Clock, Outcome, Speaker, Transcript, Turn
from ...when import parse_when, utc_text
from ...wording import customer_turn_number
from .eventlog import LogReader, Record, Skipped
from .records import (
    AgentRecord,
    BadRecord,
    ClosedRecord,
    EndedRecord,
    EventRecord,
    LogRecord,
    ScoredRecord,
    Summary,
    read_record,
    read_summary,
)
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
    keys: list[str] = field(default_factory=list)  # its events' dedup keys, forgotten with the task


@dataclass
class DroppedTask:
    """An orphan task let go of: what the next compaction archives (its events, by key) and why."""

    sid: str
    call_id: str | None
    first_rx: float
    events: int
    keys: set[str]
    dropped_rx: float
    why: str

    def as_record(self, archive: str | None) -> Record:
        """Its line in dropped-tasks.jsonl: the record of why its events left the log."""
        return {
            "task": self.sid,
            "call": self.call_id,
            "first_rx": self.first_rx,
            "events": self.events,
            "dropped_rx": self.dropped_rx,
            "why": self.why,
            "archive": archive,
        }


@dataclass(frozen=True, slots=True)
class Finished:
    """How a done call ended: what stays of it (with its id, to ignore late events for it).

    One object per distinct outcome, shared (CallBook.add_finished): a pilot day's scored calls
    all hold the same one, so a done call costs the server its id and a dict slot, nothing more.
    Its `shadow calls` view is kept apart (CallBook.views): by the server only for selftest
    calls (the selftest route shows it), by `shadow calls` for every call it reads.
    """

    state: CallState
    run_id: str | None
    closed: str | None
    selftest: bool


@dataclass
class CallSummary:
    """A done call as written in its `scored`/`closed` record and in the summaries file."""

    call_id: str
    first_rx: float
    view: dict[str, Any]
    raw: bytes | None = None  # the view's JSON as calls.jsonl holds it, compact ASCII (checkpoint.py)

    def as_record(self) -> Summary:
        """As written, in a `scored`/`closed` record and in calls.jsonl."""
        return Summary(call=self.call_id, first_rx=self.first_rx, view=self.view)

    @classmethod
    def from_model(cls, model: Summary) -> CallSummary:
        return cls(model.call, model.first_rx, model.view)

    @classmethod
    def from_record(cls, record: Any) -> CallSummary:
        """A summary as written (a line of calls.jsonl); BadRecord when it is not one."""
        return cls.from_model(read_summary(record))


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
    keys: list[str] = field(default_factory=list)  # its events' dedup keys, forgotten when it is released

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

    def __init__(self, shadow: ShadowSettings, twilio: TwilioSettings, *, keep_views: bool = False):
        self.shadow = shadow
        self.twilio = twilio  # how TaskRouter is read: the same [twilio] settings as `import twilio`
        self.keep_views = keep_views  # keep every done call's view (`shadow calls`), not only selftests'
        self.calls: dict[str, Call] = {}
        self.finished: dict[str, Finished] = {}  # done calls, released from `calls`: id -> how it ended
        self.views: dict[str, tuple[float, dict[str, Any]]] = {}  # done calls' (first_rx, view) kept
        self.raw_views: dict[str, bytes] = {}  # those views' JSON as read (`shadow calls --json` prints it)
        self._outcomes: dict[Finished, Finished] = {}  # each distinct Finished once
        self.released = 0  # calls released since the log was last compacted (their records are in it)
        self.late = 0  # events for a call already done: ignored
        self.open_calls: set[str] = set()  # calls not ended yet (what the idle watch looks at)
        self.tasks: dict[str, TaskState] = {}
        self.call_task_sids: dict[str, list[str]] = {}  # call id -> its tasks' sids, in arrival order
        self.unnamed: dict[str, None] = {}  # tasks naming no call yet, oldest first (max_orphan_tasks)
        self.dropped_tasks: dict[str, DroppedTask] = {}  # orphans let go of since the last compaction
        self.queue_names: dict[str, str] = {}  # TaskQueue sid -> name, from every callback that carried both
        self.seen: set[str] = set()
        self.events = 0
        self.duplicates = 0  # event records whose key was already logged: must stay 0
        self.bad = 0
        self.skipped: list[Skipped] = []  # log lines not applied, and why (reported at start and by `shadow calls`)
        self.log_records = 0  # records the replayed log held (replay sets it)

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
            call.results[rec.utterance_key] = AgentResult(rec.recommendation, rec.error, rec.ms)
            return {call.call_id}
        if isinstance(rec, EndedRecord):
            if call.ended_rx is None:
                call.ended_rx, call.ended_why = rec.received, rec.why
        elif isinstance(rec, ScoredRecord):
            call.scored_run = rec.run_id
        else:
            call.closed_why = rec.why
        self.open_calls.discard(call.call_id)  # ended, scored or closed: not idle-watched any more
        if isinstance(rec, ScoredRecord | ClosedRecord) and rec.summary is not None:
            self.release(call, CallSummary.from_model(rec.summary))
        return {call.call_id}

    def _skip(self, line: int | None, why: str) -> None:
        self.bad += 1
        self.skipped.append(Skipped(line or 0, why))

    # -- releasing done calls -------------------------------------------------------------

    def release(self, call: Call, summary: CallSummary) -> None:
        """Forget a done call's events and tasks; keep its Finished (and view when asked to)."""
        self.calls.pop(call.call_id, None)
        self.open_calls.discard(call.call_id)
        self.seen.difference_update(call.keys)
        for sid in self.call_task_sids.pop(call.call_id, []):
            task = self.tasks.pop(sid, None)
            if task is not None:
                self.seen.difference_update(task.keys)
        self.add_finished(summary)
        self.released += 1

    def add_finished(self, summary: CallSummary) -> None:
        view = summary.view
        run_id, closed, selftest = view.get("run_id"), view.get("closed"), bool(view.get("selftest"))
        outcome = Finished(
            "scored" if view.get("state") == "scored" else "ended",
            run_id if isinstance(run_id, str) else None,
            closed if isinstance(closed, str) else None,
            selftest,
        )
        self.finished[summary.call_id] = self._outcomes.setdefault(outcome, outcome)
        if self.keep_views or selftest:
            self.views[summary.call_id] = (summary.first_rx, view)
            if summary.raw is not None and self.keep_views and not _old_time(view):
                self.raw_views[summary.call_id] = summary.raw
            else:
                self.raw_views.pop(summary.call_id, None)

    def raw_view(self, view: dict[str, Any]) -> bytes | None:
        """A listed view's JSON as read from calls.jsonl, when `view` is that kept view itself."""
        cid = view.get("call_id")
        kept = self.views.get(cid) if isinstance(cid, str) else None
        return self.raw_views.get(cid) if kept is not None and kept[1] is view else None  # type: ignore[arg-type]

    def summary(self, call: Call, **update: Any) -> CallSummary:
        """The call's summary as it will be once `update` (its run id, or why it closed) is logged."""
        return CallSummary(call.call_id, call.first_rx, {**self.describe(call), **update})

    def record_call(self, record: Record | LogRecord) -> str | None:
        """The call a log record belongs to (None: a task naming no call, or a line that is not
        a record, which compaction then keeps). Event records carry it since compaction exists;
        an older event's payload is parsed again."""
        if isinstance(record, dict):
            try:
                record = read_record(record)
            except BadRecord:
                return None
        if not isinstance(record, EventRecord):
            return record.call
        if record.call is not None:
            return record.call
        try:
            parsed = parse(record.route, record.params, self.shadow.task_call_keys)
        except ValueError:  # BadPayload, or a model a field did not fit
            return None
        return None if parsed is None else getattr(parsed.event, "call_id", None)

    def _apply_event(self, record: EventRecord, line: int | None) -> set[str]:
        key, rx = record.key, record.received
        if key in self.seen:
            self.duplicates += 1
            return set()
        self.seen.add(key)
        self.events += 1
        try:
            parsed = parse(record.route, record.params, self.shadow.task_call_keys)
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
        keys = [key] if parsed.key == key else [key, parsed.key]  # forgotten with the call or task
        event = parsed.event
        if event.call_id is not None and event.call_id in self.finished:
            self.seen.difference_update(keys)
            self.late += 1
            return set()
        if isinstance(event, TaskEvent):
            return self._apply_task(event, rx, keys)
        channel = "chat" if isinstance(event, ChatParticipant) else event.channel
        call = self.calls.get(event.call_id)
        if call is None:
            call = self.calls[event.call_id] = Call(event.call_id, channel, rx, rx)
            self.open_calls.add(call.call_id)
        call.keys.extend(keys)
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
            self.open_calls.discard(call.call_id)
        return {call.call_id}

    def _apply_task(self, parsed: TaskEvent, rx: float, keys: list[str]) -> set[str]:
        event = parsed.event.model_copy(update={"received": datetime.fromtimestamp(rx, UTC)})
        task = self.tasks.get(event.task_sid)
        if task is None:
            task = self.tasks[event.task_sid] = TaskState(event.task_sid, rx)
            self.unnamed[task.sid] = None
        task.events.append(event)
        task.keys.extend(keys)
        if event.queue_sid and event.queue_name:
            self.queue_names[event.queue_sid] = event.queue_name
        if task.call_id is None and parsed.call_id:
            task.call_id = parsed.call_id
            self.call_task_sids.setdefault(task.call_id, []).append(task.sid)
            self.unnamed.pop(task.sid, None)
        limit = self.shadow.max_orphan_tasks
        while len(self.unnamed) > limit:
            oldest = self.tasks[next(iter(self.unnamed))]
            self.drop_task(oldest, f"more than [shadow] max_orphan_tasks = {limit} tasks named no call", rx)
        return {task.call_id} if task.call_id in self.calls else set()

    # -- orphan tasks ---------------------------------------------------------------------

    def drop_task(self, task: TaskState, why: str, now: float) -> None:
        """Forget an orphan task (its events' keys too); the next compaction archives its events."""
        self.tasks.pop(task.sid, None)
        self.unnamed.pop(task.sid, None)
        self.seen.difference_update(task.keys)
        if task.call_id is not None:
            sids = self.call_task_sids.get(task.call_id, [])
            if task.sid in sids:
                sids.remove(task.sid)
            if not sids:
                self.call_task_sids.pop(task.call_id, None)
        known = self.dropped_tasks.get(task.sid)
        keys = set(task.keys) | (known.keys if known is not None else set())
        events = len(task.events) + (known.events if known is not None else 0)
        self.dropped_tasks[task.sid] = DroppedTask(task.sid, task.call_id, task.first_rx, events, keys, now, why)

    def expire_tasks(self, now: float) -> int:
        """Drop every orphan task first seen over `orphan_task_ttl_s` ago; returns how many.
        Tasks are kept in the order they were first seen, so only the old ones are looked at."""
        ttl = self.shadow.orphan_task_ttl_s
        old = []
        for task in self.tasks.values():
            if task.first_rx > now - ttl:
                break
            if task.call_id is None or task.call_id not in self.calls:
                old.append(task)
        for task in old:
            named = f"call {task.call_id} was never seen" if task.call_id else "it names no call"
            self.drop_task(task, f"{named} within [shadow] orphan_task_ttl_s = {ttl:g} s", now)
        return len(old)

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

    def speaker(
        self,
        call: Call,
        mark: Mark,
        decision: chat_parties.Decision | None = None,
        parties: list[chat_parties.Party] | None = None,
    ) -> Speaker:
        if call.channel == "chat":
            decision = decision or self.chat_decision(call)
            parties = self.parties(call) if parties is None else parties
            party = chat_parties.author_party(parties, mark.participant, mark.author)
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
        parties = self.parties(call) if call.channel == "chat" else None
        return [(m, Turn(speaker=self.speaker(call, m, decision, parties), text=m.text or "")) for m in said]

    def call_tasks(self, call: Call) -> list[TaskState]:
        """The call's tasks, from the index: never a scan over every task of the pilot."""
        tasks = (self.tasks[sid] for sid in self.call_task_sids.get(call.call_id, ()) if sid in self.tasks)
        return sorted(tasks, key=lambda t: t.first_rx)

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
            "started_at": utc_text(datetime.fromtimestamp(call.started, UTC)),
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

    def view(self, call_id: str) -> dict[str, Any] | None:
        """One call's view: described while it is in memory, its summary once it is released."""
        call = self.calls.get(call_id)
        if call is not None:
            return self.describe(call)
        kept = self.views.get(call_id)
        return kept[1] if kept is not None else None

    def listing(self) -> dict[str, Any]:
        """Every call, in order of first receipt: each described once (linear in the calls)."""
        rows: list[tuple[float, int, dict[str, Any]]] = []
        for n, call in enumerate(self.calls.values()):
            rows.append((call.first_rx, n, self.describe(call)))
        for n, (first_rx, view) in enumerate(self.views.values(), start=len(rows)):
            rows.append((first_rx, n, _timed(view)))
        rows.sort(key=lambda r: (r[0], r[1]))
        return {"calls": [view for _, _, view in rows]}


def _old_time(view: dict[str, Any]) -> bool:
    """Views an earlier version kept (calls.jsonl) wrote `started_at` as isoformat() with `+00:00`."""
    at = view.get("started_at")
    return isinstance(at, str) and at.endswith("+00:00") and parse_when(at) is not None


def _timed(view: dict[str, Any]) -> dict[str, Any]:
    """A done call's kept view with its time as every JSON writes one (see _old_time)."""
    if _old_time(view) and (when := parse_when(view["started_at"])) is not None:
        view["started_at"] = utc_text(when)
    return view


def load_book(records: Any, shadow: ShadowSettings, twilio: TwilioSettings) -> CallBook:
    book = CallBook(shadow, twilio)
    for record in records:
        book.apply(record)
    return book


def replay(book: CallBook, path: Path, *, opened: Callable[[], None] | None = None) -> list[Skipped]:
    """Apply every record of the log at `path`; returns every line skipped (not JSON, not a
    record, or an event its route cannot read), in line order. The server's start and
    `shadow calls` both read the log through this (checkpoint.load), so they skip the same lines.

    `opened` runs once the log file is open, before any record is applied (checkpoint.load
    reads the done calls' summaries there). `book.log_records` is then how many records the
    log held."""
    reader = LogReader(path)
    records = iter(reader)
    first = next(records, None)  # opens the log file now
    if opened is not None:
        opened()
    if first is not None:
        for line, record in chain([first], records):
            book.apply(record, line)
    book.log_records = reader.records
    book.skipped = sorted([*reader.skipped, *book.skipped], key=lambda s: s.line)
    return book.skipped


def skipped_summary(skipped: list[Skipped], path: Path, *, show: int = 10) -> str:
    """One line for the operator: how many lines were skipped, which, and the first reason."""
    lines = ", ".join(str(s.line) for s in skipped[:show]) + (", ..." if len(skipped) > show else "")
    return (
        f"skipped {len(skipped)} line(s) of {path} that are not usable records (line {lines}; "
        f"line {skipped[0].line}: {skipped[0].why})"
    )
