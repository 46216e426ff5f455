"""What the human did: a TaskRouter history -> the case's Outcome, one rule for import and live.

`import twilio` builds the history from the Task and Event REST resources, the shadow server from
TaskRouter's event callbacks; both call `read_human` and keep no rule of their own (README,
"What the human did"). Pure: no HTTP, no clock, no Twilio field names past the two builders.

The rules:
- a transfer the human started (`task.transfer-initiated`) is an escalation even if it later
  failed; one the human canceled (`task.transfer-canceled`) is not;
- a Workflow moving an unanswered task on (`task-queue.moved`, a timeout, an overflow) is routing,
  not an escalation;
- a second task for the same call is an escalation, and so is a task entering a queue outside
  `first_line_queues` when those are configured;
- the first escalation is scored, after the last customer turn that started at or before it, on
  Twilio's event time when the event carries one, else on the time the callback was received.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...config import TwilioSettings
from ...types import AttrValue, Clock, Outcome, Turn

EPOCH = datetime.min.replace(tzinfo=UTC)  # sorts records without a time first

Why = Literal["transfer", "second-task", "not-first-line"]

QUEUE_ENTRIES = {"task-queue.entered", "task-queue.moved"}
TRANSFER_START = "task.transfer-initiated"
TRANSFER_CANCELED = "task.transfer-canceled"
TRANSFER_ENDS = {"task.transfer-completed", "task.transfer-failed"}  # the decision stands either way


# -- reading Twilio's values ----------------------------------------------------------------------


def parse_when(value: Any) -> datetime | None:
    """A datetime from a datetime, an ISO-8601 string, or epoch seconds/milliseconds."""
    return event_time(value)[0]


def event_time(value: Any) -> tuple[datetime | None, float]:
    """Twilio's time and how precise it is (seconds): 1.0 for whole seconds, 0.001 otherwise.

    TaskRouter's callback `Timestamp` format is unverified (epoch or ISO, wire-format reference
    5.2), so both are read; numbers above 1e11 are milliseconds. The precision matters because a
    whole-second time may lie up to a second before the event."""
    if value is None or value == "":
        return None, 1.0
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)), 0.001
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        text = value.strip()
        value = float(text) if "." in text else int(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value > 1e11:
            return datetime.fromtimestamp(value / 1000, UTC), 0.001
        whole = float(value).is_integer()
        return datetime.fromtimestamp(value, UTC), 1.0 if whole else 0.001
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None, 1.0
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)), 0.001 if dt.microsecond else 1.0
    return None, 1.0


def parse_attributes(value: Any) -> dict[str, Any]:
    """Twilio attributes are a JSON string ("{}" when unset); tolerate a dict, None or junk."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def attr_path(attrs: dict[str, Any], path: str) -> Any:
    """A dotted path into task attributes: "conversations.conversation_id"."""
    node: Any = attrs
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


# -- the history --------------------------------------------------------------------------------


class TaskRouterEvent(BaseModel):
    """One TaskRouter event about a task, from the Event resource (import) or a callback (live)."""

    model_config = ConfigDict(frozen=True)

    task_sid: str
    kind: str  # the TaskRouter event type: task.created, task-queue.entered, task.transfer-initiated...
    at: datetime | None = None  # Twilio's event time, when the event carries one
    at_precision_s: float = 0.001  # 1.0: `at` is whole seconds, the event may be up to a second later
    received: datetime | None = None  # live: when the callback reached the server
    queue_sid: str | None = None
    queue_name: str | None = None
    attributes: dict[str, Any] | None = None  # None: this event carried none
    priority: int | None = None
    channel: str | None = None
    transfer_to: str | None = None  # WQ... (a queue) or WK... (a worker)
    transfer_to_name: str | None = None  # the target queue's FriendlyName, when the builder knows it
    transfer_type: str | None = None  # QUEUE | WORKER

    @property
    def when(self) -> datetime | None:
        """For ordering: Twilio's time, else the receipt time."""
        return self.at or self.received


