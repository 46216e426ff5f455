"""Reporting: the run scored and decided as `gate` does, handed with its records to the report builder."""

from __future__ import annotations

from ..config import Settings
from ..evals.derive import call_rows
from ..reports.data import ReportData, read_records, report_data
from .gating import gated, hearing_turns, with_audio_sides
from .workspace import Workspace


def build_report_data(
    settings: Settings, run_id: str | None = None, *, show_pii: bool = False, baseline: str | None = None
) -> ReportData:
    """Score the run (default: latest complete) as `gate` does, with the run's latencies and the
    [budgets], and gather every case, the pilot's timeline and its rulings for the writers.

    With `baseline`, the run is compared with that one case by case, and, as `gate` with a
    baseline does, a case that passed there and fails now makes the verdict no-go unless the AI
    was ruled right. Personal data is redacted (`[redaction] kinds`) unless `show_pii`: a report
    is made to be shared; the store keeps the original.
    """
    with Workspace.reading(settings) as ws:
        g = gated(ws, run_id, baseline)
        records = read_records(ws.store, g.run_id)
        cases, steps = ws.store.scoring_cases(g.run_id), ws.store.scoring_steps(g.run_id)
        heard = hearing_turns(ws.store, g.run_id, cases, steps, call_rows(cases, steps))  # as the gate scored them
        comparison = g.comparison()
        if comparison is not None:  # which side heard audio, as `compare` tells it
            comparison = with_audio_sides(ws.store, comparison)
    return report_data(settings, records, g.scores, g.result, comparison=comparison, heard=heard, show_pii=show_pii)
