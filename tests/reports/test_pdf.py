"""`report --format pdf` for large runs: it finishes, shows its steps, prints on the configured
paper (or the locale's), never splits the verdict card, and a failing Chromium is exit 2.

The large run is real: 2,000 cases imported into a tenant store and replayed through the
baseline agent. Page sizes and counts are read from the PDF's own page objects; where the
verdict card falls is measured in Chromium's print layout.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from shadowpilot import workflow
from shadowpilot.config import ReportSettings, load_settings, template_path
from shadowpilot.errors import ConfigError
from shadowpilot.reports import ReportData
from shadowpilot.reports.html import PrintLayout, render_html
from shadowpilot.reports.pdf import ChromiumError, html_to_pdf, paper_from_locale, timeout_for
from shadowpilot.workflow import build_report_data
from tests.conftest import SAMPLE, invoke
from tests.reports.browser import Browser
from tests.reports.conftest import SAMPLE_FAILURES, Pilot, artifact, needs_chromium, tenant

LARGE = 2000
FAILING_EVERY = 50  # one of the sample's failing calls in every 50 cases: 40 failing, printed in full
# Page boxes in PDF points, and the page's content area in CSS px (96 per inch) inside the
# report's 14 mm print margins.
MEDIA_BOX = {"A4": (595.92, 841.92), "Letter": (612.0, 792.0)}
MM = 96 / 25.4
CONTENT_PX = {"A4": ((210 - 28) * MM, (297 - 28) * MM), "Letter": (8.5 * 96 - 28 * MM, 11 * 96 - 28 * MM)}


def page_boxes(pdf: bytes) -> list[tuple[float, float]]:
    """(width, height) in points of every page object of a PDF Chromium wrote."""
    boxes = []
    for m in re.finditer(rb"/Type\s*/Page(?!s)", pdf):
        obj = pdf[pdf.rfind(b" obj", 0, m.start()) : pdf.find(b"endobj", m.end())]
        box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", obj)
        assert box, f"page without a MediaBox: {obj[:200]!r}"
        x0, y0, x1, y1 = (float(v) for v in box.groups())
        boxes.append((x1 - x0, y1 - y0))
    return boxes


def assert_valid_pdf(pdf: bytes, paper: str) -> int:
    """A complete PDF whose every page is `paper`; returns the page count."""
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    boxes = page_boxes(pdf)
    counts = [int(c) for c in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf)]
    assert boxes and max(counts, default=len(boxes)) == len(boxes)  # the page tree holds every page
    w, h = MEDIA_BOX[paper]
    assert all(abs(bw - w) < 1 and abs(bh - h) < 1 for bw, bh in boxes), (paper, set(boxes))
    return len(boxes)


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Pilot:
    """2,000 cases from the sample clinic's calls (new ids): 40 of them failing, in a store,
    replayed and gated; its config prints on Letter."""
    rows = {
        r["id"]: r for r in map(json.loads, (SAMPLE / "transcripts.jsonl").read_text(encoding="utf-8").splitlines())
    }
    passing = [r for k, r in rows.items() if k not in SAMPLE_FAILURES]
    failing = [rows[k] for k in SAMPLE_FAILURES]
    folder = tmp_path_factory.mktemp("large")
    src = folder / "calls.jsonl"
    with src.open("w", encoding="utf-8") as f:
        for i in range(LARGE):
            base = failing[(i // FAILING_EVERY) % 3] if i % FAILING_EVERY == 0 else passing[i % len(passing)]
            f.write(json.dumps({**base, "id": f"case-{i + 1:04d}"}) + "\n")
    settings = tenant(folder, '\n[report]\npaper = "Letter"\n')
    workflow.import_files(settings, [src])
    run = workflow.run(settings)
    gate = workflow.gate(settings, run.run_id)
    assert gate.cases == LARGE and gate.cases - gate.passed_cases == LARGE // FAILING_EVERY
    return Pilot(folder, settings, run.run_id)


@pytest.fixture(scope="module")
def large_data(large: Pilot) -> ReportData:
    """The large run's report data, built once (unredacted: redaction is not what is tested here)."""
    return build_report_data(large.settings, large.run_id, show_pii=True)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith(("SHADOWPILOT_", "LC_")) or k == "LANG"]:
        monkeypatch.delenv(key)


