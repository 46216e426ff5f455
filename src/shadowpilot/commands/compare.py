"""`shadowpilot compare A B`: what changed from run A to run B, and is B worse beyond noise (exit 3)?"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .common import EXIT_NOT_READY, EXIT_OK, JSON_OPTION, RUN_REF, console, emit_json, guarded, settings

if TYPE_CHECKING:
    from ..evals.compare import Comparison


@guarded
def command(
    ctx: typer.Context,
    run_a: str = typer.Argument(..., metavar="A", help=f"The earlier run (the reference): {RUN_REF}."),
    run_b: str = typer.Argument(..., metavar="B", help=f"The later run, compared against A: {RUN_REF}."),
    alpha: float = typer.Option(0.05, "--alpha", min=0.0001, max=0.5, help="Significance level of the verdict."),
    as_json: bool = JSON_OPTION,
) -> None:
    """What changed from run A to run B, and whether B is worse beyond noise.

    Newly failing and newly passing cases (by case id) and metric deltas with 95% intervals.
    Each rate carries its Wilson interval; the pass-rate and error-rate differences are paired
    on the cases both runs scored (Newcombe's paired score interval), and the verdict is
    McNemar's exact test on the cases that changed. Rulings apply to both runs.
    Exit 0 when B is not worse beyond noise, 3 when it is.
    """
    from ..workflow import compare_runs

    s = settings(ctx)
    c = compare_runs(s, run_a, run_b, alpha=alpha)
    if as_json:
        emit_json(c.model_dump(mode="json"))
    else:
        _print(c)
    raise typer.Exit(EXIT_NOT_READY if c.worse else EXIT_OK)


def _print(c: Comparison) -> None:
    from rich import box
    from rich.text import Text

    from ..evals.compare import NAMES
    from ..formatting import percent, points
    from .safe import safe_text
    from .tables import Column, fitted_table, print_whole

    con = console()
    style = {"worse": "bold red", "better": "bold green", "within-noise": "bold yellow"}[c.verdict]
    runs = safe_text(f"  {c.run_b} against {c.run_a}", one_line=True)
    con.print(Text.assemble((f" {c.verdict.upper()} ", style + " reverse"), runs))
    con.print(safe_text(c.explanation))

    def ci(iv) -> str:
        return "" if iv is None else f" [{percent(iv[0])}, {percent(iv[1])}]"

    def signed(x: float | None) -> str:
        return "n/a" if x is None else f"{points(x)} pts"

    def delta(m) -> str:
        return signed(m.delta) + ("" if m.delta_ci is None else f" [{signed(m.delta_ci[0])}, {signed(m.delta_ci[1])}]")

    columns = [
        Column("metric"),
        Column("A", justify="right"),
        Column("B", justify="right"),
        Column(f"B - A ({percent(1 - c.alpha, 0)} CI)", justify="right"),
    ]
    figures = [
        (
            NAMES.get(name, name),
            f"{percent(m.a.value)} ({m.a.k}/{m.a.n}){ci(m.a.ci)}",
            f"{percent(m.b.value)} ({m.b.k}/{m.b.n}){ci(m.b.ci)}",
            delta(m),
        )
        for name, m in c.metrics.items()
    ]
    print_whole(con, fitted_table(con, columns, figures, box=box.SIMPLE_HEAD, pad_edge=False))
    mc = c.mcnemar
    share = ""
    if mc.worse_share is not None and mc.worse_share_ci is not None:
        lo, hi = mc.worse_share_ci
        share = f" · {percent(mc.worse_share)} of the changed cases got worse [{percent(lo)}, {percent(hi)}] (exact)"
    con.print(
        f"cases: {c.cases_a} in A, {c.cases_b} in B, {c.common} in both · McNemar: "
        f"{mc.pass_to_fail} pass→fail, {mc.fail_to_pass} fail→pass, p = {mc.p_value:.3g}{share}",
        soft_wrap=True,
    )
    con.print(
        Text(
            "The pass-rate and agent-error intervals are exact given the cases that changed, the ones "
            "McNemar's test inverts; the others are Newcombe's and do not decide the verdict.",
            style="dim",
        ),
        soft_wrap=True,
    )
    for title, rows, colour in (("Newly failing", c.newly_failing, "red"), ("Newly passing", c.newly_passing, "green")):
        if not rows:
            continue
        columns = [
            Column("case", id=True, style=colour),
            Column("why (B)" if title == "Newly failing" else "why it failed (A)"),
        ]
        cells = [
            (safe_text(r.case_id + (" (critical)" if r.critical else ""), one_line=True), safe_text(r.why))
            for r in rows
        ]
        t = fitted_table(
            con,
            columns,
            cells,
            title=f"{title} ({len(rows)})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        print_whole(con, t)
    if c.flipped or c.audio_a != c.audio_b:
        title = "Flipped by hearing" if c.audio_a != c.audio_b else "Decisions flipped"
        flipped = [
            (
                safe_text(f.case_id, one_line=True),
                f"escalated on {'A' if f.escalated_a else 'B'} only"
                if f.what == "escalation"
                else f"routing right on {'A' if f.routing_ok_a else 'B'} only",
            )
            for f in c.flipped
        ]
        if flipped:
            flips = fitted_table(
                con,
                [Column("case", id=True), Column("decision")],
                flipped,
                title=f"{title} ({len(flipped)} of {c.common})",
                title_justify="left",
                box=box.SIMPLE_HEAD,
                pad_edge=False,
            )
            print_whole(con, flips)
        else:
            con.print(f"{title}: none of the {c.common} cases in both runs")
    for label, ids in (("only in A", c.only_in_a), ("only in B", c.only_in_b)):
        if ids:
            con.print(safe_text(f"{label}: {', '.join(ids)}"))
