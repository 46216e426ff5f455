"""The openai agent through the real CLI: config -> SDK over HTTP -> cache -> store -> gate.

The OpenAI-compatible server runs on 127.0.0.1; what it received is read back from it.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.openai_server import OpenAIServer, Reply, last_user_text

ROUTING = {
    "reason": "requested_human",
    "urgency": "normal",
    "skill": "general",
    "priority": "normal",
    "vip": False,
    "summary": "Caller asked for a person",
    "sentiment": "neutral",
}


def policy(body: dict) -> Reply:
    """Escalates on 'supervisor'; exact usage so cost is checkable: 1000 in, 100 out per request."""
    if "supervisor" in last_user_text(body).lower():
        return Reply(
            content="Connecting you now.", calls=[("escalate", ROUTING)], prompt_tokens=1000, completion_tokens=100
        )
    return Reply(content="Happy to help with that.", prompt_tokens=1000, completion_tokens=100)


def cases() -> list[dict]:
    return [
        make_case(
            "o1",
            ["Hi, can I move my appointment?", "Actually get me a supervisor"],
            escalated=True,
            at_customer_turn=1,
            routing={"skill": "general", "priority": "normal"},
        ),
        make_case("o2", ["What time do you open?", "thanks"]),
        make_case("o3", ["My number is 555-867-5309, call me back", "bye"]),
    ]


def openai_config(tenant_dir: Path, base_url: str, prompt: str = "You are the clinic's front desk.") -> None:
    (tenant_dir / "prompt.md").write_text(prompt)
    write_config(
        tenant_dir,
        f'[agent]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{base_url}"\nprompt = "prompt.md"\n'
        'timeout_s = 5\n\n[prices."gpt-4o-mini"]\ninput = 1.0\noutput = 10.0\n\n'
        '[gate]\nmin_cases = 1\nrequired_attributes = ["skill", "priority"]\n',
    )


def test_openai_run_costs_tokens_and_a_free_cached_rerun(tenant_dir: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", cases())
    invoke(cli, "import", "cases.jsonl")
    with OpenAIServer(policy, latency_s=0.02) as server:
        openai_config(tenant_dir, server.base_url)
        first = json.loads(invoke(cli, "run", "--json").stdout)
        made = len(server.requests)
        second = json.loads(invoke(cli, "run", "--json").stdout)
        after_rerun = len(server.requests)
        openai_config(tenant_dir, server.base_url, prompt="You are the clinic's front desk. Be brief.")
        third = json.loads(invoke(cli, "run", "--json").stdout)
        after_prompt_change = len(server.requests)
        # streamed, with the escalation tool, and the tenant's prompt first
        body = server.requests[0]
        assert body["stream"] is True and body["tools"][0]["function"]["name"] == "escalate"
        assert body["messages"][0]["role"] == "system" and "front desk" in body["messages"][0]["content"]

    assert made == 6 and first["turns"] == 6 and first["errors"] == 0
    # 6 requests x (1000 in x $1/M + 100 out x $10/M) = 6 x $0.002
    assert abs(first["spend_usd"] - 0.012) < 1e-9
    assert first["cache"] == {"enabled": True, "hits": 0, "misses": 6}
    assert after_rerun == made  # the rerun asked nothing
    assert second["cache"] == {"enabled": True, "hits": 6, "misses": 0} and second["spend_usd"] == 0
    assert after_prompt_change == made + 6 and third["cache"]["misses"] == 6  # a new prompt asks again

    gate = json.loads(invoke(cli, "gate", "--json").stdout)
    assert gate["passed_cases"] == 3 and gate["escalation"]["tp"] == 1
    assert gate["routing"]["per_attribute"] == {"skill": 1.0, "priority": 1.0, "queue": None}
    # the cached run's steps keep what was measured the first time, and cost per call is known
    second_gate = json.loads(invoke(cli, "gate", "--run", second["run_id"], "--json").stdout)
    assert second_gate["cost"]["total"] == 0.012 and second_gate["cost"]["spent"] == 0
    assert second_gate["latency"]["turns"] == 6 and second_gate["latency"]["cached_turns"] == 6
    assert second_gate["latency"]["full_reply_p50"] >= 20  # the server's 20 ms, measured, not zero


def test_openai_errors_fail_cases_and_the_run_goes_on(tenant_dir: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", cases())
    invoke(cli, "import", "cases.jsonl")
    with OpenAIServer(policy) as server:
        openai_config(tenant_dir, server.base_url)
        server.add_fault("malformed", times=99)
        out = json.loads(invoke(cli, "run", "--json", "--no-cache").stdout)
    assert out["errors"] == 3
    gate = invoke(cli, "gate", "--json")
    assert gate.exit_code == 3 and json.loads(gate.stdout)["passed_cases"] == 0


def test_redaction_always_keeps_personal_data_off_the_wire(tenant_dir: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", cases())
    invoke(cli, "import", "cases.jsonl")
    with OpenAIServer(policy) as server:
        openai_config(tenant_dir, server.base_url)
        with (tenant_dir / "shadowpilot.toml").open("a") as f:
            f.write('\n[redaction]\nmode = "always"\n')
        assert invoke(cli, "run", "--json").exit_code == 0
        wire = json.dumps(server.requests)
    assert "555-867-5309" not in wire and "[PHONE_1]" in wire


def test_a_missing_key_for_the_real_openai_is_a_clear_config_error(tenant_dir: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    write_config(tenant_dir, '[agent]\nkind = "openai"\nmodel = "gpt-4o-mini"\n')
    write_jsonl(tenant_dir / "cases.jsonl", cases())
    cli = CliRunner()
    invoke(cli, "import", "cases.jsonl")
    out = invoke(cli, "run")
    assert out.exit_code == 2 and "OPENAI_API_KEY" in out.output
