"""The PDF report of a large run: how long `report --format pdf` takes and how many pages it prints.

    .venv/bin/python bench/pdf_scale.py [--cases 5000] [--paper A4] [--show-pii]

Makes a tenant in a temporary folder, imports `--cases` copies of the sample clinic's 20 calls
(new ids; the baseline agent fails 3 in 20 of them, so 15% of the run prints in full), replays
them through the baseline agent, gates the run, then writes the PDF as the command does
(reports.write_report with the [report] defaults, the given paper). Prints the seconds of each
phase, Chromium's steps as they happen, the pages and the size. Needs Chromium.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from shadowpilot import workflow
from shadowpilot.config import ReportSettings, load_settings
from shadowpilot.reports import write_report
from shadowpilot.reports.pdf import find_chromium

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "shadowpilot" / "sample"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--paper", choices=["A4", "Letter"], default="A4")
    ap.add_argument("--show-pii", action="store_true", help="skip the report's PII redaction (not what users get)")
    args = ap.parse_args()
    if find_chromium() is None:
        print("Chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in (SAMPLE / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory(prefix="shadowpilot-pdf-bench-") as tmp:
        folder = Path(tmp)
        cfg = folder / "shadowpilot.toml"
        cfg.write_text((SAMPLE / "shadowpilot.toml").read_text(encoding="utf-8"), encoding="utf-8")
        src = folder / "calls.jsonl"
        with src.open("w", encoding="utf-8") as f:
            for i in range(args.cases):
                f.write(json.dumps({**rows[i % len(rows)], "id": f"case-{i + 1:05d}"}) + "\n")
        settings = load_settings(cfg, environ={})

        t0 = time.perf_counter()
        workflow.import_files(settings, [src])
        run = workflow.run(settings)
        gate = workflow.gate(settings, run.run_id)
        t1 = time.perf_counter()
        print(
            f"{args.cases:,} cases imported, replayed and gated in {t1 - t0:.1f} s "
            f"({gate.cases - gate.passed_cases:,} failing)"
        )

        data = workflow.build_report_data(settings, run.run_id, show_pii=args.show_pii)
        t2 = time.perf_counter()
        print(f"report data (scores, cases{'' if args.show_pii else ', redaction'}): {t2 - t1:.1f} s")

        out = folder / "report.pdf"

        def step(msg: str) -> None:
            print(f"  {time.perf_counter() - t2:7.1f} s  {msg}", flush=True)

        size = write_report(data, "pdf", out, settings=ReportSettings(paper=args.paper), progress=step)
        t3 = time.perf_counter()
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", out.read_bytes()))
        print(f"pdf: {t3 - t2:.1f} s, {pages:,} {args.paper} pages, {size / 1e6:.1f} MB")
        print(f"total from stored run to PDF: {t3 - t1:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
