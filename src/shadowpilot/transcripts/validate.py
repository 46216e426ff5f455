"""Validation of Transcripts beyond their types: what makes a case scorable.

Readers turn vendor records into Transcripts; this module names the file, line
and field of everything wrong, so one import reports every bad record at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Problem
from ..types import Transcript
from .labels import DEFAULT_LABELS, SpeakerLabels, case_id_problem, channel_problem, unknown_speaker

# Where a user reads the format: a file of the repository and a command that works wherever
# shadowpilot is installed (tests check that both exist).
FORMAT_HINT = "see the Transcript format in docs/contract.md#transcript, or `shadowpilot schema transcript`"


def _no_tick() -> None:
    return None


@dataclass(frozen=True)
class Reading:
    """What every reader is given beside the file: the tenant's speaker labels, `tick`, called
    once per record read (good or bad) so a long import can show its progress, and which channel
    of a recording is the customer's when the file does not say."""

    labels: SpeakerLabels = DEFAULT_LABELS
    tick: Callable[[], None] = _no_tick
    # The customer's channel of a dual-channel `audio` file that does not say (transcripts/audio.py).
    # Imports pass twilio.mapping.default_customer_channel([twilio]); 2 is its value unconfigured.
    customer_channel: int | None = 2


DEFAULT_READING = Reading()


@dataclass
class ReadResult:
    """What a reader made of its input: good cases with their lines, and problems."""

    transcripts: list[tuple[int | None, Transcript]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def field_path(loc: tuple[Any, ...]) -> str:
    """('turns', 2, 'speaker') -> 'turns[2].speaker'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_from_validation(
    exc: ValidationError,
    file: str,
    line: int | None,
    line_of: Callable[[tuple[Any, ...]], int | None] | None = None,
    rename: Callable[[str], str] | None = None,
) -> list[Problem]:
    """One Problem per pydantic error. `line_of` maps an error's location to its line."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = field_path(loc)
        if rename:
            path = rename(path)
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = f"unknown field ({FORMAT_HINT})"
        elif loc and loc[-1] == "speaker" and err["type"] == "literal_error":
            msg = unknown_speaker(err["input"])
        elif "input" in err and err["type"] != "json_invalid":
            shown = repr(err["input"])
            if len(shown) > 60:
                shown = shown[:57] + "..."
            msg = f"{msg} (got {shown})"
        where = (line_of(loc) if line_of else None) or line
        problems.append(Problem(file, where, path or None, msg))
    return problems


def check_transcript(t: Transcript) -> list[tuple[str, str]]:
    """Semantic checks a type cannot express: (field, message) pairs."""
    out: list[tuple[str, str]] = []
    id_problem = case_id_problem(t.id)
    if id_problem:
        out.append(("id", id_problem))
    channel = channel_problem(t.channel)
    if channel:
        out.append(("channel", channel))
    if not t.turns:
        return [*out, ("turns", "a case needs at least one turn")]
    if not t.customer_turns():
        out.append(("turns", "no customer turn: nothing for the agent to answer"))
    o = t.outcome
    if o.at_turn is not None:
        if not o.escalated:
            out.append(("outcome.at_turn", "set, but outcome.escalated is false"))
        elif not 0 <= o.at_turn < len(t.turns):
            out.append(("outcome.at_turn", f"{o.at_turn} is not a turn index (the case has {len(t.turns)} turns)"))
        elif t.turns[o.at_turn].speaker != "customer":
            out.append(
                (
                    "outcome.at_turn",
                    f"turn {o.at_turn} is spoken by {t.turns[o.at_turn].speaker!r}; "
                    "at_turn must index the customer turn after which the human escalated",
                )
            )
    return out


def validate(result: ReadResult, file: str) -> ReadResult:
    """Apply the semantic checks; move failing cases to problems."""
    good = ReadResult(problems=list(result.problems))
    for line, t in result.transcripts:
        issues = check_transcript(t)
        if issues:
            record = f"{file}:{line}:{t.id}"  # one record, however many of its fields are wrong
            good.problems.extend(Problem(file, line, f, m, record) for f, m in issues)
        else:
            good.transcripts.append((line, t))
    return good


def check_duplicates(items: list[tuple[str, int | None, Transcript]]) -> dict[int, Problem]:
    """The same case id twice in one import is ambiguous: which is the truth?

    Returns the problem for each repeat, keyed by its position in `items` (the first stays)."""
    seen: dict[str, tuple[str, int | None]] = {}
    problems: dict[int, Problem] = {}
    for i, (file, line, t) in enumerate(items):
        if t.id in seen:
            f0, l0 = seen[t.id]
            first = f"{f0}:{l0}" if l0 else f0
            problems[i] = Problem(file, line, "id", f"duplicate case id {t.id!r} (first at {first})", f"duplicate {i}")
        else:
            seen[t.id] = (file, line)
    return problems


def read_text_file(path: Path) -> tuple[str | None, Problem | None]:
    """Read a UTF-8 text file, or say precisely why it is not one."""
    name = str(path)
    if not path.exists():
        return None, Problem(name, None, None, "no such file")
    if path.is_dir():
        return None, Problem(name, None, None, "is a directory")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, Problem(name, None, None, f"cannot read: {exc.strerror}")
    if not raw.strip():
        return None, Problem(name, None, None, "file is empty")
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        return None, Problem(name, line, None, "binary data (NUL byte): not a transcript file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem(name, line, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})")
    return text, None
