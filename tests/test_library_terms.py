"""Library code speaks in library terms; flag names live only in commands/ (terms.py).

A library caller reads the Python parameter it passed ("all_critical goes with top"); the CLI user
reads the flag, as before ("--all-critical goes with --top N"): one message, said both ways."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import shadowpilot
from shadowpilot import workflow
from shadowpilot.commands.common import CLI_TERMS
from shadowpilot.config import load_settings
from shadowpilot.errors import InputError, Problem, UsageError
from shadowpilot.terms import Term, Worded
from tests.conftest import invoke, make_case, write_config, write_jsonl

PACKAGE = Path(shadowpilot.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z]")
ARGV = re.compile(r"^--[a-z][a-z-]*=?$")  # a whole argument handed to another program (Chromium's switches)
# Not messages but results: the judge check's detail is part of the stored verdict (gate JSON, the
# report, JUnit) that CI logs and people read outside any Python caller, and it names the command
# that makes the check measurable. It is the one sentence of a result that names a flag.
PENDING = {("shadowpilot/evals/scorers/judge.py", " has not been judged: run `shadowpilot judge --run ")}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_no_flag_name_in_library_strings() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel.startswith("shadowpilot/commands/") or rel == "shadowpilot/cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                text = node.value
                if FLAG.search(text) and not ARGV.match(text) and not any(text in s for f, s in PENDING if f == rel):
                    found.append(f"{rel}:{node.lineno}: {text!r}")
    assert found == []


def test_a_worded_message_reads_in_each_callers_terms() -> None:
    text = Worded(Term("all_critical"), " goes with ", Term("top_n", "top"))
    assert str(text) == "all_critical goes with top"
    assert text.say(CLI_TERMS) == "--all-critical goes with --top N"
    exc = UsageError.worded("see ", Term("disagreements", "disagreements()"))
    assert (str(exc), exc.say(CLI_TERMS)) == ("see disagreements()", "see `shadowpilot review --list`")
    assert UsageError("plain").say(CLI_TERMS) == "plain"


def test_input_errors_say_their_summary_and_problems_in_the_callers_terms() -> None:
    problem = Problem("a.txt", None, None, Worded("cannot tell the format; use ", Term("format")))
    exc = InputError([problem], Worded("1 bad (", Term("skip_bad", "skip_bad=True"), " imports the rest)"))
    assert str(exc) == "1 bad (skip_bad=True imports the rest)\n  a.txt: cannot tell the format; use format"
    assert exc.say(CLI_TERMS) == "1 bad (--skip-bad imports the rest)\n  a.txt: cannot tell the format; use --format"


def test_a_library_caller_reads_the_parameters_it_passed(tenant_dir: Path) -> None:
    write_config(tenant_dir)
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    with pytest.raises(UsageError) as bad_top:
        workflow.import_files(settings, [tenant_dir / "none.jsonl"], all_critical=True)
    assert str(bad_top.value) == "all_critical goes with top"
    with pytest.raises(UsageError) as bad_repeats:
        workflow.run(settings, repeats=0)
    assert str(bad_repeats.value) == "repeats must be at least 1"


def test_the_cli_user_reads_the_flags_as_before(tenant_dir: Path, cli) -> None:
    write_config(tenant_dir)
    cases = write_jsonl(tenant_dir / "cases.jsonl", [make_case("c0", ["hi"])])
    alone = invoke(cli, "import", str(cases), "--all-critical")
    assert alone.exit_code == 2 and "--all-critical goes with --top N" in alone.stderr
    bad = tenant_dir / "notes.xyz"
    bad.write_text("neither json, csv nor a dialogue\n", encoding="utf-8")
    mixed = invoke(cli, "import", str(cases), str(bad))
    assert mixed.exit_code == 2
    assert "nothing was imported (--skip-bad imports the good ones)" in mixed.stderr
    assert "use --format" in mixed.stderr
