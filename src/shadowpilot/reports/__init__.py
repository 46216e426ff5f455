"""Reports: ReportData from the store, and one writer per format."""

from __future__ import annotations

from .data import ReportData, build_report_data
from .markdown import render_markdown

FORMATS = ("md", "json")


def render_report(data: ReportData, fmt: str) -> str:
    """Render ReportData as `md` or `json`."""
    if fmt == "md":
        return render_markdown(data)
    if fmt == "json":
        return data.model_dump_json(indent=2) + "\n"
    raise ValueError(f"unknown report format {fmt!r}")


__all__ = ["FORMATS", "ReportData", "build_report_data", "render_report"]
