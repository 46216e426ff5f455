"""Reports: ReportData from the store, and one writer per format."""

from __future__ import annotations

from pathlib import Path

from .data import ReportData, build_report_data

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


def write_report(data: ReportData, fmt: str, path: Path) -> int:
    """Write the report to `path` (pdf through headless Chromium); returns the bytes written."""
    if fmt == "pdf":
        from .html import render_html
        from .pdf import html_to_pdf

        return html_to_pdf(render_html(data), path)
    text = render_report(data, fmt)
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


__all__ = ["FORMATS", "TEXT_FORMATS", "ReportData", "build_report_data", "render_report", "write_report"]
