"""One error tree. The library raises these; only the CLI maps them to exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ShadowpilotError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class UsageError(ShadowpilotError):
    """The user asked for something that cannot be done as asked (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One bad record: where it is and what is wrong with it."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": field {self.field}"
        return f"{where}: {self.message}"


class InputError(UsageError):
    """Bad input data; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem], summary: str | None = None):
        self.problems = list(problems)
        head = summary or f"{len(self.problems)} bad record(s); nothing was imported"
        lines = [head, *(f"  {p}" for p in self.problems[:50])]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        super().__init__("\n".join(lines))


class ConfigError(UsageError):
    """shadowpilot.toml (or a flag or environment variable) is wrong."""

    def __init__(self, message: str, path: Path | str | None = None):
        self.path = str(path) if path else None
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
