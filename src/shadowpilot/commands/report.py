"""`shadowpilot report`: the pilot report of a run, as Markdown or JSON."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from .common import JSON_OPTION, console, emit_json, guarded, settings, write_output


class Format(StrEnum):
    md = "md"
    json = "json"


@guarded
def command(
    ctx: typer.Context,
    fmt: Format = typer.Option(Format.md, "--format", "-f", help="md (a pull request or step summary) or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (default: stdout)."),
    run_id: str | None = typer.Option(None, "--run", help="The run (default: the latest complete run)."),
    show_pii: bool = typer.Option(False, "--show-pii", help="Keep personal data (redacted by default)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the pilot report of a run: verdict, figures, and every case."""
    from ..reports import build_report_data, render_report

    s = settings(ctx)
    data = build_report_data(s, run_id, show_pii=show_pii)
    text = render_report(data, fmt.value)
    if output is None:
        if as_json:
            emit_json({"run_id": data.manifest.run_id, "format": fmt.value, "report": text})
        else:
            typer.echo(text, nl=False)
        return
    write_output(output, text)
    if as_json:
        emit_json(
            {"run_id": data.manifest.run_id, "format": fmt.value, "path": str(output), "bytes": len(text.encode())}
        )
    else:
        console().print(f"wrote the {fmt.value} report of {data.manifest.run_id} to [bold]{output}[/]")
