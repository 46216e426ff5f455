"""`shadowpilot import PATH...`: transcripts into the tenant store."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_OPTION, console, emit_json, guarded, settings


@guarded
def command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Transcript files or folders (.jsonl, .csv, .txt)."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl | csv | text (default: from the name or content)."),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Import the good records and list the bad (default: none)."
    ),
    top: int | None = typer.Option(None, "--top", min=1, help="Keep only the N cases that best cover the calls."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read transcripts into the store. A bad record names its file, line and field;
    by default one bad record imports nothing (exit 2)."""
    from ..pilot import import_files

    s = settings(ctx)
    rep = import_files(s, paths, format=fmt, skip_bad=skip_bad, top=top)
    sm = rep.summary
    if as_json:
        emit_json({
            "store": str(s.store_path),
            "added": sm.added, "updated": sm.updated, "unchanged": sm.unchanged,
            "skipped": [{"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                        for p in rep.skipped],
            "kept": None if rep.picks is None else [{"case_id": p.case.id, "why": p.why} for p in rep.picks],
        })  # fmt: skip
        return
    from rich.table import Table
    from rich.text import Text

    con = console()
    if rep.picks is not None:
        table = Table(title=f"Kept {len(rep.picks)} case(s) (--top {top})", title_justify="left")
        table.add_column("case")
        table.add_column("why it was kept")
        for p in rep.picks:
            table.add_row(p.case.id, Text(p.why))
        con.print(table)
    con.print(
        f"imported into [bold]{s.store_path}[/]: {len(sm.added)} new, "
        f"{len(sm.updated)} changed (new version kept beside the old), {len(sm.unchanged)} unchanged",
        soft_wrap=True,
    )
    if rep.skipped:
        err = console(stderr=True)
        err.print(Text(f"skipped {len(rep.skipped)} bad record(s):", style="yellow"))
        for p in rep.skipped:
            err.print(Text(f"  {p}"), soft_wrap=True)
