"""The reply measures' counts summed per case and the rates made from them (evals/reply.py
measures each turn). Apart from it so the reply scorer's columns are made without loading jiwer
for a run (or a review) whose replies are not scored."""

from __future__ import annotations

import numpy as np
import pandas as pd

REPLY_COUNT_COLUMNS = [
    "reply_turns",
    "reply_hits",
    "reply_edits",
    "reply_ref_words",
    "reply_char_edits",
    "reply_ref_chars",
]


def reply_counts(turns: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per `keys` group (a case and repeat): the summed counts, as REPLY_COUNT_COLUMNS."""
    g = turns.groupby(keys, sort=False)
    out = g[["hits", "edits", "ref_words", "char_edits", "ref_chars"]].sum()
    out.insert(0, "turns", g.size())
    out.columns = REPLY_COUNT_COLUMNS
    return out.reset_index()


def rates(
    hits: object, edits: object, ref_words: object, char_edits: object, ref_chars: object
) -> dict[str, np.ndarray]:
    """WER, MER, CER and similarity (1 - MER) from summed counts (NaN where nothing was scored)."""
    hits, edits = np.asarray(hits, dtype=float), np.asarray(edits, dtype=float)
    ref_words, char_edits, ref_chars = (np.asarray(x, dtype=float) for x in (ref_words, char_edits, ref_chars))
    with np.errstate(divide="ignore", invalid="ignore"):
        wer = np.where(ref_words > 0, edits / ref_words, np.nan)
        mer = np.where(hits + edits > 0, edits / (hits + edits), np.where(ref_words > 0, 0.0, np.nan))
        cer = np.where(ref_chars > 0, char_edits / ref_chars, np.nan)
    return {"wer": wer, "mer": mer, "cer": cer, "similarity": 1 - mer}
