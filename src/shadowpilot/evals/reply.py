"""Reply scorer: the agent's reply at a customer turn against the human's next reply.

Normalisation (both sides, a jiwer transformation pipeline, `NORMALISE`):
  1. lower case;
  2. apostrophes dropped ("don't" -> "dont"); a comma between thousands dropped ("1,000" -> "1000");
     a point between digits read as a word ("3.5" -> "3 point 5");
  3. every other punctuation mark or symbol becomes a space ("twenty-one" -> "twenty one");
  4. number words from zero to ninety-nine become digits ("twenty one" -> "21", "Three" -> "3"),
     so digits and simple number words agree;
  5. fillers removed: um, uh, erm, er, hmm, mhm, "you know";
  6. whitespace collapsed and trimmed.

Measures (jiwer's definitions): WER = (S+D+I)/(H+S+D), MER = (S+D+I)/(H+S+D+I), CER = character
edits / reference characters (spaces count, as in jiwer.cer). The human's reply is the reference.
WER and CER are unbounded (an agent that talks a lot can exceed 1); MER is in [0, 1], so the gate
only ever uses similarity = 1 - MER.

A turn is scored when the agent gave a reply and a human reply follows it in the transcript
whose normalised text is not empty. Per case the measures are corpus-level over its scored turns
(edit counts summed, then divided), so a one-word turn cannot swing a case; overall likewise.

Speed: jiwer's own `process_words` builds Python objects for every alignment chunk (about 3 s
per 100,000 word pairs, 12 s at character level). The counts here come from the same engine jiwer
uses (rapidfuzz's Levenshtein opcodes, so the same alignment and the same numbers; the tests check
against jiwer), with each distinct word encoded as one character so a whole batch is compared in C.
"""

from __future__ import annotations

import re

import jiwer
import numpy as np
import pandas as pd

REPLY_COUNT_COLUMNS = ["reply_turns", "reply_hits", "reply_edits", "reply_ref_words", "reply_char_edits",
                       "reply_ref_chars"]  # fmt: skip

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
          "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]  # fmt: skip
FILLERS = ("um", "umm", "uh", "uhh", "erm", "er", "hmm", "mhm", "you know")
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_OR_FILLER = re.compile(
    r"\b(?=[zotfsenuhmy])(?:"
    rf"({'|'.join(_TENS)})(?: ({'|'.join(_UNITS[1:10])}))?"
    rf"|({'|'.join(_UNITS)})"
    rf"|({'|'.join(re.escape(f) for f in FILLERS)})"
    r")\b"
)
_DIGIT_SEPARATOR = re.compile(r"(\d)(?:,(?=\d{3}\b)|\.(?=\d))")
_ASCII_PUNCT = bytes.maketrans(b'!"#$%&()*+,-./:;<=>?@[\\]^_{|}~', b" " * len(b'!"#$%&()*+,-./:;<=>?@[\\]^_{|}~'))
_APOSTROPHES = ("'", "`", "\u2019", "\u02bc")


def _number_or_filler(m: re.Match[str]) -> str:
    if m.group(4) is not None:
        return " "
    if m.group(3) is not None:
        return str(_UNITS.index(m.group(3)))
    tens = 20 + 10 * _TENS.index(m.group(1))
    return str(tens + (_UNITS.index(m.group(2)) if m.group(2) else 0))


def _digit_separator(m: re.Match[str]) -> str:
    return m.group(1) if m.group(0)[1] == "," else m.group(1) + " point "


class Batched(jiwer.AbstractTransform):
    """A text-to-text step applied to a whole list at once: the strings are joined on newlines
    (which `NoNewlines` removed from them), transformed in one pass of C code, and split again.
    `fn` must neither remove nor produce a newline."""

    def process_string(self, s: str) -> str:
        return self.fn(s)

    def process_list(self, inp: list[str]) -> list[str]:
        return self.fn("\n".join(inp)).split("\n") if inp else []

    def fn(self, s: str) -> str:
        raise NotImplementedError


class NoNewlines(jiwer.AbstractTransform):
    """Line breaks inside a text become spaces (the batched steps use newlines as separators)."""

    def process_string(self, s: str) -> str:
        return s.replace("\n", " ")

    def process_list(self, inp: list[str]) -> list[str]:
        return [s.replace("\n", " ") for s in inp]


class Lower(Batched):
    def fn(self, s: str) -> str:
        return s.lower()


class DigitSeparators(Batched):
    """Thousands separators go ("1,000" -> "1000"); a decimal point is read ("3.5" -> "3 point 5")."""

    def fn(self, s: str) -> str:
        return _DIGIT_SEPARATOR.sub(_digit_separator, s)


