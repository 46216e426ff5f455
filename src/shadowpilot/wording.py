"""How counts and turns read to a person, in one place so every output says the same thing.

Turns: a person reads "customer turn N", N counted from 1 among the customer's turns only
(the first thing the customer said is customer turn 1). The data keeps the raw transcript index
(`Outcome.at_turn`, a step's `turn`, 0-based over every line) and JSON outputs name it
`transcript_index`; the CLI, HTML, PDF, Markdown and JUnit all print the number made here.

Counts: "1 case", "2 cases", never "1 cases" or "case(s)".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

N = TypeVar("N")  # an int, or a column of them (pandas)


class _Spoken(Protocol):
    @property
    def speaker(self) -> str: ...  # read-only, so frozen models (Turn, its Literal speaker) fit


def customer_turn_from_ordinal(ordinal: N) -> N:
    """The number a person reads for a 0-based ordinal among customer turns (the store's
    `customer_turn`, the scoring frame's `agent_customer_turn`); a nullable column works too."""
    return None if ordinal is None else ordinal + 1  # type: ignore[operator,return-value]


def customer_turn_number(turns: Sequence[_Spoken], transcript_index: int | None) -> int | None:
    """The customer-turn number of a transcript index: how many customer turns there are up to
    and including it. None when there is no index or no customer turn before it."""
    if transcript_index is None:
        return None
    ordinal = sum(1 for t in turns[: transcript_index + 1] if t.speaker == "customer") - 1
    return customer_turn_from_ordinal(ordinal) if ordinal >= 0 else None


def customer_turn_label(number: int | None) -> str:
    """ "customer turn 3", or "an unrecorded turn" when the turn is not known."""
    return "an unrecorded turn" if number is None else f"customer turn {number}"


def noun(n: int, word: str, many: str | None = None) -> str:
    """The word for n of them: "case" for 1, "cases" otherwise; irregular plurals are given."""
    return word if n == 1 else (many or word + "s")


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 case", "3 cases" ("1 reply", "2 replies" with many="replies")."""
    return f"{n} {noun(n, word, many)}"
