"""`shadowpilot schema`: the JSON Schema of the Transcript or the Recommendation format."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from .common import JSON_OPTION, console, emit_json, guarded, write_output


class Name(StrEnum):
    transcript = "transcript"
    recommendation = "recommendation"


@guarded
def command(
    name: Name = typer.Argument(
        ...,
        metavar="NAME",
        help="transcript (a case, one per JSONL line) or recommendation (the agent's answer at one turn).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="FILE", help="Write to this file (default: stdout)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print the JSON Schema of a file format, made from the models the readers validate with.

    The formats are described field by field in docs/contract.md.
    """
    from ..schemas import schema_text

    text = schema_text(name.value)
    if output is None:
        typer.echo(text, nl=False)  # already JSON: --json changes nothing here
        return
    write_output(output, text)
    if as_json:
        emit_json({"schema": name.value, "path": str(output), "bytes": len(text.encode())})
    else:
        console().print(f"wrote the {name.value} JSON Schema to [bold]{output}[/]")
