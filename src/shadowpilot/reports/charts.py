"""Inline SVG charts for the HTML report, drawn in Python: no script, no CDN, no fonts to fetch.

Each function returns Markup (text escaped here) that scales with its container (a viewBox,
width 100%). Colour carries meaning only, through CSS classes the template styles: `ok`
(pass), `bad` (fail), `warn` (a lesser failure or insufficient evidence), `ink` (neutral).
Every chart has a <title> for screen readers and the figures beside it in text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from markupsafe import Markup, escape

from ..formatting import compact as _f  # SVG coordinates, short
from ..formatting import ms, percent, usd
from ..types import CostSummary, EscalationSummary, LatencySummary
from ..wording import plural
from .data import TimelinePoint

VERDICT_CLASS = {"go": "ok", "no-go": "bad", "insufficient-evidence": "warn"}


def _svg(width: int, height: int, title: str, body: list[str], cls: str = "chart") -> Markup:
    return Markup(
        f'<svg class="{cls}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, cls: str = "lbl", anchor: str = "start") -> str:
    return f'<text x="{_f(x)}" y="{_f(y)}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'


def pass_rate_gauge(rate: float, ci: tuple[float, float], bar: float, verdict: str) -> Markup:
    """The pass rate on a 0-100% track, its 95% interval as a band, the bar as a dashed line."""
    w, left, right, y = 400, 16, 380, 34
    span = right - left

    def x(v: float) -> float:
        return left + span * max(0.0, min(1.0, v))

    cls = VERDICT_CLASS.get(verdict, "ink")
    body = [
        f'<rect x="{left}" y="{y - 6}" width="{span}" height="12" rx="6" class="track"/>',
        f'<rect x="{_f(x(ci[0]))}" y="{y - 6}" width="{_f(max(2.0, x(ci[1]) - x(ci[0])))}" height="12" rx="6" '
        f'class="band {cls}"/>',
        f'<line x1="{_f(x(bar))}" x2="{_f(x(bar))}" y1="{y - 16}" y2="{y + 16}" class="barline"/>',
        _text(x(bar), y - 20, f"bar {percent(bar, 0)}", "lbl strong", "middle"),
        f'<circle cx="{_f(x(rate))}" cy="{y}" r="8" class="dot {cls}"/>',
    ]
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(_text(x(t), y + 30, percent(t, 0), "tick", "middle"))
    title = f"Pass rate {percent(rate)}, 95% interval {percent(ci[0])} to {percent(ci[1])}, bar {percent(bar, 0)}"
    return _svg(w, 70, title, body, "chart gauge")


def confusion(e: EscalationSummary) -> Markup:
    """The 2x2 of escalation decisions (cases): the human's decision by row, the AI's by column."""
    cw, ch, lx, ty = 140, 64, 128, 36
    cells = [
        (0, 0, e.tp, "escalated by both", "ok"),
        (0, 1, e.fn, "missed by the AI", "bad"),
        (1, 0, e.fp, "unnecessary", "warn"),
        (1, 1, e.tn, "kept by both", "ok"),
    ]
    body = [
        _text(lx + cw / 2, 24, "AI escalated", "lbl strong", "middle"),
        _text(lx + cw * 1.5, 24, "AI kept the call", "lbl strong", "middle"),
        _text(lx - 10, ty + ch / 2 - 2, "Human", "lbl strong", "end"),
        _text(lx - 10, ty + ch / 2 + 14, "escalated", "lbl strong", "end"),
        _text(lx - 10, ty + ch * 1.5 - 2, "Human kept", "lbl strong", "end"),
        _text(lx - 10, ty + ch * 1.5 + 14, "the call", "lbl strong", "end"),
    ]
    for r, c, n, label, cls in cells:
        x0, y0 = lx + c * cw, ty + r * ch
        tone = cls if n else "none"
        body.append(f'<rect x="{x0 + 2}" y="{y0 + 2}" width="{cw - 4}" height="{ch - 4}" rx="6" class="cell {tone}"/>')
        body.append(_text(x0 + cw / 2, y0 + 32, str(n), "num", "middle"))
        body.append(_text(x0 + cw / 2, y0 + 50, label, "tick", "middle"))
    title = f"Escalation: {e.tp} escalated by both, {e.fn} missed, {e.fp} unnecessary, {e.tn} kept by both"
    return _svg(lx + 2 * cw + 8, ty + 2 * ch + 6, title, body, "chart confusion")


def attribute_bars(per_attribute: dict[str, float | None]) -> Markup:
    """Routing accuracy per attribute on the cases both escalated, as horizontal bars."""
    row, lx, span = 30, 84, 300
    body = []
    for i, (name, value) in enumerate(per_attribute.items()):
        y = 8 + i * row
        body.append(_text(lx - 10, y + 15, name, "lbl", "end"))
        body.append(f'<rect x="{lx}" y="{y + 4}" width="{span}" height="14" rx="3" class="track"/>')
        if value is None:
            body.append(_text(lx + 8, y + 15, "not scored", "tick"))
            continue
        cls = "ok" if value >= 1 else "ink"
        body.append(f'<rect x="{lx}" y="{y + 4}" width="{_f(span * value)}" height="14" rx="3" class="fill {cls}"/>')
        body.append(_text(lx + span + 8, y + 15, percent(value, 0), "lbl strong"))
    title = "Routing accuracy per attribute: " + ", ".join(
        f"{k} {'not scored' if v is None else percent(v, 0)}" for k, v in per_attribute.items()
    )
    return _svg(lx + span + 56, 12 + row * max(1, len(per_attribute)), title, body, "chart bars")


def latency_bars(lat: LatencySummary) -> Markup:
    """p50 and p95 of time to first token and to the full reply against their budgets."""
    rows = [
        ("First token", lat.first_token_p50, lat.first_token_p95, lat.first_token_budget),
        ("Full reply", lat.full_reply_p50, lat.full_reply_p95, lat.full_reply_budget),
    ]
    top = max(v for r in rows for v in (r[2] or 0, r[3])) * 1.15
    lx, span, row = 88, 320, 58
    body = []
    for i, (name, p50, p95, budget) in enumerate(rows):
        y = 14 + i * row

        def x(v: float) -> float:
            return lx + span * v / top

        body.append(_text(lx - 10, y + 20, name, "lbl strong", "end"))
        body.append(f'<rect x="{lx}" y="{y + 6}" width="{span}" height="22" rx="3" class="track"/>')
        if p95 is not None:
            cls = "ok" if p95 <= budget else "bad"
            body.append(f'<rect x="{lx}" y="{y + 6}" width="{_f(x(p95) - lx)}" height="22" rx="3" class="fill {cls}"/>')
            body.append(
                _text(
                    x(p95) + 6 if x(p95) < lx + span - 90 else x(p95) - 6,
                    y + 22,
                    f"p95 {ms(p95)}",
                    "lbl inv" if x(p95) >= lx + span - 90 else "lbl strong",
                    "start" if x(p95) < lx + span - 90 else "end",
                )
            )
        if p50 is not None:
            body.append(f'<rect x="{lx}" y="{y + 12}" width="{_f(x(p50) - lx)}" height="10" rx="2" class="fill p50"/>')
        bx = x(budget)
        body.append(f'<line x1="{_f(bx)}" x2="{_f(bx)}" y1="{y}" y2="{y + 34}" class="barline"/>')
        body.append(_text(bx, y + 46, f"budget {ms(budget)}", "tick", "middle"))
    title = (
        f"Latency at p95: first token {lat.first_token_p95} ms (budget {lat.first_token_budget:g} ms), "
        f"full reply {lat.full_reply_p95} ms (budget {lat.full_reply_budget:g} ms)"
    )
    return _svg(lx + span + 24, 14 + row * 2, title, body, "chart bars")


def cost_bars(cost: CostSummary) -> Markup:
    """Mean AI cost per conversation beside what a human-handled call costs (and the budget)."""
    rows = [("AI (mean)", cost.per_call_mean), ("AI (p95)", cost.per_call_p95)]
    if cost.human_cost_per_call is not None:
        rows.append(("Human", cost.human_cost_per_call))
    values = [v for _, v in rows if v is not None] + ([cost.budget] if cost.budget is not None else [])
    top = (max(values) if values else 1.0) * 1.15 or 1.0
    lx, span, row = 84, 280, 30
    body = []
    for i, (name, v) in enumerate(rows):
        y = 8 + i * row
        body.append(_text(lx - 10, y + 15, name, "lbl", "end"))
        body.append(f'<rect x="{lx}" y="{y + 4}" width="{span}" height="14" rx="3" class="track"/>')
        if v is None:
            continue
        over = cost.budget is not None and name.startswith("AI") and v > cost.budget
        cls = "bad" if over else "ink"
        body.append(f'<rect x="{lx}" y="{y + 4}" width="{_f(span * v / top)}" height="14" rx="3" class="fill {cls}"/>')
        body.append(_text(lx + span * v / top + 6, y + 15, usd(v, grouped=False), "lbl strong"))
    h = 8 + row * len(rows)
    if cost.budget is not None:
        bx = lx + span * cost.budget / top
        body.append(f'<line x1="{_f(bx)}" x2="{_f(bx)}" y1="4" y2="{h}" class="barline"/>')
        body.append(_text(bx, h + 14, f"budget {usd(cost.budget, grouped=False)}", "tick", "middle"))
        h += 18
    title = "Cost per conversation: " + ", ".join(f"{n} {usd(v, grouped=False)}" for n, v in rows if v is not None)
    return _svg(lx + span + 90, h + 4, title, body, "chart bars")


def _days(points: Sequence[TimelinePoint]) -> list[date]:
    first, last = points[0].day, points[-1].day
    n = (last - first).days
    if n <= 14:
        return [first + timedelta(days=i) for i in range(n + 1)]
    return sorted({p.day for p in points})  # a long pilot: only the days that had runs


def timeline(points: Sequence[TimelinePoint], bar: float) -> Markup:
    """Pass rate of every gated run, day by day: replays as circles, shadow runs as diamonds,
    filled by verdict; the bar as a dashed line."""
    points = sorted(points, key=lambda p: p.at)
    days = _days(points)
    w, lx, rx, ty, by = 760, 44, 744, 16, 176
    col = (rx - lx) / len(days)
    index = {d: i for i, d in enumerate(days)}

    def y(v: float) -> float:
        return by - (by - ty) * v

    body = []
    for t in (0, 0.5, 1.0):
        body.append(f'<line x1="{lx}" x2="{rx}" y1="{_f(y(t))}" y2="{_f(y(t))}" class="grid"/>')
        body.append(_text(lx - 6, y(t) + 4, percent(t, 0), "tick", "end"))
    body.append(f'<line x1="{lx}" x2="{rx}" y1="{_f(y(bar))}" y2="{_f(y(bar))}" class="barline"/>')
    body.append(_text(rx, y(bar) - 5, f"bar {percent(bar, 0)}", "tick strong", "end"))
    step = max(1, len(days) // 8)
    for i, d in enumerate(days):
        if i % step == 0 or i == len(days) - 1:
            body.append(_text(lx + col * (i + 0.5), by + 18, f"{d:%b} {d.day}", "tick", "middle"))
    per_day: dict[date, list[TimelinePoint]] = {}
    for p in points:
        per_day.setdefault(p.day, []).append(p)
    xy = []
    for d, group in per_day.items():
        for j, p in enumerate(group):
            x = lx + col * index[d] + col * (j + 1) / (len(group) + 1)
            xy.append((x, y(p.pass_rate), p))
    if len(xy) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{_f(x)},{_f(yy)}" for i, (x, yy, _) in enumerate(xy))
        body.append(f'<path d="{path}" class="trend"/>')
    for x, yy, p in xy:
        cls = f"mark {VERDICT_CLASS.get(p.verdict, 'ink')}{' current' if p.current else ''}"
        tip = escape(
            f"{p.run_id} ({p.mode}, {p.at:%Y-%m-%d %H:%M} UTC): {p.passed_cases}/{p.cases} = "
            f"{percent(p.pass_rate)}, {p.verdict}"
        )
        if p.mode == "shadow":
            pts = f"{_f(x)},{_f(yy - 7)} {_f(x + 7)},{_f(yy)} {_f(x)},{_f(yy + 7)} {_f(x - 7)},{_f(yy)}"
            body.append(f'<polygon points="{pts}" class="{cls}"><title>{tip}</title></polygon>')
        else:
            body.append(f'<circle cx="{_f(x)}" cy="{_f(yy)}" r="6" class="{cls}"><title>{tip}</title></circle>')
    title = (
        f"Pass rate of {plural(len(points), 'gated run')} over {plural(len(days), 'day')} "
        f"against the bar {percent(bar, 0)}"
    )
    return _svg(w, by + 26, title, body, "chart timeline")
