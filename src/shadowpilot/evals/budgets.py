"""Latency and cost against [budgets].

Latency is per turn (every step that reported a time, all repeats): p50 and p95 of the time to
the first token and to the full reply (linear interpolation, numpy's default). Answers served
from the response cache keep the times first measured, so they still describe the agent.

Cost is per conversation: the sum of cost_usd over a call's steps (first repeat), including
cached answers (what a live call would cost); `spent` is what this run actually paid.
The saving per call assumes a human would still take the calls the agent escalates:

    saving_per_call = human_cost - (mean AI cost + escalation_share x human_cost)

A run whose agent reported no times or costs (the baseline) is "not measured" (None), never 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..types import Budgets, CostSummary, LatencySummary


def _pct(values: pd.Series, q: float) -> float | None:
    v = values.dropna().to_numpy(dtype=float)
    return round(float(np.percentile(v, q)), 1) if len(v) else None


def latency_summary(timings: pd.DataFrame | None, budgets: Budgets) -> LatencySummary:
    t = timings if timings is not None else pd.DataFrame(columns=["first_token_ms", "latency_ms", "cached"])
    ft50, ft95 = _pct(t["first_token_ms"], 50), _pct(t["first_token_ms"], 95)
    fr50, fr95 = _pct(t["latency_ms"], 50), _pct(t["latency_ms"], 95)
    checks = [x <= b for x, b in ((ft95, budgets.first_token_ms), (fr95, budgets.full_reply_ms)) if x is not None]
    return LatencySummary(
        turns=len(t),
        cached_turns=int(t["cached"].astype(bool).sum()) if len(t) else 0,
        first_token_p50=ft50,
        first_token_p95=ft95,
        full_reply_p50=fr50,
        full_reply_p95=fr95,
        first_token_budget=budgets.first_token_ms,
        full_reply_budget=budgets.full_reply_ms,
        within_budget=all(checks) if checks else None,
    )


def _usd(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def cost_summary(scores: pd.DataFrame, budgets: Budgets) -> CostSummary:
    """From first-repeat scores carrying cost_usd, cost_steps, spent_usd and agent_escalated."""
    n = len(scores)
    share = float(scores["agent_escalated"].astype(bool).mean()) if n else 0.0
    measured = scores["cost_steps"].fillna(0).astype(int) > 0 if n else pd.Series(dtype=bool)
    cost = scores.loc[measured, "cost_usd"].astype(float) if n else pd.Series(dtype=float)
    human, budget = budgets.human_cost_per_call_usd, budgets.cost_per_call_usd
    if cost.empty:
        return CostSummary(calls=0, per_call_mean=None, per_call_p95=None, per_call_max=None, total=None, spent=None,
                           budget=budget, over_budget_calls=None, within_budget=None, human_cost_per_call=human,
                           escalation_share=round(share, 4), saving_per_call=None, saving_total=None)  # fmt: skip
    mean = float(cost.mean())
    saving = None if human is None else human - (mean + share * human)
    return CostSummary(
        calls=len(cost),
        per_call_mean=_usd(mean),
        per_call_p95=_usd(float(np.percentile(cost.to_numpy(), 95))),
        per_call_max=_usd(float(cost.max())),
        total=_usd(float(cost.sum())),
        spent=_usd(float(scores["spent_usd"].fillna(0).sum())),
        budget=budget,
        over_budget_calls=None if budget is None else int((cost > budget).sum()),
        within_budget=None if budget is None else mean <= budget,
        human_cost_per_call=human,
        escalation_share=round(share, 4),
        saving_per_call=_usd(saving),
        saving_total=None if saving is None else _usd(saving * n),
    )
