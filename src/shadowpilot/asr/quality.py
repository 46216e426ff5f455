"""How well an engine heard: corpus word error rate against what was said, after the project's one
text normalisation (evals.reply.NORMALISE: case, punctuation, number words as digits, fillers), so
Whisper writing "3" for "three" or "Dr." for "doctor's" punctuation is not counted as an error."""

from __future__ import annotations

from collections.abc import Sequence


def corpus_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word edits over reference words, summed over every pair (jiwer's WER), after NORMALISE.
    Pairs whose normalised reference is empty are left out (there is nothing to have heard)."""
    import jiwer

    from ..evals.reply import normalise

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    refs, hyps = normalise(list(references)), normalise(list(hypotheses))
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r.strip()]
    if not pairs:
        raise ValueError("no reference has any words")
    out = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    return float(out.wer)
