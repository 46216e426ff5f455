"""What the human did, read once (transcripts/twilio/human.py) and the same way on import and live.

Unit tests feed hand-built TaskRouter histories to `read_human`. The cross-path test feeds the
same histories as REST Task + Event resources through the import mapping and as TaskRouter
event callbacks through wire.parse and the shadow server's CallBook, and wants one outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shadowpilot.config import Settings, ShadowSettings, TwilioSettings
from shadowpilot.runners.shadow.calls import CallBook
from shadowpilot.runners.shadow.wire import parse
from shadowpilot.transcripts.twilio.human import (
    RoutedTask,
    TaskHistory,
    TaskRouterEvent,
    read_human,
)
from shadowpilot.transcripts.twilio.mapping import map_fetched, tasks_from
from shadowpilot.transcripts.twilio.records import CallRecord, Fetched
from shadowpilot.types import Outcome, Turn
from shadowpilot.when import event_time

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ACCOUNT, WS = "AC" + "0" * 32, "WS" + "9" * 32
FRONT, BILLING, OVERFLOW = "WQ" + "1" * 32, "WQ" + "2" * 32, "WQ" + "4" * 32
QUEUES = {FRONT: "front-desk", BILLING: "billing-tier2", OVERFLOW: "overflow"}
WORKER_B = "WK" + "b" * 32
CALL = "CA" + "c" * 32
GAP = 4.0  # seconds between the starts of two lines of the call
LINES = [("customer" if i % 2 == 0 else "agent", f"line {i}") for i in range(8)]  # customer turns 0, 2, 4, 6


def wt(n: int) -> str:
    return f"WT{n:032x}"


# -- unit: read_human on hand-built histories -----------------------------------------------------

TURNS = [Turn(speaker=who, text=text) for who, text in LINES]  # type: ignore[arg-type]
STARTS: list[datetime | None] = [T0 + timedelta(seconds=GAP * i) for i in range(len(LINES))]


def ev(kind: str, at: float, task: int = 1, **kw: Any) -> TaskRouterEvent:
    return TaskRouterEvent(task_sid=wt(task), kind=kind, at=T0 + timedelta(seconds=at), **kw)


def read(*tasks: RoutedTask, cfg: TwilioSettings | None = None, turns=TURNS, starts=STARTS, received=None) -> Outcome:
    history = TaskHistory(tasks=list(tasks))
    return read_human(history, turns, starts, cfg or TwilioSettings(), received=received).outcome


def task(n: int, *events: TaskRouterEvent, **kw: Any) -> RoutedTask:
    return RoutedTask(sid=wt(n), events=list(events), **kw)


def test_a_transfer_the_human_canceled_is_not_an_escalation_and_one_that_failed_is() -> None:
    started = ev("task.transfer-initiated", 9, transfer_to=BILLING, transfer_to_name="billing-tier2")
    canceled = read(task(1, started, ev("task.transfer-canceled", 10)))
    failed = read(task(1, started, ev("task.transfer-attempt-failed", 10), ev("task.transfer-failed", 12)))
    assert canceled.escalated is False
    assert (failed.escalated, failed.at_turn, failed.queue, failed.at_clock) == (True, 2, "billing-tier2", "twilio")


def test_a_workflow_moving_an_unanswered_task_on_is_routing_not_an_escalation() -> None:
    moved = task(
        1,
        ev("task-queue.entered", 0, queue_name="front-desk"),
        ev("task-queue.timeout", 9, queue_name="front-desk"),
        ev("task-queue.moved", 9, queue_name="overflow"),
        ev("task-queue.entered", 9, queue_name="overflow"),
        ev("reservation.accepted", 10, queue_name="overflow"),
    )
    assert read(moved).escalated is False
    # ... unless the tenant says only front-desk answers calls normally
    off = read(moved, cfg=TwilioSettings(first_line_queues=["front-desk"]))
    assert (off.escalated, off.at_turn, off.queue) == (True, 2, "overflow")


def test_a_second_task_is_an_escalation_with_its_own_queue_and_attributes() -> None:
    first = task(1, ev("task-queue.entered", 0, queue_name="front-desk", attributes={"skill": "general"}))
    second = task(
        2,
        ev("task.created", 17, task=2, attributes={"skill": "billing", "escalation_reason": "refund"}),
        ev("task-queue.entered", 17, task=2, queue_name="billing-tier2"),
    )
    out = read(first, second)
    assert (out.escalated, out.at_turn, out.queue, out.reason, out.routing) == (
        True,
        4,
        "billing-tier2",
        "refund",
        {"skill": "billing"},
    )


def test_the_first_escalation_is_scored_and_a_worker_transfer_has_no_queue() -> None:
    out = read(
        task(
            1,
            ev("task.transfer-initiated", 5, transfer_to=WORKER_B, transfer_type="WORKER"),
            ev("task.transfer-initiated", 21, transfer_to=BILLING, transfer_to_name="billing-tier2"),
        )
    )
    assert (out.escalated, out.at_turn, out.queue) == (True, 0, None)


def test_numeric_priority_reason_and_customer_come_from_twilio_settings() -> None:
    cfg = TwilioSettings(
        priority_names={"10": "high"},
        reason_attribute="why.code",
        customer_attributes={"vip": "vip", "plan": "account.plan"},
    )
    attrs = {"vip": True, "why": {"code": "billing_dispute"}, "account": {"plan": "gold"}}
    history = TaskHistory(tasks=[task(1, ev("task.transfer-initiated", 9, attributes=attrs, priority=10))])
    reading = read_human(history, TURNS, STARTS, cfg)
    assert reading.outcome.routing == {"priority": "high", "vip": True}
    assert reading.outcome.reason == "billing_dispute"
    assert reading.customer == {"vip": True, "plan": "gold"}


def test_timing_uses_twilios_time_to_its_precision_else_the_receipt_time() -> None:
    received = T0 + timedelta(seconds=30)  # delivered long after it happened
    late = task(1, ev("task.transfer-initiated", 8, received=received, at_precision_s=1.0))
    # whole-second 8 s: the customer turn that started at 8.0 counts as before it; the one at 16 does not
    assert read(late).at_turn == 2
    no_time = task(1, TaskRouterEvent(task_sid=wt(1), kind="task.transfer-initiated", received=received))
    # no Twilio time on the event: placed by receipt against the turns' receipt times (live), and
    # never by receipt against Twilio's turn times (import has no receipt times: not placed)
    out = read(no_time, received=STARTS)
    assert (out.at_turn, out.at_clock) == (6, "received")
    assert read(no_time).at_turn is None
    assert read(late, starts=[None] * len(LINES)).at_turn is None  # no turn times: timing not scored
    assert "at_clock" not in read(late, starts=[None] * len(LINES)).model_dump()  # unset: out of dumps


def test_no_task_and_no_escalation_are_not_escalated() -> None:
    assert read() == Outcome(escalated=False)
    assert read(task(1, ev("task-queue.entered", 0, queue_name="front-desk"), ev("task.completed", 30))) == Outcome(
        escalated=False
    )


@pytest.mark.parametrize(
    ("raw", "precision"),
    [
        ("2026-11-02T09:00:00Z", 1.0),
        ("2026-11-02T09:00:00.250Z", 0.001),
        (1793610000, 1.0),
        ("1793610000", 1.0),
        (1793610000000, 0.001),
        ("1793610000.5", 0.001),
    ],
)
def test_twilio_times_parse_with_their_precision(raw: object, precision: float) -> None:
    at, got = event_time(raw)
    assert at is not None and abs((at - T0).total_seconds()) < 1 and got == precision


def test_first_line_queues_in_shadow_still_apply() -> None:
    settings = Settings(shadow={"first_line_queues": ["front-desk"]})  # type: ignore[arg-type]
    assert settings.twilio.first_line_queues == ["front-desk"]


# -- the same histories through import and live ---------------------------------------------------


@dataclass
class Step:
    """One TaskRouter event at `at` seconds after the call started (whole seconds: TaskRouter's
    callback Timestamp is whole seconds), on task `task`."""

    at: int
    kind: str
    task: int = 1
    queue: str | None = FRONT
    transfer_to: str | None = None
    transfer_type: str | None = None


@dataclass
class History:
    name: str
    steps: list[Step]
    attributes: dict[int, dict[str, Any]] = field(default_factory=dict)
    cfg: dict[str, Any] = field(default_factory=dict)


BASE_ATTRS = {"skill": "general", "vip": True, "plan": "gold"}
ESC_ATTRS = {"skill": "billing", "vip": True, "plan": "gold", "escalation_reason": "billing_dispute"}


def answered(task: int = 1, queue: str = FRONT) -> list[Step]:
    return [
        Step(0, "task.created", task, None),
        Step(0, "task-queue.entered", task, queue),
        Step(1, "reservation.created", task, queue),
        Step(1, "reservation.accepted", task, queue),
    ]


# a Workflow moves the unanswered task on after a queue timeout: the same history read with and
# without [twilio] first_line_queues
OVERFLOWED = [
    Step(0, "task.created", queue=None),
    Step(0, "task-queue.entered"),
    Step(11, "task-queue.timeout"),
    Step(11, "task-queue.moved", queue=OVERFLOW),
    Step(11, "task-queue.entered", queue=OVERFLOW),
    Step(12, "reservation.accepted", queue=OVERFLOW),
    Step(31, "task.completed", queue=OVERFLOW),
]

HISTORIES = [
    History("no escalation", [*answered(), Step(31, "task.completed")]),
    History(
        "plain transfer",
        [
            *answered(),
            Step(11, "task.transfer-initiated", transfer_to=BILLING, transfer_type="QUEUE"),
            Step(12, "task-queue.entered", queue=BILLING),
            Step(13, "reservation.accepted", queue=BILLING),
            Step(13, "task.transfer-completed", queue=BILLING),
            Step(31, "task.completed", queue=BILLING),
        ],
        {1: ESC_ATTRS},
    ),
    History(
        "transfer then cancel",
        [
            *answered(),
            Step(11, "task.transfer-initiated", transfer_to=BILLING, transfer_type="QUEUE"),
            Step(12, "task.transfer-canceled"),
            Step(31, "task.completed"),
        ],
    ),
    History(
        "failed transfer",
        [
            *answered(),
            Step(11, "task.transfer-initiated", transfer_to=BILLING, transfer_type="QUEUE"),
            Step(14, "task.transfer-attempt-failed"),
            Step(16, "task.transfer-failed"),
            Step(31, "task.completed"),
        ],
        {1: ESC_ATTRS},
    ),
    History(
        "workflow timeout then overflow",
        OVERFLOWED,
    ),
    History(
        "overflow out of first line",
        OVERFLOWED,
        cfg={"first_line_queues": ["front-desk"]},
    ),
    History(
        "worker-to-worker transfer",
        [
            *answered(),
            Step(19, "task.transfer-initiated", transfer_to=WORKER_B, transfer_type="WORKER"),
            Step(20, "reservation.accepted"),
            Step(20, "task.transfer-completed"),
            Step(31, "task.completed"),
        ],
        {1: ESC_ATTRS},
    ),
    History(
        "second task",
        [
            *answered(),
            Step(10, "task.completed"),
            *[Step(11, s.kind, 2, s.queue) for s in answered(2, BILLING)],
            Step(31, "task.completed", 2, BILLING),
        ],
        {2: ESC_ATTRS},
    ),
    History("no task", []),
]

# What each history must give (the same on both paths): escalated, at_turn, queue, reason.
EXPECTED = {
    "no escalation": (False, None, None, None),
    "plain transfer": (True, 2, "billing-tier2", "billing_dispute"),
    "transfer then cancel": (False, None, None, None),
    "failed transfer": (True, 2, "billing-tier2", "billing_dispute"),
    "workflow timeout then overflow": (False, None, None, None),
    "overflow out of first line": (True, 2, "overflow", None),
    "worker-to-worker transfer": (True, 4, None, "billing_dispute"),
    "second task": (True, 2, "billing-tier2", "billing_dispute"),
    "no task": (False, None, None, None),
}


def settings_for(h: History) -> TwilioSettings:
    # the shadow server only learns queue names from callbacks: a target never named in one
    # (the failed transfer's) is named by [twilio] queue_names, which import reads as well
    return TwilioSettings(queue_names={BILLING: "billing-tier2"}, priority_names={"10": "high"}, **h.cfg)


def attrs_of(h: History, n: int) -> dict[str, Any]:
    return {"call_sid": CALL, **(h.attributes.get(n) or BASE_ATTRS)}


def when(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rest_payloads(h: History) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Task and Event resources as the TaskRouter v1 REST API lists them (snake_case)."""
    tasks, events = [], []
    for n in sorted({s.task for s in h.steps}):
        mine = [s for s in h.steps if s.task == n]
        last_queue = next((s.queue for s in reversed(mine) if s.queue), None)
        tasks.append(
            {
                "sid": wt(n),
                "attributes": json.dumps(attrs_of(h, n)),
                "assignment_status": "completed",
                "date_created": when(mine[0].at).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "priority": 10,
                "task_queue_sid": last_queue,
                "task_queue_friendly_name": QUEUES.get(last_queue or ""),
                "task_channel_unique_name": "voice",
            }
        )
    for i, s in enumerate(h.steps):
        data: dict[str, Any] = {
            "task_sid": wt(s.task),
            "task_attributes": json.dumps(attrs_of(h, s.task)),
            "task_priority": 10,
            "task_channel_unique_name": "voice",
        }
        if s.queue:
            data["task_queue_sid"] = s.queue
        if s.transfer_to:
            data.update(transfer_to=s.transfer_to, transfer_type=s.transfer_type, transfer_mode="COLD")
        events.append(
            {
                "sid": f"EV{i:032x}",
                "account_sid": ACCOUNT,
                "workspace_sid": WS,
                "event_type": s.kind,
                "event_date": when(s.at).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "event_date_ms": int(when(s.at).timestamp() * 1000),
                "event_data": data,
                "resource_type": "task",
                "resource_sid": wt(s.task),
                "description": s.kind,
            }
        )
    return tasks, events


