"""The baseline agent: offline keyword rules from the tenant config.

A plausible first policy, not an answer key: it escalates at the first customer
turn that says one of a rule's phrases and routes by that rule. It is what the
demo runs without a key or a network, and the bar a real model should beat.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..config import BaselineRule, BaselineSettings
from ..types import AgentInput, Recommendation
from .agent import AgentBase, content_hash

PRIORITY_ORDER = ["low", "normal", "high", "urgent"]


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text)


class BaselineAgent(AgentBase):
    kind = "baseline"

    def __init__(self, settings: BaselineSettings):
        self.settings = settings
        self._rules = [
            (rule, [re.compile(r"\b" + re.escape(_normalise(p)) + r"\b") for p in rule.phrases])
            for rule in settings.rules
        ]

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "rules": len(self.settings.rules)}

    def prompt_hash(self) -> str:
        return content_hash(json.dumps(self.settings.model_dump(mode="json"), sort_keys=True))

    def match(self, text: str) -> BaselineRule | None:
        said = _normalise(text)
        for rule, patterns in self._rules:
            if any(p.search(said) for p in patterns):
                return rule
        return None

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        said = ctx.turns[-1].text
        rule = self.match(said)
        if rule is None:
            return Recommendation(case_id=ctx.case_id, turn=ctx.turn, escalate=False, reply=self.settings.reply)
        vip = ctx.customer.get("vip") is True
        priority = rule.priority
        floor = self.settings.vip_priority
        if vip and floor in PRIORITY_ORDER and priority in PRIORITY_ORDER:
            priority = max(priority, floor, key=PRIORITY_ORDER.index)
        routing: dict[str, Any] = {"priority": priority, "vip": vip}
        if rule.skill:
            routing["skill"] = rule.skill
        return Recommendation(
            case_id=ctx.case_id,
            turn=ctx.turn,
            escalate=True,
            reply=self.settings.escalation_reply,
            reason=rule.reason,
            urgency=rule.urgency,
            routing=routing,
            queue=rule.queue,
            summary=said[:200],
        )
