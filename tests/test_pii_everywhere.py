"""Personal data planted in realistic clinic, salon and real-estate calls reaches no report
(HTML, Markdown, JSON, JUnit), no request to a remote agent or to the judge, and no log line.

Both endpoints are real OpenAI-compatible servers on 127.0.0.1; `[redaction] mode = "always"`
stands in for an endpoint off this machine (what `auto` does for a non-loopback URL, see
tests/transcripts/test_redact.py::test_should_redact_follows_the_mode).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from shadowpilot.cli import app
from tests.conftest import write_config, write_jsonl
from tests.servers.openai_server import OpenAIServer, Reply, last_user_text


def turns(*lines: tuple[str, str]) -> list[dict]:
    return [{"speaker": who, "text": text} for who, text in lines]


CASES = [
    {
        "id": "clinic-1",
        "tenant": "acme",
        "channel": "voice",
        "tags": ["clinic"],
        "customer": {"name": "Margaret Hale", "phone": "+44 20 7946 0958", "vip": False},
        "turns": turns(
            ("agent", "Harbourview Family Clinic, this is Priya Raman speaking, how can I help?"),
            (
                "customer",
                "Hi Priya, my name is Margaret Hale, I was born on 3 March 1985 and my member id is HX-4471923.",
            ),
            ("agent", "Thanks Margaret. What's the best number for you?"),
            (
                "customer",
                "It's +44 20 7946 0958, or my mobile plus four four seven seven zero zero nine zero zero "
                "one two three.",
            ),
            ("agent", "And your postcode?"),
            ("customer", "SW1A 1AA. My son Tom has a fever, can I talk to a supervisor?"),
            ("agent", "Of course, putting you through to the nurse now."),
        ),
        "outcome": {"escalated": True, "at_turn": 5, "reason": "requested_human", "queue": "nurse"},
    },
    {
        "id": "salon-1",
        "tenant": "acme",
        "channel": "chat",
        "tags": ["salon"],
        "customer": {"name": "Olivia Brennan", "email": "olivia.brennan@gmail.com"},
        "turns": turns(
            ("customer", "Hello, this is Olivia Brennan, I'd like to book with Jasper on Saturday."),
            ("agent", "Of course Olivia. Can I take a card for the deposit?"),
            ("customer", "Sure, it's 4000 1234 5678 9010. My email is olivia dot brennan at gmail dot com."),
            ("agent", "Thanks. And a number?"),
            ("customer", "Call +1 (415) 555-0100. I live at 450 Main Street, Springfield, IL 62704-1234."),
            ("agent", "All booked, see you Saturday."),
        ),
        "outcome": {"escalated": False},
    },
    {
        "id": "realty-1",
        "tenant": "acme",
        "channel": "voice",
        "tags": ["real-estate"],
        "customer": {"name": "Rosalind Achebe", "phone": "0044 20 7946 0958"},
        "turns": turns(
            ("agent", "Northgate Realty, you're speaking with Daniel Okafor."),
            ("customer", "Hi Daniel, I'm Rosalind Achebe, calling about the flat by the park, M5V 3L9."),
            ("agent", "Great. Can I get an email?"),
            (
                "customer",
                "it's r dot achebe at outlook dot com, and the card for the holding deposit is four zero "
                "zero zero one two three four five six seven eight nine zero one zero",
            ),
            ("agent", "Thanks. And your social security number for the credit check?"),
            ("customer", "123-45-6789, and call me on 0044 20 7946 0958."),
            ("agent", "Thank you, Rosalind, we will be in touch."),
        ),
        "outcome": {"escalated": False},
    },
]

# Every planted value, as it was said; names are checked as whole words.
PLANTED = [
    "3 March 1985",
    "HX-4471923",
    "7946 0958",
    "seven seven zero zero nine",
    "SW1A 1AA",
    "4000 1234 5678 9010",
    "olivia dot brennan",
    "olivia.brennan",
    "555-0100",
    "450 Main Street",
    "62704",
    "M5V 3L9",
    "achebe at outlook",
    "four zero zero zero one two three",
    "123-45-6789",
    "0044 20",
]
NAMES = [
    "Margaret",
    "Hale",
    "Priya",
    "Raman",
    "Tom",
    "Olivia",
    "Brennan",
    "Jasper",
    "Daniel",
    "Okafor",
    "Rosalind",
    "Achebe",
]


def leaks(text: str) -> list[str]:
    found = [p for p in PLANTED if p.lower() in text.lower()]
    return found + [n for n in NAMES if re.search(rf"\b{n}\b", text, re.IGNORECASE)]


def agent_policy(body: dict) -> Reply:
    if "supervisor" in last_user_text(body).lower():
        args = {
            "reason": "requested_human",
            "urgency": "normal",
            "queue": "nurse",
            "summary": "wants a person",
            "sentiment": "neutral",
        }
        return Reply(content="Let me get someone for you.", calls=[("escalate", args)])
    return Reply(content="Thanks, I can help you with that.")


def judge_policy(body: dict) -> Reply:
    return Reply(
        content=json.dumps({c: {"score": 4, "reason": f"{c} is fine"} for c in ("correctness", "policy", "tone")})
    )


def test_planted_personal_data_reaches_no_report_no_endpoint_and_no_log(tenant_dir: Path):
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", CASES)
    (tenant_dir / "prompt.md").write_text("You are the front desk.")
    logs: list[str] = []

    def run(*args: str) -> str:
        r = cli.invoke(app, list(args), catch_exceptions=False)
        logs.append(r.stdout + r.stderr)
        assert r.exit_code in (0, 3), r.output
        return r.stdout

    with OpenAIServer(agent_policy) as agent, OpenAIServer(judge_policy) as judge:
        write_config(
            tenant_dir,
            f'[agent]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{agent.base_url}"\nprompt = "prompt.md"\n\n'
            f'[judge]\nenabled = true\nmodel = "gpt-4o-mini"\nbase_url = "{judge.base_url}"\n\n'
            '[redaction]\nmode = "always"\n\n[gate]\nmin_cases = 1\nrequired_attributes = []\n',
        )
        run("import", "cases.jsonl")
        run("run")
        run("judge")
        run("gate")
        run("gate", "--json")
        run("review", "--list")
        reports = {fmt: run("report", "--format", fmt) for fmt in ("md", "json", "junit")}
        run("report", "--format", "html", "-o", "r.html")
        reports["html"] = (tenant_dir / "r.html").read_text(encoding="utf-8")
        agent_wire, judge_wire = json.dumps(agent.requests), json.dumps(judge.requests)

    assert agent.requests and judge.requests
    assert leaks(agent_wire) == [] and leaks(judge_wire) == []
    for fmt, text in reports.items():
        assert leaks(text) == [], fmt
    assert leaks("\n".join(logs)) == []
    # the agent could still follow the calls: placeholders stand where the data was
    for placeholder in (
        "[NAME_1]",
        "[PHONE_1]",
        "[CARD_1]",
        "[EMAIL_1]",
        "[POSTCODE_1]",
        "[SSN_1]",
        "[DOB_1]",
        "[MEMBER_ID_1]",
        "[ADDRESS_1]",
    ):
        assert placeholder in agent_wire, placeholder
    # the header names exactly the kinds this report replaced
    data = json.loads(reports["json"])
    assert data["redacted_kinds"] == [
        "phone",
        "email",
        "card",
        "dob",
        "address",
        "postcode",
        "ssn",
        "member_id",
        "name",
    ]
    assert "Redacted in this report: phone numbers, emails, card numbers" in reports["html"]
    # the store kept the original
    shown = cli.invoke(app, ["report", "--format", "json", "--show-pii"]).stdout
    assert "4000 1234 5678 9010" in shown and json.loads(shown)["redacted_kinds"] == []


def test_the_header_claims_only_the_kinds_it_replaced(tenant_dir: Path):
    cli = CliRunner()
    case = {
        **CASES[1],
        "customer": {},
        "turns": turns(("customer", "Call me on +1 (415) 555-0100 please"), ("agent", "Will do.")),
    }
    write_jsonl(tenant_dir / "cases.jsonl", [case])
    write_jsonl(tenant_dir / "recs.jsonl", [{"case_id": "salon-1", "turn": 0, "escalate": False}])
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 1\n')
    for args in (["import", "cases.jsonl"], ["run"], ["report", "--format", "html", "-o", "r.html"]):
        assert cli.invoke(app, args, catch_exceptions=False).exit_code == 0
    html = (tenant_dir / "r.html").read_text(encoding="utf-8")
    assert "Redacted in this report: phone numbers." in html
    assert "card numbers" not in html.split("Looked for:")[0]
    data = json.loads(cli.invoke(app, ["report", "--format", "json"]).stdout)
    assert data["redacted_kinds"] == ["phone"] and "card" in data["checked_kinds"]
    # the Markdown summary makes the same claim, and no other
    md = cli.invoke(app, ["report", "--format", "md"]).stdout
    assert "Redacted in this report: phone numbers." in md and "card numbers" not in md.split("Looked for:")[0]
    shown = cli.invoke(app, ["report", "--format", "md", "--show-pii"]).stdout
    assert "shows personal data as recorded" in shown and "Redacted in this report" not in shown
