"""`shadowpilot run`: replay the stored cases through the configured agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

from ..formatting import usd
from ..wording import plural
from .common import EXIT_INTERRUPTED, JSON_OPTION, RUN_REF, State, console, emit_json, guarded, settings

if TYPE_CHECKING:
    from ..errors import RunInterrupted
    from ..types import CallRun
    from ..workflow.runs import RunReport


@guarded
def command(
    ctx: typer.Context,
    all_turns: bool = typer.Option(False, "--all-turns", help="Keep asking after the agent's first escalation."),
    repeats: int = typer.Option(1, "--repeats", "-k", min=1, help="Run every case K times (pass^k, flaky cases)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ask the agent even where the cache has its answer."),
    resume: bool = typer.Option(False, "--resume", help="Finish the newest interrupted run instead of starting one."),
    run_id: str | None = typer.Option(None, "--run", help=f"With --resume: the run to finish ({RUN_REF})."),
    case_set: str | None = typer.Option(
        None,
        "--cases",
        metavar="SET",
        help="Which stored cases to replay: imported (files and Twilio, the default) · files · twilio · "
        "shadow (live shadow calls) · all.",
    ),
    audio: bool = typer.Option(
        False,
        "--audio",
        help="Replay what the agent hears: each customer turn's recorded audio through the [asr] engine, "
        "the agent asked with the heard text (cases without a recording are left out).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Replay every stored case, turn by turn, through the agent; store the run and print its id on stdout.

    The run is not scored here: `shadowpilot gate` scores it (and can re-score it later).
    Answers of openai and http agents are cached in the tenant store: rerunning an
    unchanged agent on unchanged cases makes no requests (--no-cache to ask again).
    Ctrl-C keeps the finished calls; `shadowpilot run --resume` finishes the run.
    """
    from .. import workflow
    from ..case_sets import DEFAULT_CASE_SET
    from ..errors import UsageError
    from .progress import tally

    if run_id is not None and not resume:
        raise UsageError("--run only goes with --resume (to choose the run to finish)")
    if resume and case_set is not None:
        raise UsageError("--cases is for a new run; --resume replays the cases the run started with")
    if resume and audio:
        raise UsageError("--audio is for a new run; --resume hears an audio run's cases as it started")
    s = settings(ctx)
    fields = "calls · {task.fields[turns]} turns · {task.fields[errors]} errors · ${task.fields[spend]:.4f}"
    from ..errors import RunInterrupted

    try:
        with tally("replaying", fields, {"turns": 0, "errors": 0, "spend": 0.0}, transient=as_json) as bar:

            def done(result: CallRun) -> None:
                spend = sum(
                    step.recommendation.cost_usd or 0.0
                    for step in result.steps
                    if step.recommendation is not None and not step.recommendation.cached
                )
                bar.add(turns=len(result.steps), errors=result.error is not None, spend=spend)

            if resume:
                rep = workflow.resume(s, run_id, use_cache=not no_cache, on_start=bar.start, on_result=done)
            else:
                rep = workflow.run(
                    s,
                    all_turns=all_turns,
                    repeats=repeats,
                    use_cache=not no_cache,
                    cases=case_set or DEFAULT_CASE_SET,  # checked by the workflow, named in its terms
                    audio=audio,
                    on_start=bar.start,
                    on_result=done,
                )
    except RunInterrupted as stop:
        _interrupted(ctx, stop)
    totals = bar.totals
    cache = rep.cache
    if as_json:
        emit_json(
            {
                "run_id": rep.run_id,
                "cases": rep.cases,
                "errors": rep.errors,
                "status": rep.status,
                "turns": totals["turns"],
                "spend_usd": round(totals["spend"], 6),
                "cache": cache.model_dump() if cache is not None else {},
                "resumed": rep.resumed,
                "elapsed_s": round(rep.elapsed_s, 3),
                "case_set": rep.case_set,
                "left_out": rep.left_out or {},
                "audio": _audio_json(rep),
            }
        )
        return
    # the human summary on stderr, the bare run id on stdout: RUN=$(shadowpilot run)
    con = console(stderr=True)
    made = rep.cases - rep.resumed
    line = f"run [bold]{rep.run_id}[/]: {plural(made, 'call')} replayed"
    if rep.resumed:
        line += f" ({rep.resumed} already done before the resume)"
    spent = usd(totals["spend"], grouped=False)
    line += f", {plural(int(totals['turns']), 'turn')}, {plural(rep.errors, 'agent error')}, {spent} spent"
    con.print(line)
    if rep.left_out:
        from ..case_sets import counted

        con.print(
            f"left out: {counted(rep.left_out)} (not in the {rep.case_set} set; --cases all replays every case)",
            soft_wrap=True,
        )
    if rep.heard is not None:
        con.print(_audio_line(rep), soft_wrap=True)
    if cache is not None and cache.enabled:
        con.print(f"response cache: {plural(cache.hits, 'hit')}, {plural(cache.misses, 'request')} made")
    con.print("next: [bold]shadowpilot gate[/] to score it")
    typer.echo(rep.run_id)


def _audio_json(rep: RunReport) -> dict[str, int] | None:
    """What hearing an audio run's customer turns gave (None: a text run)."""
    heard = rep.heard
    if heard is None:
        return None
    return {"turns_heard": heard.turns, "asr_failed": heard.failed, "untimed": heard.untimed, "no_audio": rep.no_audio}


def _audio_line(rep: RunReport) -> str:
    """An audio run's hearing, and what it left out or fell back on, in one line."""
    heard = rep.heard
    assert heard is not None
    line = f"heard {plural(heard.turns, 'customer turn')} through the ASR"
    if heard.failed:
        line += f", {plural(heard.failed, 'ASR failure')} (each fails its case)"
    if heard.untimed:
        line += f"; {plural(heard.untimed, 'turn')} without start_s/end_s kept the transcript's text"
    if rep.no_audio:
        line += f"; left out: {plural(rep.no_audio, 'case')} without a recording"
    return line


def _interrupted(ctx: typer.Context, stop: RunInterrupted) -> NoReturn:
    """Ctrl-C: what was kept and the exact command that finishes the run (with the -c it was given)."""
    import shlex

    from .safe import safe_text

    state: State = ctx.obj or State()
    root = ["-c", str(state.config)] if state.config is not None else []
    again = shlex.join(["shadowpilot", *root, "run", "--resume", "--run", stop.run_id])
    kept = f"kept {stop.kept} of {plural(stop.total, 'call')}"
    console(stderr=True).print(
        safe_text(f"interrupted: run {stop.run_id} {kept}; resume with: {again}"), soft_wrap=True
    )
    raise typer.Exit(EXIT_INTERRUPTED)
