"""Data is shown, never obeyed (issue 15): a case id, a tag, a transcript line or a tenant name
that carries terminal escapes or markup reaches the terminal, Markdown and JUnit as inert text.

Through the real CLI on a real store: the cases are imported, replayed by the baseline agent,
gated, reviewed, listed, and reported.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shadowpilot.config import load_settings
from shadowpilot.controls import visible
from shadowpilot.reports.markdown import _cell, _code
from shadowpilot.types import Transcript
from shadowpilot.workflow.workspace import Workspace
from tests.conftest import invoke, make_case, write_config, write_jsonl

OSC_LINK = "\x1b]8;;http://evil\x07"  # a terminal hyperlink: the text that follows opens http://evil
MARKUP = "[link=http://x]"  # rich markup: a clickable link if read as markup
EVIL_ID = f"case-{OSC_LINK}click{MARKUP}me"
EVIL_TAG = f"{MARKUP}tag\x1b[2J"  # and a clear-screen
EVIL_TEXT = f"I need a person {OSC_LINK}now\x9b31m [bold]really[/bold] \u202egnp.exe"
# the tenant name in the config may hold the same (TOML writes ESC and BEL as \u001b, \u0007)
EVIL_TENANT_TOML = "acme \\u001b]8;;http://evil\\u0007 [link=http://x]corp[/link]"


@pytest.fixture
def evil_store(tenant_dir: Path, cli) -> Path:
    """A store whose failing critical case, tags, text and tenant name carry escapes and markup."""
    write_config(tenant_dir, tenant=EVIL_TENANT_TOML)
    cases = [
        make_case(
            EVIL_ID,
            [EVIL_TEXT, "thanks"],
            escalated=True,
            at_customer_turn=0,
            reason="asked_for_human",
            critical=True,
            tags=[EVIL_TAG],
            tenant=None,
        ),
        make_case("plain-1", ["what are your hours"], tags=[EVIL_TAG], tenant=None),
    ]
    # `import` refuses such an id (tests/transcripts/test_labels.py); a store may still hold one,
    # written by an older shadowpilot or by the live shadow server from the call id it was sent
    settings = load_settings(tenant_dir / "shadowpilot.toml")
    evil = Transcript.model_validate({**cases[0], "tenant": settings.tenant.name})
    with Workspace.creating(settings) as ws:
        ws.store.add_cases([(evil, "older.jsonl")])
    write_jsonl(tenant_dir / "cases.jsonl", cases[1:])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    ran = invoke(cli, "run")
    assert ran.exit_code == 0, ran.stderr
    return tenant_dir


def _inert(out: str) -> None:
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\u202e" not in out
    assert "\\x1b]8;;http://evil\\x07" in out  # shown, as its escapes


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping in the middle of what we look for


def test_gate_shows_ids_tags_and_tenant_as_text(evil_store: Path, cli, wide) -> None:
    result = invoke(cli, "gate")
    assert result.exit_code == 3, result.stderr  # the critical case failed
    _inert(result.stdout)
    assert MARKUP in result.stdout  # the markup is printed, not read as a link
    assert "[link=http://x]corp[/link]" in result.stdout  # the tenant name in the title too


def test_review_shows_the_conversation_as_text(evil_store: Path, cli, wide, terminal) -> None:
    invoke(cli, "gate")
    listed = invoke(cli, "review", "--list")
    assert listed.exit_code == 0, listed.stderr
    _inert(listed.stdout)
    assert MARKUP in listed.stdout
    # the interactive review prints the conversation and the tags; quit at the first prompt
    shown = cli.invoke(__import__("shadowpilot.cli", fromlist=["app"]).app, ["review"], input="q\n")
    _inert(shown.stdout)
    assert "[bold]really[/bold]" in shown.stdout and "\\u202egnp.exe" in shown.stdout
    assert "\\x1b[2J" in shown.stdout and MARKUP in shown.stdout


def test_history_shows_the_tenant_name_as_text(evil_store: Path, cli, wide) -> None:
    result = invoke(cli, "history")
    assert result.exit_code == 0, result.stderr
    _inert(result.stdout)
    assert "[link=http://x]corp[/link]" in result.stdout


def test_errors_show_data_as_text(evil_store: Path, cli, wide) -> None:
    result = invoke(cli, "review", "--case", EVIL_ID, "--ruling", "ai_right", "--run", f"no-such-{OSC_LINK}run")
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


# -- Markdown -----------------------------------------------------------------------------------


def test_markdown_report_escapes_ids_and_tenant(evil_store: Path, cli) -> None:
    invoke(cli, "gate")
    result = invoke(cli, "report", "--format", "md", "-o", "r.md")
    assert result.exit_code == 0, result.stderr
    md = (evil_store / "r.md").read_text(encoding="utf-8")
    assert "\x1b" not in md and "\x07" not in md
    row = next(line for line in md.splitlines() if line.startswith("| case-"))
    # the id stays in its one cell: no unescaped | splits it, no [ opens a link
    assert len(re.findall(r"(?<!\\)\|", row)) == 6
    assert "\\[link=http\\://x\\]" in row and "[link=" not in row.replace("\\[link=", "")
    # the heading renders as the name's text: its escapes written out, its brackets escaped
    assert md.startswith(r"# Pilot report: acme \\x1b\]8;;http\://evil\\x07 \[link=http\://x\]corp\[/link\]")


URL_ID = "see-https://evil.example/pay?x=1"
URL_REASON = "mail jane.doe@example.com or www.evil.example now"


def test_markdown_report_autolinks_no_url_email_or_www(tenant_dir: Path, cli) -> None:
    """GitHub links a bare https://..., www.... or an email address with no syntax at all; in the
    report each stays text, read the same (rendered with cmark-gfm, GitHub's own parser)."""
    case = make_case(URL_ID, ["I need a person"], escalated=True, at_customer_turn=0, reason=URL_REASON, tenant=None)
    write_jsonl(tenant_dir / "cases.jsonl", [case])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    invoke(cli, "gate")
    assert invoke(cli, "report", "--format", "md", "--show-pii", "-o", "r.md").exit_code == 0  # the email as it is
    md = (tenant_dir / "r.md").read_text(encoding="utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| see-"))
    assert "https\\://evil.example" in row and "www\\.evil.example" in row and "jane.doe@\u2060example.com" in row
    cmarkgfm = pytest.importorskip("cmarkgfm")
    html = cmarkgfm.github_flavored_markdown_to_html(md)
    assert "<a " not in html and "href" not in html
    text = re.sub(r"<[^>]+>", "", html).replace("\u2060", "")
    assert URL_ID in text and URL_REASON in text  # the same words, as text


