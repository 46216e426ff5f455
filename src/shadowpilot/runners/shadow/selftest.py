"""`shadowpilot shadow selftest`: one synthetic call, signed as Twilio signs it, through a running server.

It checks a deployment end to end without knowing Twilio's field names: the tunnel, the
public URL the signature covers, the auth token, the parsing, the agent and the store. Each
run uses a fresh CallSid and marks its transcription events with `ShadowpilotSelftest=true`,
so the server tags the case `selftest` and stores it in a `selftest-YYYYMMDD` run, never in
the day's shadow run. The call's state is read back through a signed GET of
`/selftest/<CallSid>`, so it works against a remote server too.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ...errors import UsageError
from ...terms import Term
from ...urls import safe_url
from .signature import signed_url
from .wire import SELFTEST_FIELD

RTT = "/twilio/transcriptions"
TASKS = "/twilio/taskrouter"
SELFTEST_ROUTE = "/selftest"
FIRST_QUEUE = "selftest-first-line"
SECOND_QUEUE = "selftest-second-line"
QUEUE_SIDS = {FIRST_QUEUE: "WQ" + "1" * 32, SECOND_QUEUE: "WQ" + "2" * 32}
CUSTOMER = ["Hello, this is a shadowpilot selftest call.", "Please put me through to a supervisor."]
AGENT = ["Thanks for calling, how can I help?", "Transferring you to a supervisor now."]


class SelftestFailed(UsageError):
    """The deployment did not take the synthetic call (exit 2: the environment, not the agent)."""


@dataclass(frozen=True)
class Delivery:
    """One webhook as Twilio would send it."""

    route: str
    what: str  # the event's name, for messages
    params: dict[str, str]


@dataclass(frozen=True)
class Scored:
    """What the server made of the synthetic call."""

    call_id: str
    state: str
    run_id: str | None
    human_escalated: bool
    human_queue: str | None
    human_at_turn: int | None  # customer turn, from 1
    agent_answered: int
    agent_errors: int
    agent_escalated_at_turn: int | None  # customer turn, from 1
    view: dict[str, Any]  # the server's own view of the call, as `shadow calls --json` shows it

    @classmethod
    def of(cls, view: dict[str, Any]) -> Scored:
        human, agent = view.get("human") or {}, view.get("agent") or {}
        return cls(
            call_id=str(view.get("call_id")),
            state=str(view.get("state")),
            run_id=view.get("run_id"),
            human_escalated=bool(human.get("escalated")),
            human_queue=human.get("queue"),
            human_at_turn=human.get("at_customer_turn"),
            agent_answered=int(agent.get("answered") or 0),
            agent_errors=int(agent.get("errors") or 0),
            agent_escalated_at_turn=agent.get("escalated_at_customer_turn"),
            view=view,
        )


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def synthetic_call(call_sid: str, call_key: str, now: float) -> list[Delivery]:
    """A complete call, in the order Twilio would send it: transcription-started, customer and
    agent utterances, a TaskRouter task, a transfer to a second queue (a second task), then
    transcription-stopped and both tasks completed. Timestamps step one second and end before
    `now`, as a real call's do by the time its events arrive."""
    start = now - 15
    suffix = call_sid[2:]
    gt, first, second = f"GT{suffix}", f"WT{suffix}", f"WT{suffix[::-1]}"
    account = "AC" + "0" * 32
    seq = 0
    tick = 0

    def rtt(event: str, **extra: str) -> Delivery:
        nonlocal seq, tick
        seq += 1
        tick += 1
        params = {
            "AccountSid": account,
            "CallSid": call_sid,
            "TranscriptionSid": gt,
            "TranscriptionEvent": event,
            "SequenceId": str(seq),
            "Timestamp": _iso(start + tick),
            SELFTEST_FIELD: "true",
            **extra,
        }
        return Delivery(RTT, event, params)

    def said(track: str, text: str) -> Delivery:
        data = json.dumps({"transcript": text, "confidence": 0.99})
        return rtt("transcription-content", Track=track, Final="true", LanguageCode="en-US", TranscriptionData=data)

    def task(event: str, task_sid: str, queue: str, **extra: str) -> Delivery:
        nonlocal tick
        tick += 1
        attrs = {call_key: call_sid, "direction": "inbound", "shadowpilot_selftest": True}
        params = {
            "EventType": event,
            "AccountSid": account,
            "WorkspaceSid": "WS" + "0" * 32,
            "ResourceType": "task",
            "ResourceSid": task_sid,
            "TaskSid": task_sid,
            "TaskQueueName": queue,
            "TaskQueueSid": QUEUE_SIDS[queue],
            "TaskChannelUniqueName": "voice",
            "TaskAttributes": json.dumps(attrs),
            "Timestamp": str(int(start + tick)),
            **extra,
        }
        return Delivery(TASKS, event, params)

    return [
        rtt("transcription-started", LanguageCode="en-US", Track="both_tracks"),
        task("task.created", first, FIRST_QUEUE),
        task("task-queue.entered", first, FIRST_QUEUE),
        said("outbound_track", AGENT[0]),
        said("inbound_track", CUSTOMER[0]),
        said("inbound_track", CUSTOMER[1]),
        task(
            "task.transfer-initiated",
            first,
            FIRST_QUEUE,
            TransferTo=QUEUE_SIDS[SECOND_QUEUE],
            TransferMode="COLD",
            TransferType="QUEUE",
        ),
        task("task.created", second, SECOND_QUEUE),
        task("task-queue.entered", second, SECOND_QUEUE),
        said("outbound_track", AGENT[1]),
        rtt("transcription-stopped"),
        task("task.completed", first, FIRST_QUEUE),
        task("task.completed", second, SECOND_QUEUE),
    ]


