"""Redaction in front of an agent: personal data is replaced before the conversation leaves.

The store keeps the original; only what the agent is sent is redacted, with
placeholders consistent within a call ([PHONE_1] stays [PHONE_1]) so the agent can
still follow the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..transcripts.redact import Redactor
from ..types import AgentInput, Recommendation
from .agent import Agent, AgentWrapper


class RedactingAgent(AgentWrapper):
    def __init__(self, inner: Agent, redactor: Redactor, kinds: Sequence[str]):
        super().__init__(inner)
        self.redactor = redactor
        self.kinds = list(kinds)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "redaction": self.kinds}

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        return await self.inner.recommend(self.redactor.redact_input(ctx))
