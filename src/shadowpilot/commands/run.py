"""`shadowpilot run`: replay the stored cases through the configured agent."""

from __future__ import annotations

import typer

from .common import JSON_OPTION, console, emit_json, guarded, settings


@guarded
def command(
    ctx: typer.Context,
    all_turns: bool = typer.Option(False, "--all-turns", help="Keep asking after the agent's first escalation."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Replay every stored case, turn by turn, through the agent; store the run and print its id on stdout.

    The run is not scored here: `shadowpilot gate` scores it (and can re-score it later).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..pilot import run

    s = settings(ctx)
    progress = Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TextColumn("cases · {task.fields[errors]} errors"),
        TimeElapsedColumn(), console=console(stderr=True), transient=as_json,
    )  # fmt: skip
    task = progress.add_task("run", total=None, errors=0)
    errors = 0

    def started(total: int) -> None:
        progress.update(task, total=total)

    def done(result) -> None:
        nonlocal errors
        errors += result.error is not None
        progress.update(task, advance=1, errors=errors)

    with progress:
        rep = run(s, all_turns=all_turns, on_start=started, on_result=done)
    if as_json:
        emit_json({"run_id": rep.run_id, "cases": rep.cases, "errors": rep.errors, "status": rep.status})
        return
    # the human summary on stderr, the bare run id on stdout: RUN=$(shadowpilot run)
    con = console(stderr=True)
    con.print(f"run [bold]{rep.run_id}[/]: {rep.cases} cases replayed, {rep.errors} agent error(s)")
    con.print("next: [bold]shadowpilot gate[/] to score it")
    typer.echo(rep.run_id)
