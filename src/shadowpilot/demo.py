"""The demo: the bundled sample tenant through the whole loop, in a folder of its own."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from . import workflow
from .config import CONFIG_NAME, load_settings
from .reports import render_report
from .types import GateResult

SAMPLE = Path(__file__).with_name("sample")


@dataclass
class DemoResult:
    tenant: str
    imported: int
    gate: GateResult
    reports: dict[str, Path]
    store: Path


def run_demo(directory: Path) -> DemoResult:
    """Copy the sample config (once), import, run the baseline agent, gate, write the reports
    (pilot-report.html for the tenant, .md and .json).

    Re-running adds a run to the same store, so `history` shows the pilot over time.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / CONFIG_NAME
    if not config.exists():
        shutil.copy(SAMPLE / CONFIG_NAME, config)
    settings = load_settings(config, environ={})
    imported = workflow.import_files(settings, [SAMPLE / "transcripts.jsonl"])
    run = workflow.run(settings)
    result = workflow.gate(settings, run.run_id)
    data = workflow.build_report_data(settings, run.run_id)
    reports = {}
    for fmt in ("html", "md", "json"):
        path = directory / f"pilot-report.{fmt}"
        path.write_text(render_report(data, fmt), encoding="utf-8")
        reports[fmt] = path
    s = imported.summary
    return DemoResult(
        tenant=settings.tenant.name,
        imported=len(s.added) + len(s.updated) + len(s.unchanged),
        gate=result,
        reports=reports,
        store=settings.store_path,
    )