class Punctuation(Batched):
    """Apostrophes dropped; every other punctuation mark or symbol becomes a space. ASCII goes
    through bytes.translate (C, a 256-entry table); other marks through one regex pass, only
    when the text has any."""

    def fn(self, s: str) -> str:
        for a in _APOSTROPHES:
            s = s.replace(a, "")
        s = s.encode("utf-8").translate(_ASCII_PUNCT).decode("utf-8")
        return s if s.isascii() else re.sub(r"[^\w\s]+|_+", " ", s)


class NumbersAndFillers(Batched):
    """Number words from zero to ninety-nine become digits; fillers are removed."""

    def fn(self, s: str) -> str:
        return _NUMBER_OR_FILLER.sub(_number_or_filler, s)


class CollapseSpaces(jiwer.AbstractTransform):
    def process_string(self, s: str) -> str:
        return " ".join(s.split())

    def process_list(self, inp: list[str]) -> list[str]:
        return [" ".join(s.split()) for s in inp]


class Normalise(jiwer.Compose):
    """The documented normalisation as a jiwer Compose: usable as jiwer's reference and
    hypothesis transform (followed by jiwer.ReduceToListOfListOfWords)."""

    def __init__(self) -> None:
        super().__init__([NoNewlines(), Lower(), DigitSeparators(), Punctuation(), NumbersAndFillers(),
                          CollapseSpaces()])  # fmt: skip


NORMALISE = Normalise()


def normalise(texts: list[str]) -> list[str]:
    return NORMALISE(list(texts))


def _encode_words(sentences: list[str]) -> list[str]:
    """Each distinct word as one character, so a word sequence is a string rapidfuzz compares
    in C. Code points from U+10000 (beyond the surrogates); vocabularies too large for that
    fall back to lists of word ids."""
    counts = np.fromiter((s.count(" ") + 1 if s else 0 for s in sentences), dtype=np.int64, count=len(sentences))
    words = " ".join(s for s in sentences if s).split()
    codes, uniques = pd.factorize(np.asarray(words, dtype=object))
    ends = np.cumsum(counts)
    starts = ends - counts
    if len(uniques) > 0x10FFFF - 0x10000:
        return [codes[a:b].tolist() for a, b in zip(starts, ends, strict=True)]  # type: ignore[misc]
    text = (codes.astype(np.uint32) + 0x10000).tobytes().decode("utf-32-le")
    return [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def score_replies(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per scored turn: hits, edits (S+D+I), reference words, character edits and reference
    characters, from a frame with `reply` (the agent) and `human_reply` (the reference).

    Turns whose normalised reference is empty are dropped (nothing to compare against)."""
    from rapidfuzz.distance import Levenshtein
    from rapidfuzz.process import cpdist

    keep = pairs["reply"].notna() & pairs["human_reply"].notna()
    pairs = pairs[keep]
    n = len(pairs)
    if n == 0:
        return pairs.assign(hits=[], edits=[], ref_words=[], char_edits=[], ref_chars=[]).astype(
            {c: "int64" for c in ("hits", "edits", "ref_words", "char_edits", "ref_chars")}
        )
    norm = normalise(pairs["human_reply"].tolist() + pairs["reply"].tolist())
    refs, hyps = norm[:n], norm[n:]
    scored = np.fromiter((bool(r) for r in refs), dtype=bool, count=n)
    if not scored.all():
        idx = np.flatnonzero(scored)
        pairs = pairs.iloc[idx]
        refs = [refs[i] for i in idx]
        hyps = [hyps[i] for i in idx]
        n = len(refs)
    encoded = _encode_words(refs + hyps)
    ref_w, hyp_w = encoded[:n], encoded[n:]
    edits = cpdist(ref_w, hyp_w, scorer=Levenshtein.distance, dtype=np.int64)
    hits = np.fromiter(
        (sum(o[2] - o[1] for o in Levenshtein.opcodes(a, b).as_list() if o[0] == "equal")
         for a, b in zip(ref_w, hyp_w, strict=True)),
        dtype=np.int64, count=n,
    )  # fmt: skip
    char_edits = cpdist(refs, hyps, scorer=Levenshtein.distance, dtype=np.int64)
    return pairs.assign(
        hits=hits,
        edits=np.asarray(edits, dtype=np.int64),
        ref_words=np.fromiter((len(w) for w in ref_w), dtype=np.int64, count=n),
        char_edits=np.asarray(char_edits, dtype=np.int64),
        ref_chars=np.fromiter((len(r) for r in refs), dtype=np.int64, count=n),
    )


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
