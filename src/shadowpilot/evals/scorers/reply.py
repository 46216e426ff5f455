"""Reply scorer: the agent's replies against the human's next replies (evals/reply.py measures
them: normalisation, word and character edits). Per case: the summed counts and WER, MER, CER
over its scored turns; per run the same, corpus-level. The check (similarity = 1 - MER, never raw
WER) is on with [gate] min_reply_similarity.
"""

from __future__ import annotations

import pandas as pd

from ...formatting import rounded
from ...types import GateConfig, ReplySummary
from ...wording import plural
from ..reply_counts import REPLY_COUNT_COLUMNS, rates, reply_counts
from ..scorer import CaseInputs, GateInputs, ScorerResult, check


def reply_columns(keys: pd.DataFrame, reply_turns: pd.DataFrame | None) -> pd.DataFrame:
    """Per (case_id, repeat) row of `keys`: REPLY_COUNT_COLUMNS (0 when nothing was scored) and
    reply_wer, reply_mer, reply_cer (NaN then)."""
    if reply_turns is None or reply_turns.empty:
        counts = pd.DataFrame(0, index=keys.index, columns=REPLY_COUNT_COLUMNS)
    else:
        per_case = reply_counts(reply_turns, ["case_id", "repeat"])
        counts = keys[["case_id", "repeat"]].merge(per_case, on=["case_id", "repeat"], how="left")
        counts = counts[REPLY_COUNT_COLUMNS].fillna(0).astype("int64").set_axis(keys.index)
    r = rates(*(counts[c] for c in REPLY_COUNT_COLUMNS[1:]))
    return counts.assign(reply_wer=r["wer"], reply_mer=r["mer"], reply_cer=r["cer"])


def reply_summary(s: pd.DataFrame) -> ReplySummary | None:
    """None when no turn could be scored."""
    if "reply_turns" not in s or int(s["reply_turns"].sum()) == 0:
        return None
    totals = s[REPLY_COUNT_COLUMNS].sum()
    r = rates(*(totals[c] for c in REPLY_COUNT_COLUMNS[1:]))
    return ReplySummary(
        turns=int(totals["reply_turns"]),
        cases=int((s["reply_turns"] > 0).sum()),
        **{k: rounded(float(v), 4) for k, v in r.items()},
    )


def _detail(reply: ReplySummary | None, least: float) -> str:
    if reply is None or reply.similarity is None:
        return "no reply could be compared with a human reply: not measured"
    return (
        f"reply similarity (1 - MER) {reply.similarity:.3f} over {plural(reply.turns, 'turn')}, at least "
        f"{least:.3f} required"
    )


class ReplyScorer:
    name = "reply"

    def needs(self, config: GateConfig) -> list[str]:
        return ["case_id", "repeat"]

    def columns(self, inputs: CaseInputs, scored: pd.DataFrame) -> pd.DataFrame:
        return reply_columns(inputs.frame, inputs.reply_turns)

    def gate(self, inputs: GateInputs) -> ScorerResult:
        reply, least = reply_summary(inputs.scores), inputs.config.min_reply_similarity
        if least is None:
            return ScorerResult(reply)
        sim = reply.similarity if reply else None
        return ScorerResult(reply, [check("reply_similarity", sim is not None and sim >= least, _detail(reply, least))])
