"""`shadowpilot init`: a documented shadowpilot.toml and an empty tenant store, here."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_OPTION, console, emit_json, guarded


@guarded
def command(
    ctx: typer.Context,
    tenant: str = typer.Option(None, "--tenant", help="The tenant's name (default: this folder's name)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing shadowpilot.toml."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write shadowpilot.toml (every key documented) and create the tenant store beside it."""
    from ..config import CONFIG_NAME, load_settings, plain_slug, slug, template_path
    from ..errors import UsageError
    from ..store import open_store

    path = ctx.obj.config if ctx.obj and ctx.obj.config else Path.cwd() / CONFIG_NAME
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    given = tenant or path.resolve().parent.name
    name = plain_slug(given) or slug(given)  # readable when it can be; the name's own slug is then itself
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template_path().read_text(encoding="utf-8").replace("{tenant}", name), encoding="utf-8")
    s = load_settings(path)
    with open_store(s) as store:
        version = store.schema_version()
    if as_json:
        emit_json({"config": str(path), "store": str(s.store_path), "tenant": name, "schema_version": version})
        return
    con = console()
    con.print(f"wrote [bold]{path}[/] for tenant [bold]{name}[/]")
    con.print(f"created the store [bold]{s.store_path}[/]")
    con.print(
        "next: [bold]shadowpilot import[/] your transcripts, "
        "then [bold]shadowpilot run[/] and [bold]shadowpilot gate[/]"
    )
