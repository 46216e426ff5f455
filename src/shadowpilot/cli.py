"""The `shadowpilot` command: Typer wiring only. Each command lives in commands/.

Kept light on purpose: `shadowpilot --help` imports neither pandas, duckdb nor
the agents' clients; each command imports what it needs when it runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .commands import cases, compare, demo, gate, history, import_, init, judge, report, review, run, schema, shadow
from .commands.common import State
from .commands.group import Group

app = typer.Typer(
    cls=Group,  # plain --help metavars, and --json errors for usage mistakes (commands/group.py)
    name="shadowpilot",
    help="Decide, with evidence, whether an AI contact-centre agent is ready to take a tenant's calls.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: typer's rich help costs ~0.2 s of imports per --help
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"shadowpilot {version('shadowpilot')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        metavar="FILE",
        help="The tenant's shadowpilot.toml (default: the nearest one here or above).",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Print the traceback behind an error (for a bug report)."),
) -> None:
    """Exit codes: 0 success (gate: go) · 1 the harness failed · 2 bad usage or input ·
    3 the gate said no-go or insufficient evidence."""
    ctx.obj = State(config=config, debug=debug)


# The startup rule, for every command added here: a command module imports only typer and light
# modules at the top and the rest inside the command, so `--help` and `COMMAND --help` load none of
# pandas, numpy, duckdb or the clients, and a command loads only what it uses (history: the store,
# not the scoring). tests/test_startup_imports.py enumerates this app to hold every command to it;
# bench/startup.py times them.
# In the order of a pilot: set up, replay, score and decide, rule, compare, report, go live in shadow.
app.command("demo", short_help="The whole pilot on the bundled sample clinic, offline.")(demo.command)
app.command("init", short_help="Write shadowpilot.toml and create the store.")(init.command)
app.command("import", short_help="Read transcripts (files or Twilio) into the store.")(import_.command)
app.command("run", short_help="Replay the stored cases through the agent.")(run.command)
app.command("judge", short_help="Have an LLM judge score the agent's replies.")(judge.command)
app.command("gate", short_help="Score a run and decide: go or no-go.")(gate.command)
app.command("review", short_help="Rule on a run's disagreements (AI vs human).")(review.command)
app.command("compare", short_help="What changed from run A to run B.")(compare.command)
app.command("report", short_help="Write the pilot report of a run.")(report.command)
app.add_typer(shadow.app, name="shadow", short_help="Live shadow calls: serve, list, TwiML, selftest.")
app.command("history", short_help="List the runs of this pilot.")(history.command)
# Managing the store: list, remove and restore cases; remove runs.
app.add_typer(cases.app, name="cases", short_help="List, remove and restore the stored cases.")
app.add_typer(cases.runs_app, name="runs", short_help="Remove stored runs.")
# Reference, not a pilot step: the JSON Schema of the file formats (docs/contract.md describes them).
app.command("schema", short_help="Print the JSON Schema of a file format.")(schema.command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
