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
`score_replies` normalises with `_normalise_batch`, which gives exactly `NORMALISE`'s texts (the
tests check it on random and edge strings) but does steps 4-6 on the distinct tokens rather than
with the regex over every text, and yields the encoded words as it goes.
"""

from __future__ import annotations

import re

import jiwer
import numpy as np
import pandas as pd

_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
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
        super().__init__(
            [NoNewlines(), Lower(), DigitSeparators(), Punctuation(), NumbersAndFillers(), CollapseSpaces()]
        )


NORMALISE = Normalise()


def normalise(texts: list[str]) -> list[str]:
    return NORMALISE(list(texts))


Words = str | list[int]  # a text's words for rapidfuzz: one character per word, or word ids
_NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_SINGLE_FILLERS = frozenset(f for f in FILLERS if " " not in f)
_SEPARATOR = "\x1e"  # joins the texts when none holds it (checked), so their own newlines go in one pass
_WORD_RUN = re.compile(r"\w+")
# step 2's digit separators, as `DigitSeparators` (tests check it) in two passes that start
# with a literal, which the regex engine finds fast
_THOUSANDS_COMMA = re.compile(r",(?<=\d,)(?=\d{3}\b)")
_DECIMAL_POINT = re.compile(r"\.(?<=\d\.)(?=\d)")
_MARK = "\x00"  # prefixes the words of lines normalised by the regex path (never in a \w run)


def _numbers_fillers_regex(line: str) -> str:
    """Steps 4-6 for one line with the `NORMALISE` regex (lines the token path does not take)."""
    return " ".join(_NUMBER_OR_FILLER.sub(_number_or_filler, line).split())


def _tokenise(text: str) -> tuple[np.ndarray, list[str]]:
    """The text's tokens between single spaces, a newline its own token: codes and the distinct tokens."""
    codes, uniques = pd.factorize(np.asarray(text.replace("\n", " \n ").split(" "), dtype=object))
    return codes, uniques.tolist()


def _alone(token: str) -> str:
    """What a token becomes unless it is half of a pair: a number word its digits, a filler
    nothing, a word the regex path gave (marked) itself."""
    if token.startswith(_MARK):
        return token[1:]
    if token in _SINGLE_FILLERS:
        return ""
    return str(_NUMBER_WORDS[token]) if token in _NUMBER_WORDS else token


