"""One case reads the same everywhere: the same customer-turn number in review, gate, HTML,
Markdown and JUnit; the raw transcript index in JSON under a name that says so; counts with the
right plural; reason texts a person can read."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shadowpilot.types import Turn
from shadowpilot.wording import customer_turn_from_ordinal, customer_turn_label, customer_turn_number, plural
from tests.conftest import invoke, write_config, write_jsonl

# ---------------------------------------------------------------- the helpers, on hand-built input


def test_customer_turns_are_counted_from_one_among_the_customer_lines_only():
    turns = [Turn(speaker=s, text="x") for s in ("system", "customer", "agent", "customer", "bot", "customer")]
    assert [customer_turn_number(turns, i) for i in range(len(turns))] == [None, 1, 1, 2, 2, 3]
    assert customer_turn_number(turns, None) is None
    assert customer_turn_from_ordinal(0) == 1 and customer_turn_from_ordinal(None) is None
    assert customer_turn_label(3) == "customer turn 3"


@pytest.mark.parametrize(("n", "text"), [(0, "0 cases"), (1, "1 case"), (2, "2 cases")])
def test_plural(n, text):
    assert plural(n, "case") == text
    assert plural(n, "reply", "replies").endswith("reply" if n == 1 else "replies")


# ---------------------------------------------------------------- one run, every output


def _turns(n_customer: int) -> list[dict]:
    """A system line first, then customer and agent lines: transcript indices are not 2 x k."""
    turns = [{"speaker": "system", "text": "call connected"}]
    for i in range(n_customer):
        turns += [{"speaker": "customer", "text": f"customer line {i + 1}"}, {"speaker": "agent", "text": "ok"}]
    return turns


CASES = [
    # the AI escalates at transcript index 5 (customer turn 3); the human never did
    {"id": "t-fp", "tenant": "acme", "channel": "voice", "turns": _turns(4), "outcome": {"escalated": False}},
    # the human escalated at index 3 (customer turn 2) to billing; the AI at index 7 (customer turn 4), no queue
    {
        "id": "t-late",
        "tenant": "acme",
        "channel": "voice",
        "turns": _turns(4),
        "outcome": {"escalated": True, "at_turn": 3, "reason": "billing_dispute", "queue": "billing"},
    },
]
RECS = [
    {"case_id": "t-fp", "turn": 1, "escalate": False},
    {"case_id": "t-fp", "turn": 3, "escalate": False},
    {"case_id": "t-fp", "turn": 5, "escalate": True, "reason": "complaint"},
    *({"case_id": "t-late", "turn": t, "escalate": False} for t in (1, 3, 5)),
    {"case_id": "t-late", "turn": 7, "escalate": True, "reason": "billing_dispute"},
]


@pytest.fixture
def gated(tenant_dir: Path, cli) -> Path:
    write_jsonl(tenant_dir / "cases.jsonl", CASES)
    write_jsonl(tenant_dir / "recs.jsonl", RECS)
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 1\n')
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    return tenant_dir


FP_WHY = "unnecessary escalation at customer turn 3"
LATE_WHY = "escalated 2 customer turns late; wrong queue: the agent gave no queue, human 'billing'"


def wide(cli, *args: str, input: str | None = None):
    """The real CLI on a terminal wide enough that no table cell wraps."""
    from shadowpilot.cli import app

    return cli.invoke(app, list(args), input=input, env={"COLUMNS": "250"}, catch_exceptions=False)


def flat(text: str) -> str:
    """Terminal output with the table borders and wrapping taken out."""
    return " ".join(re.sub(r"[│┃┆╎|─━┄╌═╭╮╰╯┌┐└┘├┤┬┴┼]", " ", text).split())


def test_the_same_case_names_the_same_customer_turn_in_every_output(gated: Path, cli, terminal):
    gate = wide(cli, "gate")
    assert gate.exit_code == 3
    assert FP_WHY in flat(gate.stdout) and LATE_WHY in flat(gate.stdout)
    assert "0 more groups" not in flat(gate.stdout) and "every group is shown" in flat(gate.stdout)
    whys = {f["case_id"]: f["why"] for f in json.loads(invoke(cli, "gate", "--json").stdout)["failures"]}
    assert whys == {"t-fp": FP_WHY, "t-late": LATE_WHY}

    listed = flat(wide(cli, "review", "--list").stdout)
    assert FP_WHY in listed and LATE_WHY in listed
    shown = flat(wide(cli, "review", "--case", "t-late", input="q\n").stdout)
    assert re.search(r"at customer turn 2 4\b", shown), shown  # human, AI
    assert "◀ human escalated" in shown and "◀ AI escalated" in shown

    invoke(cli, "report", "--format", "html", "-o", "r.html")
    html = re.sub(r"<[^>]+>", " ", (gated / "r.html").read_text(encoding="utf-8"))
    html = " ".join(html.split())
    assert "Escalate at customer turn 3" in html  # t-fp
    assert "Escalated at customer turn 2" in html and "Escalate at customer turn 4" in html  # t-late
    assert FP_WHY in html and LATE_WHY.replace("'", "&#39;") in html

    md = invoke(cli, "report", "--format", "md").stdout
    # Markdown text: the reason's underscore is escaped (it renders as billing_dispute)
    assert "| t-late |  | escalated at customer turn 2 (billing\\_dispute) | escalated at customer turn 4" in md
    assert "| t-fp |  | kept | escalated at customer turn 3 (complaint)" in md

    root = ET.fromstring(invoke(cli, "report", "--format", "junit").stdout.encode())
    failures = {t.get("name"): t.find("failure") for t in root.iter("testcase") if t.find("failure") is not None}
    assert failures["t-fp"].get("message") == FP_WHY
    assert "AI: escalated at customer turn 3 (complaint)" in failures["t-fp"].text
    assert "human: escalated at customer turn 2 (billing_dispute)" in failures["t-late"].text
    assert "AI: escalated at customer turn 4 (billing_dispute)" in failures["t-late"].text


def test_json_keeps_the_raw_transcript_index_under_a_name_that_says_so(gated: Path, cli):
    report = json.loads(invoke(cli, "report", "--format", "json").stdout)
    late = next(c for c in report["cases"] if c["case_id"] == "t-late")
    assert late["human"]["at_turn"] == 3 and late["human_at_customer_turn"] == 2
    assert (late["agent"]["at_transcript_index"], late["agent"]["at_customer_turn"]) == (7, 4)
    assert "at_turn" not in late["agent"]
    assert [(s["transcript_index"], s["customer_turn"]) for s in late["steps"]] == [(1, 1), (3, 2), (5, 3), (7, 4)]

    review = json.loads(invoke(cli, "review", "--json").stdout)
    d = next(x for x in review["disagreements"] if x["case_id"] == "t-late")
    assert (d["human"]["at_turn"], d["human"]["at_customer_turn"]) == (3, 2)
    assert (d["ai"]["at_transcript_index"], d["ai"]["at_customer_turn"]) == (7, 4)
    assert "at_turn" not in d["ai"] and "customer_turn" not in d["ai"]
    ruled = json.loads(invoke(cli, "review", "--case", "t-late", "--ruling", "ai_right", "--json").stdout)
    assert (ruled["recorded"]["ai_at_transcript_index"], ruled["recorded"]["ai_at_customer_turn"]) == (7, 4)


# ---------------------------------------------------------------- words a person can read


def test_one_case_is_one_case(tenant_dir: Path, cli):
    write_jsonl(tenant_dir / "cases.jsonl", CASES[:1])
    write_jsonl(tenant_dir / "recs.jsonl", RECS[:3])
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n')
    invoke(cli, "import", "cases.jsonl")
    invoke(cli, "run")
    out = invoke(cli, "gate", "--json")
    assert out.exit_code == 3
    g = json.loads(out.stdout)
    assert g["explanation"].startswith("Only 1 case; the gate needs at least 10")
    assert "1 cases" not in out.stdout and "(s)" not in out.stdout
    text = invoke(cli, "report", "--format", "md").stdout + invoke(cli, "gate").stdout
    assert "1 cases" not in text and "(s)" not in text


def test_a_passing_run_claims_no_weakness_and_no_failing_cases(tenant_dir: Path, cli):
    cases = [
        {**c, "id": f"ok-{i}", "tags": ["billing", "hours"][i % 2 :][:1], "outcome": {"escalated": False}}
        for i, c in enumerate([CASES[0]] * 4)
    ]
    recs = [{"case_id": c["id"], "turn": t, "escalate": False} for c in cases for t in (1, 3, 5, 7)]
    write_jsonl(tenant_dir / "cases.jsonl", cases)
    write_jsonl(tenant_dir / "recs.jsonl", recs)
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 1\n')
    invoke(cli, "import", "cases.jsonl")
    invoke(cli, "run")
    gate = invoke(cli, "gate")
    assert gate.exit_code == 0
    # the terminal says so in one line, not with an empty "groups below the bar" table
    flat = " ".join(gate.stdout.replace("│", " ").split())
    assert "Groups below the bar" not in flat and "more groups not shown" not in flat
    assert "is at or above the bar; --json lists them." in flat
    invoke(cli, "report", "--format", "html", "-o", "r.html")
    html = (tenant_dir / "r.html").read_text(encoding="utf-8")
    assert "Where it is weak" not in html and "0 failing" not in html and "shown first" not in html
    assert "Pass rate by tag" in html and "4 cases, all passing" in html
