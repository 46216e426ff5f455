"""JUnit XML, so CI systems show the gate natively: one testcase per case, one per gate check.

The usual (Jenkins/Ant-style) schema: <testsuites> with <testsuite name tests failures errors
skipped time timestamp>, each <testcase classname name time> with a <failure message type>
when it failed. A case that failed is a failure (an agent error included: DESIGN.md makes it
a failed case, not a broken harness); `errors` stays 0 because the harness ran.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..controls import visible
from ..formatting import fixed
from ..types import GateResult
from ..wording import customer_turn_label
from .data import CaseReport, ReportData, hearing_figures

PROBLEM_TYPE = {
    "error": "agent-error",
    "missed": "missed-escalation",
    "unnecessary": "unnecessary-escalation",
    "early": "early-escalation",
    "late": "late-escalation",
    "routing": "wrong-routing",
}


def _sanitize(root: ET.Element) -> None:
    """Every attribute and text in the tree with its control characters written out: XML 1.0
    cannot hold most of them even escaped, and a case id, a tenant name or a check's detail may
    carry one. Done once over the finished tree, so no string can be added that skips it."""
    for el in root.iter():
        for key, value in el.attrib.items():
            el.set(key, visible(value))
        if el.text:
            el.text = visible(el.text)
        if el.tail:
            el.tail = visible(el.tail)


def _seconds(c: CaseReport) -> float:
    """The agent's time on the call: its replies' latencies summed (0 when not measured)."""
    return sum(float(s.get("latency_ms") or 0.0) for s in c.steps) / 1000.0


def _decision(escalated: bool, reason: str | None, customer_turn: int | None) -> str:
    if not escalated:
        return "kept the call"
    return f"escalated at {customer_turn_label(customer_turn)}" + (f" ({reason})" if reason else "")


def _details(c: CaseReport) -> str:
    lines = [
        f"human: {_decision(c.human.escalated, c.human.reason, c.human_at_customer_turn)}",
        "AI: "
        + ("error: " + c.error if c.error else _decision(c.agent.escalated, c.agent.reason, c.agent.at_customer_turn)),
    ]
    if c.critical:
        lines.append("critical case: a failure blocks go-live whatever the pass rate")
    if c.ruling is not None:
        r = c.ruling
        lines.append(
            f"ruling: {r.label}" + (f" by {r.ruled_by}" if r.ruled_by else "") + (f": {r.note}" if r.note else "")
        )
    return "\n".join(lines)


def _suite(parent: ET.Element, name: str, timestamp: str) -> ET.Element:
    return ET.SubElement(parent, "testsuite", name=name, timestamp=timestamp)


def _close(suite: ET.Element) -> tuple[int, int, float]:
    cases = suite.findall("testcase")
    failures = sum(1 for t in cases if t.find("failure") is not None)
    seconds = sum(float(t.get("time", "0")) for t in cases)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", fixed(seconds, 3))
    return len(cases), failures, seconds


def _evidence(g: GateResult) -> list[tuple[str, str]]:
    """The gate's evidence beside the verdict: does the 95% lower bound clear the bar, and if not,
    how many more passing cases would lift it (empty: it never can)."""
    ev = g.evidence
    if ev is None:
        return []
    need = "" if ev.passes_needed_lower_bound is None else str(ev.passes_needed_lower_bound)
    out = [
        ("lower_bound", fixed(ev.lower_bound or 0.0, 4)),
        ("lower_bound_clears_bar", "true" if ev.lower_bound_clears_bar else "false"),
        ("passes_needed_lower_bound", need),
    ]
    if ev.caution:
        out.append(("evidence", ev.caution))
    return out


def render_junit(data: ReportData) -> str:
    g, m = data.gate, data.manifest
    stamp = m.created_at.strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", name=f"shadowpilot {data.tenant} {m.run_id}")

    gate = _suite(root, f"{data.tenant}.gate", stamp)
    props = ET.SubElement(gate, "properties")
    for key, value in (
        ("run_id", m.run_id),
        ("verdict", g.verdict),
        ("pass_rate", fixed(g.pass_rate, 4)),
        ("pass_rate_ci", f"{fixed(g.pass_rate_ci[0], 4)}-{fixed(g.pass_rate_ci[1], 4)}"),
        ("bar", fixed(g.bar, 4)),
        *_evidence(g),
        ("agent", str(m.agent.get("kind", ""))),
        ("model", data.agent_model or ""),
        ("prompt_hash", m.prompt_hash or ""),
        *((f"hearing_{key}", text) for key, _, text in hearing_figures(data.hearing)),
    ):
        ET.SubElement(props, "property", name=key, value=value)
    for check in g.checks:
        tc = ET.SubElement(gate, "testcase", classname=f"{data.tenant}.gate", name=check.name, time="0")
        if not check.passed:
            ET.SubElement(tc, "failure", message=check.detail, type="gate-check").text = check.detail
        else:
            ET.SubElement(tc, "system-out").text = check.detail

    cases = _suite(root, f"{data.tenant}.cases", stamp)
    for c in data.cases:
        tc = ET.SubElement(
            cases, "testcase", classname=f"{data.tenant}.{c.channel}", name=c.case_id, time=fixed(_seconds(c), 3)
        )
        if not c.passed:
            kind = next((PROBLEM_TYPE[p] for p in c.problems if p in PROBLEM_TYPE), "failed")
            message = c.why or (f"agent error: {c.error}" if c.error else "failed")
            ET.SubElement(tc, "failure", message=message, type=kind).text = message + "\n" + _details(c)
        else:
            ET.SubElement(tc, "system-out").text = _details(c)

    totals = [_close(gate), _close(cases)]
    root.set("tests", str(sum(t[0] for t in totals)))
    root.set("failures", str(sum(t[1] for t in totals)))
    root.set("errors", "0")
    root.set("skipped", "0")
    root.set("time", fixed(sum(t[2] for t in totals), 3))
    _sanitize(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
