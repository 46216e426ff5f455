"""Asymmetric weights: a missed escalation and an unnecessary one cost the tenant different things.

A case's penalty is the sum of the weights of its failures: an agent error, a missed or an
unnecessary escalation (one each, exclusive); a late or early escalation and a wrong routing
(these two can add up on one case). A passing case has penalty 0.

    weighted_score = 1 - sum(penalty) / (worst x cases)

where `worst` is the largest penalty one case can get (Weights.worst()), so the score is in
[0, 1]: 1 when every case passes, 0 when every case fails in the costliest way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..types import Weights


def penalties(scores: pd.DataFrame, w: Weights) -> pd.Series:
    d = scores["decision"]
    error = scores["error"].astype(bool).to_numpy()
    kind = np.select(
        [error, (d == "fn").to_numpy(), (d == "fp").to_numpy()], [w.error, w.missed, w.unnecessary], default=0.0
    )
    timing = np.select([(scores["timing"] == "late").to_numpy(), (scores["timing"] == "early").to_numpy()],
                       [w.late, w.early], default=0.0)  # fmt: skip
    wrong_route = scores["routing_ok"].eq(False).fillna(False).to_numpy(dtype=bool)
    total = kind + np.where(error, 0.0, timing + np.where(wrong_route, w.routing, 0.0))
    return pd.Series(total, index=scores.index, dtype="float64")


def weighted_score(penalty: pd.Series, w: Weights) -> float | None:
    worst = w.worst()
    if len(penalty) == 0 or worst <= 0:
        return None
    return float(1 - penalty.sum() / (worst * len(penalty)))
