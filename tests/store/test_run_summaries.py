"""Store.run_summaries (what `history` lists, read without pandas) and Store.history (the
DataFrame the reports and the library read) are the same rows: one query, two shapes."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from shadowpilot import workflow
from shadowpilot.config import load_settings
from shadowpilot.store import RunSummary
from tests.conftest import make_case, write_config, write_jsonl


def test_run_summaries_are_the_history_rows_typed(tenant_dir: Path) -> None:
    write_config(tenant_dir, '[agent]\nkind = "baseline"\n')
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    cases = [make_case(f"c{i}", ["I was charged twice, I want a refund"]) for i in range(3)]
    workflow.import_files(settings, [write_jsonl(tenant_dir / "c.jsonl", cases)])
    gated = workflow.run(settings).run_id
    workflow.gate(settings, gated)
    ungated = workflow.run(settings).run_id

    rows = workflow.run_summaries(settings)
    frame = workflow.history(settings)
    assert all(isinstance(r, RunSummary) for r in rows)
    assert [r.run_id for r in rows] == [gated, ungated] == frame["run_id"].tolist()
    first, second = rows
    assert first.verdict in ("go", "no-go", "insufficient-evidence") and first.cases == 3
    assert isinstance(first.passed_cases, int) and isinstance(first.pass_rate, float)
    assert second.verdict is None and second.pass_rate is None and second.passed_cases is None
    assert second.status == "complete" and second.cases == 3
    for row, record in zip(rows, frame.astype(object).to_dict("records"), strict=True):
        expected = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}
        assert asdict(row) == expected
