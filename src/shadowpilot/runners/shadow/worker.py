"""The agent in shadow mode: asked off the request path, bounded, timed, logged, resumable.

Each live call gets one task running the shared turn loop (`run_call`) over a
LiveCallEvents source. The loop calls `ObservedAgent`, which waits for one of
`[shadow] agent_concurrency` slots, times the real agent out after `[agent]
timeout_s`, and logs the answer or the error before handing it back. After a
restart an utterance already answered is answered from the log, so the agent is
only asked what it had not answered yet. An agent that cannot be reached fails
each turn it is asked (shadow serve never stops for it) and says so in one log
line (ReachLog), not one per turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ...errors import AgentError, AgentUnreachable
from ...types import AgentInput, Recommendation
from ..agent import Agent, AgentBase
from ..turn_loop import DEFAULT_MAX_REPLY_CHARS, ask
from .calls import Call
from .records import AgentAnswer, LogEntry
from .source import LiveCallEvents

log = logging.getLogger("shadowpilot.shadow")


class ReachLog:
    """One warning when the agent stops being reachable, one line when it answers again."""

    def __init__(self) -> None:
        self.down = False

    def answered(self) -> None:
        if self.down:
            log.warning("the agent answers again")
        self.down = False

    def unreachable(self, exc: AgentUnreachable) -> None:
        if not self.down:
            log.warning("agent unreachable, live turns fail until it answers: %s", exc)
        self.down = True


class ObservedAgent(AgentBase):
    """The shared agent as one live call sees it. Not a wrapper: it times turns itself and leaves
    the shared agent's connections open (the defaults: no deadline of its own, nothing to close)."""

    kind = "shadow"

    def __init__(
        self,
        inner: Agent,
        *,
        call: Call,
        source: LiveCallEvents,
        slots: asyncio.Semaphore,
        timeout_s: float,
        record: Callable[[LogEntry], Awaitable[None]],
        reach: ReachLog | None = None,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
    ):
        self.inner = inner
        self.call = call
        self.source = source
        self.slots = slots
        self.timeout_s = timeout_s
        self.record = record
        self.reach = reach
        self.max_reply_chars = max_reply_chars

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def prompt_hash(self) -> str | None:
        return self.inner.prompt_hash()

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        key = self.source.asked[ctx.turn]
        done = self.call.results.get(key)
        if done is not None:  # answered before a restart
            if done.error is not None or done.recommendation is None:
                raise AgentError(done.error or "no recommendation")
            return Recommendation.model_validate({**done.recommendation, "case_id": ctx.case_id, "turn": ctx.turn})
        async with self.slots:
            t0 = time.perf_counter()
            rec, error = await ask(self.inner, ctx, self.timeout_s, self.reach, self.max_reply_chars)
            ms = (time.perf_counter() - t0) * 1000
        if rec is not None and rec.latency_ms is None:
            rec = rec.model_copy(update={"latency_ms": round(ms, 3)})
        answer = rec.model_dump(mode="json") if rec is not None else None
        await self.record(
            AgentAnswer(call=self.call.call_id, utterance_key=key, recommendation=answer, error=error, ms=round(ms, 3))
        )
        if error is not None or rec is None:
            raise AgentError(error or "no recommendation")
        return rec
