"""The reply scorer's fast path (evals.reply._normalise_batch and score_replies) gives exactly
what the reference does: `NORMALISE` (the documented jiwer pipeline) and the scorer as it was
before the fast path (kept here as `reference_scores`), on thousands of random and edge strings."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist

from shadowpilot.evals.reply import _TENS, _UNITS, FILLERS, NORMALISE, _normalise_batch, score_replies

# "|"-separated so that whitespace pieces stay visible
NUMBERS = "Twenty-One|twenty one|twenty  one|twenty\tone|twenty-ten|ninety nine|ninety-nineteen|seventeen"
NUMBERS += "|seventy seven|Thirty.Three|forty-|-four|onetwo|twentyone|1st|2nd|zero|Zero|NINE|point"
DIGITS = "1,000|12,345,678|1,00|1,0000|3.5|1.2.3|0.5|.5|5.|1,000.50|$1,000|10%|1.000,5"
DIGITS += "|\u0663.\u0665|\u0661,\u0662\u0663\u0664|\u00b2|\u00bd|#1"
MARKS = "don't|it's|o'clock|rock 'n' roll|it`s|it\u2019s|it\u02bcs|don\u2018t|\u201cquoted\u201d"
MARKS += "|\u2014|\u2013|\u2026|...|?!|\u00bfqu\u00e9?|\u00a1hola!|\u00ab\u00bb|snake_case|__|a_b|<b>|@you"
LETTERS = "caf\u00e9|stra\u00dfe|\u0130stanbul|\u00d1and\u00fa|\u4e2d\u6587|\U0001f600|e\u0301"
LETTERS += "|\u212b|a|I|OK|ok|book|hours"
FILLER = "you know|You Know|you  know|you\tknow|you\nknow|know|you|um,|Uh.|HMM|mhm?|er-um"
SPACES = " |  |\t|\n|\r\n|\xa0|\u2009|\u2028|\x0b|\x0c|\x1c|\x1e|\x85|\u3000|\x00|\x07|\x7f|\x1b|"
PIECES = [*_UNITS, *_TENS, *FILLERS, *"|".join([NUMBERS, DIGITS, MARKS, LETTERS, FILLER, SPACES]).split("|")]
ASCII_PIECES = [p for p in PIECES if p.isascii()]
SEPARATORS = [" ", " ", " ", "  ", "", "\t", "\n", ", ", "-", ".", "\xa0"]


def random_text(rng: random.Random, pieces: list[str]) -> str:
    if rng.random() < 0.05:
        return rng.choice(["", " ", "\n", "\t \n", "  um  ", "you know"])
    seps = [s for s in SEPARATORS if s.isascii()] if pieces is ASCII_PIECES else SEPARATORS
    out = []
    for _ in range(rng.randint(1, 12)):
        out.append(rng.choice(pieces))
        out.append(rng.choice(seps))
    return "".join(out[: -1 if rng.random() < 0.5 else None])


def texts(seed: int, n: int, pieces: list[str]) -> list[str]:
    rng = random.Random(seed)
    return [random_text(rng, pieces) for _ in range(n)]


def assert_same_words(encoded: list, normalised: list[str]) -> None:
    """The encoding is one symbol per word, the same for the same word, different otherwise."""
    seen: dict[str, object] = {}
    back: dict[object, str] = {}
    for symbols, text in zip(encoded, normalised, strict=True):
        words = text.split(" ") if text else []
        assert len(symbols) == len(words)
        for s, w in zip(symbols, words, strict=True):
            assert seen.setdefault(w, s) == s
            assert back.setdefault(s, w) == w


# Batches all-ASCII and mixed: steps 2-3 work on a batch's joined text, so both kinds are checked.
@pytest.mark.parametrize(
    ("seed", "pieces"), [(1, PIECES), (2, PIECES), (3, ASCII_PIECES), (4, ASCII_PIECES), (5, PIECES[:40])]
)
def test_the_fast_normalisation_equals_normalise(seed: int, pieces: list[str]) -> None:
    batch = texts(seed, 3000, pieces)
    expected = NORMALISE(list(batch))
    normalised, encoded, counts = _normalise_batch(batch)
    assert normalised == expected
    assert counts.tolist() == [len(t.split()) for t in expected]
    assert_same_words(encoded, normalised)


def test_the_fast_normalisation_on_edge_batches() -> None:
    edge = [[], [""], ["", ""], [" "], ["\n"], ["um"], ["you know", ""], ["Twenty-one", "twenty"], ["twenty", "one"]]
    edge += [["\x07one\x07"], ["one\ttwo", "twenty one"], ["caf\u00e9 one", "\x07"], ["a\xa0b"], ["you", "know"]]
    edge += [["a\x1eb", "c\nd"], ["\x1e"]]
    for batch in edge:
        normalised, encoded, counts = _normalise_batch(list(batch))
        assert normalised == NORMALISE(list(batch)), batch
        assert counts.tolist() == [len(t.split()) for t in normalised]
        assert_same_words(encoded, normalised)


def _reference_encode(sentences: list[str]) -> list[str]:
    counts = np.fromiter((s.count(" ") + 1 if s else 0 for s in sentences), dtype=np.int64, count=len(sentences))
    codes, _ = pd.factorize(np.asarray(" ".join(s for s in sentences if s).split(), dtype=object))
    ends = np.cumsum(counts)
    text = (codes.astype(np.uint32) + 0x10000).tobytes().decode("utf-32-le")
    return [text[a:b] for a, b in zip((ends - counts).tolist(), ends.tolist(), strict=True)]


def reference_scores(pairs: pd.DataFrame) -> pd.DataFrame:
    """score_replies as it was before the fast path (NORMALISE, then one alignment per pair)."""
    pairs = pairs[pairs["reply"].notna() & pairs["human_reply"].notna()]
    n = len(pairs)
    norm = NORMALISE(pairs["human_reply"].tolist() + pairs["reply"].tolist())
    refs, hyps = norm[:n], norm[n:]
    idx = [i for i, r in enumerate(refs) if r]
    pairs, refs, hyps = pairs.iloc[idx], [refs[i] for i in idx], [hyps[i] for i in idx]
    encoded = _reference_encode(refs + hyps)
    ref_w, hyp_w = encoded[: len(refs)], encoded[len(refs) :]
    hits = [
        sum(o[2] - o[1] for o in Levenshtein.opcodes(a, b).as_list() if o[0] == "equal")
        for a, b in zip(ref_w, hyp_w, strict=True)
    ]
    return pairs.assign(
        hits=np.asarray(hits, dtype=np.int64),
        edits=np.asarray(cpdist(ref_w, hyp_w, scorer=Levenshtein.distance, dtype=np.int64), dtype=np.int64),
        ref_words=np.asarray([len(w) for w in ref_w], dtype=np.int64),
        char_edits=np.asarray(cpdist(refs, hyps, scorer=Levenshtein.distance, dtype=np.int64), dtype=np.int64),
        ref_chars=np.asarray([len(r) for r in refs], dtype=np.int64),
    )


@pytest.mark.parametrize(("seed", "pieces"), [(11, PIECES), (12, ASCII_PIECES), (13, [*PIECES[:30], "ok", "yes"])])
def test_score_replies_equals_the_reference(seed: int, pieces: list[str]) -> None:
    rng = random.Random(seed)
    n = 2000
    refs, hyps = texts(seed, n, pieces), texts(seed + 100, n, pieces)
    # some pairs identical, some with a missing side, some sharing most words
    for i in rng.sample(range(n), 200):
        hyps[i] = refs[i]
    for i in rng.sample(range(n), 200):
        hyps[i] = refs[i] + " " + rng.choice(pieces)
    pairs = pd.DataFrame(
        {
            "case_id": [f"c{i // 3}" for i in range(n)],
            "turn": list(range(n)),
            "reply": [None if rng.random() < 0.03 else h for h in hyps],
            "human_reply": [None if rng.random() < 0.03 else r for r in refs],
        }
    )
    expected = reference_scores(pairs)
    got = score_replies(pairs)
    pd.testing.assert_frame_equal(got, expected)
    assert expected["hits"].sum() > 0 and (expected["edits"] == 0).any()
