"""What an agent (or the judge) can do to the harness: answer too much, redirect, echo a secret, stall.

Real clients (httpx, the openai SDK) against the test servers on 127.0.0.1. A cap is shown to work
by the server seeing its answer cut off (the client closed the connection before the end), never
by a memory figure or a clock.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from shadowpilot.config import AgentSettings
from shadowpilot.errors import AgentError
from shadowpilot.runners.agent import AgentBase
from shadowpilot.runners.openai_chat import OpenAIAgent, make_client
from shadowpilot.runners.retry import Failure, RetryPolicy, retry
from shadowpilot.runners.turn_loop import ask
from shadowpilot.types import AgentInput, Judgement, Recommendation, Turn
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.openai_server import OpenAIServer
from tests.servers.tenant_agent import TenantAgent

CAP = 1_000_000
HUGE = 50_000_000  # what the misbehaving servers would send if let


def ctx(text: str = "Hi, where is my order?") -> AgentInput:
    return AgentInput(case_id="c1", turn=0, channel="voice", customer={}, turns=[Turn(speaker="customer", text=text)])


def settle(done: Callable[[], bool]) -> bool:
    """Give a server thread a moment to notice its reader went away (bounded; no timing asserted)."""
    event = threading.Event()
    for _ in range(200):
        if done():
            return True
        event.wait(0.05)
    return done()


async def http_ask(url: str, **kw: Any) -> Recommendation:
    from shadowpilot.runners.http_agent import HttpAgent

    async with httpx.AsyncClient(timeout=5) as client:
        return await HttpAgent(url, client, backoff_s=0.01, max_answer_bytes=CAP, **kw).recommend(ctx())


# -- answers past max_answer_bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["huge_stream", "huge_json"])
def test_the_http_agent_reads_no_further_than_max_answer_bytes(mode: str) -> None:
    with TenantAgent(mode, size=HUGE) as server:
        with pytest.raises(AgentError, match=r"larger than max_answer_bytes = 1,000,000 bytes"):
            asyncio.run(http_ask(server.url, max_retries=2))
        assert settle(lambda: server.cut_off == 1)  # the client hung up before the answer ended
        assert server.sent_bytes < HUGE
        assert len(server.requests) == 1  # too large is the agent's answer: never retried


def openai_agent(server: OpenAIServer, environ: dict[str, str] | None = None, **settings: Any) -> OpenAIAgent:
    values: dict[str, Any] = {"kind": "openai", "model": "gpt-4o-mini", "base_url": server.base_url, "timeout_s": 10}
    values.update(settings)
    cfg = AgentSettings(**values)
    capped = {"max_answer_bytes": cfg.max_answer_bytes} if "max_answer_bytes" in settings else {}
    client = make_client("the openai agent", "agent", server.base_url, cfg.timeout_s, environ or {}, **capped)
    return OpenAIAgent(client, cfg, "You help.", retry_policy=RetryPolicy(max_retries=2, base_s=0.01, cap_s=0.02))


def openai_error(server: OpenAIServer, environ: dict[str, str] | None = None, **settings: Any) -> str:
    async def go() -> None:
        agent = openai_agent(server, environ, **settings)
        try:
            await agent.recommend(ctx())
        finally:
            await agent.aclose()

    with pytest.raises(AgentError) as err:
        asyncio.run(go())
    return str(err.value)


def test_the_openai_agent_aborts_a_streamed_answer_past_max_answer_bytes() -> None:
    with OpenAIServer() as server:
        server.add_fault("huge", size=HUGE)
        message = openai_error(server, max_answer_bytes=CAP)
        assert "larger than max_answer_bytes = 1,000,000 bytes" in message
        assert settle(lambda: server.cut_off == 1)
        assert server.sent_bytes < HUGE
        assert len(server.requests) == 1


def judge_once(server: OpenAIServer, environ: dict[str, str] | None = None) -> Judgement:
    from shadowpilot.evals.judge import JudgeItem, build_messages
    from shadowpilot.runners.judge_client import judge_items

    async def go() -> list[Judgement]:
        # the judge's client, as client_from_settings makes it (default [judge] max_answer_bytes)
        client = make_client("the LLM judge", "judge", server.base_url, 10, environ or {})
        messages = build_messages("Be fair.", [Turn(speaker="customer", text="hi")], "Hello!", "Hi there")
        try:
            item = JudgeItem("c1", 0, 0, messages, "k")
            policy = RetryPolicy(max_retries=2, base_s=0.01)
            rows, _ = await judge_items([item], client, "m", "sha", cached={}, timeout_s=10, retry_policy=policy)
        finally:
            await client.close()
        return rows

    (row,) = asyncio.run(go())
    return row


def test_the_judge_reads_no_further_than_its_max_answer_bytes() -> None:
    with OpenAIServer() as server:
        server.add_fault("huge", size=HUGE)
        row = judge_once(server)
        assert row.score is None and "larger than max_answer_bytes = 1,000,000 bytes" in (row.error or "")
        assert settle(lambda: server.cut_off == 1)
        assert server.sent_bytes < HUGE
        assert len(server.requests) == 1


# -- redirects are not followed ----------------------------------------------------------------------------


def test_the_openai_agent_does_not_follow_a_redirect_to_another_server() -> None:
    with OpenAIServer() as elsewhere, OpenAIServer() as server:
        server.add_fault("redirect", location=f"{elsewhere.base_url}/chat/completions", times=3)
        message = openai_error(server)
        assert f"redirects to {elsewhere.base_url}/chat/completions" in message
        assert elsewhere.requests == []


def test_the_judge_does_not_follow_a_redirect_to_another_server() -> None:
    with OpenAIServer() as elsewhere, OpenAIServer() as server:
        server.add_fault("redirect", location=f"{elsewhere.base_url}/chat/completions", times=3)
        row = judge_once(server)
        assert row.score is None and "redirects to" in (row.error or "")
        assert elsewhere.requests == []


def test_a_redirected_http_agent_sends_the_conversation_nowhere_else(tenant_dir: Path) -> None:
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("r1", ["My number is 555-867-5309", "bye"])])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    with TenantAgent("flat") as elsewhere, TenantAgent("redirect", location=elsewhere.url) as server:
        write_config(
            tenant_dir, f'[agent]\nkind = "http"\nurl = "{server.url}"\ntimeout_s = 5\n\n[gate]\nmin_cases = 1\n'
        )
        out = invoke(cli, "run", "--json")
        assert out.exit_code == 0, out.output
        assert elsewhere.requests == []
    assert json.loads(out.stdout)["errors"] == 1


# -- secrets never stored or printed ----------------------------------------------------------------------------

TOKEN = "tok-9f8e7d6c5b4a39281706"


def store_text(tenant_dir: Path) -> str:
    """Every value of every table of every store file, as text; plus every other file beside them."""
    import duckdb

    seen: list[str] = []
    for path in sorted((tenant_dir / ".shadowpilot").rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
                for table in tables:
                    seen += [str(row) for row in con.execute(f'SELECT * FROM "{table}"').fetchall()]
            finally:
                con.close()
        elif not path.name.endswith(".wal"):
            seen.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(seen)


def test_a_token_the_agent_echoes_is_never_stored_or_printed(tenant_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("SHADOWPILOT_HTTP_TOKEN", TOKEN)
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("e1", ["Hello", "bye"]), make_case("e2", ["Hi", "thanks"])])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    with TenantAgent("echo_token") as server:
        write_config(
            tenant_dir, f'[agent]\nkind = "http"\nurl = "{server.url}"\ntimeout_s = 5\n\n[gate]\nmin_cases = 1\n'
        )
        out = invoke(cli, "run")
        assert server._headers["Authorization"] == f"Bearer {TOKEN}"  # it was sent, and echoed back
    printed = [out.stdout, out.stderr]
    for args in (("gate",), ("report", "--format", "json"), ("report", "--format", "md"), ("history",)):
        shown = invoke(cli, *args)
        printed += [shown.stdout, shown.stderr]
    assert "[SHADOWPILOT_HTTP_TOKEN]" in "".join(printed) + store_text(tenant_dir)  # the error is there, masked
    assert TOKEN not in "".join(printed)
    assert TOKEN not in store_text(tenant_dir)


def test_an_openai_error_echoing_the_key_is_masked() -> None:
    key = "sk-test-0123456789abcdef"
    with OpenAIServer() as server:
        server.add_fault("echo_auth")
        message = openai_error(server, environ={"OPENAI_API_KEY": key})
    assert key not in message and "[OPENAI_API_KEY]" in message


def test_mask_replaces_configured_secrets_and_leaves_short_values() -> None:
    from shadowpilot.runners.masking import mask

    env = {"OPENAI_API_KEY": "sk-live-abcdefgh12345", "TWILIO_AUTH_TOKEN": "abc"}
    assert mask("key sk-live-abcdefgh12345 and abc", env) == "key [OPENAI_API_KEY] and abc"


# -- the reply that is kept --------------------------------------------------------------------------------------


class Verbose(AgentBase):
    """An agent whose reply is `n` characters long."""

    kind = "python"

    def __init__(self, n: int):
        self.n = n

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        return Recommendation(case_id=ctx.case_id, turn=ctx.turn, escalate=False, reply="y" * self.n)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def prompt_hash(self) -> str | None:
        return None


def test_a_reply_longer_than_max_reply_chars_is_kept_cut_with_a_marker() -> None:
    rec, error = asyncio.run(ask(Verbose(30_000), ctx(), 5.0, max_reply_chars=20_000))
    assert error is None and rec is not None and rec.reply is not None
    assert rec.reply.startswith("y" * 20_000) and rec.reply.endswith("[reply cut: 30,000 characters]")
    assert len(rec.reply) < 20_100
    short, _ = asyncio.run(ask(Verbose(500), ctx(), 5.0, max_reply_chars=20_000))
    assert short is not None and short.reply == "y" * 500


def test_run_keeps_replies_cut_at_agent_max_reply_chars(tenant_dir: Path, monkeypatch) -> None:
    (tenant_dir / "verbose_agent.py").write_text(
        "def recommend(ctx):\n    return {'escalate': False, 'reply': 'z' * 5000}\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tenant_dir))
    monkeypatch.delitem(sys.modules, "verbose_agent", raising=False)
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("v1", ["Hello", "bye"])])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    write_config(
        tenant_dir,
        '[agent]\nkind = "python"\ntarget = "verbose_agent:recommend"\nmax_reply_chars = 1000\n'
        "\n[gate]\nmin_cases = 1\n",
    )
    out = invoke(cli, "run")
    assert out.exit_code == 0, out.output
    text = store_text(tenant_dir)
    assert "z" * 1000 + " [reply cut: 5,000 characters]" in text
    assert "z" * 1001 not in text


# -- the turn's deadline ------------------------------------------------------------------------------------------


def test_a_turns_deadline_is_the_attempts_timeouts_plus_the_backoff_windows() -> None:
    policy = RetryPolicy(max_retries=4, base_s=0.5, cap_s=20.0)
    assert policy.deadline_s(5.0) == 5 * 5.0 + (0.5 + 1 + 2 + 4)

    async def made() -> float:
        from shadowpilot.runners.http_agent import HttpAgent

        async with httpx.AsyncClient(timeout=5) as client:
            return HttpAgent("http://127.0.0.1:9/recommend", client, max_retries=4).turn_timeout_s

    assert asyncio.run(made()) == 5 * 5.0 + (0.5 + 1 + 2 + 4)


def test_a_retry_after_past_the_deadline_ends_the_turn_instead_of_sleeping() -> None:
    slept: list[float] = []
    now = [0.0]

    async def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    class Busy(Exception):
        failure = Failure("HTTP 429", True, retry_after_s=30.0)

    async def attempt() -> None:
        now[0] += 1.0
        raise Busy()

    policy = RetryPolicy(max_retries=2, base_s=0.5, cap_s=1.0)
    with pytest.raises(AgentError, match=r"^HTTP 429: the server asked to retry after 30 s, more than the 3\.5 s left"):
        asyncio.run(
            retry(
                attempt,
                lambda e: getattr(e, "failure", None),
                policy,
                sleep=sleep,
                deadline_s=policy.deadline_s(1.0),
                clock=lambda: now[0],
            )
        )
    assert slept == []


def test_a_retry_after_that_fits_is_waited_out_of_the_deadline() -> None:
    slept: list[float] = []
    now = [0.0]
    calls = [0]

    async def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    class Busy(Exception):
        failure = Failure("HTTP 429", True, retry_after_s=2.0)

    async def attempt() -> str:
        calls[0] += 1
        now[0] += 1.0
        if calls[0] < 3:
            raise Busy()
        return "ok"

    policy = RetryPolicy(max_retries=4, base_s=0.5, cap_s=1.0)  # deadline 5 x 1 + 3.5 = 8.5 s
    assert (
        asyncio.run(
            retry(
                attempt,
                lambda e: getattr(e, "failure", None),
                policy,
                sleep=sleep,
                deadline_s=policy.deadline_s(1.0),
                clock=lambda: now[0],
            )
        )
        == "ok"
    )
    assert slept == [2.0, 2.0]


def test_the_http_agent_gives_up_on_a_retry_after_longer_than_its_turn() -> None:
    with TenantAgent("rate_limited", fail_times=99, retry_after="30") as server:
        with pytest.raises(AgentError, match=r"HTTP 429 .*retry after 30 s, more than the .* s left of this turn's"):
            asyncio.run(http_ask(server.url, max_retries=2))
        assert len(server.requests) == 1


def test_a_streamed_line_is_measured_across_chunks() -> None:
    from shadowpilot.runners.answer_cap import AnswerTooLarge, _longest_line

    assert _longest_line(b"data: 1\n\ndata: 22", 0, 100) == 8
    assert _longest_line(b"345\n", 8, 100) == 0
    assert _longest_line(b"x" * 60, 0, 100) == 60
    with pytest.raises(AnswerTooLarge):
        _longest_line(b"x" * 50 + b"\n", 60, 100)  # a line of 110 bytes, ended in the second chunk


def test_max_answer_bytes_in_the_config_is_the_cap_run_applies(tenant_dir: Path) -> None:
    """The same 300 KB answer passes under the default cap and is an agent error under
    `[agent] max_answer_bytes = 100000`, through `run` as a user configures it. (That the rest is
    not read is shown above with 50 MB: 300 KB can sit whole in the loopback socket's buffers.)"""
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("m1", ["Hello", "bye"])])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    ran = {}
    with TenantAgent("huge_json", size=300_000) as server:
        for cap in ("", "max_answer_bytes = 100000\n"):
            write_config(
                tenant_dir,
                f'[agent]\nkind = "http"\nurl = "{server.url}"\ntimeout_s = 5\n{cap}\n[gate]\nmin_cases = 1\n',
            )
            out = invoke(cli, "run", "--json")
            assert out.exit_code == 0, out.output
            ran[cap] = json.loads(out.stdout)
    assert ran[""]["errors"] == 0
    assert ran["max_answer_bytes = 100000\n"]["errors"] == 1


