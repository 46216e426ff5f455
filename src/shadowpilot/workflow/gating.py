"""Gating: score a stored run from stored data alone, decide, store the verdict; compare two runs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Settings
from ..errors import NotFoundError
from ..evals import evaluate_gate, score_frame
from ..evals.compare import Comparison, compare_scores
from ..evals.derive import CUSTOMER, HUMAN, call_rows, heard_references, human_replies
from ..evals.frame import build_frame, with_ruled_attributes
from ..evals.judge import summarise as judge_summary
from ..evals.regressions import regression_check, with_check
from ..evals.rulings import apply_rulings, show_rulings
from ..evals.score import STORED_COLUMNS
from ..store import Store
from ..types import GateConfig, GateResult
from .workspace import Workspace, resolve_run_id

__all__ = [
    "Gated",
    "compare_runs",
    "evaluate",
    "gate",
    "gated",
    "reply_pairs",
    "resolve_run_id",
    "score_run",
    "scoring_frame",
]


def scoring_frame(store: Store, run_id: str, required: Sequence[str]) -> pd.DataFrame:
    """A stored run's scoring frame (no ruling applied), built by evals from the store's rows."""
    return build_frame(store.scoring_cases(run_id), store.scoring_steps(run_id), required)


def reply_pairs(store: Store, run_id: str) -> pd.DataFrame:
    """A stored run's replies, each beside the human's next reply (evals.derive.human_replies)."""
    cases, steps = store.scoring_cases(run_id), store.scoring_steps(run_id)
    return human_replies(cases, steps, store.scoring_turns(run_id, [HUMAN]))


def score_run(store: Store, run_id: str, config: GateConfig) -> pd.DataFrame:
    """Score a stored run from stored data alone: no agent is called."""
    from ..evals.reply import score_replies

    cases, steps = store.scoring_cases(run_id), store.scoring_steps(run_id)
    calls = call_rows(cases, steps)
    frame = build_frame(cases, steps, config.required_attributes, calls)
    if frame.empty:
        raise NotFoundError(f"run {run_id} has no cases")
    frame = apply_rulings(frame, with_ruled_attributes(store.rulings_for_run(run_id), config.required_attributes))
    pairs = human_replies(cases, steps, store.scoring_turns(run_id, [HUMAN]), calls)
    return show_rulings(
        score_frame(frame, config, score_replies(pairs), asr_turns=hearing_turns(store, run_id, cases, steps, calls)),
        frame,
    )


def hearing_turns(
    store: Store, run_id: str, cases: pd.DataFrame, steps: pd.DataFrame, calls: np.ndarray
) -> pd.DataFrame | None:
    """An audio run's heard turns scored against what was said (None for a text run: no turn heard)."""
    if not steps["heard"].notna().any():
        return None
    from ..evals.scorers.asr import score_hearing

    return score_hearing(heard_references(cases, steps, store.scoring_turns(run_id, [CUSTOMER]), calls))


def evaluate(store: Store, run_id: str, settings: Settings) -> tuple[pd.DataFrame, GateResult]:
    """Score a stored run and decide, with the run's latencies and the [budgets]: what `gate`
    stores and what reports should show."""
    scores = score_run(store, run_id, settings.gate)
    timings = store.step_timings(run_id)
    judged = judge_summary(store.judgements(run_id))
    result = evaluate_gate(
        scores,
        settings.gate,
        run_id,
        budgets=settings.budgets,
        timings=timings,
        judge=judged,
        judge_min_score=settings.judge.min_score,
    )
    return scores, result


@dataclass(frozen=True)
class Gated:
    """A run scored and decided: what `gate` stores and a report shows. With a baseline, the
    verdict holds the regression check and the baseline's scores are kept for a comparison."""

    run_id: str
    scores: pd.DataFrame
    result: GateResult
    baseline_id: str | None = None
    baseline_scores: pd.DataFrame | None = None

    def comparison(self) -> Comparison | None:
        """This run against its baseline, case by case (None without one)."""
        if self.baseline_id is None or self.baseline_scores is None:
            return None
        return compare_scores(self.baseline_scores, self.scores, self.baseline_id, self.run_id)


def gated(ws: Workspace, run_id: str | None, baseline: str | None = None) -> Gated:
    """Score and decide a run (default: the latest complete one). With `baseline`, the one place
    where a case that passed on that run and fails now makes it no-go, unless the AI was ruled
    right on it from this run: `gate` and the report both come here, so they cannot disagree."""
    rid = ws.complete_run(run_id)
    scores, result = evaluate(ws.store, rid, ws.settings)
    if baseline is None:
        return Gated(rid, scores, result)
    base_id = ws.complete_run(baseline)
    base = score_run(ws.store, base_id, ws.settings.gate)
    check = regression_check(base, scores, base_id, rid, ws.store.rulings_for_run(rid))
    return Gated(rid, scores, with_check(result, check), base_id, base)


def gate(
    settings: Settings, run_id: str | None = None, *, save: bool = True, baseline: str | None = None
) -> GateResult:
    """Score a run (default: the latest complete one) and decide; store the scores and verdict.
    With `baseline`, a case that passed on that run and fails now makes it no-go, unless the AI
    was ruled right on it. A store that cannot be written is scored all the same; the verdict is
    then not stored, and one note line says so."""
    with Workspace.reading(settings) as ws:
        g = gated(ws, run_id, baseline)
        if save and ws.store.read_only:
            sys.stderr.write(f"note: {ws.store.path} is read-only: the verdict is printed, not stored\n")
        elif save:
            ws.store.save_scores(g.run_id, g.scores[STORED_COLUMNS], g.result)
    return g.result


def compare_runs(settings: Settings, run_a: str, run_b: str, *, alpha: float = 0.05) -> Comparison:
    """Score two stored runs (rulings applied) and compare B against A."""
    with Workspace.reading(settings) as ws:
        a, b = ws.complete_run(run_a), ws.complete_run(run_b)
        c = compare_scores(score_run(ws.store, a, settings.gate), score_run(ws.store, b, settings.gate), a, b, alpha)
        return with_audio_sides(ws.store, c)


def with_audio_sides(store: Store, c: Comparison) -> Comparison:
    """The comparison with which side heard audio (a run whose manifest names an ASR engine): the
    one rule `compare` and the report's flipped-by-hearing list read."""
    heard = {"audio_a": store.manifest(c.run_a).asr is not None, "audio_b": store.manifest(c.run_b).asr is not None}
    return c.model_copy(update=heard)
