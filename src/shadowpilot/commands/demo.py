"""`shadowpilot demo`: the whole pilot loop on the bundled sample tenant, offline."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import EXIT_NOT_READY, EXIT_OK, JSON_OPTION, console, emit_json, guarded


@guarded
def command(
    directory: Path = typer.Option(
        Path("shadowpilot-demo"), "--dir", metavar="DIR", help="Where the demo tenant's config, store and reports go."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import the sample clinic's 20 calls, replay them through the offline baseline agent,
    score, gate, and write the pilot reports. No key, no network.

    Exit 0 when the gate says go, 3 when it says no-go (as every command does).
    """
    from ..demo import run_demo

    con = console(stderr=as_json)
    with con.status("running the pilot loop on the sample tenant..."):
        result = run_demo(directory)
    g = result.gate
    if as_json:
        from .gate import GATE_JSON_EXCLUDE

        emit_json(g.model_dump(mode="json", exclude=GATE_JSON_EXCLUDE))
    else:
        from .views import print_gate

        con.print(
            f"[bold]shadowpilot demo[/] · tenant [bold]{result.tenant}[/] · {result.imported} transcripts · "
            f"agent [bold]baseline[/] (offline keyword rules) · run {g.run_id}"
        )
        print_gate(con, g, "pilot verdict")
        con.print(
            f"reports: [bold]{result.reports['html']}[/] (open it in a browser), "
            f"[bold]{result.reports['md']}[/], [bold]{result.reports['json']}[/]"
        )
        con.print(f"store:   [bold]{result.store}[/] (DuckDB; query it with SQL)")
        con.print(
            f"try:     cd {directory} && shadowpilot history   ·   "
            "shadowpilot gate --use-lower-bound   ·   shadowpilot report --format junit"
        )
        if not g.passed:
            con.print(
                "[dim]exit code 3: the gate did not say go (the baseline is a deliberately simple first policy).[/]"
            )
    raise typer.Exit(EXIT_OK if g.passed else EXIT_NOT_READY)
