"""Redaction in front of an agent: personal data is replaced before the conversation leaves.

The store keeps the original; only what the agent is sent is redacted, with
placeholders consistent within a call ([PHONE_1] stays [PHONE_1]) so the agent can
still follow the conversation.
"""

from __future__ import annotations

from typing import Any

from ..transcripts.redact import Redactor
from ..types import AgentInput, Recommendation
from .agent import Agent


class RedactingAgent:
    def __init__(self, inner: Agent, redactor: Redactor, kinds: list[str]):
        self.inner = inner
        self.kind = inner.kind
        self.redactor = redactor
        self.kinds = list(kinds)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "redaction": self.kinds}

    def prompt_hash(self) -> str | None:
        return self.inner.prompt_hash()

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        return await self.inner.recommend(self.redactor.redact_input(ctx))

    def __getattr__(self, name: str) -> Any:  # requests, spend_usd, aclose... of the wrapped agent
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
