"""Which stored cases a run replays: the case sets, and the origin a case's source gives it.

A case's origin is read from its `source` in one place (`origin_of`): a file import stores the
file's path, a Twilio import `twilio:<sid>`, the live shadow server `shadow:<store>`. Live shadow
calls are cases too, but not what a pilot replays by default: they would change the replay set
every day the server runs.
"""

from __future__ import annotations

from typing import Literal, get_args

Origin = Literal["file", "twilio", "shadow"]
CaseSet = Literal["imported", "files", "twilio", "shadow", "all"]

# The origins each case set holds.
CASE_SETS: dict[CaseSet, frozenset[Origin]] = {
    "imported": frozenset({"file", "twilio"}),
    "files": frozenset({"file"}),
    "twilio": frozenset({"twilio"}),
    "shadow": frozenset({"shadow"}),
    "all": frozenset(get_args(Origin)),
}
DEFAULT_CASE_SET: CaseSet = "imported"
IMPORTED: frozenset[Origin] = CASE_SETS["imported"]  # what `import` brings in (and `--replace` replaces)
ORIGIN_CASE: dict[Origin, str] = {
    "file": "file-imported case",
    "twilio": "Twilio-imported case",
    "shadow": "live shadow case",
}


def origin_of(source: str | None) -> Origin:
    """Where a stored case came from, by its source (a path, `twilio:<sid>` or `shadow:<store>`)."""
    if source is not None and source.startswith("twilio:"):
        return "twilio"
    if source is not None and source.startswith("shadow:"):
        return "shadow"
    return "file"


def counted(counts: dict[Origin, int]) -> str:
    """ "3 live shadow cases, 1 Twilio-imported case": stored cases by origin, as messages say them."""
    from .wording import plural

    return ", ".join(plural(n, ORIGIN_CASE[o]) for o, n in counts.items() if n)
