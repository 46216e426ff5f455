"""What every command shares: the root options, settings, output and error-to-exit-code mapping."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ..errors import InputError, Problem, ShadowpilotError
from ..terms import say

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..config import Settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_HARNESS, EXIT_USAGE, EXIT_NOT_READY = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, what a shell reports for it

# Where ctx.meta remembers that the command was asked for --json, so a failure is JSON too.
JSON_WANTED = "shadowpilot.json"


def _json_wanted(ctx: typer.Context, value: bool) -> bool:
    """--json's callback: note it on the context (shared by every command level) for `guarded`."""
    if value:
        ctx.meta[JSON_WANTED] = True
    return value


# Every command's --json. With it, a command that fails prints the error object too (guarded).
JSON_OPTION = typer.Option(False, "--json", callback=_json_wanted, help="Print machine-readable JSON on stdout.")

# How a run is named wherever one is taken (workflow/refs.py reads it).
RUN_REF = "its id, a unique prefix or suffix of the id, latest, latest~N or latest-shadow"

# The CLI's words for what library messages name (terms.Term keys): its flags and commands.
CLI_TERMS = {
    "repeats": "--repeats",
    "top": "--top",
    "top_n": "--top N",
    "all_critical": "--all-critical",
    "skip_bad": "--skip-bad",
    "since": "--since",
    "until": "--until",
    "format": "--format",
    "format_pdf": "`--format pdf`",
    "format_html": "`--format html`",
    "output": "-o",
    "timeout_s": "--timeout",
    "resume": "`shadowpilot run --resume`",
    "disagreements": "`shadowpilot review --list`",
    "history": "`shadowpilot history`",
    "case_set": "--cases",
    "replace": "--replace",
}


@dataclass(frozen=True)
class State:
    config: Path | None = None
    debug: bool = False  # --debug: errors keep their traceback


def _debug(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """--debug, from the command's own context (every command takes `ctx`; typer's Context is
    its vendored click's, so it is found by what it holds, not by class)."""
    state = next((o for a in (*args, *kwargs.values()) if isinstance(o := getattr(a, "obj", None), State)), None)
    return bool(state is not None and state.debug)


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def settings(ctx: typer.Context, overrides: dict[str, dict[str, Any]] | None = None, require: bool = True) -> Settings:
    from ..config import find_config, load_settings

    state: State = ctx.obj or State()
    path = state.config
    if path is None:
        path = find_config()
        if path is not None and path.parent != Path.cwd().absolute() and not ctx.meta.get("config_said"):
            ctx.meta["config_said"] = True  # once per command, however often it asks
            sys.stderr.write(f"using {os.path.relpath(path)}\n")
    return load_settings(path, overrides=overrides, require=require)


def json_default(value: Any) -> Any:
    """What json cannot encode itself: a time as every JSON output writes one (when.utc_text),
    anything else as its text."""
    from datetime import datetime

    if isinstance(value, datetime):
        from ..when import utc_text

        return utc_text(value)
    return str(value)


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=json_default) + "\n")


@dataclass(frozen=True)
class ErrorProblem:
    """One thing wrong with the input, where it is: the `problems` of the error object."""

    file: str
    line: int | None
    field: str | None
    message: str


@dataclass(frozen=True)
class ErrorObject:
    """What a failing command prints on stdout with --json (docs/contract.md, "Errors as JSON"):
    the exit code, the error line as stderr says it, and each bad record or key it found."""

    code: int
    message: str
    problems: list[ErrorProblem]

    def emit(self) -> None:
        emit_json({"error": asdict(self)})


def _error_object(code: int, text: str, problems: Sequence[Problem] = ()) -> ErrorObject:
    """The error object of a failure whose message is `text` (in CLI terms), masked as stderr is."""
    from ..runners.masking import mask_credentials

    text = mask_credentials(text)
    lines = text.splitlines() or [""]
    return ErrorObject(
        code=code,
        # with problems, the rest of the text is their lines: `problems` holds them
        message=lines[0] if problems else text,
        problems=[ErrorProblem(p.file, p.line, p.field, mask_credentials(say(p.message, CLI_TERMS))) for p in problems],
    )


