"""Scorers (pure functions of stored data), aggregates and the gate."""

from .gate import evaluate_gate
from .metrics import wilson_interval
from .score import STORED_COLUMNS, score_frame

__all__ = ["STORED_COLUMNS", "evaluate_gate", "score_frame", "wilson_interval"]
