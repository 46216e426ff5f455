"""One error tree. The library raises these; only the CLI maps them to exit codes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

from .terms import Term, Worded


class ShadowpilotError(Exception):
    """Base of every error the library raises on purpose.

    A message that names what the caller controls (a parameter, a call to make next) is made
    with `worded`: `str(exc)` says it in the library's terms and `exc.say(terms)` in a caller's
    (the CLI's flags), so both read the same sentence (terms.py)."""

    exit_code = 1
    worded_as: Worded | None = None
    # What was wrong where (file, line, field), when the error is about input: the CLI lists them
    # under the message and in the --json error object. Empty for every other error.
    problems: Sequence[Problem] = ()

    @classmethod
    def worded(cls, *parts: str | Term | Worded) -> Self:
        text = Worded(*parts)
        exc = cls(str(text))
        exc.worded_as = text
        return exc

    def say(self, terms: Mapping[str, str]) -> str:
        """The message in the caller's terms."""
        return str(self) if self.worded_as is None else self.worded_as.say(terms)


class UsageError(ShadowpilotError):
    """The user asked for something that cannot be done as asked (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One bad record: where it is and what is wrong with it."""

    file: str
    line: int | None
    field: str | None
    message: str | Worded
    # The record it is about, when its file and line do not tell (an item of a JSON array, a CSV
    # case whose rows are on several lines): the problems of one record count as one bad record.
    record: str | None = None

    @property
    def record_key(self) -> str:
        return self.record if self.record is not None else f"{self.file}:{self.line}"

    def of_record(self, record: str) -> Problem:
        return replace(self, record=record)

    def say(self, terms: Mapping[str, str]) -> str:
        """The problem in the caller's terms (see terms.py)."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": field {self.field}"
        message = self.message if isinstance(self.message, str) else self.message.say(terms)
        return f"{where}: {message}"

    def __str__(self) -> str:
        return self.say({})


def bad_records(problems: list[Problem]) -> int:
    """How many records the problems are about: a record with three problems is one bad record."""
    return len({p.record_key for p in problems})


def in_file_order(problems: list[Problem]) -> list[Problem]:
    """Problems sorted by file, then line (a file's own problems, with no line, first)."""
    return sorted(problems, key=lambda p: (p.file, -1 if p.line is None else p.line))


class InputError(UsageError):
    """Bad input data; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem], summary: str | Worded | None = None):
        self.problems = list(problems)
        self.summary = summary or f"{bad_records(self.problems)} bad record(s); nothing was imported"
        super().__init__(self.say({}))

    def say(self, terms: Mapping[str, str]) -> str:
        head = self.summary if isinstance(self.summary, str) else self.summary.say(terms)
        lines = [head, *(f"  {p.say(terms)}" for p in self.problems[:50])]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        return "\n".join(lines)


class ConfigError(UsageError):
    """shadowpilot.toml (or a flag or environment variable) is wrong. `problems` names each bad key
    (file, line, section.key) when the config did not validate."""

    def __init__(self, message: str, path: Path | str | None = None, problems: Sequence[Problem] = ()):
        self.path = str(path) if path else None
        self.problems = list(problems)
        super().__init__(f"{path}: {message}" if path else message)


class NotFoundError(UsageError):
    """A run, case or store the user named does not exist."""


class EnvironmentFailure(ShadowpilotError):
    """What is around shadowpilot failed (the network, a key, a lock, the disk), not the user's
    input and not the harness: exit 2 with one line saying what to fix."""

    exit_code = 2


class StoreError(EnvironmentFailure):
    """The tenant store (or the shadow event log) could not be read or written: a full or
    read-only disk, a damaged file. The environment's to fix, so exit 2 with one line."""


class StoreOwnerError(UsageError):
    """The config names another tenant than the one the store was created for (exit 2)."""


class StoreBusyError(EnvironmentFailure):
    """Another process held the tenant store's lock for longer than we wait."""


class RunAborted(EnvironmentFailure):
    """A run or a judging stopped early because its endpoint was never reached (or refused the
    credentials): an environment problem, so no verdict can come of it."""


class AgentError(ShadowpilotError):
    """The agent under test failed on a turn. Recorded as a failed case, never raised past the runner."""


class AgentUnreachable(AgentError):
    """A turn failed before the agent could answer at all: nothing listening, a name that does not
    resolve, TLS failing, or the credentials refused. Still a failed case; a replay that sees only
    these from the start stops (RunAborted) instead of failing every case."""

    def __init__(self, message: str, cause: str):
        super().__init__(message)
        self.cause = cause  # a runners.reach.Cause


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C, after its finished calls were stored and it was marked
    `interrupted`: still a KeyboardInterrupt (a caller that stops on those still stops), carrying
    what a resume needs to know."""

    def __init__(self, run_id: str, kept: int, total: int):
        super().__init__(f"run {run_id} interrupted: {kept} of {total} calls kept; resume() finishes it")
        self.run_id = run_id
        self.kept = kept  # calls stored for the run (those of earlier sessions included)
        self.total = total  # calls in the whole run (cases x repeats)


class AudioError(UsageError):
    """An audio file that cannot be read as audio (not a WAV, an encoding not supported): exit 2, naming the file."""


class AsrError(AgentError):
    """Speech recognition failed on an utterance (the transcription server's error, a timeout): the turn
    the agent would have heard fails, as an agent error does."""
