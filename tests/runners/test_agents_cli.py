"""The remote agents through the real CLI path: config -> build_agent -> redaction -> cache -> store.

The tenant's HTTP agent is a real server on 127.0.0.1; what it received is checked on the wire.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.tenant_agent import TenantAgent

PII = {
    "phone": "555-867-5309",
    "email": "dana.ruiz@example.com",
    "card": "4111 1111 1111 1111",
    "ssn": "123-45-6789",
}


def pii_cases() -> list[dict]:
    return [
        make_case(
            "p1",
            [f"Hi, my number is {PII['phone']} and my email is {PII['email']}", "I want a supervisor please"],
            escalated=True,
            at_customer_turn=1,
            routing={"skill": "general", "priority": "normal"},
        ),
        make_case("p2", [f"Charge my card {PII['card']} for the deposit", "thanks, bye"]),
        make_case("p3", [f"My SSN is {PII['ssn']}", "ok that's all"]),
    ]


def http_config(tenant_dir: Path, url: str, extra: str = "") -> None:
    write_config(
        tenant_dir,
        f'[agent]\nkind = "http"\nurl = "{url}"\ntimeout_s = 2\nmax_retries = 1\n{extra}\n'
        '[redaction]\nmode = "always"\n\n[gate]\nmin_cases = 1\nrequired_attributes = ["skill"]\n',
    )


def test_http_agent_run_sends_no_personal_data_and_reports_redact_by_default(tenant_dir: Path):
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", pii_cases())
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    with TenantAgent("flat") as server:
        http_config(tenant_dir, server.url)
        out = invoke(cli, "run", "--json")
        assert out.exit_code == 0, out.output
        wire = json.dumps(server.requests)
    summary = json.loads(out.stdout)
    assert summary["errors"] == 0 and summary["turns"] == 6
    for value in PII.values():
        assert value not in wire
    assert "[PHONE_1]" in wire and "[EMAIL_1]" in wire and "[CARD_1]" in wire and "[SSN_1]" in wire
    # the agent could still follow the call: p1 escalated at the right turn, the gate scores it
    gate = json.loads(invoke(cli, "gate", "--json").stdout)
    assert gate["escalation"]["tp"] == 1 and gate["passed_cases"] == 3

    report = invoke(cli, "report", "--format", "json").stdout
    assert PII["phone"] not in report and PII["card"] not in report and "[PHONE_1]" in report
    shown = invoke(cli, "report", "--format", "json", "--show-pii").stdout
    assert PII["phone"] in shown and PII["card"] in shown  # the store kept the original


def test_http_answers_are_cached_only_when_asked(tenant_dir: Path):
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", pii_cases())
    invoke(cli, "import", "cases.jsonl")
    with TenantAgent("routing") as server:
        http_config(tenant_dir, server.url)  # default: the http agent is not cached
        invoke(cli, "run")
        invoke(cli, "run")
        assert len(server.requests) == 12
        http_config(tenant_dir, server.url, "cache = true")
        first = json.loads(invoke(cli, "run", "--json").stdout)
        n = len(server.requests)
        second = json.loads(invoke(cli, "run", "--json").stdout)
        assert len(server.requests) == n  # the rerun made no requests
        bypass = json.loads(invoke(cli, "run", "--no-cache", "--json").stdout)
        assert len(server.requests) == n + 6
    assert first["cache"] == {"enabled": True, "hits": 0, "misses": 6}
    assert second["cache"] == {"enabled": True, "hits": 6, "misses": 0}
    assert bypass["cache"]["enabled"] is False
    gate = json.loads(invoke(cli, "gate", "--json").stdout)
    assert gate["escalation"]["tp"] == 1 and gate["routing"]["per_attribute"]["skill"] == 1.0


@pytest.mark.parametrize("mode", ["down", "not_json", "bad_type"])
def test_a_broken_tenant_agent_fails_cases_never_passes_them(tenant_dir: Path, mode: str):
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", pii_cases())
    invoke(cli, "import", "cases.jsonl")
    with TenantAgent(mode, fail_times=99) as server:
        http_config(tenant_dir, server.url)
        out = invoke(cli, "run", "--json")
    assert out.exit_code == 0
    assert json.loads(out.stdout)["errors"] == 3
    gate = invoke(cli, "gate", "--json")
    result = json.loads(gate.stdout)
    assert gate.exit_code == 3 and result["passed_cases"] == 0 and result["errors"] == 3
    assert all("agent error" in f["why"] for f in result["failures"])


def test_redaction_auto_leaves_loopback_alone_and_redacts_remote_endpoints(tenant_dir: Path):
    from shadowpilot.config import load_settings
    from shadowpilot.runners import build_agent

    write_config(tenant_dir, '[agent]\nkind = "http"\nurl = "http://127.0.0.1:9/agent"\n')
    local = build_agent(load_settings(tenant_dir / "shadowpilot.toml", environ={}))
    write_config(tenant_dir, '[agent]\nkind = "http"\nurl = "https://agent.example.com/recommend"\n')
    remote = build_agent(load_settings(tenant_dir / "shadowpilot.toml", environ={}))
    assert "redaction" not in local.describe()
    assert remote.describe()["redaction"] == [
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