# -- a large run ------------------------------------------------------------------------------


@needs_chromium
def test_large_run_prints_with_progress_failing_cases_in_full_and_passing_as_rows(
    large: Pilot, cli, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(large.folder)
    out = artifact("report-large.pdf")
    # --show-pii: the report's PII redaction is not what this test times or checks
    result = invoke(cli, "report", "--format", "pdf", "-o", str(out), "--show-pii")
    assert result.exit_code == 0, result.stderr
    steps = [ln for ln in result.stderr.splitlines() if ln.startswith("pdf: ")]
    assert steps[0] == (
        "pdf: laying out failing cases in full (40), passing cases as table rows (1,960) on Letter paper"
    )
    assert any("Chromium is laying out and printing" in s for s in steps)
    pages = assert_valid_pdf(out.read_bytes(), "Letter")
    # 40 cases in full take a page or more each; 1,960 rows take dozens more; nowhere near
    # the 2,000+ pages of every case in full
    assert 60 < pages < 400, pages
    assert "wrote the pdf report" in result.stdout


def test_print_layout_puts_passing_cases_in_one_table_beyond_the_limit(large_data: ReportData, sample: Pilot) -> None:
    data = large_data
    html = render_html(data, PrintLayout(paper="Letter", passing_in_full=False))
    failing = {c.case_id for c in data.cases if not c.passed}
    assert len(failing) == 40
    articles = re.findall(r'<article class="case fail" id="case-([\w-]+)"', html)
    assert set(articles) == failing and "case pass" not in html
    table = html.split('<table class="passing"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr id="case-([\w-]+)">', table)
    assert len(rows) == LARGE - 40 and not failing & set(rows)
    assert "@page { size: Letter; }" in html

    # the screen report, and a PDF of a run within pdf_full_cases_max, keep every case in full
    small = build_report_data(sample.settings, sample.run_id)
    for page in (render_html(small), render_html(small, PrintLayout(paper="A4", passing_in_full=True))):
        assert page.count('<article class="case') == 20 and '<table class="passing"' not in page


# -- paper ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "paper"),
    [
        ({"LANG": "en_US.UTF-8"}, "Letter"),
        ({"LANG": "en_CA.UTF-8"}, "Letter"),
        ({"LANG": "fr_CA.UTF-8"}, "Letter"),
        ({"LANG": "es_MX"}, "Letter"),
        ({"LANG": "en_GB.UTF-8"}, "A4"),
        ({"LANG": "de_DE.UTF-8"}, "A4"),
        ({"LANG": "C.UTF-8"}, "A4"),
        ({}, "A4"),
        ({"LANG": "en_US.UTF-8", "LC_PAPER": "en_GB.UTF-8"}, "A4"),  # LC_PAPER over LANG
        ({"LC_PAPER": "en_GB.UTF-8", "LC_ALL": "en_US.UTF-8"}, "Letter"),  # LC_ALL over everything
    ],
)
def test_paper_follows_the_locale(env: dict[str, str], paper: str) -> None:
    assert paper_from_locale(env) == paper


