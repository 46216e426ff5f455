"""ASR scorer: in an audio run (`run --audio`), how well the agent's speech recogniser heard each
customer turn, against the turn's text in the case (what was said). Word error rate as jiwer
defines it, (S + D + I) / N, after the one reply normalisation (evals/reply.py: case, punctuation,
number words as digits, fillers), counted by the same code that measures replies. Per turn
(`turn_wer`), per case (its turns' edits over their reference words) and corpus-level (every
heard turn's edits over every reference word: not a mean of rates). The check is on with [gate]
max_asr_wer; a text run heard nothing: not measured, no check.

The voice budget, per heard turn (Store.step_timings' `asr_ms` beside the agent's times): p50 and
p95 from the end of the customer's speech to the transcript, to the agent's first token and to its
full reply. With [gate] check_latency the p95 to the first token must be within [budgets]
asr_to_first_token_ms; an agent that reported no times is not measured and fails it, as the
latency check does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...formatting import rounded
from ...types import AsrSummary, Budgets, GateConfig
from ...wording import plural
from ..scorer import CaseInputs, GateInputs, ScorerResult, check
from .latency import percentile

ASR_COLUMNS = ["asr_turns", "asr_edits", "asr_ref_words", "asr_wer", "asr_audio_s", "asr_cost_usd"]


def score_hearing(heard: pd.DataFrame) -> pd.DataFrame:
    """Per heard turn (evals.derive.heard_references: `heard` beside its `reference`): `edits` and
    `ref_words` as the reply measure counts them. A turn whose normalised reference is empty is
    left out (nothing was said to hear)."""
    from ..reply import score_replies

    pairs = heard.rename(columns={"heard": "reply", "reference": "human_reply"})
    return score_replies(pairs).rename(columns={"reply": "heard", "human_reply": "reference"})


def turn_wer(scored: pd.DataFrame) -> pd.Series:
    """Each scored turn's word error rate (edits / reference words)."""
    return scored["edits"] / scored["ref_words"]


