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


def content_hash(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]
