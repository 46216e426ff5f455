"""`shadowpilot report` through the real CLI: every format, -o, --baseline, and clear errors."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shadowpilot.reports import pdf
from tests.conftest import invoke
from tests.reports.conftest import SAMPLE_FAILURES, SAMPLE_IDS, Pilot, needs_chromium, second_run


@pytest.fixture
def in_sample(sample: Pilot, monkeypatch: pytest.MonkeyPatch) -> Pilot:
    for key in [k for k in os.environ if k.startswith("SHADOWPILOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(sample.folder)
    return sample


def test_html_to_a_file(in_sample: Pilot, cli, tmp_path: Path) -> None:
    out = tmp_path / "out" / "pilot-report.html"
    result = invoke(cli, "report", "--format", "html", "-o", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info == {"run_id": in_sample.run_id, "format": "html", "path": str(out), "bytes": out.stat().st_size}
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    for case_id in SAMPLE_IDS:
        assert f'id="case-{case_id}"' in html


def test_junit_to_stdout(in_sample: Pilot, cli) -> None:
    result = invoke(cli, "report", "--format", "junit")
    assert result.exit_code == 0, result.stderr
    root = ET.fromstring(result.stdout.encode())
    failed = [t.get("name") for t in root.iter("testcase") if t.find("failure") is not None]
    assert failed == ["pass_rate", *SAMPLE_FAILURES]


def test_pdf_needs_an_output_file(in_sample: Pilot, cli) -> None:
    result = invoke(cli, "report", "--format", "pdf")
    assert result.exit_code == 2
    assert "--format pdf needs a file: add -o" in result.stderr
    assert "Traceback" not in result.stderr


def test_pdf_without_chromium_says_how_to_get_it(
    in_sample: Pilot, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(pdf, "FALLBACK", tmp_path / "no-chromium")
    result = invoke(cli, "report", "--format", "pdf", "-o", str(tmp_path / "r.pdf"))
    assert result.exit_code == 2
    assert "needs Chromium, which is not installed" in result.stderr
    assert "apt-get install chromium" in result.stderr and "--format html" in result.stderr
    assert not (tmp_path / "r.pdf").exists()


@needs_chromium
def test_pdf_to_a_file(in_sample: Pilot, cli, tmp_path: Path) -> None:
    out = tmp_path / "pilot-report.pdf"
    result = invoke(cli, "report", "--format", "pdf", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF-")
    assert "wrote the pdf report" in result.stdout


def test_markdown_with_a_baseline_run(own_sample: Pilot, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(own_sample.folder)
    later = second_run(own_sample)
    result = invoke(cli, "report", "--format", "md", "--run", later.run_id, "--baseline", own_sample.run_id)
    assert result.exit_code == 0, result.stderr
    assert f"## Compared with the baseline run `{own_sample.run_id}`" in result.stdout
    assert "**Newly passing** (1):" in result.stdout and "- `hv-018`" in result.stdout
    # an unknown baseline run is a usage error naming it
    bad = invoke(cli, "report", "--format", "md", "--baseline", "run-nope")
    assert bad.exit_code == 2 and "run-nope" in bad.stderr
