"""Gating: score a stored run from stored data alone, decide, store the verdict; compare two runs."""


from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ..config import Settings
from ..errors import NotFoundError, UsageError
from ..evals import evaluate_gate, score_frame
from ..evals.compare import Comparison, compare_scores
from ..evals.derive import HUMAN, call_rows, human_replies
from ..evals.frame import build_frame, with_ruled_attributes
from ..evals.judge import summarise as judge_summary
from ..evals.regressions import regression_check, with_check
from ..evals.rulings import apply_rulings, show_rulings
from ..evals.score import STORED_COLUMNS
from ..store import Store, open_store
from ..types import GateCheck, GateConfig, GateResult

if TYPE_CHECKING:

    pass


def resolve_run_id(store: Store, run_id: str | None) -> str:
    if run_id is None:
        return store.latest_run_id()
    status = store.run_status(run_id)
    if status != "complete":
        raise UsageError(f"run {run_id} is {status}, not complete; it cannot be gated")
    return run_id


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
    return show_rulings(score_frame(frame, config, score_replies(pairs)), frame)


def evaluate(store: Store, run_id: str, settings: Settings) -> tuple[pd.DataFrame, GateResult]:
    """Score a stored run and decide, with the run's latencies and the [budgets]: what `gate`
    stores and what reports should show."""
    scores = score_run(store, run_id, settings.gate)
    timings = store.step_timings(run_id)
    judged = judge_summary(store.judgements(run_id))
    result = evaluate_gate(scores, settings.gate, run_id, budgets=settings.budgets, timings=timings,
                           judge=judged, judge_min_score=settings.judge.min_score)  # fmt: skip
    return scores, result


def gate(
    settings: Settings, run_id: str | None = None, *, save: bool = True, baseline: str | None = None
) -> GateResult:
    """Score a run (default: the latest complete one) and decide; store the scores and verdict.
    With `baseline`, a case that passed on that run and fails now makes it no-go, unless the AI
    was ruled right on it. A store that cannot be written is scored all the same; the verdict is
    then not stored, and one note line says so."""
    with open_store(settings, create=False, writes=False) as store:
        rid = resolve_run_id(store, run_id)
        scores, result = evaluate(store, rid, settings)
        if baseline is not None:
            result = with_check(result, _baseline_check(store, baseline, rid, scores, settings.gate))
        if save and store.read_only:
            sys.stderr.write(f"note: {store.path} is read-only: the verdict is printed, not stored\n")
        elif save:
            store.save_scores(rid, scores[STORED_COLUMNS], result)
    return result


def history(settings: Settings) -> pd.DataFrame:
    with open_store(settings, create=False, writes=False) as store:
        return store.history()


def _baseline_check(store: Store, baseline: str, run_id: str, scores: pd.DataFrame, config: GateConfig) -> GateCheck:
    """No case may pass on the baseline and fail now, unless the AI was ruled right on it from this run."""
    base_id = resolve_run_id(store, baseline)
    base = score_run(store, base_id, config)
    return regression_check(base, scores, base_id, run_id, store.rulings_for_run(run_id))


def compare_runs(settings: Settings, run_a: str, run_b: str, *, alpha: float = 0.05) -> Comparison:
    """Score two stored runs (rulings applied) and compare B against A."""
    with open_store(settings, create=False, writes=False) as store:
        a, b = resolve_run_id(store, run_a), resolve_run_id(store, run_b)
        return compare_scores(score_run(store, a, settings.gate), score_run(store, b, settings.gate), a, b, alpha)