def test_report_section_is_validated_and_documented(tmp_path: Path) -> None:
    cfg = tmp_path / "shadowpilot.toml"
    cfg.write_text('[tenant]\nname = "acme"\n\n[report]\npaper = "letter"\n', encoding="utf-8")
    assert load_settings(cfg, environ={}).report.paper == "Letter"
    cfg.write_text('[tenant]\nname = "acme"\n\n[report]\npaper = "B5"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert f"{cfg}:5" in str(err.value) and "report.paper" in str(err.value)
    assert err.value.exit_code == 2

    template = template_path().read_text(encoding="utf-8")
    section = template.split("\n[report]\n", 1)[1].split("\n[", 1)[0]
    for key in ReportSettings.model_fields:
        assert re.search(rf"^#? ?{key} = ", section, re.M), f"config_template.toml does not document [report] {key}"


@needs_chromium
def test_paper_from_config_env_or_locale(sample: Pilot, cli, clean_env: None, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(sample.folder)
    out = tmp_path / "r.pdf"
    monkeypatch.setenv("LANG", "en_CA.UTF-8")
    assert invoke(cli, "report", "--format", "pdf", "-o", str(out)).exit_code == 0
    letter = assert_valid_pdf(out.read_bytes(), "Letter")
    monkeypatch.setenv("SHADOWPILOT_REPORT_PAPER", "A4")  # the setting wins over the locale
    assert invoke(cli, "report", "--format", "pdf", "-o", str(out)).exit_code == 0
    a4 = assert_valid_pdf(out.read_bytes(), "A4")
    assert letter >= 5 and a4 >= 5  # 20 cases: every case printed in full


# -- print layout: the verdict card is whole on page 1, no card leaves a page mostly empty -------

VERDICT_BOX = """
(() => {
  const v = document.querySelector('section.verdict'), r = v.getBoundingClientRect();
  return {top: r.top + scrollY, bottom: r.bottom + scrollY, breakInside: getComputedStyle(v).breakInside};
})()
"""
UNBREAKABLE = """
(() => {
  const all = Array.from(document.querySelectorAll('body *')).filter(e => {
    const s = getComputedStyle(e);
    return s.display !== 'none' && ['avoid', 'avoid-page'].includes(s.breakInside);
  });
  // outermost only: what the printer must move to a new page as one piece
  return all.filter(e => !all.some(o => o !== e && o.contains(e)))
            .map(e => ({what: e.id || e.className || e.tagName, height: e.getBoundingClientRect().height}));
})()
"""


@needs_chromium
@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_verdict_card_is_whole_on_the_first_page(
    paper: str, sample: Pilot, large_data: ReportData, browser: Browser, tmp_path: Path
) -> None:
    width, height = CONTENT_PX[paper]
    for name, data in (("sample", build_report_data(sample.settings, sample.run_id)), ("large", large_data)):
        page = tmp_path / f"{name}-{paper}.html"
        page.write_text(render_html(data, PrintLayout(paper=paper, passing_in_full=len(data.cases) <= 200)), "utf-8")
        browser.open(page.as_uri(), width=round(width), height=round(height))
        browser.emulate_media("print")
        card = browser.evaluate(VERDICT_BOX)
        assert card["breakInside"] == "avoid"
        assert 0 < card["top"] < card["bottom"] <= height, (name, paper, card, height)
        # a block that may not break moves whole to the next page, leaving at most its own
        # height empty behind it: none may be taller than two thirds of a page
        tall = [b for b in browser.evaluate(UNBREAKABLE) if b["height"] > 2 / 3 * height]
        assert not tall, (name, paper, tall)


# -- Chromium is the environment: its failures are exit 2, one line -----------------------------


def fake_chromium(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "chromium"
    exe.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_a_failing_chromium_is_exit_2_with_one_line(
    in_sample_cwd: Pilot, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_chromium(
        tmp_path / "bin", 'echo "[1:2:ERROR] starting" >&2\necho "Trace/breakpoint trap: no display" >&2\nexit 133\n'
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = invoke(cli, "report", "--format", "pdf", "-o", str(tmp_path / "r.pdf"))
    assert result.exit_code == 2, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if not ln.startswith("pdf: ")]
    assert len(errors) == 1, result.stderr
    assert "made no PDF (exit 133): Trace/breakpoint trap: no display" in errors[0]
    assert "bug in the harness" not in result.stderr and not (tmp_path / "r.pdf").exists()


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended; only its exit status is left


def test_a_hung_chromium_is_stopped_with_its_helpers_and_is_exit_2(tmp_path: Path) -> None:
    helper = tmp_path / "helper.pid"
    # a browser that never finishes, with a helper process of its own, as Chromium has
    exe = fake_chromium(tmp_path / "bin", f"sleep 300 &\necho $! > {helper}\nwait\n")
    with pytest.raises(ChromiumError) as err:
        html_to_pdf("<p>hi</p>", tmp_path / "r.pdf", chromium=str(exe), timeout_s=1)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    assert "did not finish printing the PDF within 1 s" in str(err.value)
    assert not (tmp_path / "r.pdf").exists()
    assert not alive(int(helper.read_text()))


def test_chromium_time_limit_grows_with_the_run() -> None:
    assert timeout_for(5000) > timeout_for(500) > timeout_for(20) >= timeout_for(0) > 0


@pytest.fixture
def in_sample_cwd(sample: Pilot, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Pilot:
    monkeypatch.chdir(sample.folder)
    return sample
