"""`shadowpilot cases` (list, `rm`, `restore`) and `shadowpilot runs rm`: managing the store."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from ..errors import UsageError
from ..wording import plural
from .common import JSON_OPTION, RUN_REF, console, emit_json, guarded, settings

if TYPE_CHECKING:
    from ..store import StoredCase

app = typer.Typer(
    help="The stored cases: list them (bare `cases`), remove them, restore archived ones.",
    no_args_is_help=False,
    invoke_without_command=True,
    rich_markup_mode=None,
)
runs_app = typer.Typer(
    help="The stored runs: remove them (`history` lists them).", no_args_is_help=True, rich_markup_mode=None
)

YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (for scripts).")
RUNS_SHOWN = 2  # run ids a case's row names before it counts the rest


def confirm(question: str, yes: bool) -> None:
    """Ask before removing (a no removes nothing, exit 0); with no terminal to ask on, `--yes` is
    required (exit 2 without it)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("this removes data for good; pass --yes to confirm without a terminal")
    if not typer.confirm(question, default=False, err=True):
        console(stderr=True).print("nothing was removed")
        raise typer.Exit(0)


def _case_json(c: StoredCase) -> dict[str, Any]:
    return {
        "case_id": c.case_id,
        "version": c.version,
        "source": c.source,
        "origin": c.origin,
        "channel": c.channel,
        "escalated": c.escalated,
        "reason": c.reason,
        "tags": c.tags,
        "critical": c.critical,
        "imported_at": c.imported_at,
        "archived_at": c.archived_at,
        "runs": c.runs,
        # the recording's hash, format and length (never its path: audio is kept beside the store)
        "audio": None if c.audio is None else c.audio.model_dump(mode="json"),
    }


def _source(c: StoredCase) -> str:
    """Where a case came from, short: a file's name (its path is in --json), else the source as stored."""
    from pathlib import PurePath

    return PurePath(c.source).name if c.origin == "file" and c.source else c.source or ""


def _audio(c: StoredCase) -> str:
    """The recording, short: its channels and length ('2ch 12s'); blank without one."""
    return "" if c.audio is None else f"{c.audio.channels}ch {c.audio.duration_s:.0f}s"


