"""Call events: what both replay and the live shadow server feed the turn loop.

Replay builds them from a stored Transcript; the shadow server from Twilio
webhooks. One loop consumes both, so what replay predicts is what shadow measures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..types import Outcome, Transcript, Turn


@dataclass(frozen=True)
class CallStarted:
    case_id: str
    channel: str
    customer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Utterance:
    index: int  # position in the conversation (the transcript's turn index)
    turn: Turn


@dataclass(frozen=True)
class HumanAction:
    """What the human did (a transfer, a resolution): the ground truth, not shown to the agent."""

    outcome: Outcome


@dataclass(frozen=True)
class CallEnded:
    pass


Event = CallStarted | Utterance | HumanAction | CallEnded


class EventSource(Protocol):
    def __aiter__(self) -> AsyncIterator[Event]: ...


class TranscriptEvents:
    """A stored case replayed as the events of a live call."""

    def __init__(self, transcript: Transcript):
        self.transcript = transcript

    async def __aiter__(self) -> AsyncIterator[Event]:
        t = self.transcript
        yield CallStarted(t.id, t.channel, dict(t.customer))
        for i, turn in enumerate(t.turns):
            yield Utterance(i, turn)
            if t.outcome.escalated and t.outcome.at_turn == i:
                yield HumanAction(t.outcome)
        if not t.outcome.escalated or t.outcome.at_turn is None:
            yield HumanAction(t.outcome)
        yield CallEnded()
