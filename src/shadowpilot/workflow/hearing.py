"""What an audio run (`run --audio`) hears: each customer turn's span of the case's recording
through the configured `[asr]` engine, before the replay, so the turn loop asks the agent with
the heard text in place of the transcript's (runners.events.TranscriptEvents) and nothing else
about the replay changes (one loop, one cache key: the heard text is part of the agent's input).

Hearing comes first, case by case, and the agent is asked afterwards: the turns of a case are
heard in order, at most `concurrency` cases at once. A failure of the engine on a turn is kept
as that turn's error (the case fails there, like an agent error); a turn without start_s/end_s
has no span to hear and keeps its transcript text (counted in `Heard.untimed`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import AgentError, UsageError
from ..types import HeardTurn, Transcript
from .case_audio import customer_audio, turn_audio

if TYPE_CHECKING:
    from ..asr.engine import AsrEngine
    from ..runners.events import Hearing


@dataclass
class Heard:
    """What hearing a run's cases gave: per case id, its customer turns' hearing; how many customer
    turns were heard, failed, or had no times (their transcript text was used)."""

    hearing: dict[str, Hearing] = field(default_factory=dict)
    turns: int = 0
    failed: int = 0
    untimed: int = 0


def asr_engine(settings: Settings) -> AsrEngine:
    """The `[asr]` engine an audio run hears with; UsageError (exit 2) naming asr.kind when it is none."""
    from ..asr.engine import engine_from_settings

    engine = engine_from_settings(settings)
    if engine is None:
        raise UsageError(
            'an audio run needs a speech recogniser: field asr.kind is "none"; set it to "local" or "openai"'
        )
    return engine


def with_audio(cases: list[Transcript]) -> tuple[list[Transcript], int]:
    """The cases that carry a recording, and how many do not (an audio run leaves those out)."""
    kept = [c for c in cases if c.audio is not None]
    return kept, len(cases) - len(kept)


def hear(
    settings: Settings,
    engine: AsrEngine,
    cases: list[Transcript],
    *,
    concurrency: int = 2,
    on_case: Callable[[], None] | None = None,
) -> Heard:
    """Every customer turn of `cases` (each with audio) through `engine`; see the module's docstring."""
    out = Heard()

    async def case_hearing(case: Transcript) -> None:
        # one case's audio in memory at a time per worker: read, sliced, heard, dropped
        audio = await asyncio.to_thread(customer_audio, settings, case)
        hearing: Hearing = {}
        for i, turn in enumerate(case.turns):
            if turn.speaker != "customer":
                continue
            span = turn_audio(audio, turn)
            if span is None:
                out.untimed += 1
                continue
            try:
                heard = await engine.transcribe(span)
            except AgentError as exc:
                hearing[i] = str(exc) or type(exc).__name__
                out.failed += 1
                break  # the case fails at this turn: later turns are never asked
            hearing[i] = HeardTurn(
                text=heard.text,
                asr_ms=round(heard.processing_s * 1000.0, 1),
                audio_s=round(span.duration_s, 3),
                cost_usd=heard.cost_usd,
            )
            out.turns += 1
        out.hearing[case.id] = hearing
        if on_case is not None:
            on_case()

    async def run_all() -> None:
        todo = list(cases)
        await asyncio.to_thread(engine.warm_up)  # a model load or the SDK's imports is no utterance's time

        async def worker() -> None:
            while todo:
                await case_hearing(todo.pop(0))

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(todo))))))
        finally:
            await engine.aclose()

    asyncio.run(run_all())
    return out
