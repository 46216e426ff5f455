"""Rich renderings shared by commands: the gate summary above all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..formatting import NOT_MEASURED, ms_as_kept, percent, usd
from ..wording import plural
from .safe import safe_text
from .tables import Column, fitted_table, min_width, print_whole

if TYPE_CHECKING:
    from ..types import GateResult

STYLE = {"go": "bold green", "no-go": "bold red", "insufficient-evidence": "bold yellow"}
LABEL = {"go": "GO", "no-go": "NO-GO", "insufficient-evidence": "INSUFFICIENT EVIDENCE"}


def _extra_rows(g: GateResult, figures: Table) -> None:
    """Replies, latency, cost, handoff, repeats and the weighted score, beside the pass rate."""
    if g.pass_k is not None:
        k = g.pass_k
        lo, hi = k.pass_k_ci
        flips = f"{plural(len(k.flips), 'flip')}: {', '.join(k.flips[:8])}{' ...' if len(k.flips) > 8 else ''}"
        figures.add_row(
            f"pass^{k.k}",
            safe_text(
                f"{percent(k.pass_k_rate)} ({k.pass_k}/{k.cases} passed all {k.k} repeats; "
                f"95% CI {percent(lo)} to {percent(hi)}) · "
                + (flips if k.flips else "no flips")
                + (" · gated on pass^k" if g.config.require_pass_k else "")
            ),
        )
    if g.weighted_score is not None:
        w = g.config.weights
        figures.add_row(
            "Weighted",
            Text(
                f"{g.weighted_score:.3f} (missed {w.missed:g}, unnecessary {w.unnecessary:g}, "
                f"late {w.late:g}, early {w.early:g}, routing {w.routing:g}, "
                f"error {w.error:g})"
            ),
        )
    r = g.reply
    figures.add_row(
        "Replies",
        Text(
            NOT_MEASURED + " (no agent reply had a human reply to compare with)"
            if r is None
            else f"similarity {r.similarity:.3f} (1 - MER) · WER {r.wer:.3f} · "
            f"CER {r.cer:.3f} · {plural(r.turns, 'turn')} in "
            f"{plural(r.cases, 'case')}"
        ),
    )
    a = g.asr
    if a is not None or g.config.max_asr_wer is not None:
        figures.add_row(
            "Hearing",
            Text(
                NOT_MEASURED + " (no customer turn was heard: a text run; `run --audio` hears the recordings)"
                if a is None or a.wer is None
                else f"ASR WER {a.wer:.3f} ({a.edits} edits / {a.ref_words} words) · worst case "
                f"{a.worst_case_wer:.3f} · {plural(a.turns, 'heard turn')} the agent was asked at, "
                f"in {plural(a.cases, 'case')}"
                + (
                    f" · {a.audio_minutes_per_call:.2f} audio min per call"
                    if a.audio_minutes_per_call is not None
                    else ""
                )
                + (
                    f", ASR {usd(a.asr_cost_per_call, grouped=False)} per call"
                    if a.asr_cost_per_call is not None
                    else ""
                )
                + (
                    f" · end of speech to transcript p95 {ms_as_kept(a.to_transcript_p95)}, to first token p95 "
                    f"{ms_as_kept(a.to_first_token_p95) if a.to_first_token_p95 is not None else NOT_MEASURED}"
                    f" (budget {a.to_first_token_budget:g} ms)"
                    if a.to_transcript_p95 is not None and a.to_first_token_budget is not None
                    else ""
                )
            ),
        )
    j = g.judge
    if j is not None:
        figures.add_row(
            "Judge",
            Text(
                (
                    f"score {j.score:.3f} · correctness {j.correctness:.2f} · policy {j.policy:.2f} · "
                    f"tone {j.tone:.2f} (1-5) · {plural(j.turns, 'reply', 'replies')} judged by {j.model}"
                    if j.score is not None
                    else f"no reply scored by {j.model}"
                )
                + (f" · {plural(j.errors, 'judge error')}" if j.errors else "")
            ),
        )
    lat = g.latency
    if lat is not None:
        figures.add_row(
            "Latency",
            Text(
                NOT_MEASURED
                if lat.turns == 0
                else f"first token p50 {ms_as_kept(lat.first_token_p50)} · p95 {ms_as_kept(lat.first_token_p95)} "
                f"(budget {lat.first_token_budget:g}) · full reply p50 {ms_as_kept(lat.full_reply_p50)} · "
                f"p95 {ms_as_kept(lat.full_reply_p95)} (budget {lat.full_reply_budget:g})"
                + (f" · {lat.cached_turns} cached" if lat.cached_turns else "")
            ),
        )
    c = g.cost
    if c is not None:
        mean, p95, top, budget, saving, human = (
            usd(x, grouped=False)
            for x in (
                c.per_call_mean,
                c.per_call_p95,
                c.per_call_max,
                c.budget,
                c.saving_per_call,
                c.human_cost_per_call,
            )
        )
        text = (
            NOT_MEASURED
            if c.per_call_mean is None
            else (
                f"{mean} per call (p95 {p95}, max {top})"
                + (
                    f" · budget {budget}, {plural(c.over_budget_calls or 0, 'call')} over"
                    if c.budget is not None
                    else ""
                )
                + (
                    f" · saving {saving} per call against a human at {human} ({percent(c.escalation_share, 0)} "
                    "still escalated)"
                    if c.saving_per_call is not None
                    else ""
                )
            )
        )
        figures.add_row("Cost", Text(text))
    h = g.handoff
    if h is not None and h.escalations:
        figures.add_row(
            "Handoff",
            safe_text(
                f"{h.ok}/{plural(h.escalations, 'escalation')} usable: summary {h.with_summary} · "
                f"sentiment {h.with_sentiment} · "
                f"required attributes {h.with_attributes} · most hops in a call {h.max_hops}"
                + (f" (over {g.config.max_hops}: {', '.join(h.over_hops[:8])})" if h.over_hops else "")
            ),
        )


BREAKDOWN_ROWS = 10  # groups shown in the terminal; `gate --json` has them all


def _breakdowns(g: GateResult, con: Console, room: int) -> Table | Text | None:
    """The groups below the bar, worst first: where the agent is not ready yet; one line (not an
    empty table) when there is none."""
    every = [(dim, row) for dim, items in g.breakdowns.items() for row in items]
    below = sorted((r for r in every if r[1].pass_rate < g.bar), key=lambda r: (r[1].pass_rate, -r[1].cases))
    if not every:
        return None
    if not below:
        return Text(
            f"Every group by tag, channel, reason and day ({plural(len(every), 'group')}) is at or above "
            "the bar; --json lists them.",
            style="dim",
        )
    rows = below[:BREAKDOWN_ROWS]
    hidden = len(every) - len(rows)
    caption = f"{plural(hidden, 'more group')} not shown" if hidden else "every group is shown"
    caption += " (at or above the bar)" if hidden and len(below) == len(rows) else ""
    columns = [
        Column("by", no_wrap=True),
        Column("group", id=True),  # a tag or a day, as `--json` and the report name it
        Column("passed", no_wrap=True),
        Column("rate", no_wrap=True),
        Column("95% CI", drop=1, no_wrap=True),
    ]
    cells = []
    for dim, row in rows:
        lo, hi = row.ci
        style = "red" if row.pass_rate < g.bar else ""
        cells.append(
            (
                safe_text(dim),
                safe_text(row.key, one_line=True),
                f"{row.passed}/{row.cases}",
                Text(percent(row.pass_rate), style=style),
                f"{percent(lo)} to {percent(hi)}",
            )
        )
    return fitted_table(
        con,
        columns,
        cells,
        room=room,
        title="Groups below the bar (by tag, channel, reason, day)",
        title_justify="left",
        pad_edge=False,
        box=None,
        caption=caption + "; --json lists all",
        caption_justify="left",
    )


def gate_view(g: GateResult, con: Console, room: int) -> Group:
    """The verdict, its figures and checks, the groups below the bar and the failing cases, laid
    out for `room` columns (tables.py: case ids and group keys whole, wider than that if need be)."""
    lo, hi = g.pass_rate_ci
    head = Text.assemble(
        (f" {LABEL[g.verdict]} ", STYLE[g.verdict] + " reverse"),
        "  pass rate ",
        (percent(g.pass_rate), "bold"),
        f" ({g.passed_cases}/{g.cases}) · 95% CI {percent(lo)} to {percent(hi)} · bar {percent(g.bar, 0)}",
        " (lower bound)" if g.config.use_lower_bound else "",
    )
    explanation = safe_text(g.explanation)

    e, r = g.escalation, g.routing
    figures = Table.grid(padding=(0, 2))
    figures.add_column(style="bold")
    figures.add_column()
    figures.add_row(
        "Escalation",
        Text.assemble(
            f"{e.tp} correct · ",
            (f"{e.fn} missed", "red" if e.fn else ""),
            " · ",
            (f"{e.fp} unnecessary", "yellow" if e.fp else ""),
            f" · {e.tn} correctly kept · ",
            f"{e.early} early · {e.late} late\n",
            f"precision {percent(e.precision)} · recall {percent(e.recall)} · F1 {percent(e.f1)}",
        ),
    )
    figures.add_row(
        "Routing",
        Text(
            f"{plural(r.cases, 'case')} escalated by both: {percent(r.accuracy)} fully correct\n"
            + " · ".join(f"{k} {percent(v)}" for k, v in r.per_attribute.items())
        ),
    )
    checks = Table(box=None, show_header=False, pad_edge=False)
    checks.add_column()
    checks.add_column()
    for c in g.checks:
        checks.add_row(
            Text("pass" if c.passed else "FAIL", style="green" if c.passed else "bold red"),
            safe_text(f"{c.name}: {c.detail}"),
        )

    _extra_rows(g, figures)
    parts: list = [head, explanation]
    if g.evidence is not None and g.evidence.caution:
        parts.append(safe_text(g.evidence.caution, "bold yellow"))
    if g.evidence is not None:
        parts.append(safe_text(g.evidence.note, "dim" if g.passed else "yellow"))
    parts += [Text(), figures, Text(), checks]
    table = _breakdowns(g, con, room)
    if table is not None:
        parts += [Text(), table]
    if g.failures:
        rows = []
        for f in g.failures:
            crit = f.case_id in g.critical_failed
            shown = safe_text(f.case_id + (" (critical)" if crit else ""), "bold red" if crit else "", one_line=True)
            rows.append((shown, safe_text(f.why)))
        title = f"Failing cases ({len(g.failures)})"
        columns = [Column("case", id=True), Column("why")]
        parts += [
            Text(),
            fitted_table(con, columns, rows, room=room, title=title, title_justify="left", pad_edge=False),
        ]
    return Group(*parts)


PANEL_EDGES = 4  # a Panel's border and padding, left and right


def print_gate(con: Console, g: GateResult, title: str) -> None:
    """The gate's panel; `title` is shown as written (a tenant name is data, not markup). A panel
    whose ids need more than the console's width is printed wider, never cut (tables.py)."""
    view = gate_view(g, con, con.width - PANEL_EDGES)
    heading = safe_text(title, one_line=True)
    panel = Panel(view, title=heading, title_align="left", border_style=STYLE[g.verdict].split()[-1])
    # a Panel measures at its widest, and cuts a title longer than its top edge (the run id is in it):
    # as wide as the view's narrowest layout and the title padded by a space each side
    print_whole(con, panel, max(min_width(con, view), heading.cell_len + 2) + PANEL_EDGES)
