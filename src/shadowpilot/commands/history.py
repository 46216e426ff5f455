"""`shadowpilot history`: the pilot's runs with their verdicts."""

from __future__ import annotations

import typer

from .common import JSON_OPTION, console, emit_json, guarded, settings


@guarded
def command(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the runs of this tenant's pilot, oldest first, with their latest verdict."""
    from ..pilot import history

    s = settings(ctx)
    df = history(s)
    records = [
        {k: (None if v != v else v) for k, v in row.items()}  # NaN -> None
        for row in df.astype(object).to_dict("records")
    ]
    if as_json:
        emit_json({"tenant": s.tenant.name, "runs": records})
        return
    from rich.table import Table
    from rich.text import Text

    from .views import LABEL, STYLE, pct

    table = Table(title=f"Runs · {s.tenant.name}", title_justify="left")
    for col in ("run", "started", "mode", "agent", "status", "cases", "verdict", "pass rate"):
        table.add_column(col)
    for r in records:
        verdict = r["verdict"]
        table.add_row(
            r["run_id"], f"{r['created_at']:%Y-%m-%d %H:%M}", r["mode"], r["agent_kind"], r["status"],
            str(r["cases"]),
            Text(LABEL[verdict], style=STYLE[verdict]) if verdict else Text("not gated", style="dim"),
            pct(r["pass_rate"]) if r["pass_rate"] is not None else "",
        )  # fmt: skip
    console().print(table)