class Selftest:
    """Posts a synthetic call to `base` signed for `public_url`, then waits for it to be scored."""

    def __init__(self, *, public_url: str, token: str, base: str | None = None, client: Any = None):
        from twilio.request_validator import RequestValidator

        self.public_url = public_url.rstrip("/")
        self.base = (base or public_url).rstrip("/")
        self.validator = RequestValidator(token)
        self.client = client

    def _signed(self, path: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
        """(the URL signed, headers): the same URL the server rebuilds from its public_url."""
        path, _, query = path.partition("?")
        url = signed_url(self.public_url, path, query)
        return url, {"X-Twilio-Signature": self.validator.compute_signature(url, params)}

    def _refused(self, status: int, where: str, signed: str, body: str) -> SelftestFailed:
        where, signed = safe_url(where), safe_url(signed)
        if status == 403:
            return SelftestFailed(
                f"403 from {where}: the server did not accept the signature. This command signed "
                f"{signed} with TWILIO_AUTH_TOKEN; the server checks its [shadow] public_url + the route "
                "with its own TWILIO_AUTH_TOKEN. If the tunnel's URL changed, set public_url to the new "
                "https URL and restart `shadow serve`; check both sides use the same token."
            )
        return SelftestFailed(f"{status} from {where}: {body.strip()[:300] or 'no body'}")

    def post(self, deliveries: list[Delivery]) -> int:
        import httpx

        for d in deliveries:
            where = self.base + d.route
            signed, headers = self._signed(d.route, d.params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            try:
                response = self.client.post(where, content=urlencode(d.params).encode(), headers=headers)
            except httpx.HTTPError as exc:
                raise SelftestFailed(f"could not reach {safe_url(where)}: {exc or type(exc).__name__}") from None
            if not 200 <= response.status_code < 300:
                raise self._refused(response.status_code, f"{where} ({d.what})", signed, response.text)
        return len(deliveries)

    def view(self, call_id: str) -> dict[str, Any] | None:
        """The server's view of the call; None while it has not heard of it."""
        import httpx

        path = f"{SELFTEST_ROUTE}/{call_id}"
        signed, headers = self._signed(path, {})
        try:
            response = self.client.get(self.base + path, headers=headers)
        except httpx.HTTPError as exc:
            raise SelftestFailed(f"could not reach {safe_url(self.base + path)}: {exc or type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response.status_code, self.base + path, signed, response.text)
        return response.json()

    def wait(self, call_id: str, timeout_s: float, every_s: float = 0.5) -> Scored:
        deadline = time.monotonic() + timeout_s
        view: dict[str, Any] | None = None
        while True:
            view = self.view(call_id)
            if view is not None and view.get("closed"):
                raise SelftestFailed(f"call {call_id} was closed without becoming a case: {view['closed']}")
            if view is not None and view.get("state") == "scored":
                return Scored.of(view)
            if time.monotonic() >= deadline:
                break
            time.sleep(every_s)
        if view is None:
            raise SelftestFailed(
                f"the server took the events but did not show call {call_id} within {timeout_s:g} s "
                f"(GET {self.base}{SELFTEST_ROUTE}/{call_id} answered 404): is it an older shadowpilot?"
            )
        human = view.get("human") or {}
        waiting = "" if human.get("routing_known") else "; TaskRouter's outcome is not complete yet"
        raise SelftestFailed.worded(
            f"call {call_id} was not scored within {timeout_s:g} s: it is {view.get('state')}"
            f"{waiting} (see the server's log; raise ",
            Term("timeout_s"),
            " if the agent is slow)",
        )

    def run(self, call_key: str, timeout_s: float, call_id: str | None = None) -> tuple[Scored, int]:
        import httpx

        call_id = call_id or new_call_sid()
        own = self.client is None
        if own:
            self.client = httpx.Client(timeout=10.0)
        try:
            sent = self.post(synthetic_call(call_id, call_key, time.time()))
            return self.wait(call_id, timeout_s), sent
        finally:
            if own:
                self.client.close()
                self.client = None
