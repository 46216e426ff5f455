"""The names of the scoring frame's per-attribute columns, and the first-repeat rule.

One place makes these names and every reader asks it, so no module parses a column name
back into an attribute (`removeprefix`). The names themselves are part of the stored
`scores` table and of the JSON outputs, so they never change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import pandas as pd

# The queue is a routing attribute like the others, but it has its own columns in the frame.
QUEUE = "queue"


def expected(attribute: str) -> str:
    """What the human chose for a routing attribute (from the case's outcome)."""
    return "expected_queue" if attribute == QUEUE else f"expected.{attribute}"


def agent(attribute: str) -> str:
    """What the agent chose for it at its first escalation."""
    return "agent_queue" if attribute == QUEUE else f"agent.{attribute}"


def ruled(attribute: str) -> str:
    """What a reviewer's ruling recorded the AI as choosing for it."""
    return f"ai.{attribute}"


def match(attribute: str) -> str:
    """Whether the agent's choice matched the human's (NA: not scored on this case)."""
    return f"match.{attribute}"


def matched(attributes: Iterable[str], columns: Iterable[str]) -> list[str]:
    """The attributes among `attributes` that have a match column in `columns`, in order."""
    have = set(columns)
    return [a for a in attributes if match(a) in have]


def first_repeat(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the first repeat: what a verdict counts unless pass^k is asked for.
    A frame without repeats is all first repeat."""
    return frame[frame["repeat"] == 0] if "repeat" in frame else frame


def routed(attributes: Iterable[str]) -> list[str]:
    """Every routing choice scored when both sides escalate: the required attributes, then the queue."""
    return [*attributes, QUEUE]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as dicts keyed by column name (a frame's columns here are always names)."""
    return cast("list[dict[str, Any]]", frame.to_dict("records"))