def imported(h: History) -> Outcome:
    cfg = settings_for(h)
    transcript = {
        "sid": "GT" + "1" * 32,
        "status": "completed",
        "customer_key": CALL,
        "media_start_time": T0.isoformat(),
        "channel": {
            "participants": [
                {"channel_participant": 1, "role": "Customer"},
                {"channel_participant": 2, "role": "Agent"},
            ]
        },
    }
    sentences = [
        {
            "media_channel": "1" if who == "customer" else "2",
            "sentence_index": i,
            "start_time": f"{GAP * i:.2f}",
            "end_time": f"{GAP * i + 3:.2f}",
            "transcript": text,
        }
        for i, (who, text) in enumerate(LINES)
    ]
    tasks, events = rest_payloads(h)
    fetched = Fetched(calls=[CallRecord(transcript, sentences, CALL)], tasks=tasks_from(tasks, events, QUEUES))
    mapped = map_fetched(fetched, cfg, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert not mapped.problems
    [(case, _)] = mapped.cases
    return case.outcome


def callbacks(h: History, delay: float) -> list[tuple[float, str, dict[str, str]]]:
    """(receipt time, route, form params): the call's transcription callbacks, each final
    transcript sent (Twilio's Timestamp) and received 1.5 s after its line began, and TaskRouter's
    callbacks `delay` s late."""
    base = {"AccountSid": ACCOUNT, "CallSid": CALL, "TranscriptionSid": "GT" + "1" * 32}
    t0 = T0.timestamp()
    out = [(t0, "transcriptions", {**base, "TranscriptionEvent": "transcription-started", "SequenceId": "1"})]
    for i, (who, text) in enumerate(LINES):
        out.append(
            (
                t0 + GAP * i + 1.5,
                "transcriptions",
                {
                    **base,
                    "TranscriptionEvent": "transcription-content",
                    "SequenceId": str(i + 2),
                    "Final": "true",
                    "Timestamp": datetime.fromtimestamp(t0 + GAP * i + 1.5, UTC).isoformat(timespec="milliseconds"),
                    "Track": "inbound_track" if who == "customer" else "outbound_track",
                    "TranscriptionData": json.dumps({"transcript": text, "confidence": 0.9}),
                },
            )
        )
    out.append(
        (
            t0 + GAP * len(LINES),
            "transcriptions",
            {**base, "TranscriptionEvent": "transcription-stopped", "SequenceId": str(len(LINES) + 2)},
        )
    )
    for s in h.steps:
        p = {
            "EventType": s.kind,
            "AccountSid": ACCOUNT,
            "WorkspaceSid": WS,
            "ResourceType": "task",
            "ResourceSid": wt(s.task),
            "TaskSid": wt(s.task),
            "TaskAttributes": json.dumps(attrs_of(h, s.task)),
            "TaskPriority": "10",
            "TaskChannelUniqueName": "voice",
            "Timestamp": str(int(t0 + s.at)),
        }
        if s.queue:
            p.update(TaskQueueSid=s.queue, TaskQueueName=QUEUES[s.queue])
        if s.transfer_to:
            p.update(TransferTo=s.transfer_to, TransferType=s.transfer_type or "", TransferMode="COLD")
        out.append((t0 + s.at + delay, "taskrouter", p))
    return sorted(out, key=lambda c: c[0])


def live(h: History, delay: float = 0.3) -> Outcome:
    shadow = ShadowSettings()
    book = CallBook(shadow, settings_for(h))
    for rx, route, params in callbacks(h, delay):
        parsed = parse(route, params, shadow.task_call_keys)  # type: ignore[arg-type]
        assert parsed is not None
        book.apply({"k": "ev", "route": route, "key": parsed.key, "p": params, "rx": rx})
    return book.outcome(book.calls[CALL])


@pytest.mark.parametrize("h", HISTORIES, ids=[h.name for h in HISTORIES])
def test_import_and_live_read_the_same_history_the_same_way(h: History) -> None:
    got, seen = imported(h), live(h)
    assert got == seen
    assert (got.escalated, got.at_turn, got.queue, got.reason) == EXPECTED[h.name]
    if got.escalated:
        assert got.at_clock == "twilio" and got.routing["priority"] in ("high",)


@pytest.mark.parametrize("h", [h for h in HISTORIES if EXPECTED[h.name][0]], ids=lambda h: h.name)
def test_a_delayed_callback_does_not_move_the_escalation_turn_live(h: History) -> None:
    """TaskRouter's callbacks 9 s late (a retry, a slow webhook): two more customer turns arrive
    first, but Twilio's Timestamp still places the escalation where it happened."""
    assert live(h, delay=9.0) == live(h) == imported(h)


def table() -> str:
    """The histories and the outcome each gives (import = live), for the lead's note."""
    rows = ["| history | escalated | at_turn | queue | reason | routing |", "|---|---|---|---|---|---|"]
    for h in HISTORIES:
        o = imported(h)
        assert o == live(h) == live(h, delay=9.0)
        rows.append(f"| {h.name} | {o.escalated} | {o.at_turn} | {o.queue} | {o.reason} | {o.routing} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