class RoutedTask(BaseModel):
    """One TaskRouter task: what the Task resource says (import only) and its events."""

    sid: str
    created: datetime | None = None  # the Task resource's date_created
    attributes: dict[str, Any] = Field(default_factory=dict)  # the Task resource's (current) attributes
    queue_sid: str | None = None  # the Task resource's (current/last) queue
    queue_name: str | None = None
    priority: int | None = None
    channel: str | None = None
    events: list[TaskRouterEvent] = Field(default_factory=list)

    def ordered(self) -> list[TaskRouterEvent]:
        """Events by Twilio's time (receipt time without one); arrival order breaks ties."""
        return sorted(self.events, key=lambda e: e.when or EPOCH)

    def first_seen(self) -> datetime | None:
        times = [t for t in (self.created, *(e.when for e in self.events)) if t is not None]
        return min(times) if times else None

    def latest_attributes(self) -> dict[str, Any]:
        """The attributes the last event carrying any reported, else the Task resource's."""
        carried = [e.attributes for e in self.ordered() if e.attributes]
        return carried[-1] if carried else self.attributes

    def latest_priority(self) -> int | None:
        known = [e.priority for e in self.ordered() if e.priority is not None]
        return known[-1] if known else self.priority


class TaskHistory(BaseModel):
    """Every task TaskRouter had for one call or chat. Builders put queue names (TaskQueue sid ->
    FriendlyName, from the workspace's TaskQueues or the callbacks seen) into the events."""

    tasks: list[RoutedTask] = Field(default_factory=list)

    def ordered(self) -> list[RoutedTask]:
        return sorted(self.tasks, key=lambda t: (t.first_seen() is None, t.first_seen() or EPOCH, t.sid))


def queue_of(e: TaskRouterEvent) -> str | None:
    return e.queue_name or e.queue_sid


def named(history: TaskHistory, names: dict[str, str]) -> TaskHistory:
    """The history with queue sids the builder could not name named from `names` (sid -> name)."""
    if not names:
        return history

    def one(e: TaskRouterEvent) -> TaskRouterEvent:
        return e.model_copy(
            update={
                "queue_name": e.queue_name or names.get(e.queue_sid or ""),
                "transfer_to_name": e.transfer_to_name or names.get(e.transfer_to or ""),
            }
        )

    tasks = [
        t.model_copy(
            update={"queue_name": t.queue_name or names.get(t.queue_sid or ""), "events": [one(e) for e in t.events]}
        )
        for t in history.tasks
    ]
    return TaskHistory(tasks=tasks)


class Escalation(BaseModel):
    """The human's escalation that is scored: when, why, and which task carried it."""

    why: Why
    task_sid: str
    at: datetime | None  # the latest instant the escalation can have happened, on the chosen clock
    clock: Clock | None
    queue: str | None


class HumanReading(BaseModel):
    """What `read_human` found: the outcome, the customer profile, the first queue, the escalation."""

    outcome: Outcome
    customer: dict[str, Any] = Field(default_factory=dict)
    first_queue: str | None = None  # the queue the call was first routed to
    escalation: Escalation | None = None


# -- the rules ----------------------------------------------------------------------------------


def _instant(e: TaskRouterEvent) -> tuple[datetime | None, Clock | None]:
    """The latest time the event can have happened: Twilio's time to its precision, never after
    the callback arrived; the receipt time when Twilio gave none."""
    if e.at is not None:
        latest = e.at + timedelta(seconds=max(e.at_precision_s, 0.0))
        if e.received is not None:
            latest = min(latest, e.received)
        return latest, "twilio"
    if e.received is not None:
        return e.received, "received"
    return None, None


def _entries(task: RoutedTask) -> list[tuple[TaskRouterEvent, str]]:
    return [(e, q) for e in task.ordered() if e.kind in QUEUE_ENTRIES and (q := queue_of(e))]


def _transfer_queue(task: RoutedTask, e: TaskRouterEvent) -> str | None:
    """A transfer's destination queue: none for a worker; else the target queue's name, else the
    first queue the task entered after the transfer, else the target as given."""
    target = e.transfer_to or ""
    if (e.transfer_type or "").upper() == "WORKER" or target.startswith("WK"):
        return None
    if e.transfer_to_name:
        return e.transfer_to_name
    start = e.when or EPOCH
    after = [q for entry, q in _entries(task) if (entry.when or EPOCH) >= start]
    return after[0] if after else (target or None)


