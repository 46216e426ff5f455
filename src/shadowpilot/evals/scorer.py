"""The scorer protocol: what one scorer declares and returns (in the spirit of Inspect AI's `Scorer`).

A scorer reads the columns it declares from the scoring frame and adds its per-case columns
(`columns`); over the scored cases it returns its summary and its gate checks (`gate`). The gate
folds every scorer's checks into the verdict, so adding a scorer is one module and one line in
the registry (evals/scorers/__init__.py), or a caller's own list passed to score_frame and
evaluate_gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..types import Budgets, CheckKind, GateCheck, GateConfig, JudgeSummary, ScorerSummary

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CaseInputs:
    """What per-case scoring sees: the scoring frame (one row per case and repeat, evals.frame.build_frame
    with rulings applied), the gate config, the scored reply turns (evals.reply.score_replies;
    None when replies were not scored) and an audio run's scored heard turns (evals.scorers.asr.
    score_hearing; None in a text run)."""

    frame: pd.DataFrame
    config: GateConfig
    reply_turns: pd.DataFrame | None = None
    asr_turns: pd.DataFrame | None = None


@dataclass(frozen=True)
class GateInputs:
    """What the gate sees: the scored cases of the first repeat (`scores`; all of them in
    `all_repeats`), the config, the [budgets], the run's per-step times (Store.step_timings) and
    its judge summary, if any."""

    scores: pd.DataFrame
    all_repeats: pd.DataFrame
    config: GateConfig
    run_id: str
    budgets: Budgets = field(default_factory=Budgets)
    timings: pd.DataFrame | None = None
    judge: JudgeSummary | None = None
    judge_min_score: float | None = None


@dataclass(frozen=True)
class ScorerResult:
    """One scorer's share of a gate result: its summary (None: nothing to say about this run)
    and its checks (empty unless a [gate] setting turns them on)."""

    summary: ScorerSummary | None
    checks: list[GateCheck] = field(default_factory=list)


class Scorer(Protocol):
    """One scorer. `name` is its summary's key in the gate JSON."""

    name: str

    def needs(self, config: GateConfig) -> list[str]:
        """The scoring-frame columns `columns` reads (columns.py names the per-attribute ones)."""
        ...

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        """Its per-case columns, indexed like the frame; `scored` holds the columns of the
        scorers before it in the list (routing reads escalation's `decision`)."""
        ...

    def gate(self, inputs: GateInputs) -> ScorerResult:
        """Its summary and gate checks over the scored cases."""
        ...


def check(name: str, passed: bool, detail: str, kind: CheckKind = "optional") -> GateCheck:
    """A gate check; a scorer's checks are optional (a [gate] setting turns each on)."""
    return GateCheck(name=name, passed=passed, detail=detail, kind=kind)


def missing_columns(scorers: Sequence[Scorer], config: GateConfig, have: pd.Index) -> dict[str, list[str]]:
    """Per scorer, the columns it declares that the frame lacks."""
    present = set(have)
    out = {s.name: [c for c in s.needs(config) if c not in present] for s in scorers}
    return {k: v for k, v in out.items() if v}
