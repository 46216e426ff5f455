"""Rich renderings shared by commands: the gate summary above all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ..types import GateResult

STYLE = {"go": "bold green", "no-go": "bold red", "insufficient-evidence": "bold yellow"}
LABEL = {"go": "GO", "no-go": "NO-GO", "insufficient-evidence": "INSUFFICIENT EVIDENCE"}


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def gate_view(g: GateResult) -> Group:
    lo, hi = g.pass_rate_ci
    head = Text.assemble(
        (f" {LABEL[g.verdict]} ", STYLE[g.verdict] + " reverse"),
        "  pass rate ",
        (pct(g.pass_rate), "bold"),
        f" ({g.passed_cases}/{g.cases}) · 95% CI {pct(lo)} to {pct(hi)} · bar {g.bar:.0%}",
        " (lower bound)" if g.config.use_lower_bound else "",
    )
    explanation = Text(g.explanation)

    e, r = g.escalation, g.routing
    figures = Table.grid(padding=(0, 2))
    figures.add_column(style="bold")
    figures.add_column()
    figures.add_row(
        "Escalation",
        Text.assemble(
            f"{e.tp} correct · ", (f"{e.fn} missed", "red" if e.fn else ""), " · ",
            (f"{e.fp} unnecessary", "yellow" if e.fp else ""), f" · {e.tn} correctly kept · ",
            f"{e.early} early · {e.late} late\n",
            f"precision {pct(e.precision)} · recall {pct(e.recall)} · F1 {pct(e.f1)}",
        ),
    )  # fmt: skip
    figures.add_row(
        "Routing",
        Text(
            f"{r.cases} case(s) escalated by both: {pct(r.accuracy)} fully correct\n"
            + " · ".join(f"{k} {pct(v)}" for k, v in r.per_attribute.items())
        ),
    )
    checks = Table(box=None, show_header=False, pad_edge=False)
    checks.add_column()
    checks.add_column()
    for c in g.checks:
        checks.add_row(Text("pass" if c.passed else "FAIL", style="green" if c.passed else "bold red"),
                       Text(f"{c.name}: {c.detail}"))  # fmt: skip

    parts: list = [head, explanation, Text(), figures, Text(), checks]
    if g.failures:
        fails = Table(title=f"Failing cases ({len(g.failures)})", title_justify="left", pad_edge=False)
        fails.add_column("case")
        fails.add_column("why")
        for f in g.failures:
            crit = f.case_id in g.critical_failed
            fails.add_row(Text(f.case_id + (" (critical)" if crit else ""), style="bold red" if crit else ""),
                          Text(f.why))  # fmt: skip
        parts += [Text(), fails]
    return Group(*parts)


def print_gate(con: Console, g: GateResult, title: str) -> None:
    con.print(Panel(gate_view(g), title=title, title_align="left", border_style=STYLE[g.verdict].split()[-1]))
