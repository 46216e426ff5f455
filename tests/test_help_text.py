"""Every command's --help, as a user's terminal shows it: no typer internals (`<bool>` after a flag,
`{paths}` or `<list[Path]>` for an argument), no markup shown raw, and no summary cut."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from shadowpilot.cli import app
from tests.conftest import invoke

WIDTH = 100
RAW_NAME = re.compile(r"\{[a-z_]+\}")  # typer's required argument, by its Python name


def command_words() -> list[list[str]]:
    """Every command and group of the app, by its words (the root is [])."""
    out: list[list[str]] = []

    def walk(command: Any, words: list[str]) -> None:
        out.append(words)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return out


def help_of(cli, *words: str) -> str:
    result = cli.invoke(app, [*words, "--help"], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_every_command_is_walked() -> None:
    found = {" ".join(w) for w in command_words()}
    assert {"", "gate", "import", "shadow", "shadow calls", "compare", "schema"} <= found


@pytest.mark.parametrize("words", command_words(), ids=lambda w: " ".join(w) or "root")
def test_help_shows_no_raw_types_or_names(cli, words: list[str]) -> None:
    text = help_of(cli, *words)
    assert "<bool>" not in text and "<list[" not in text
    assert RAW_NAME.findall(text) == []
    assert "[bold]" not in text and "\\[" not in text  # help is plain text: no markup shown raw
    assert re.search(r"-h, --help\s+Show this message", text)  # a flag's row: no type between
    if "--json" in text:
        assert re.search(r"--json\s+Print machine-readable JSON", text)


def test_arguments_are_shown_by_their_metavar(cli) -> None:
    assert "Usage: shadowpilot import [OPTIONS] PATH..." in " ".join(help_of(cli, "import").split())
    assert "[OPTIONS] A B" in help_of(cli, "compare")
    assert "[OPTIONS] NAME" in help_of(cli, "schema")
    assert "transcript (a case, one per JSONL line)" in help_of(cli, "schema")  # and what it takes
    assert "[OPTIONS] ID..." in help_of(cli, "cases", "rm")
    assert re.search(r"-c, --config FILE\s", help_of(cli))  # options that take a file say so
    assert re.search(r"-o, --output FILE\s", help_of(cli, "report"))


def test_section_names_in_help_are_shown_as_written(cli) -> None:
    text = " ".join(help_of(cli, "gate").split())
    assert "Override [gate] pass_rate." in text and "Override [gate] min_cases." in text


def test_a_flag_still_works_after_its_help_is_plain(tenant_dir, cli) -> None:
    result = invoke(cli, "history", "--json")  # the flags' metavars are for help only
    assert result.exit_code == 2 and '"error"' in result.stdout  # no store yet: an error object


@pytest.mark.parametrize("words", [w for w in command_words() if w == [] or w[-1] in ("shadow", "cases", "runs")])
def test_command_lists_show_whole_summaries(cli, words: list[str]) -> None:
    """A group's list of commands is where a new user looks first: no summary cut with "..."."""
    listed = help_of(cli, *words).split("Commands:", 1)[1]
    assert listed.strip() and "..." not in listed
