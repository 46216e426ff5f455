"""`shadowpilot report`: the pilot report of a run, as HTML, PDF, Markdown, JUnit XML or JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer

from ..formatting import count
from .common import JSON_OPTION, RUN_REF, console, emit_json, guarded, settings, write_output


class Format(StrEnum):
    html = "html"
    md = "md"
    json = "json"
    junit = "junit"
    pdf = "pdf"


@contextmanager
def pdf_progress() -> Iterator[Callable[[str], None]]:
    """Each step of a PDF on stderr. On a terminal, a spinner with the time taken so far
    (Chromium prints a large run in one long call, and the screen must show it is alive);
    elsewhere (CI logs) one line per step."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    err = console(stderr=True)
    if not err.is_terminal:
        yield lambda step: err.print(f"pdf: {step}", highlight=False, soft_wrap=True)
        return
    progress = Progress(
        SpinnerColumn(), TextColumn("pdf: {task.description}"), TimeElapsedColumn(), console=err, transient=True
    )
    with progress:
        task = progress.add_task("starting", total=None)
        yield lambda step: progress.update(task, description=step)


@guarded
def command(
    ctx: typer.Context,
    fmt: Format = typer.Option(
        Format.md,
        "--format",
        "-f",
        help="html (the tenant's report: one self-contained file), pdf (that report through headless Chromium), "
        "md (a pull request or step summary), junit (for CI), or json.",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="FILE", help="Write to this file (default: stdout; required for pdf)."
    ),
    run_id: str | None = typer.Option(None, "--run", help=f"The run: {RUN_REF} (default: the latest complete run)."),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="Compare with this run (as for --run): newly failing and passing cases; a regression makes it no-go.",
    ),
    show_pii: bool = typer.Option(False, "--show-pii", help="Keep personal data (redacted by default)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the pilot report of a run: verdict, figures, and every case."""
    from ..errors import UsageError

    if fmt is Format.pdf:
        from ..reports.pdf import INSTALL_HINT, find_chromium

        if output is None:
            raise UsageError("--format pdf needs a file: add -o pilot-report.pdf")
        if find_chromium() is None:
            raise UsageError.worded(INSTALL_HINT)
    from ..reports import render_report, write_report
    from ..workflow import build_report_data

    s = settings(ctx)
    data = build_report_data(s, run_id, show_pii=show_pii, baseline=baseline)
    if output is None:
        text = render_report(data, fmt.value)
        if as_json:  # the json report is an object in the envelope, every other format its text
            import json

            report = json.loads(text) if fmt is Format.json else text
            emit_json({"run_id": data.manifest.run_id, "format": fmt.value, "report": report})
        else:
            typer.echo(text, nl=False)
        return
    if fmt is Format.pdf:
        with pdf_progress() as step:
            size = write_report(data, fmt.value, output, settings=s.report, progress=step)
    else:
        text = render_report(data, fmt.value)
        write_output(output, text)
        size = len(text.encode())
    if as_json:
        emit_json({"run_id": data.manifest.run_id, "format": fmt.value, "path": str(output), "bytes": size})
    else:
        wrote = f"wrote the {fmt.value} report of {data.manifest.run_id} to [bold]{output}[/]"
        console().print(f"{wrote} ({count(size)} bytes)")
