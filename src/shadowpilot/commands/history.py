"""`shadowpilot history`: the pilot's runs with their verdicts."""

from __future__ import annotations

from typing import Any

import typer

from .common import JSON_OPTION, console, emit_json, guarded, settings


def _cases_cell(run: dict[Any, Any]) -> str:
    """A run's case count, with its case set when it is not the default (the imported cases)."""
    from ..case_sets import DEFAULT_CASE_SET

    shown = run.get("case_set")
    return str(run["cases"]) if shown in (None, DEFAULT_CASE_SET) else f"{run['cases']} {shown}"


@guarded
def command(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the runs of this tenant's pilot, oldest first, with their latest verdict.

    "changed": what differs from the previous run of the same mode (agent, model, prompt, rules,
    config, cases); `first` for the first one.
    """
    from dataclasses import asdict

    from ..workflow import run_summaries
    from .safe import safe_text

    s = settings(ctx)
    records = [asdict(r) for r in run_summaries(s)]  # typed rows: listing needs no pandas
    if as_json:
        emit_json({"tenant": s.tenant.name, "runs": records})
        return
    if not records:
        console().print(safe_text(f"no runs yet for {s.tenant.name}: `shadowpilot run` replays the imported cases"))
        return
    from rich import box
    from rich.text import Text

    from ..formatting import percent
    from ..when import in_utc
    from .tables import Column, fitted_table, print_whole
    from .views import LABEL, STYLE

    columns = [
        Column("run", id=True),
        Column("started (UTC)", drop=2, no_wrap=True),
        Column("agent", drop=4, no_wrap=True),
        Column("cases", drop=1, justify="right"),
        Column("verdict"),
        Column("pass rate", justify="right", no_wrap=True),
        Column("changed", drop=3, no_wrap=True),
    ]
    rows = []
    for r in records:
        verdict = r["verdict"]
        if r["status"] != "complete":
            shown = safe_text(r["status"], "dim")
        elif verdict:
            shown = Text(LABEL[verdict], style=STYLE[verdict])
        else:
            shown = Text("not gated", style="dim")
        rows.append(
            (
                safe_text(r["run_id"], one_line=True),
                f"{in_utc(r['created_at']):%m-%d %H:%M}",
                safe_text(
                    r["agent_kind"] if r["mode"] == "replay" else f"{r['agent_kind']} ({r['mode']})", one_line=True
                ),
                _cases_cell(r),
                shown,
                percent(r["pass_rate"]) if r["pass_rate"] is not None else "",
                _changed(r["changed"]),
            )
        )
    con = console()
    title = safe_text(f"Runs · {s.tenant.name}", one_line=True)
    print_whole(con, fitted_table(con, columns, rows, title=title, title_justify="left", box=box.SIMPLE_HEAD))


def _changed(fields: list[str] | None) -> str:
    """The changed fields in a few words: `first` for the first run of its mode, `—` for none."""
    if fields is None:
        return "first"
    return ", ".join(fields) or "—"
