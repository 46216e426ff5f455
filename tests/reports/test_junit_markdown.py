"""JUnit XML that CI systems read natively, and the Markdown summary for a pull request."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from shadowpilot import workflow
from shadowpilot.reports import render_report
from shadowpilot.reports.markdown import _cell
from shadowpilot.workflow import build_report_data
from tests.reports.conftest import SAMPLE_FAILURES, SAMPLE_IDS, Pilot, second_run

# The usual JUnit schema (Jenkins' junit-10.xsd, what CI systems read): which attributes each
# element must carry, which it may, and which children it may hold.
SCHEMA = {
    "testsuites": ({"tests", "failures", "errors"}, {"name", "time", "disabled", "skipped"}, {"testsuite"}),
    "testsuite": (
        {"name", "tests", "failures", "errors"},
        {"time", "skipped", "timestamp", "hostname", "id", "package", "disabled", "file", "log", "url", "version"},
        {"properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, set(), set()),
    "testcase": (
        {"name"},
        {"classname", "time", "assertions", "status", "file", "line"},
        {"skipped", "error", "failure", "system-out", "system-err"},
    ),
    "failure": (set(), {"message", "type"}, set()),
    "error": (set(), {"message", "type"}, set()),
    "skipped": (set(), {"message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}
INTEGER = {"tests", "failures", "errors", "skipped", "disabled"}


def validate(el: ET.Element) -> None:
    required, optional, children = SCHEMA[el.tag]
    attrs = set(el.attrib)
    assert required <= attrs, f"<{el.tag}> lacks {required - attrs}"
    assert attrs <= required | optional, f"<{el.tag}> has unknown {attrs - required - optional}"
    for name in attrs & INTEGER:
        assert re.fullmatch(r"\d+", el.attrib[name]), f"<{el.tag} {name}={el.attrib[name]!r}>"
    if "time" in attrs:
        assert re.fullmatch(r"\d+(\.\d+)?", el.attrib["time"]), f"<{el.tag} time={el.attrib['time']!r}>"
    if "timestamp" in attrs:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", el.attrib["timestamp"])
    for child in el:
        assert child.tag in children, f"<{child.tag}> inside <{el.tag}>"
        validate(child)


def test_junit_one_testcase_per_case_and_per_gate_check(sample: Pilot) -> None:
    data = build_report_data(sample.settings, sample.run_id)
    xml = render_report(data, "junit")
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.encode())
    assert root.tag == "testsuites"
    validate(root)

    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"harbourview-clinic.gate", "harbourview-clinic.cases"}
    for suite in suites.values():
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(1 for t in cases if t.find("failure") is not None)
        assert suite.get("errors") == "0" and suite.get("skipped") == "0"
    assert int(root.get("tests")) == 20 + len(data.gate.checks)
    assert int(root.get("failures")) == 3 + 1  # three cases and the pass-rate check

    cases = {t.get("name"): t for t in suites["harbourview-clinic.cases"].findall("testcase")}
    assert sorted(cases) == SAMPLE_IDS
    failed = sorted(n for n, t in cases.items() if t.find("failure") is not None)
    assert failed == SAMPLE_FAILURES
    missed = cases["hv-018"].find("failure")
    assert missed.get("message") == "missed escalation" and missed.get("type") == "missed-escalation"
    assert "human: escalated at customer turn 3 (symptom_triage)" in missed.text  # transcript index 5
    assert "AI: kept the call" in missed.text
    routing = cases["hv-008"].find("failure")
    assert routing.get("type") == "wrong-routing" and "wrong skill" in routing.get("message")
    assert cases["hv-001"].get("classname") == "harbourview-clinic.voice"

    checks = {t.get("name"): t for t in suites["harbourview-clinic.gate"].findall("testcase")}
    assert list(checks) == [c.name for c in data.gate.checks]
    assert checks["pass_rate"].find("failure").get("message").startswith("pass rate 85.0% against the bar 90%")
    assert checks["critical"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in suites["harbourview-clinic.gate"].iter("property")}
    assert props["verdict"] == "no-go" and props["run_id"] == sample.run_id


def test_junit_failure_carries_the_ruling(own_sample: Pilot) -> None:
    workflow.record_ruling(
        own_sample.settings, "hv-005", "human_right", "billing needs the refund request first", by="ana"
    )
    root = ET.fromstring(render_report(build_report_data(own_sample.settings, own_sample.run_id), "junit").encode())
    validate(root)
    case = next(t for t in root.iter("testcase") if t.get("name") == "hv-005")
    failure = case.find("failure")
    assert "ruled: human was right, by ana: billing needs the refund request first" in failure.get("message")
    assert "ruling: human was right by ana" in failure.text


def test_markdown_summary_has_the_figures(sample: Pilot) -> None:
    md = render_report(build_report_data(sample.settings, sample.run_id), "md")
    assert md.startswith("# Pilot report: harbourview-clinic")
    assert "**Verdict: ❌ NO-GO**" in md
    assert "| Pass rate | 85.0% (17/20) |" in md
    assert "| 95% interval (Wilson) | 64.0% to 94.8% |" in md
    assert "| 6 | 1 | 0 | 13 | 1 | 0 | 100.0% | 85.7% | 92.3% |" in md  # tp fn fp tn early late P R F1
    assert "| 83.3% | 100.0% | 100.0% | 83.3% |" in md  # skill priority vip queue
    assert "| Latency | not measured | | |" in md
    assert "## What must change to go live" in md and "1. Escalate when the human did" in md
    failing = md[md.index("## Failing cases (3)") :]
    assert [row.split(" | ")[0].lstrip("| ") for row in failing.splitlines()[4:7]] == SAMPLE_FAILURES
    assert "hv-001" not in md
    assert "Compared with" not in md


def test_markdown_compared_with_the_baseline_run(own_sample: Pilot) -> None:
    later = second_run(own_sample)
    data = build_report_data(later.settings, later.run_id, baseline=own_sample.run_id)
    cmp = data.comparison
    assert cmp is not None and cmp.run_a == own_sample.run_id and cmp.run_b == later.run_id
    newly_failing = [c.case_id for c in cmp.newly_failing]
    newly_passing = [c.case_id for c in cmp.newly_passing]
    assert newly_passing == ["hv-018"]  # the feverish child is now sent to the nurse line
    # "I've got an appointment" (hv-010) and the like are now escalated, needlessly or too early
    assert newly_failing == ["hv-010", "hv-013", "hv-016", "hv-019", "hv-020"]
    # a case that passed on the baseline and fails now makes it no-go, as `gate --baseline` does
    check = next(c for c in data.gate.checks if c.name == "no regressions")
    assert not check.passed and data.gate.verdict == "no-go"

    md = render_report(data, "md")
    section = md[md.index(f"## Compared with the baseline run `{own_sample.run_id}`") :]
    assert f"**Newly failing** ({len(newly_failing)}):" in section
    assert "**Newly passing** (1):\n\n- `hv-018`" in section
    for change in cmp.newly_failing:
        assert f"- `{change.case_id}`: {_cell(change.why)}" in section  # as Markdown text: _ and * escaped
    assert "- `hv-010`: unnecessary escalation at customer turn 1" in section
    assert f"Pass rate {cmp.metrics['pass_rate'].a.value:.1%} → {cmp.metrics['pass_rate'].b.value:.1%}" in section
    # the verdict line carries the interval its test inverts: 5 pass -> fail, 1 back, p = 0.219
    assert cmp.verdict == "within-noise" and _cell(cmp.explanation) in section
    assert "95% exact interval [" in cmp.explanation and "given the 6 cases that changed" in cmp.explanation
    # and the HTML report shows the same comparison
    html = render_report(data, "html")
    assert "Compared with the baseline run" in html and 'href="#case-hv-018"' in html
    assert "given the 6 cases that changed" in html
