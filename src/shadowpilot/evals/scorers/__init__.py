"""The registry: every scorer, in the order its columns are computed and its checks listed.

A scorer's columns may read those of the scorers before it (routing reads escalation's decision;
the weighted score reads both). score_frame and evaluate_gate take a scorer list defaulting to
SCORERS, so a caller adds one with `(*SCORERS, MyScorer())` without changing this module.
"""

from __future__ import annotations

from ..scorer import Scorer
from .asr import AsrScorer
from .cost import CostScorer
from .escalation import EscalationScorer
from .handoff import HandoffScorer
from .judge import JudgeScorer
from .latency import LatencyScorer
from .reply import ReplyScorer
from .routing import RoutingScorer
from .weighted import WeightedScorer

SCORERS: tuple[Scorer, ...] = (
    EscalationScorer(),
    RoutingScorer(),
    ReplyScorer(),
    LatencyScorer(),
    CostScorer(),
    HandoffScorer(),
    WeightedScorer(),
    JudgeScorer(),
    AsrScorer(),
)

__all__ = ["SCORERS", "Scorer"]