def test_the_openai_agents_and_the_judges_max_answer_bytes_are_read_from_the_config(tmp_path: Path) -> None:
    """Built as `run` builds them (from the settings), each stops at its own configured cap."""
    from shadowpilot.config import load_settings
    from shadowpilot.runners import judge_client, openai_chat

    with OpenAIServer() as server:
        (tmp_path / "shadowpilot.toml").write_text(
            f'[agent]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{server.base_url}"\n'
            "max_answer_bytes = 100000\nmax_retries = 0\n\n"
            f'[judge]\nmodel = "gpt-4o-mini"\nbase_url = "{server.base_url}"\nmax_answer_bytes = 200000\n',
            encoding="utf-8",
        )
        settings = load_settings(tmp_path / "shadowpilot.toml", environ={})
        server.add_fault("huge", size=300_000)
        agent = openai_chat.from_settings(settings, environ={})

        async def go() -> None:
            try:
                await agent.recommend(ctx())
            finally:
                await agent.aclose()

        with pytest.raises(AgentError, match=r"larger than max_answer_bytes = 100,000 bytes"):
            asyncio.run(go())

        async def judged() -> None:
            from shadowpilot.evals.judge import JudgeItem, build_messages

            client = judge_client.client_from_settings(settings, environ={})
            messages = build_messages("Be fair.", [Turn(speaker="customer", text="hi")], "Hello!", "Hi there")
            try:
                item = JudgeItem("c1", 0, 0, messages, "k")
                policy = RetryPolicy(max_retries=0, base_s=0.01)
                rows, _ = await judge_client.judge_items(
                    [item], client, "m", "sha", cached={}, timeout_s=10, retry_policy=policy
                )
            finally:
                await client.close()
            assert "larger than max_answer_bytes = 200,000 bytes" in (rows[0].error or "")

        server.add_fault("huge", size=300_000)
        asyncio.run(judged())


