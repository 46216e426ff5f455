"""Reports: ReportData from a run's scores, verdict and records (shadowpilot.workflow.build_report_data
makes it from the store), and one writer per format."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..formatting import count
from .data import ReportData, RunRecords, read_records, report_data

if TYPE_CHECKING:
    from ..config import ReportSettings
    from .pdf import Progress

FORMATS = ("html", "md", "json", "junit", "pdf")
TEXT_FORMATS = ("html", "md", "json", "junit")


def render_report(data: ReportData, fmt: str) -> str:
    """Render ReportData as `html`, `md`, `json` or `junit` text (pdf: see write_report)."""
    if fmt == "html":
        from .html import render_html

        return render_html(data)
    if fmt == "md":
        from .markdown import render_markdown

        return render_markdown(data)
    if fmt == "json":
        return data.model_dump_json(indent=2) + "\n"
    if fmt == "junit":
        from .junit import render_junit

        return render_junit(data)
    raise ValueError(f"unknown report format {fmt!r}")


def write_report(
    data: ReportData,
    fmt: str,
    path: Path,
    *,
    settings: ReportSettings | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the report to `path` (pdf through headless Chromium, laid out per `[report]`);
    returns the bytes written. `progress` hears each step of a PDF."""
    if fmt == "pdf":
        from ..config import ReportSettings
        from .html import PrintLayout, render_html
        from .pdf import html_to_pdf, paper_from_locale, timeout_for

        cfg = settings or ReportSettings()
        n, failing = len(data.cases), sum(1 for c in data.cases if not c.passed)
        layout = PrintLayout(paper=cfg.paper or paper_from_locale(), passing_in_full=n <= cfg.pdf_full_cases_max)
        say = progress or (lambda _: None)
        if layout.passing_in_full:
            shown = f"every case in full ({count(n)})"
        else:
            shown = f"failing cases in full ({count(failing)}), passing cases as table rows ({count(n - failing)})"
        say(f"laying out {shown} on {layout.paper} paper")
        return html_to_pdf(render_html(data, layout), path, timeout_s=timeout_for(n), progress=progress)
    text = render_report(data, fmt)
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


__all__ = [
    "FORMATS",
    "TEXT_FORMATS",
    "ReportData",
    "RunRecords",
    "read_records",
    "render_report",
    "report_data",
    "write_report",
]
