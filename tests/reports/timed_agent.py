"""A python agent (`[agent] kind = "python"`) that reports times and costs, so the report has
latency and cost to show: it never escalates; each turn takes 200 ms more than the last to its
first token (turn 1: 300 ms) and 500 ms more to its full reply, and costs $0.001."""

from __future__ import annotations

from typing import Any

from shadowpilot.types import AgentInput


def recommend(ctx: AgentInput) -> dict[str, Any]:
    n = sum(1 for t in ctx.turns if t.speaker == "customer")
    return {
        "escalate": False,
        "reply": "Let me help you with that.",
        "first_token_ms": 100.0 + 200.0 * n,
        "latency_ms": 300.0 + 500.0 * n,
        "tokens_in": 100,
        "tokens_out": 10,
        "cost_usd": 0.001,
    }
