"""Escalation scorer: did the agent escalate when the human did, and at the same customer turn?

decision: tp/fp/fn/tn (null on an agent error); timing, when the human's escalation turn is known:
agent turn minus human turn in customer turns, within `escalation_turn_tolerance` on time, else
early or late (null when not scored).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...formatting import rounded
from ...types import EscalationSummary, GateConfig
from ..metrics import f1, ratio
from ..scorer import CaseInputs, GateInputs, ScorerResult

NEEDS = ["expected_escalated", "agent_escalated", "error", "agent_customer_turn", "expected_at_customer_turn"]


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
    kind = np.where(delta < -tolerance, "early", np.where(delta > tolerance, "late", "on_time"))
    timing = pd.Series(kind, index=frame.index, dtype=object).where(timed)
    return pd.DataFrame(
        {"decision": decision, "timing": timing, "turn_delta": delta.astype("Int64")}, index=frame.index
    )


def escalation_summary(s: pd.DataFrame) -> EscalationSummary:
    """The confusion counts over scored cases (not turns), precision, recall and F1, early and late."""
    d = s["decision"]
    tp, fp, fn, tn = (int((d == k).sum()) for k in ("tp", "fp", "fn", "tn"))
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return EscalationSummary(
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=rounded(precision),
        recall=rounded(recall),
        f1=rounded(f1(precision, recall)),
        early=int((s["timing"] == "early").sum()),
        late=int((s["timing"] == "late").sum()),
    )


class EscalationScorer:
    name = "escalation"

    def needs(self, config: GateConfig) -> list[str]:
        return NEEDS

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        return score_escalation(inputs.frame, inputs.config.escalation_turn_tolerance)

    def gate(self, inputs: GateInputs) -> ScorerResult:
        return ScorerResult(escalation_summary(inputs.scores))