def _transfers(task: RoutedTask) -> list[TaskRouterEvent]:
    """The transfers the human started on this task and did not cancel."""
    kept: list[TaskRouterEvent] = []
    open_: TaskRouterEvent | None = None
    for e in task.ordered():
        if e.kind == TRANSFER_START:
            open_ = e
            kept.append(e)
        elif e.kind == TRANSFER_CANCELED:
            if open_ is not None:
                kept.remove(open_)
            open_ = None
        elif e.kind in TRANSFER_ENDS:
            if open_ is None:  # its start was not delivered (an EventsFilter): the end shows the decision
                kept.append(e)
            open_ = None
    return kept


def _candidates(history: TaskHistory, cfg: TwilioSettings) -> list[tuple[TaskRouterEvent, Why, RoutedTask]]:
    tasks = history.ordered()
    first_line = set(cfg.first_line_queues)
    found: list[tuple[TaskRouterEvent, Why, RoutedTask]] = []
    for n, task in enumerate(tasks):
        found += [(e, "transfer", task) for e in _transfers(task)]
        if first_line:
            found += [(e, "not-first-line", task) for e, q in _entries(task) if q not in first_line]
        if n > 0:
            events = task.ordered()
            start = (
                events[0]
                if events
                else TaskRouterEvent(task_sid=task.sid, kind="task.created", at=task.created, at_precision_s=1.0)
            )
            found.append((start, "second-task", task))
    return sorted(found, key=lambda c: c[0].when or EPOCH)


def escalation_turn(turns: list[Turn], starts: list[datetime | None], at: datetime | None) -> int | None:
    """The last customer turn that started at or before `at`; an escalation before the customer
    said anything maps to the first customer turn (the earliest point the agent is asked).
    Unknown times: None (timing is not scored)."""
    customer = [i for i, t in enumerate(turns) if t.speaker == "customer"]
    if at is None or not customer or any(starts[i] is None for i in customer):
        return None
    before = [i for i in customer if starts[i] <= at]  # type: ignore[operator]
    return before[-1] if before else customer[0]


def _routing(attrs: dict[str, Any], priority: int | None, cfg: TwilioSettings) -> dict[str, AttrValue]:
    routing: dict[str, AttrValue] = {}
    for key, path in cfg.routing_attributes.items():
        value = attr_path(attrs, path)
        if key == "priority" and value is None and priority is not None:
            value = cfg.priority_names.get(str(priority), priority)
        if value is not None:
            routing[key] = value if isinstance(value, str | bool | int | float) else json.dumps(value)
    return routing


def _text(attrs: dict[str, Any], path: str | None) -> str | None:
    value = attr_path(attrs, path) if path else None
    return str(value) if value is not None and value != "" else None


def read_human(
    history: TaskHistory, turns: list[Turn], starts: list[datetime | None], cfg: TwilioSettings
) -> HumanReading:
    """The human outcome of one call or chat. `starts[i]` is when turn i started (absolute time,
    the same clock as the history's: Twilio's on import, receipt time live)."""
    history = named(history, cfg.queue_names)
    tasks = history.ordered()
    if not tasks:
        return HumanReading(outcome=Outcome(escalated=False))
    first = tasks[0]
    first_attrs = first.latest_attributes()
    customer = {k: v for k, path in cfg.customer_attributes.items() if (v := attr_path(first_attrs, path)) is not None}
    entries = _entries(first)
    first_queue = entries[0][1] if entries else first.queue_name or first.queue_sid
    found = _candidates(history, cfg)
    if not found:
        return HumanReading(outcome=Outcome(escalated=False), customer=customer, first_queue=first_queue)
    event, why, task = found[0]
    if why == "transfer":
        queue = _transfer_queue(task, event)
    elif why == "not-first-line":
        queue = queue_of(event)
    else:
        later = _entries(task)
        queue = later[0][1] if later else task.queue_name or task.queue_sid
    at, clock = _instant(event)
    attrs = task.latest_attributes() or first_attrs
    priority = task.latest_priority()
    priority = first.latest_priority() if priority is None else priority
    at_turn = escalation_turn(turns, starts, at)
    outcome = Outcome(
        escalated=True,
        at_turn=at_turn,
        at_clock=clock if at_turn is not None else None,
        reason=_text(attrs, cfg.reason_attribute),
        urgency=_text(attrs, cfg.urgency_attribute),
        queue=queue,
        routing=_routing(attrs, priority, cfg),
    )
    escalation = Escalation(why=why, task_sid=task.sid, at=at, clock=clock, queue=queue)
    return HumanReading(outcome=outcome, customer=customer, first_queue=first_queue, escalation=escalation)