def asr_columns(keys: pd.DataFrame, asr_turns: pd.DataFrame | None) -> pd.DataFrame:
    """Per (case_id, repeat) row of `keys`: turns heard and scored, their summed edits and reference
    words (0 when none), the case's WER (NaN then), the seconds of audio heard and what hearing them
    cost (NaN without a price)."""
    if asr_turns is None or asr_turns.empty:
        counts = pd.DataFrame(0, index=keys.index, columns=ASR_COLUMNS[:3])
        spent = pd.DataFrame(np.nan, index=keys.index, columns=ASR_COLUMNS[4:])
    else:
        g = asr_turns.groupby(["case_id", "repeat"], sort=False)
        per_case = g[["edits", "ref_words"]].sum()
        per_case.insert(0, "turns", g.size())
        per_case.columns = ASR_COLUMNS[:3]
        merged = keys[["case_id", "repeat"]].merge(per_case.reset_index(), on=["case_id", "repeat"], how="left")
        counts = merged[ASR_COLUMNS[:3]].fillna(0).astype("int64").set_axis(keys.index)
        spent = _spent(keys, asr_turns)
    words = counts["asr_ref_words"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wer = np.where(words > 0, counts["asr_edits"].to_numpy(dtype=float) / words, np.nan)
    return pd.concat([counts.assign(asr_wer=wer), spent], axis=1)


def _spent(keys: pd.DataFrame, asr_turns: pd.DataFrame) -> pd.DataFrame:
    """Per call: seconds of audio heard and their ASR cost (NaN when no turn of it reported one)."""
    have = [c for c in ("audio_s", "asr_cost_usd") if c in asr_turns]
    if not have:
        return pd.DataFrame(np.nan, index=keys.index, columns=ASR_COLUMNS[4:])
    sums = asr_turns.groupby(["case_id", "repeat"], sort=False)[have].sum(min_count=1).reset_index()
    merged = keys[["case_id", "repeat"]].merge(sums, on=["case_id", "repeat"], how="left").set_axis(keys.index)
    return pd.DataFrame(
        {
            "asr_audio_s": merged.get("audio_s", np.nan),
            "asr_cost_usd": merged.get("asr_cost_usd", np.nan),
        },
        index=keys.index,
    ).astype("float64")


def asr_summary(s: pd.DataFrame) -> AsrSummary | None:
    """Corpus-level over the scored cases; None when no turn was heard (a text run: not measured)."""
    if "asr_turns" not in s or int(s["asr_turns"].sum()) == 0:
        return None
    edits, words = int(s["asr_edits"].sum()), int(s["asr_ref_words"].sum())
    per_case = s.loc[s["asr_turns"] > 0, "asr_wer"]
    return AsrSummary(
        turns=int(s["asr_turns"].sum()),
        cases=int((s["asr_turns"] > 0).sum()),
        edits=edits,
        ref_words=words,
        wer=rounded(edits / words, 4) if words else None,
        worst_case_wer=rounded(float(per_case.max()), 4) if per_case.notna().any() else None,
        **_per_call(s.loc[s["asr_turns"] > 0]),
    )


def _per_call(heard: pd.DataFrame) -> dict[str, float | None]:
    """Audio minutes and ASR cost, per conversation heard (means) and in all (None: not reported)."""
    if "asr_audio_s" not in heard:
        return {}
    seconds, cost = heard["asr_audio_s"].dropna(), heard["asr_cost_usd"].dropna()
    return {
        "audio_minutes": rounded(float(seconds.sum()) / 60.0, 4) if len(seconds) else None,
        "audio_minutes_per_call": rounded(float(seconds.mean()) / 60.0, 4) if len(seconds) else None,
        "asr_cost_total": rounded(float(cost.sum()), 6) if len(cost) else None,
        "asr_cost_per_call": rounded(float(cost.mean()), 6) if len(cost) else None,
    }


def _detail(asr: AsrSummary, most: float) -> str:
    return (
        f"ASR word error rate {asr.wer:.3f} over {plural(asr.turns, 'heard turn')} the agent was asked at "
        f"({asr.edits} edits / {asr.ref_words} reference words), at most {most:.3f} allowed"
    )


class AsrScorer:
    name = "asr"

    def needs(self, config: GateConfig) -> list[str]:
        return ["case_id", "repeat"]

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        return asr_columns(inputs.frame, inputs.asr_turns)

    def gate(self, inputs: GateInputs) -> ScorerResult:
        asr, most = asr_summary(inputs.scores), inputs.config.max_asr_wer
        if asr is None:  # a text run: not measured, no check
            return ScorerResult(None)
        asr = asr.model_copy(update=hearing_latency(inputs.timings, inputs.budgets))
        checks = []
        if most is not None and asr.wer is not None:
            checks.append(check("asr_wer", asr.wer <= most, _detail(asr, most)))
        if inputs.config.check_latency:
            p95, budget = asr.to_first_token_p95, inputs.budgets.asr_to_first_token_ms
            checks.append(check("asr_to_first_token", p95 is not None and p95 <= budget, _latency_detail(asr)))
        return ScorerResult(asr, checks)


def hearing_latency(timings: pd.DataFrame | None, budgets: Budgets) -> dict[str, float | None]:
    """p50/p95 over the heard turns (steps with `asr_ms`) from the end of the customer's speech: to
    the transcript, to the agent's first token, to its full reply (ASR time + agent time)."""
    heard = timings[timings["asr_ms"].notna()] if timings is not None and "asr_ms" in timings else None
    out: dict[str, float | None] = {"to_first_token_budget": budgets.asr_to_first_token_ms}
    if heard is None or heard.empty:
        return out
    spans = {
        "to_transcript": heard["asr_ms"],
        "to_first_token": heard["asr_ms"] + heard["first_token_ms"],
        "to_full_reply": heard["asr_ms"] + heard["latency_ms"],
    }
    for name, values in spans.items():
        out[f"{name}_p50"], out[f"{name}_p95"] = percentile(values, 50), percentile(values, 95)
    return out


def _latency_detail(asr: AsrSummary) -> str:
    if asr.to_first_token_p95 is None:
        return "the agent reported no first-token times for the heard turns: not measured"
    return (
        f"p95 end of speech to first token {asr.to_first_token_p95:g} ms "
        f"(ASR p95 {asr.to_transcript_p95:g} ms), budget {asr.to_first_token_budget:g} ms"
    )
