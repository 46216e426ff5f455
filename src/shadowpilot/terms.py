"""Messages that name what the caller controls, said in the caller's terms.

The library names a Python parameter (`repeats`) or a call (`resume()`); the CLI names its flag
(`--repeats`) or command (`shadowpilot run --resume`). A message is written once, as text with
Terms in it: `str()` says it in the library's terms, `say(terms)` in a caller's (commands/ holds
the CLI's), so flag names live only in commands/ and every caller reads the same sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """Something the caller controls, named in a message: `key` identifies it to a caller's terms;
    `library` is how the library says it (default: the key, a Python parameter's name)."""

    key: str
    library: str | None = None

    def say(self, terms: Mapping[str, str]) -> str:
        return terms.get(self.key, self.library or self.key)


@dataclass(frozen=True, init=False)
class Worded:
    """A sentence of text and Terms (a Worded part is spliced in)."""

    parts: tuple[str | Term, ...]

    def __init__(self, *parts: str | Term | Worded) -> None:
        flat = tuple(q for p in parts for q in (p.parts if isinstance(p, Worded) else (p,)))
        object.__setattr__(self, "parts", flat)

    def say(self, terms: Mapping[str, str]) -> str:
        return "".join(p if isinstance(p, str) else p.say(terms) for p in self.parts)

    def __str__(self) -> str:
        return self.say({})


def say(text: str | Worded, terms: Mapping[str, str]) -> str:
    """`text` in the caller's terms (plain text as it is)."""
    return text if isinstance(text, str) else text.say(terms)