def test_a_token_an_agent_puts_in_its_answer_is_never_stored_or_printed(tenant_dir: Path, monkeypatch) -> None:
    """An answer (not only an error) that quotes a configured secret: reply, reason and queue."""
    monkeypatch.setenv("SHADOWPILOT_HTTP_TOKEN", TOKEN)
    (tenant_dir / "quoting_agent.py").write_text(
        "import os\n\ndef recommend(ctx):\n    t = os.environ['SHADOWPILOT_HTTP_TOKEN']\n"
        "    return {'escalate': True, 'reply': 'my token is ' + t, 'reason': 'asked ' + t, 'queue': 'q-' + t}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tenant_dir))
    monkeypatch.setitem(sys.modules, "quoting_agent", None)  # restored (removed) after the test
    del sys.modules["quoting_agent"]  # imported afresh from tenant_dir by the run
    cli = CliRunner()
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("k1", ["I need a person", "bye"], escalated=True)])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    write_config(tenant_dir, '[agent]\nkind = "python"\ntarget = "quoting_agent:recommend"\n\n[gate]\nmin_cases = 1\n')
    out = invoke(cli, "run")
    assert out.exit_code == 0, out.output
    printed = [out.stdout, out.stderr]
    invoke(cli, "gate")
    for args in (("report", "--format", "json"), ("report", "--format", "md"), ("review", "--list")):
        shown = invoke(cli, *args)
        printed += [shown.stdout, shown.stderr]
    stored = store_text(tenant_dir)
    assert "my token is [SHADOWPILOT_HTTP_TOKEN]" in stored  # kept, masked
    assert TOKEN not in "".join(printed) and TOKEN not in stored
