"""The response cache: an unchanged agent on unchanged cases makes no requests.

Keyed by (agent config, prompt hash, the conversation so far, repeat), so changing
the model, the prompt or a case makes requests again, and each of `--repeats K`
is its own sample. Cached answers keep the latency, tokens and cost first
measured (so scores stay comparable) and are flagged `cached`: they cost nothing now.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Collection
from typing import Any

from ..types import AgentInput, CacheStats, Recommendation, Transcript
from .agent import Agent, AgentBase, AgentWrapper
from .events import Hearing, TranscriptEvents
from .masking import mask_model
from .turn_loop import run_call


def cache_key(agent_config: dict[str, Any], prompt_hash: str | None, ctx: AgentInput) -> str:
    body = {
        "agent": agent_config,
        "prompt_hash": prompt_hash,
        "input": ctx.model_dump(mode="json"),
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


class CachedAgent(AgentWrapper):
    """Wraps an agent: answers from `lookup` when it can, else asks the agent and keeps the answer.

    New answers collect in `pending` until the caller stores them with the next batch of
    finished calls (one transaction). Each is the answer to one exact input, so even answers
    from a call cut short by Ctrl-C are kept: `run --resume` does not pay for them again.
    """

    def __init__(self, inner: Agent, lookup: Callable[[str], str | None]):
        super().__init__(inner)
        self._lookup = lookup
        self._config = inner.describe()
        self._prompt_hash = inner.prompt_hash()
        self.hits = 0
        self.misses = 0
        self.pending: list[tuple[str, str, str]] = []  # (key, agent kind, Recommendation JSON)

    def describe(self) -> dict[str, Any]:
        return self._config

    def prompt_hash(self) -> str | None:
        return self._prompt_hash

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        key = cache_key(self._config, self._prompt_hash, ctx)
        hit = self._lookup(key)
        if hit is not None:
            self.hits += 1
            rec = Recommendation.model_validate_json(hit)
            return rec.model_copy(update={"case_id": ctx.case_id, "turn": ctx.turn, "cached": True})
        self.misses += 1
        rec = mask_model(await self.inner.recommend(ctx))  # the cache is in the store: no secrets
        self.pending.append((key, self.kind, rec.model_dump_json()))
        return rec

    def take_pending(self) -> list[tuple[str, str, str]]:
        out, self.pending = self.pending, []
        return out

    def stats(self) -> CacheStats:
        return CacheStats(enabled=True, hits=self.hits, misses=self.misses)


class _KeyRecorder(AgentBase):
    """Answers every turn with "no escalation" and notes the cache key of what it was asked."""

    kind = "recorder"

    def __init__(self, agent_config: dict[str, Any], prompt_hash: str | None):
        self._config = agent_config
        self._prompt_hash = prompt_hash
        self.keys: list[str] = []

    def describe(self) -> dict[str, Any]:
        return self._config

    def prompt_hash(self) -> str | None:
        return self._prompt_hash

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        self.keys.append(cache_key(self._config, self._prompt_hash, ctx))
        return Recommendation(case_id=ctx.case_id, turn=ctx.turn, escalate=False)


def replay_keys(
    agent: Agent,
    cases: list[Transcript],
    repeats: int,
    skip: Collection[tuple[str, int]] = (),
    hearing: dict[str, Hearing] | None = None,
) -> list[str]:
    """The cache key of every input a replay of `cases` can put to `agent` (each customer turn, built by
    the turn loop itself, with what an audio replay heard in place of the transcript's text), so their
    answers are read in one query before the replay and the store is not held open while it runs."""
    recorder = _KeyRecorder(agent.describe(), agent.prompt_hash())

    async def walk() -> None:
        for rep in range(repeats):
            for case in cases:
                if (case.id, rep) not in skip:
                    source = TranscriptEvents(case, (hearing or {}).get(case.id))
                    await run_call(source, recorder, fingerprint="", repeat=rep, all_turns=True)

    asyncio.run(walk())
    return recorder.keys