# The running command's ctx.meta (one dict for every level of a command line), set by the root
# group while it invokes (commands/group.py): how `guarded` knows --json was given, whichever
# arguments the command takes.
INVOCATION: ContextVar[dict[str, Any] | None] = ContextVar("shadowpilot_invocation", default=None)
_JSON_ERROR_SENT = "shadowpilot.json-error-sent"


def report_failure_as_json(meta: dict[str, Any] | None, code: int, text: str, problems: Sequence[Problem] = ()) -> None:
    """With --json, print the error object on stdout (once per command: the human text still goes
    to stderr). Every way a command fails comes here: `guarded` and the root group's usage errors."""
    if meta is None or not meta.get(JSON_WANTED) or meta.get(_JSON_ERROR_SENT):
        return
    meta[_JSON_ERROR_SENT] = True
    _error_object(code, text, problems).emit()


def write_output(path: Path, text: str) -> None:
    """Write a file the user named; a path that cannot be written is a usage error (exit 2)."""
    from ..errors import UsageError

    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file name with -o")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


# What the machine does to a file (full, read-only, not ours, failing), or what a path the user gave
# is (a file where a folder must be, and the reverse): never the harness's doing.
_DISK_ERRNOS = frozenset(
    {"ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO", "EFBIG", "EMFILE", "ENFILE"}
    | {"ENOTDIR", "EEXIST", "EISDIR", "ENAMETOOLONG"}
)


def environment_failure(exc: BaseException) -> str | None:
    """One line for a failure of the machine around us that escaped as a plain OSError, else None."""
    import errno

    if isinstance(exc, OSError) and errno.errorcode.get(exc.errno or -1) in _DISK_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return None


def _traceback_text() -> Text:
    """The traceback being handled, as the rest of the output is printed: every configured secret,
    Authorization credential and URL password masked (runners.masking), control characters
    written out and no markup read (safe.py). Its messages quote requests as they were made."""
    import traceback

    from ..runners.masking import mask_credentials
    from .safe import safe_text

    return safe_text(mask_credentials(traceback.format_exc()), style="dim")


def guarded(fn: F) -> F:
    """Map library errors to exit codes and clear messages; never a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except ShadowpilotError as exc:
            from rich.text import Text

            from ..runners.masking import mask_credentials
            from .safe import safe_text

            err = console(stderr=True)
            report_failure_as_json(INVOCATION.get(), exc.exit_code, mask_credentials(exc.say(CLI_TERMS)), exc.problems)
            if isinstance(exc, InputError):
                head, *rest = mask_credentials(exc.say(CLI_TERMS)).splitlines()
                err.print(Text("error: ", style="bold red") + safe_text(head), soft_wrap=True)
                for line in rest:
                    err.print(safe_text(line), soft_wrap=True)
            else:
                err.print(
                    Text("error: ", style="bold red") + safe_text(mask_credentials(exc.say(CLI_TERMS))), soft_wrap=True
                )
            if _debug(args, kwargs):
                err.print(_traceback_text())
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            report_failure_as_json(INVOCATION.get(), 130, "interrupted")
            console(stderr=True).print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # a bug in the harness: say so, and exit 1, not 2 or 3
            failure = environment_failure(exc)
            if failure is not None:  # the disk, not the harness: one line, exit 2
                from rich.text import Text

                from .safe import safe_text

                report_failure_as_json(INVOCATION.get(), EXIT_USAGE, failure)
                console(stderr=True).print(
                    Text("error: ", style="bold red") + safe_text(failure, one_line=True), soft_wrap=True
                )
                raise typer.Exit(EXIT_USAGE) from None

            from rich.text import Text

            from ..runners.masking import mask_credentials
            from .safe import safe_text

            err = console(stderr=True)
            bug = "shadowpilot failed (this is a bug in the harness, not your agent): "
            report_failure_as_json(
                INVOCATION.get(), EXIT_HARNESS, bug + mask_credentials(f"{type(exc).__name__}: {exc}")
            )
            err.print(Text(bug, style="bold red") + safe_text(mask_credentials(f"{type(exc).__name__}: {exc}")))
            err.print(_traceback_text())
            raise typer.Exit(EXIT_HARNESS) from None

    return wrapper  # type: ignore[return-value]
