"""Replay: stored cases through an agent, with bounded concurrency across cases.

Turns within a case stay in order (the turn loop); cases run side by side, at
most `concurrency` at once, so a slow agent is kept busy without being flooded.
An agent that is never reached (runners.reach) stops the replay with RunAborted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..types import CallRun, Transcript
from .agent import Agent
from .events import Hearing, TranscriptEvents
from .reach import ReachCheck
from .turn_loop import DEFAULT_MAX_REPLY_CHARS, run_call


async def replay(
    cases: list[Transcript],
    agent: Agent,
    *,
    concurrency: int = 8,
    all_turns: bool = False,
    timeout_s: float = 30.0,
    repeats: int = 1,
    skip: set[tuple[str, int]] | None = None,
    fingerprints: dict[str, str] | None = None,
    on_result: Callable[[CallRun], None] | None = None,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
    hearing: dict[str, Hearing] | None = None,
) -> list[CallRun]:
    """Replay every case `repeats` times; results come back in case order.

    `skip` holds (case id, repeat) calls already made (a resumed run);
    `fingerprints` (case id -> fingerprint) saves hashing cases the caller already hashed;
    `on_result` is called as each call finishes (progress bars, batched writes);
    `hearing` (case id -> what the ASR heard of its customer turns) makes it an audio replay.
    Raises RunAborted when the first turns all fail unreached (nothing listening, the key
    refused), or when nothing but those happened: the calls made so far went to `on_result`.
    """
    fps = fingerprints or {c.id: c.fingerprint() for c in cases}
    jobs: asyncio.Queue[tuple[int, Transcript, int]] = asyncio.Queue()
    todo = [(c, r) for r in range(repeats) for c in cases if not skip or (c.id, r) not in skip]
    for i, (case, rep) in enumerate(todo):
        jobs.put_nowait((i, case, rep))
    results: list[CallRun | None] = [None] * jobs.qsize()
    reach = ReachCheck()

    async def worker() -> None:
        while True:
            try:
                i, case, rep = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            result = await run_call(
                TranscriptEvents(case, (hearing or {}).get(case.id)),
                agent,
                fingerprint=fps[case.id],
                repeat=rep,
                all_turns=all_turns,
                timeout_s=timeout_s,
                reach=reach,
                max_reply_chars=max_reply_chars,
            )
            results[i] = result
            if on_result is not None:
                on_result(result)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(results))))]
    try:
        await asyncio.gather(*workers)
    finally:  # on failure or interrupt, stop the other calls and wait for them to unwind
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    reach.finish()
    return [r for r in results if r is not None]
