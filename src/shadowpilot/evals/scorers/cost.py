"""Cost scorer: per conversation, the sum of cost_usd over a call's steps (first repeat),
including cached answers (what a live call would cost); `spent` is what this run actually paid.
The saving per call assumes a human would still take the calls the agent escalates:

    saving_per_call = human_cost - (mean AI cost + escalation_share x human_cost)

A run whose agent reported no costs (the baseline) is "not measured" (None), never 0, and fails
the check, which is on with [gate] check_cost (against [budgets] cost_per_call_usd).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...types import Budgets, CostSummary, GateCheck, GateConfig
from ...wording import plural
from ..scorer import CaseInputs, GateInputs, ScorerResult, check

# Per-case figures carried from the frame for the summary (and the reports).
CARRIED = ["cost_usd", "cost_steps", "spent_usd", "agent_escalated"]


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
        return CostSummary(
            calls=0,
            per_call_mean=None,
            per_call_p95=None,
            per_call_max=None,
            total=None,
            spent=None,
            budget=budget,
            over_budget_calls=None,
            within_budget=None,
            human_cost_per_call=human,
            escalation_share=round(share, 4),
            saving_per_call=None,
            saving_total=None,
        )
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


def cost_check(cost: CostSummary | None) -> GateCheck:
    if cost is None or cost.per_call_mean is None:
        return check("cost", False, "the agent reported no cost: not measured")
    if cost.budget is None:
        return check("cost", False, "check_cost is on but [budgets] cost_per_call_usd is not set")
    detail = (
        f"mean cost per call ${cost.per_call_mean:.4f} against the budget ${cost.budget:.4f} "
        f"({plural(cost.over_budget_calls or 0, 'call')} over)"
    )
    return check("cost", bool(cost.within_budget), detail)


class CostScorer:
    name = "cost"

    def needs(self, config: GateConfig) -> list[str]:
        return []

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        return inputs.frame[[c for c in CARRIED if c in inputs.frame]]

    def gate(self, inputs: GateInputs) -> ScorerResult:
        s = inputs.scores
        cost = cost_summary(s, inputs.budgets) if "cost_steps" in s else None
        if not inputs.config.check_cost:
            return ScorerResult(cost)
        return ScorerResult(cost, [cost_check(cost)])