@pytest.mark.parametrize(
    "raw",
    [
        "a|b",
        "[x](http://evil)",
        "![i](http://t/p.gif)",
        "<img src=x onerror=alert(1)>",
        "**b** _i_ ~s~ `c`",
        "&lt;",
        "back\\slash|",
        "two\nlines",
    ],
)
def test_markdown_cell_is_literal_text(raw: str) -> None:
    """Unescaping what _cell writes (CommonMark: a backslash before punctuation is that
    character) gives the input back, and no active character is left bare."""
    cell = _cell(raw)
    assert "\n" not in cell
    assert re.sub(r"\\(.)", r"\1", cell) == raw.replace("\n", "\\x0a")
    bare = re.sub(r"\\.", "", cell)
    assert not set(bare) & set("|[]<>`*_~&\\")


@pytest.mark.parametrize("raw", ["plain", "one`tick", "``two", "ends`", "a|b", "x\ny"])
def test_markdown_code_span_holds_any_id(raw: str) -> None:
    code = _code(raw)
    fence = re.match("`+", code).group()
    inner = code[len(fence) : -len(fence)]
    assert "`" * len(fence) not in inner  # no run of backticks in it can close the span
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
        inner = inner[1:-1]  # CommonMark strips one space each side
    assert inner == visible(raw, one_line=True)


# -- JUnit --------------------------------------------------------------------------------------


def test_junit_is_valid_xml_with_control_characters(evil_store: Path, cli) -> None:
    invoke(cli, "gate")
    result = invoke(cli, "report", "--format", "junit", "-o", "r.xml")
    assert result.exit_code == 0, result.stderr
    root = ET.parse(evil_store / "r.xml").getroot()  # parses: no character XML 1.0 forbids
    names = [tc.get("name") for tc in root.iter("testcase")]
    assert visible(EVIL_ID) in names
    assert root.get("name", "").startswith("shadowpilot acme \\x1b]8;;http://evil\\x07")
    gate_failures = [f.get("message", "") for f in root.iter("failure") if f.get("type") == "gate-check"]
    assert any(visible(EVIL_ID) in m for m in gate_failures)  # the critical-case check names it
