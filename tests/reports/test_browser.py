"""The HTML report in a real browser (Debian's headless Chromium, driven over the DevTools protocol).

Screenshots land in test-artifacts/ at the repository root (gitignored), to be looked at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from shadowpilot.demo import run_demo
from shadowpilot.reports import render_report, write_report
from shadowpilot.workflow import build_report_data
from tests.reports.browser import Browser
from tests.reports.conftest import SAMPLE_FAILURES, SAMPLE_IDS, artifact, many_cases, needs_chromium

pytestmark = needs_chromium

MAX_BYTES = 5 * 1024 * 1024
MAX_OPEN_S = 2.0

VISIBLE_CASES = """
Array.from(document.querySelectorAll('article.case')).filter(a => {
  a.scrollIntoView();
  const h = a.querySelector('h3'), r = h.getBoundingClientRect(), s = getComputedStyle(a);
  return !a.hidden && s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0
         && r.bottom > 0 && r.top < innerHeight;
}).map(a => a.querySelector('h3').textContent)  // textContent: innerText is '' once content-visibility skips it
"""


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`shadowpilot demo`'s own HTML report."""
    return run_demo(tmp_path_factory.mktemp("demo")).reports["html"]


def say(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


def test_demo_report_opens_clean_with_every_case_and_the_verdict(
    browser: Browser, demo_report: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = demo_report.as_uri()
    log = browser.open(url, width=1280, height=900)
    browser.settle(0.3)
    assert log.console_errors == []
    assert log.requests == [url]  # the file itself, nothing else
    # the verdict is the first thing on screen
    verdict = browser.evaluate(
        "(() => { const v = document.querySelector('[data-verdict]'), r = v.getBoundingClientRect();"
        " return {text: v.innerText, top: r.top, bottom: r.bottom, height: r.height}; })()"
    )
    assert verdict["text"] == "No-go"
    assert verdict["height"] > 0 and verdict["top"] >= 0 and verdict["bottom"] <= 900
    # every case is on the page and seen when scrolled to, failing ones first
    seen = browser.evaluate(VISIBLE_CASES)
    assert sorted(seen) == SAMPLE_IDS and seen[:3] == SAMPLE_FAILURES
    # no horizontal scrolling at 1280 px
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1280
    browser.evaluate("window.scrollTo(0, 0)")
    shot = browser.screenshot(artifact("report.png"))
    say(capsys, f"report screenshot (1280 px): {shot}")
    assert shot.stat().st_size > 50_000


def test_demo_report_on_a_phone(browser: Browser, demo_report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = demo_report.as_uri()
    log = browser.open(url, width=390, height=844, mobile=True)
    browser.settle(0.3)
    assert log.console_errors == [] and log.requests == [url]
    # nothing wider than the phone: the page does not scroll sideways
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    # the conversation stacks: customer, human and AI one under the other, each labelled
    cell = browser.evaluate(
        "(() => { const td = Array.from(document.querySelectorAll("
        "'#case-hv-005 .turns td[data-label=\"AI recommended\"]')).find(td => td.textContent.includes('Escalate'));"
        " return {display: getComputedStyle(td).display, label: getComputedStyle(td, '::before').content}; })()"
    )
    assert cell == {"display": "block", "label": '"AI recommended"'}
    assert sorted(browser.evaluate(VISIBLE_CASES)) == SAMPLE_IDS
    browser.evaluate("window.scrollTo(0, 0)")
    shot = browser.screenshot(artifact("report-phone.png"))
    say(capsys, f"report screenshot (390 px phone): {shot}")


def test_filters_by_outcome_and_tag(browser: Browser, demo_report: Path) -> None:
    browser.open(demo_report.as_uri())

    def choose(outcome: str = "", tag: str = "", q: str = "") -> tuple[list[str], str]:
        return browser.evaluate(
            f"""(() => {{
              const f = document.getElementById('filters');
              f.elements.outcome.value = {outcome!r}; f.elements.tag.value = {tag!r}; f.elements.q.value = {q!r};
              f.elements.outcome.dispatchEvent(new Event('change', {{bubbles: true}}));
              return [Array.from(document.querySelectorAll('article.case')).filter(a => !a.hidden)
                        .map(a => a.querySelector('h3').textContent), f.elements.shown.value];
            }})()"""
        )

    assert browser.evaluate("document.getElementById('filters').hidden") is False
    assert choose("failed") == [SAMPLE_FAILURES, "3 of 20 shown"]
    assert choose("missed") == [["hv-018"], "1 of 20 shown"]
    assert choose("routing")[0] == ["hv-008"]
    assert choose("", "billing")[0] == ["hv-005", "hv-008", "hv-004"]
    assert choose("passed", "billing")[0] == ["hv-004"]
    shown, count = choose("", "", "HV-01")  # case ids match whatever the case
    assert sorted(shown) == [f"hv-{i:03d}" for i in range(10, 20)] and count == "10 of 20 shown"
    assert choose() == [browser.evaluate(VISIBLE_CASES), "20 of 20 shown"]


def test_readable_without_javascript(browser: Browser, demo_report: Path) -> None:
    """Script off (as in many mail clients' viewers): every case shows, and no dead filter controls."""
    browser.open("about:blank")
    browser._send("Emulation.setScriptExecutionDisabled", {"value": True})
    browser._send("Page.navigate", {"url": demo_report.as_uri()})
    time.sleep(1.0)
    browser._send("Emulation.setScriptExecutionDisabled", {"value": False})  # to measure with
    state = browser.evaluate(
        "({filters: getComputedStyle(document.getElementById('filters')).display,"
        " cases: Array.from(document.querySelectorAll('article.case')).filter(a => !a.hidden).length})"
    )
    assert state == {"filters": "none", "cases": 20}


def test_pdf_through_headless_chromium(demo_report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shadowpilot.config import load_settings

    settings = load_settings(demo_report.parent / "shadowpilot.toml", environ={})
    path = artifact("report.pdf")
    size = write_report(build_report_data(settings), "pdf", path)
    pdf = path.read_bytes()
    assert pdf.startswith(b"%PDF-") and size == len(pdf) > 20_000
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) >= 5  # every case printed, over several pages
    say(capsys, f"report PDF: {path} ({size:,} bytes)")


def test_500_cases_stay_small_and_show_every_case(
    tmp_path: Path, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    p = many_cases(tmp_path / "big", 500)
    html = render_report(build_report_data(p.settings, p.run_id), "html")
    size = len(html.encode())
    path = tmp_path / "big" / "pilot-report.html"
    path.write_text(html, encoding="utf-8")
    assert size < MAX_BYTES

    url = path.as_uri()
    log = browser.open(url, width=1280, height=900)
    browser.settle(0.3)
    assert log.console_errors == [] and log.requests == [url]
    assert log.load_s is not None and log.painted_s is not None  # how fast: test_500_cases_paint_within_2_s
    ids = browser.evaluate(
        "Array.from(document.querySelectorAll('article.case')).filter(a => !a.hidden)"
        ".map(a => a.querySelector('h3').textContent)"
    )
    assert sorted(ids) == [f"case-{i:04d}" for i in range(1, 501)]
    say(
        capsys,
        f"500-case report: {size / 1e6:.2f} MB; in Chromium, load event after {log.load_s:.2f} s, "
        f"first frames drawn after {log.painted_s:.2f} s",
    )


@pytest.mark.timing
def test_500_cases_paint_within_2_s(tmp_path: Path, browser: Browser) -> None:
    """The first frames of a 500-case report within MAX_OPEN_S: a speed bound, so `pytest -m timing`."""
    p = many_cases(tmp_path / "big", 500)
    path = tmp_path / "big" / "pilot-report.html"
    path.write_text(render_report(build_report_data(p.settings, p.run_id), "html"), encoding="utf-8")
    log = browser.open(path.as_uri(), width=1280, height=900)
    assert log.painted_s is not None and log.painted_s < MAX_OPEN_S
