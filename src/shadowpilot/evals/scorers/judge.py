"""Judge scorer: the LLM judge's stored verdicts on the run's replies (evals/judge.py summarises
them). It adds no per-case column; its check is on with [judge] min_score: the mean score (in
[0, 1]) must reach it with every reply judged. A run never judged, or a turn the judge could not
score, fails: the gate cannot vouch for what it did not see.
"""

from __future__ import annotations

import pandas as pd

from ...types import GateCheck, GateConfig, JudgeSummary
from ...wording import plural
from ..scorer import CaseInputs, GateInputs, ScorerResult, check


def judge_check(judge: JudgeSummary | None, min_score: float, run_id: str) -> GateCheck:
    need = f"at least {min_score:.3f} required"
    if judge is None:
        return check("judge", False, f"run {run_id} has not been judged: run `shadowpilot judge --run {run_id}`")
    if judge.score is None:
        return check("judge", False, f"the judge scored no reply ({plural(judge.errors, 'error')}); {need}")
    detail = f"mean judge score {judge.score:.3f} over {plural(judge.turns, 'reply', 'replies')}, {need}"
    if judge.errors:
        detail += f"; {plural(judge.errors, 'reply', 'replies')} could not be judged: run `shadowpilot judge` again"
    return check("judge", judge.score >= min_score and not judge.errors, detail)


class JudgeScorer:
    name = "judge"

    def needs(self, config: GateConfig) -> list[str]:
        return []

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(index=inputs.frame.index)

    def gate(self, inputs: GateInputs) -> ScorerResult:
        if inputs.judge_min_score is None:
            return ScorerResult(inputs.judge)
        return ScorerResult(inputs.judge, [judge_check(inputs.judge, inputs.judge_min_score, inputs.run_id)])
