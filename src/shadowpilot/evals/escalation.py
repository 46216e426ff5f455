"""Escalation scorer: was the decision right, and was it on time (in customer turns)?

Vectorised over a scoring frame (one row per case and repeat, see Store.scoring_frame).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def score_escalation(frame: pd.DataFrame, tolerance: int) -> pd.DataFrame:
    """decision (tp/fp/fn/tn; null on agent error), timing (on_time/early/late; null when
    not scored) and turn_delta (agent minus human, in customer turns)."""
    human = frame["expected_escalated"].astype(bool).to_numpy()
    agent = frame["agent_escalated"].astype(bool).to_numpy()
    errored = frame["error"].notna().to_numpy()
    decision = np.select([human & agent, ~human & agent, human & ~agent], ["tp", "fp", "fn"], default="tn").astype(
        object
    )
    decision[errored] = None

    agent_turn = frame["agent_customer_turn"].astype("float64")
    human_turn = frame["expected_at_customer_turn"].astype("float64")
    timed = (decision == "tp") & human_turn.notna().to_numpy()
    delta = (agent_turn - human_turn).where(timed)
    timing = np.where(delta < -tolerance, "early", np.where(delta > tolerance, "late", "on_time"))
    timing = pd.Series(timing, index=frame.index, dtype=object).where(timed)
    return pd.DataFrame(
        {"decision": decision, "timing": timing, "turn_delta": delta.astype("Int64")}, index=frame.index
    )
