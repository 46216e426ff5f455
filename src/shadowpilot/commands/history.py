"""`shadowpilot history`: the pilot's runs with their verdicts."""

from __future__ import annotations

import typer

from .common import JSON_OPTION, console, emit_json, guarded, settings


@guarded
def command(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the runs of this tenant's pilot, oldest first, with their latest verdict."""
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
    from rich.table import Table
    from rich.text import Text

    from ..formatting import percent
    from .views import LABEL, STYLE

    table = Table(title=safe_text(f"Runs · {s.tenant.name}", one_line=True), title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("run", no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("agent", no_wrap=True)
    table.add_column("cases", justify="right")
    table.add_column("verdict", no_wrap=True)
    table.add_column("pass rate", justify="right", no_wrap=True)
    for r in records:
        verdict = r["verdict"]
        if r["status"] != "complete":
            shown = safe_text(r["status"], "dim")
        elif verdict:
            shown = Text(LABEL[verdict], style=STYLE[verdict])
        else:
            shown = Text("not gated", style="dim")
        table.add_row(
            safe_text(r["run_id"], one_line=True),
            f"{r['created_at']:%m-%d %H:%M}",
            safe_text(r["agent_kind"] if r["mode"] == "replay" else f"{r['agent_kind']} ({r['mode']})", one_line=True),
            str(r["cases"]),
            shown,
            percent(r["pass_rate"]) if r["pass_rate"] is not None else "",
        )
    console().print(table)
