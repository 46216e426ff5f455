"""Weighted-score scorer: a missed escalation and an unnecessary one cost the tenant different things.

A case's penalty is the sum of the weights of its failures: an agent error, a missed or an
unnecessary escalation (one each, exclusive); a late or early escalation and a wrong routing
(these two can add up on one case). A passing case has penalty 0.

    weighted_score = 1 - sum(penalty) / (worst x cases)

where `worst` is the largest penalty one case can get (Weights.worst()), so the score is in
[0, 1]: 1 when every case passes, 0 when every case fails in the costliest way. The check is on
with [gate] min_weighted_score; it compares the exact score, the summary stores it to 4 places.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...types import GateConfig, WeightedScore, Weights
from ..scorer import CaseInputs, GateInputs, ScorerResult, check


def penalties(scores: pd.DataFrame, w: Weights) -> pd.Series:
    """Per case, from `decision`, `timing`, `routing_ok` and a boolean `error`."""
    d = scores["decision"]
    error = scores["error"].astype(bool).to_numpy()
    kind = np.select(
        [error, (d == "fn").to_numpy(), (d == "fp").to_numpy()], [w.error, w.missed, w.unnecessary], default=0.0
    )
    timing = np.select(
        [(scores["timing"] == "late").to_numpy(), (scores["timing"] == "early").to_numpy()],
        [w.late, w.early],
        default=0.0,
    )
    wrong_route = scores["routing_ok"].eq(False).fillna(False).to_numpy(dtype=bool)
    total = kind + np.where(error, 0.0, timing + np.where(wrong_route, w.routing, 0.0))
    return pd.Series(total, index=scores.index, dtype="float64")


def weighted_score(penalty: pd.Series, w: Weights) -> float | None:
    worst = w.worst()
    if len(penalty) == 0 or worst <= 0:
        return None
    return float(1 - penalty.sum() / (worst * len(penalty)))


class WeightedScorer:
    name = "weighted_score"

    def needs(self, config: GateConfig) -> list[str]:
        return ["error"]

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        cases = scored[["decision", "timing", "routing_ok"]].assign(error=inputs.frame["error"].notna())
        return pd.DataFrame({"penalty": penalties(cases, inputs.config.weights)})

    def gate(self, inputs: GateInputs) -> ScorerResult:
        s, config = inputs.scores, inputs.config
        exact = weighted_score(s["penalty"], config.weights) if "penalty" in s else None
        summary = WeightedScore(score=None if exact is None else round(exact, 4))
        least = config.min_weighted_score
        if least is None:
            return ScorerResult(summary)
        detail = f"weighted score {0.0 if exact is None else exact:.3f}, at least {least:.3f} required"
        return ScorerResult(summary, [check("weighted_score", exact is not None and exact >= least, detail)])