@app.callback()
@guarded
def listing(
    ctx: typer.Context,
    archived: bool = typer.Option(False, "--archived", help="List the archive instead (see `import --replace`)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the stored cases, in import order: id, version, source, channel, what the human did,
    tags, critical, audio (channels and length of a recording), and the runs that replayed them.
    `--archived`: the cases `import --replace` archived (`cases restore ID...` brings them back)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..workflow import list_cases

    s = settings(ctx)
    cases = list_cases(s, archived=archived)
    if as_json:
        emit_json({"tenant": s.tenant.name, "archived": archived, "cases": [_case_json(c) for c in cases]})
        return
    from .safe import safe_text

    what = "archived cases" if archived else "cases"
    if not cases:
        hint = "" if archived else ": `shadowpilot import FILES` brings them in"
        console().print(safe_text(f"no {what} in the store for {s.tenant.name}{hint}"))
        return
    from rich import box

    from .tables import Column, fitted_table, print_whole

    # What a person picks a case by stays (the id, whether it escalated, its runs); the rest drops
    # first when the width is short: tags, then where it came from, then the version, the reason.
    columns = [
        Column("case", id=True),
        Column("version", drop=3, no_wrap=True),
        Column("source", drop=5, no_wrap=True),
        Column("channel", drop=4, no_wrap=True),
        Column("escalated", no_wrap=True),
        Column("reason", drop=2, no_wrap=True),
        Column("tags", drop=6),
        Column("critical", drop=1, no_wrap=True),
        Column("audio", drop=7, no_wrap=True),
        Column("runs", id=True),  # one run id a line
    ]
    rows = []
    for c in cases:
        runs = "\n".join(c.runs if len(c.runs) <= RUNS_SHOWN else [c.runs[-1], f"+ {len(c.runs) - 1} earlier"])
        rows.append(
            (
                safe_text(c.case_id, one_line=True),
                f"v{c.version}",
                safe_text(_source(c), one_line=True),
                safe_text(c.channel or "", one_line=True),
                "yes" if c.escalated else "no",
                safe_text(c.reason or "", one_line=True),
                safe_text(", ".join(c.tags), one_line=True),
                "yes" if c.critical else "",
                _audio(c),
                safe_text(runs),
            )
        )
    con = console()
    title = safe_text(f"{what.capitalize()} · {s.tenant.name} · {len(cases)}", one_line=True)
    print_whole(con, fitted_table(con, columns, rows, title=title, title_justify="left", box=box.SIMPLE_HEAD))


@app.command("rm", short_help="Remove cases for good, with their results.")
@guarded
def rm(
    ctx: typer.Context,
    case_ids: list[str] = typer.Argument(..., metavar="ID", help="The cases to remove."),
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove cases for good: every version, and their results in the runs that replayed them
    (those runs' recorded verdicts stay as given). Their rulings stay in the history, noted
    "case removed <time>". Asks first (`--yes` to skip)."""
    from ..workflow import remove_cases

    s = settings(ctx)
    plan = remove_cases(s, case_ids, dry_run=True)
    runs = sorted({r for rs in plan.runs.values() for r in rs})
    extra = f"; their results in {plural(len(runs), 'run')} go too" if runs else ""
    ruled = f"; {plural(plan.rulings, 'ruling')} stay in the history, noted" if plan.rulings else ""
    confirm(f"remove {plural(len(plan.case_ids), 'case')} ({plural(plan.versions, 'version')}){extra}{ruled}?", yes)
    done = remove_cases(s, case_ids)
    if as_json:
        emit_json(
            {
                "removed": done.case_ids,
                "versions": done.versions,
                "runs": done.runs,
                "rulings_noted": done.rulings,
                "removed_at": done.removed_at,
            }
        )
        return
    from .safe import safe_text

    line = f"removed {plural(len(done.case_ids), 'case')}: {', '.join(done.case_ids)}"
    if runs:
        line += f" (and their results in {plural(len(runs), 'run')})"
    console(stderr=True).print(safe_text(line), soft_wrap=True)


@app.command("restore", short_help="Bring archived cases back.")
@guarded
def restore(
    ctx: typer.Context,
    case_ids: list[str] = typer.Argument(None, metavar="ID", help="The archived cases to bring back."),
    all_archived: bool = typer.Option(False, "--all", help="Bring back every archived case."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Bring archived cases (left out by `import --replace`) back into the stored selection."""
    from ..workflow import restore_cases

    if bool(case_ids) == all_archived:
        raise UsageError("name the cases to restore, or pass --all (not both)")
    s = settings(ctx)
    rep = restore_cases(s, None if all_archived else case_ids)
    if as_json:
        emit_json({"restored": rep.restored, "not_archived": rep.not_archived})
        return
    from .safe import safe_text

    err = console(stderr=True)
    err.print(safe_text(f"restored {plural(len(rep.restored), 'case')}: {', '.join(rep.restored) or '-'}"))
    if rep.not_archived:
        err.print(safe_text(f"not archived (left as they were): {', '.join(rep.not_archived)}", "yellow"))


@runs_app.command("rm")
@guarded
def runs_rm(
    ctx: typer.Context,
    run_ids: list[str] = typer.Argument(..., metavar="RUN", help=f"The runs to remove, each named by {RUN_REF}."),
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove runs with everything they stored: calls, steps, scores, judgements, verdicts. The
    rulings made from them stay in the history (and keep applying), noted "run removed <time>".
    Asks first (`--yes` to skip)."""
    from ..workflow import remove_runs

    s = settings(ctx)
    plan = remove_runs(s, run_ids, dry_run=True)
    ruled = f"; {plural(plan.rulings, 'ruling')} made from them stay, noted" if plan.rulings else ""
    what = f"{plural(len(plan.run_ids), 'run')} ({plural(plan.calls, 'call')}, {plural(plan.gate_results, 'verdict')})"
    confirm(f"remove {what}{ruled}?", yes)
    done = remove_runs(s, run_ids)
    if as_json:
        emit_json(
            {
                "removed": done.run_ids,
                "calls": done.calls,
                "gate_results": done.gate_results,
                "rulings_noted": done.rulings,
                "removed_at": done.removed_at,
            }
        )
        return
    from .safe import safe_text

    console(stderr=True).print(
        safe_text(f"removed {plural(len(done.run_ids), 'run')}: {', '.join(done.run_ids)}"), soft_wrap=True
    )
