"""The Agent protocol: the one seam between the harness and the agent under test."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol, runtime_checkable

from ..types import AgentInput, Recommendation


@runtime_checkable
class Agent(Protocol):
    """Conversation so far -> one Recommendation. Raise on failure; the turn loop records it."""

    kind: str

    async def recommend(self, ctx: AgentInput) -> Recommendation: ...

    def describe(self) -> dict[str, Any]:
        """The agent's configuration for the run manifest (never secrets)."""
        ...

    def prompt_hash(self) -> str | None:
        """A hash of what the agent is told (prompt, rules, recording), so runs can be compared."""
        ...


def turn_deadline_s(agent: Agent, timeout_s: float) -> float:
    """How long the turn loop waits for one answer. An agent that times its own requests and
    retries them says how long that can take (`turn_timeout_s`); otherwise `timeout_s`."""
    own = getattr(agent, "turn_timeout_s", None)
    return float(own) if isinstance(own, int | float) else timeout_s


def content_hash(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]