def _normalise_batch(texts: list[str]) -> tuple[list[str], list[Words], np.ndarray]:
    """`NORMALISE` over a list, fast: (normalised texts, their words encoded for rapidfuzz, word
    counts). Equal to `NORMALISE(texts)` (tests check it on random and edge strings).

    Steps 1-3 run as in `NORMALISE`, on all texts joined by newlines. Steps 4-6 work on tokens:
    once steps 1-3 are done a line holding only word characters and spaces is \\w runs between
    single spaces, so the regex's matches are whole tokens (a number word or a single filler), a
    tens word and a unit in adjacent tokens ("twenty one", exactly one space between) or "you"
    and "know" likewise. The distinct tokens (a small vocabulary) are looked up once; adjacency is
    numpy. Any other line (a tab, a control character) takes the regex, and its words are kept
    as they come out."""
    n = len(texts)
    if n == 0:
        return [], [], np.zeros(0, dtype=np.int64)
    big = _SEPARATOR.join(texts)
    if big.count(_SEPARATOR) == n - 1:  # step 1 on the joined text: newlines to spaces, then separators
        big = big.replace("\n", " ").replace(_SEPARATOR, "\n").lower()
    else:
        big = "\n".join(NoNewlines().process_list(texts)).lower()
    big = _DECIMAL_POINT.sub(" point ", _THOUSANDS_COMMA.sub("", big))
    big = Punctuation().fn(big)
    codes, vocab = _tokenise(big)
    other = np.array([w != "" and w != "\n" and _WORD_RUN.fullmatch(w) is None for w in vocab])
    if other.any():  # lines for the regex: their words come back marked, as final
        lines = big.split("\n")
        line = np.cumsum(codes == vocab.index("\n")) if "\n" in vocab else np.zeros(len(codes), dtype=np.int64)
        for i in np.unique(line[other[codes]]).tolist():
            lines[i] = " ".join(_MARK + w for w in _numbers_fillers_regex(lines[i]).split())
        codes, vocab = _tokenise("\n".join(lines))
    u = len(vocab)
    # per distinct token: its number value (-1: none), whether it is a unit 1-9, a tens word,
    # "you", "know", and what it becomes alone (a marked token: itself, unmarked)
    value = np.array([_NUMBER_WORDS.get(w, -1) for w in vocab], dtype=np.int64)
    unit = (value >= 1) & (value <= 9)
    tens = value >= 20
    you = np.array([w == "you" for w in vocab])
    know = np.array([w == "know" for w in vocab])
    newline = vocab.index("\n") if "\n" in vocab else -1
    alone = [_alone(w) for w in vocab]
    # final vocabulary: the tokens alone, then "0".."99" for the compounds (code u + value), "\n"
    canon, distinct = pd.factorize(np.asarray(alone + [str(v) for v in range(100)], dtype=object))
    out = codes.astype(np.int64)
    first, second = codes[:-1], codes[1:]
    compound = np.flatnonzero(tens[first] & unit[second])
    out[compound] = u + value[codes[compound]] + value[codes[compound + 1]]
    gone = np.zeros(len(codes), dtype=bool)
    gone[compound + 1] = True
    you_know = np.flatnonzero(you[first] & know[second])
    gone[you_know] = True
    gone[you_know + 1] = True
    empty = canon[alone.index("")] if "" in alone else -1
    is_newline = codes == newline
    out = canon[out]
    keep = ~gone & ~is_newline & (out != empty)
    counts = np.bincount(np.cumsum(is_newline)[keep], minlength=n).astype(np.int64)
    # the texts' words and newlines between texts; joined by spaces (no word holds a space or a
    # newline), then the spaces beside the newlines go
    nl = len(distinct)
    seq = np.where(is_newline, nl, out)[keep | is_newline]
    joined = " ".join(np.append(distinct, "\n")[seq].tolist())
    normalised = joined.replace(" \n", "\n").replace("\n ", "\n").split("\n")
    if nl > 0x10FFFF - 0x10000:
        flat, ends = out[keep].tolist(), np.cumsum(counts)
        return normalised, [flat[a:b] for a, b in zip((ends - counts).tolist(), ends.tolist(), strict=True)], counts
    text = np.where(seq == nl, ord("\n"), seq + 0x10000).astype(np.uint32).tobytes().decode("utf-32-le")
    return normalised, list(text.split("\n")), counts


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
    norm, encoded, counts = _normalise_batch(pairs["human_reply"].tolist() + pairs["reply"].tolist())
    ref_n, hyp_n = counts[:n], counts[n:]
    refs, hyps, ref_w, hyp_w = norm[:n], norm[n:], encoded[:n], encoded[n:]
    scored = ref_n > 0
    if not scored.all():
        idx = np.flatnonzero(scored)
        pairs = pairs.iloc[idx]
        refs, hyps = [refs[i] for i in idx], [hyps[i] for i in idx]
        ref_w, hyp_w = [ref_w[i] for i in idx], [hyp_w[i] for i in idx]
        ref_n, hyp_n = ref_n[idx], hyp_n[idx]
    edits = np.asarray(cpdist(ref_w, hyp_w, scorer=Levenshtein.distance, dtype=np.int64), dtype=np.int64)
    # hits from the alignment's "equal" blocks; without an alignment where they are forced:
    # H = N when nothing is edited, H = 0 when N + M - E <= 1 (as 2H + S = N + M - E)
    hits = np.where(edits == 0, ref_n, 0)
    opcodes = Levenshtein.opcodes
    for i in np.flatnonzero((edits > 0) & (ref_n + hyp_n - edits > 1)).tolist():
        hits[i] = sum(o.src_end - o.src_start for o in opcodes(ref_w[i], hyp_w[i]) if o.tag == "equal")
    char_edits = cpdist(refs, hyps, scorer=Levenshtein.distance, dtype=np.int64)
    return pairs.assign(
        hits=hits.astype(np.int64),
        edits=edits,
        ref_words=ref_n,
        char_edits=np.asarray(char_edits, dtype=np.int64),
        ref_chars=np.fromiter((len(r) for r in refs), dtype=np.int64, count=len(refs)),
    )
