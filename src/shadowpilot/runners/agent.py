"""The Agent protocol: the one seam between the harness and the agent under test.

Every member the harness uses is declared here, the optional ones too, and `AgentBase`
gives those their defaults, so nothing probes an agent with getattr and a wrapper says
what it passes on instead of forwarding every attribute.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ..types import AgentInput, Recommendation


class AgentUsage(BaseModel):
    """What an agent has used so far in this process: requests made (retries included) and what
    they cost (None: the agent does not know)."""

    model_config = ConfigDict(frozen=True)

    requests: int = 0
    spend_usd: float | None = None


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

    @property
    def turn_timeout_s(self) -> float | None:
        """How long one turn can take with every retry, for an agent that times and retries its
        own requests; None: the caller's timeout applies."""
        ...

    def cacheable(self, configured: bool | None) -> bool:
        """Whether the response cache keeps this agent's answers, given `[agent] cache`
        (None: not set). Only answers that cost time or money elsewhere are worth keeping."""
        ...

    @property
    def usage(self) -> AgentUsage:
        """Requests made and their cost so far."""
        ...

    def warm_up(self) -> None:
        """Load what the first request would otherwise load inside the first turn's time (lazy
        imports, answer schemas); sends nothing. Called once, off the event loop, before a replay."""
        ...

    async def aclose(self) -> None:
        """Release the agent's connections (on the event loop that used them)."""
        ...


class AgentBase:
    """The defaults of the optional members: no deadline of its own, never cached, nothing
    counted, nothing to warm up, nothing to close. Every agent derives from it."""

    kind: str = "agent"

    @property
    def turn_timeout_s(self) -> float | None:
        return None

    def cacheable(self, configured: bool | None) -> bool:
        return False

    @property
    def usage(self) -> AgentUsage:
        return AgentUsage()

    def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class AgentWrapper(AgentBase):
    """An agent in front of another (the cache, redaction): the inner agent's kind, deadline,
    cache policy, usage, warm-up and connections are passed on, and nothing else."""

    def __init__(self, inner: Agent):
        self.inner = inner
        self.kind = inner.kind

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def prompt_hash(self) -> str | None:
        return self.inner.prompt_hash()

    @property
    def turn_timeout_s(self) -> float | None:
        return self.inner.turn_timeout_s

    def cacheable(self, configured: bool | None) -> bool:
        return self.inner.cacheable(configured)

    @property
    def usage(self) -> AgentUsage:
        return self.inner.usage

    def warm_up(self) -> None:
        self.inner.warm_up()

    async def aclose(self) -> None:
        await self.inner.aclose()


def turn_deadline_s(agent: Agent, timeout_s: float) -> float:
    """How long the turn loop waits for one answer: the agent's own deadline when it has one
    (`turn_timeout_s`, covering its retries), otherwise `timeout_s`."""
    own = agent.turn_timeout_s
    return float(own) if own is not None else timeout_s


def content_hash(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]
