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


class StoreError(ShadowpilotError):
    """The tenant store could not be read or written (exit 1: the harness failed)."""


class AgentError(ShadowpilotError):
    """The agent under test failed on a turn. Recorded as a failed case, never raised past the runner."""
