"""Latency scorer: per turn (every step that reported a time, all repeats), p50 and p95 of the
time to the first token and to the full reply (linear interpolation, numpy's default), against
[budgets]. Answers served from the response cache keep the times first measured, so they still
describe the agent. A run whose agent reported no times (the baseline) is "not measured" (None),
never 0, and fails the check, which is on with [gate] check_latency.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...formatting import ms_as_kept
from ...types import Budgets, GateConfig, LatencySummary
from ..scorer import CaseInputs, GateInputs, ScorerResult, check

# Per-case figures carried from the frame (reports show them per case).
CARRIED = ["latency_ms_max", "first_token_ms_max", "cached_steps"]


def percentile(values: pd.Series, q: float) -> float | None:
    """The q-th percentile of the values that were measured (None: none were), to 0.1 ms."""
    v = values.dropna().to_numpy(dtype=float)
    return round(float(np.percentile(v, q)), 1) if len(v) else None


def latency_summary(timings: pd.DataFrame | None, budgets: Budgets) -> LatencySummary:
    """From the run's per-step times (Store.step_timings: first_token_ms, latency_ms, cached)."""
    t = timings if timings is not None else pd.DataFrame(columns=["first_token_ms", "latency_ms", "cached"])
    t = t[t["first_token_ms"].notna() | t["latency_ms"].notna()]  # the agent's times (not a heard turn's alone)
    ft50, ft95 = percentile(t["first_token_ms"], 50), percentile(t["first_token_ms"], 95)
    fr50, fr95 = percentile(t["latency_ms"], 50), percentile(t["latency_ms"], 95)
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


def _detail(lat: LatencySummary) -> str:
    if lat.within_budget is None:
        return "the agent reported no times: not measured"
    return (
        f"p95 first token {ms_as_kept(lat.first_token_p95)} (budget {lat.first_token_budget:g} ms), "
        f"p95 full reply {ms_as_kept(lat.full_reply_p95)} (budget {lat.full_reply_budget:g} ms)"
    )


class LatencyScorer:
    name = "latency"

    def needs(self, config: GateConfig) -> list[str]:
        return []

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        return inputs.frame[[c for c in CARRIED if c in inputs.frame]]

    def gate(self, inputs: GateInputs) -> ScorerResult:
        lat = latency_summary(inputs.timings, inputs.budgets)
        if not inputs.config.check_latency:
            return ScorerResult(lat)
        return ScorerResult(lat, [check("latency", bool(lat.within_budget), _detail(lat))])
