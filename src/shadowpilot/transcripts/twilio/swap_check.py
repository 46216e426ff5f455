"""Does a call look as if its customer and agent sides were swapped?

A mapping of media channels to speakers can be wrong for a whole tenant (its recordings put
the customer on channel 1, against Twilio's default) without any field saying so. The business
answers the phone, so the side that says the business's greeting is the agent. The check:

- a call looks swapped when its first customer turn carries a business greeting ("thank you
  for calling", "how can I help", ...) and its first agent turn carries none;
- when most calls mapped by one rule (and at least two) look swapped, that rule is likely wrong
  for the tenant and the import says which setting to change.

It only warns; the import never re-maps a call on a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ...types import Turn

# Lower-case phrases a business opens a call with (English).
GREETINGS = (
    "thank you for calling",
    "thanks for calling",
    "thank you for contacting",
    "thanks for contacting",
    "you've reached",
    "you have reached",
    "you're through to",
    "welcome to",
    "how can i help",
    "how may i help",
    "how can i assist",
    "how may i assist",
    "what can i do for you",
)
_GREETING = re.compile("|".join(re.escape(g) for g in GREETINGS))


def greets(text: str) -> bool:
    return _GREETING.search(text.lower().replace("\u2019", "'")) is not None


def looks_swapped(turns: Iterable[Turn]) -> bool:
    """The first customer turn greets as the business does and the first agent turn does not."""
    first: dict[str, str] = {}
    for t in turns:
        if t.speaker in ("customer", "agent"):
            first.setdefault(t.speaker, t.text)
    return greets(first.get("customer", "")) and not greets(first.get("agent", ""))


def mostly_swapped(swapped: int, total: int) -> bool:
    """Most of a rule's calls (and at least two) look swapped: the rule, not the call, is wrong."""
    return swapped >= 2 and swapped * 2 > total
