"""The customer-facing pilot report: one self-contained HTML file (jinja2, autoescaped).

No CDN, font, image or script is fetched: the styles and the few lines of filter script are
inline, the charts are SVG drawn in Python (charts.py), and a Content-Security-Policy forbids
any request, so the file opens offline and survives being attached to an email.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..formatting import ms, percent, points, usd
from ..wording import customer_turn_label, customer_turn_number, plural
from . import charts
from .data import CaseReport, ReportData, case_wer_text, flip_text, hearing_figures

TEMPLATES = Path(__file__).with_name("templates")
VERDICT_LABEL = {"go": "Go", "no-go": "No-go", "insufficient-evidence": "Insufficient evidence"}
PROBLEM_LABEL = {
    "missed": "missed escalation",
    "unnecessary": "unnecessary escalation",
    "early": "escalated early",
    "late": "escalated late",
    "routing": "wrong routing",
    "error": "agent error",
    "other": "other failure",
}
TIMING_LABEL = {"on_time": "on time", "early": "early", "late": "late"}


@dataclass
class Row:
    """One customer turn: what the customer said, what the human did next, what the AI recommended."""

    number: int | None  # customer turn, 1-based (None: lines before the customer first spoke)
    customer: str | None
    human: list[tuple[str, str]] = field(default_factory=list)  # (speaker, text) until the next customer turn
    human_escalated: bool = False
    ai: dict[str, Any] | None = None
    ai_escalated: bool = False
    ai_note: str | None = None  # why there is no recommendation at this turn


@dataclass(frozen=True)
class PrintLayout:
    """How the PDF prints: the paper size, and whether passing cases are printed in full or one
    table row each (failing cases are always in full: they are what the reader must act on)."""

    paper: str  # "A4" | "Letter": a CSS @page size
    passing_in_full: bool = True


@dataclass
class PassingLine:
    """A passing case in one table row: who did what, and where."""

    case_id: str
    channel: str
    started_at: str
    tags: str
    human: str
    ai: str
    critical: bool


@dataclass
class RoutingLine:
    name: str
    human: Any
    ai: Any
    match: bool | None  # as scored; None when not scored


def rows(case: CaseReport) -> list[Row]:
    steps = {s["transcript_index"]: s for s in case.steps}
    out: list[Row] = []
    current: Row | None = None
    escalated_before = False
    for i, t in enumerate(case.turns):
        if t.speaker != "customer":
            if current is None:
                current = Row(number=None, customer=None)
                out.append(current)
            current.human.append((t.speaker, t.text))
            continue
        step = steps.get(i)
        current = Row(number=customer_turn_number(case.turns, i), customer=t.text, ai=step)
        current.human_escalated = case.human.escalated and case.human.at_turn == i
        if step is not None:
            current.ai_escalated = case.agent.escalated and case.agent.at_transcript_index == i
            if escalated_before and step.get("escalate"):
                current.ai_note = "still recommends escalating"
        elif case.error and not escalated_before:
            current.ai_note = "no answer: the agent failed"
        elif escalated_before:
            current.ai_note = "not asked: the AI had already escalated"
        else:
            current.ai_note = "not asked"
        escalated_before = escalated_before or current.ai_escalated
        out.append(current)
    return out


def routing_lines(case: CaseReport) -> list[RoutingLine]:
    h, a = case.human, case.agent
    lines = [
        RoutingLine("reason", h.reason, a.reason, None),
        RoutingLine("urgency", h.urgency, a.urgency, None),
    ]
    names = list(dict.fromkeys([*(k for k in case.attributes if k != "queue"), *h.routing, *a.routing]))
    lines += [RoutingLine(k, h.routing.get(k), a.routing.get(k), case.attributes.get(k)) for k in names]
    lines.append(RoutingLine("queue", h.queue, a.queue, case.attributes.get("queue")))
    return lines


def _decision(escalated: bool, number: int | None, queue: str | None, keep: str) -> str:
    if not escalated:
        return keep
    where = f" at {customer_turn_label(number)}" if number else ""
    return f"escalated{where}" + (f" → {queue}" if queue else "")


def passing_line(case: CaseReport) -> PassingLine:
    return PassingLine(
        case_id=case.case_id,
        channel=case.channel,
        started_at=case.started_at.strftime("%Y-%m-%d %H:%M") if case.started_at else "",
        tags=", ".join(case.tags),
        human=_decision(case.human.escalated, case.human_at_customer_turn, case.human.queue, "kept the call"),
        ai=_decision(case.agent.escalated, case.agent.at_customer_turn, case.agent.queue, "keep the call"),
        critical=case.critical,
    )


def _value(v: Any) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(value=_value, ms=ms, usd=usd, pct=percent, points=points)
    return env


def render_html(data: ReportData, layout: PrintLayout | None = None) -> str:
    """The pilot report as one self-contained HTML page; with `layout`, the page the PDF is
    printed from (paper size, and passing cases as table rows when it says so)."""
    g = data.gate
    tags = sorted({t for c in data.cases for t in c.tags})
    problems = [p for p in PROBLEM_LABEL if any(p in c.problems for c in data.cases)]
    compact = layout is not None and not layout.passing_in_full
    cases = [(c, rows(c), routing_lines(c)) for c in data.cases if not (compact and c.passed)]
    passing = [passing_line(c) for c in data.cases if c.passed] if compact else []
    by_id = {c.case_id: c for c in data.cases}
    measured_latency = g.latency is not None and g.latency.turns > 0
    measured_cost = g.cost is not None and g.cost.per_call_mean is not None
    html = (
        _env()
        .get_template("report.html.j2")
        .render(
            d=data,
            g=g,
            m=data.manifest,
            cases=cases,
            passing=passing,
            layout=layout,
            tags=tags,
            problems=problems,
            failing=sum(1 for c in data.cases if not c.passed),
            ruled=sum(1 for c in data.cases if c.ruling is not None),
            verdict_label=VERDICT_LABEL[g.verdict],
            verdict_class=charts.VERDICT_CLASS[g.verdict],
            problem_label=PROBLEM_LABEL,
            timing_label=TIMING_LABEL,
            gauge=charts.pass_rate_gauge(g.pass_rate, g.pass_rate_ci, g.bar, g.verdict),
            confusion=charts.confusion(g.escalation),
            routing_chart=charts.attribute_bars(g.routing.per_attribute) if g.routing.cases else None,
            latency_chart=charts.latency_bars(g.latency) if measured_latency and g.latency else None,
            cost_chart=charts.cost_bars(g.cost) if measured_cost and g.cost else None,
            timeline_chart=charts.timeline(data.timeline, g.bar) if data.timeline else None,
            turn_label=customer_turn_label,
            count=plural,
            hearing_figures=hearing_figures,
            case_wer_text=case_wer_text,
            flip_text=flip_text,
            judged_turn=lambda case_id, index: customer_turn_label(
                customer_turn_number(by_id[case_id].turns, index) if case_id in by_id else None
            ),
        )
    )
    return html
