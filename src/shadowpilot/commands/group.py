"""The root command group: arguments shown by their metavars, and `--json` errors for usage mistakes.

Both are typer's doing that no command can change from inside: typer parses the flags before a
command runs (so `guarded` never sees a bad flag value), and its usage line shows an argument that
takes several values without the `...` (`cases rm [OPTIONS] ID`). The group sees every command on
its way to being parsed or shown, so the commands of cli.py get both without asking.
"""

from __future__ import annotations

from typing import Any, cast

import typer
from typer.core import TyperArgument, TyperGroup

from .common import EXIT_USAGE, INVOCATION, JSON_WANTED, report_failure_as_json

# click's UsageError (a bad flag, a bad value, a missing argument): typer vendors click in recent
# versions and re-exports only BadParameter, so it is found as that class's base.
_USAGE_ERROR = cast("type[Exception]", next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"))
_RAW_ARGS = "shadowpilot.raw-args"


class NamedArgument(TyperArgument):
    """An argument with a metavar shows just that in the usage line, with `...` when it takes
    several (`PATH...`, `ID...`); its help says what it takes."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.metavar or self.name or ""
        if self.nargs != 1 and not name.endswith("..."):  # several: ID...
            name += "..."
        return [name if self.required else f"[{name}]"]


def plain_help(command: Any, ctx: Any) -> None:
    """Arguments with a metavar are shown by it. Applied to a command and, for a group, every
    command below."""
    for param in command.params:
        if type(param) is TyperArgument and param.metavar is not None:
            param.__class__ = NamedArgument  # typer builds its params itself: no class to pass it
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub, ctx)


class Group(TyperGroup):
    """`typer.Typer(cls=Group)`: the root of the CLI."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta.setdefault(_RAW_ARGS, list(args))  # the root's: every word after the program
        try:
            return super().parse_args(ctx, args)
        except _USAGE_ERROR as exc:
            _usage_error_as_json(ctx, exc)
            raise

    def invoke(self, ctx: Any) -> Any:
        token = INVOCATION.set(ctx.meta)  # for `guarded`: what this command line asked for
        try:
            return super().invoke(ctx)
        except _USAGE_ERROR as exc:  # a subcommand's flags or arguments did not parse
            _usage_error_as_json(ctx, exc)
            raise
        finally:
            INVOCATION.reset(token)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            plain_help(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        plain_help(self, ctx)
        super().format_help(ctx, formatter)


def _usage_error_as_json(ctx: Any, exc: Exception) -> None:
    """With --json among the words, the error object on stdout; typer then prints its own message
    on stderr and exits 2, as without --json."""
    words = ctx.meta.get(_RAW_ARGS, [])
    words = words[: words.index("--")] if "--" in words else words
    if "--json" in words:
        ctx.meta[JSON_WANTED] = True
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        report_failure_as_json(ctx.meta, getattr(exc, "exit_code", EXIT_USAGE), message)
