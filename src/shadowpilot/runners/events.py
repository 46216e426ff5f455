"""Call events: what both replay and the live shadow server feed the turn loop.

Replay builds them from a stored Transcript; the shadow server from Twilio
webhooks. One loop consumes both, so what replay predicts is what shadow measures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..types import HeardTurn, Outcome, Transcript, Turn


@dataclass(frozen=True)
class CallStarted:
    case_id: str
    channel: str
    customer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Utterance:
    """One turn said. In an audio replay a customer turn's text is what the ASR heard (`heard`), or
    `asr_error` says why nothing could be heard (the turn loop fails the case on it)."""

    index: int  # position in the conversation (the transcript's turn index)
    turn: Turn
    heard: HeardTurn | None = None
    asr_error: str | None = None


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


# What an audio replay heard of a case's customer turns, by turn index: a HeardTurn, or the ASR's
# error (a str). A customer turn missing from it (no start_s/end_s) keeps its transcript text.
Hearing = dict[int, HeardTurn | str]


class TranscriptEvents:
    """A stored case replayed as the events of a live call; with `hearing` (an audio replay), each
    customer turn heard says what the ASR heard in place of the transcript's text."""

    def __init__(self, transcript: Transcript, hearing: Hearing | None = None):
        self.transcript = transcript
        self.hearing = hearing or {}

    async def __aiter__(self) -> AsyncIterator[Event]:
        t = self.transcript
        yield CallStarted(t.id, t.channel, dict(t.customer))
        for i, turn in enumerate(t.turns):
            heard = self.hearing.get(i) if turn.speaker == "customer" else None
            if isinstance(heard, HeardTurn):
                yield Utterance(i, turn.model_copy(update={"text": heard.text}), heard=heard)
            elif isinstance(heard, str):
                yield Utterance(i, turn, asr_error=heard)
            else:
                yield Utterance(i, turn)
            if t.outcome.escalated and t.outcome.at_turn == i:
                yield HumanAction(t.outcome)
        if not t.outcome.escalated or t.outcome.at_turn is None:
            yield HumanAction(t.outcome)
        yield CallEnded()
