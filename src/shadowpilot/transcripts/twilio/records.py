"""What the Twilio fetch hands to the mapping: plain dicts shaped like the REST JSON (snake_case keys).

Plain data, so mapping.py is testable without HTTP and nothing past it sees a twilio object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .human import RoutedTask

Payload = dict[str, Any]


@dataclass
class CallRecord:
    """A finished call: its Intelligence v2 transcript, sentences and the CallSid it belongs to."""

    transcript: Payload
    sentences: list[Payload]
    call_sid: str | None
    recording: Path | None = None  # `import twilio --audio`: the call's Recording, downloaded


@dataclass
class ChatRecord:
    """A finished chat: a Conversations v1 conversation with its messages and participants."""

    conversation: Payload
    messages: list[Payload]
    participants: list[Payload]


# One TaskRouter task as far as the Task resource and its Events tell it (human.RoutedTask).
TaskInfo = RoutedTask


@dataclass(frozen=True)
class Failure:
    """A call or chat that could not be fetched; the others were imported."""

    kind: str  # "call" | "chat"
    sid: str
    error: str
    key: str | None = None  # the CallSid / conversation sid, when known


@dataclass(frozen=True)
class Unjoined:
    """A record with no partner: a call or chat without a task, or a task without a call or chat."""

    kind: str  # "call-without-task" | "chat-without-task" | "task-without-call" | "task-without-chat" | ...
    sid: str
    key: str | None
    note: str


@dataclass
class SpeakerReport:
    """How the imported calls' media channels were mapped to speakers, and which look swapped."""

    by_source: dict[str, int] = field(default_factory=dict)  # participants | twilio-default | config -> calls
    swapped: dict[str, str] = field(default_factory=dict)  # case id -> the rule that mapped it
    hints: list[str] = field(default_factory=list)  # a rule that looks wrong for most of its calls


@dataclass
class Fetched:
    calls: list[CallRecord] = field(default_factory=list)
    chats: list[ChatRecord] = field(default_factory=list)
    tasks: list[TaskInfo] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    truncated: bool = False  # --limit stopped a listing early
