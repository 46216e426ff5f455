"""Every table keeps its ids whole on one line, at 80 and 60 columns and through a pipe.

The real CLI (typer's CliRunner: stdout is no terminal, so rich lays out at $COLUMNS, as in
a CI log) on a real store whose case ids are 34-character Twilio CallSids (`CA` + 32 hex)
and whose run ids are generated as a run makes them. A table too wide for the width drops
its optional columns first; one whose ids alone need more is printed wider, never cut.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from shadowpilot.cli import app
from tests.conftest import invoke, make_case, write_config, write_jsonl

WIDTHS = (80, 60)


def call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def shown(cli, width: int, *args: str):
    return cli.invoke(app, list(args), env={"COLUMNS": str(width)}, catch_exceptions=False)


def assert_whole(text: str, ids: list[str]) -> None:
    """Each id appears somewhere in the output on one line, in full."""
    lines = text.splitlines()
    missing = [i for i in ids if not any(i in line for line in lines)]
    assert not missing, f"not whole on one line: {missing}\n{text}"


@pytest.fixture
def pilot(tenant_dir: Path, cli) -> dict[str, Any]:
    """Ten calls named by CallSid; run A keeps every call as the humans did, run B escalates three
    the humans kept and misses the critical one the humans escalated."""
    ids = [call_sid() for _ in range(10)]
    cases = [make_case(i, ["hello there", "thanks"], tags=["front-desk"]) for i in ids[:9]]
    cases.append(make_case(ids[9], ["chest pain"], escalated=True, at_customer_turn=0, critical=True))
    write_jsonl(tenant_dir / "cases.jsonl", cases)
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 1\n')
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0

    def run(wrong: set[str]) -> str:
        recs = []
        for i in ids:
            escalate = (i == ids[9]) != (i in wrong)
            recs += [{"case_id": i, "turn": t, "escalate": escalate} for t in (0, 2)]
        write_jsonl(tenant_dir / "recs.jsonl", recs)
        result = invoke(cli, "run", "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)["run_id"]

    a = run(set())
    failing = [ids[0], ids[1], ids[2], ids[9]]
    b = run(set(failing))
    assert invoke(cli, "gate", "--run", a).exit_code in (0, 3)
    return {"ids": ids, "runs": [a, b], "failing": failing}


@pytest.mark.parametrize("width", WIDTHS)
def test_history_keeps_run_ids_whole_and_drops_optional_columns(pilot, cli, width):
    result = shown(cli, width, "history")
    assert result.exit_code == 0, result.stderr
    assert_whole(result.stdout, pilot["runs"])
    assert max(len(line) for line in result.stdout.splitlines()) <= width  # fits, by dropping
    wide = shown(cli, 200, "history").stdout
    assert "agent" in wide and "recorded" in wide
    if width == 60:
        assert "agent" not in result.stdout  # the least useful column went first


@pytest.mark.parametrize("width", WIDTHS)
def test_gate_keeps_failing_case_ids_whole(pilot, cli, width):
    result = shown(cli, width, "gate")
    assert result.exit_code == 3
    assert_whole(result.stdout, pilot["failing"])
    assert f"{pilot['ids'][9]} (critical)" in result.stdout  # the suffix on the same line
    longest = max(len(line) for line in result.stdout.splitlines())
    # 80 columns hold the panel; at 60 the 45-character "CA... (critical)" and the panel's edges
    # do not fit beside a "why": the panel is drawn as wide as they need, no wider
    assert longest <= width if width == 80 else longest <= 70


@pytest.mark.parametrize("width", WIDTHS)
def test_review_list_keeps_case_and_run_ids_whole(pilot, cli, width):
    result = shown(cli, width, "review", "--list")
    assert result.exit_code == 0, result.stderr
    assert_whole(result.stdout, [*pilot["failing"], pilot["runs"][1]])


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_keeps_case_and_run_ids_whole(pilot, cli, width):
    a, b = pilot["runs"]
    result = shown(cli, width, "compare", a, b)
    assert result.exit_code in (0, 3), result.stderr
    assert "Newly failing (4)" in result.stdout
    assert_whole(result.stdout, [*pilot["failing"], a, b])


@pytest.mark.parametrize("width", WIDTHS)
def test_import_top_keeps_case_ids_whole(tenant_dir: Path, cli, width):
    ids = [call_sid() for _ in range(6)]
    write_jsonl(tenant_dir / "calls.jsonl", [make_case(i, ["hello", f"question {n}"]) for n, i in enumerate(ids)])
    result = shown(cli, width, "import", "calls.jsonl", "--top", "3")
    assert result.exit_code == 0, result.stderr
    kept = [i for i in ids if i[:12] in result.stdout]
    assert len(kept) == 3
    assert_whole(result.stdout, kept)


def test_ids_too_long_for_the_width_make_a_wider_table_not_a_cut_id(pilot, cli):
    """At 30 columns not even the essential columns fit: the lines run longer, the ids stay whole."""
    result = shown(cli, 30, "gate")
    assert_whole(result.stdout, [*pilot["failing"], pilot["runs"][1]])  # the run id in the panel's title too
    history = shown(cli, 30, "history")
    assert_whole(history.stdout, pilot["runs"])
    assert "…" not in history.stdout


# -- shadow calls: CallSids from the live service, in-process --------------------------------

SHADOW_CONFIG = """[tenant]
name = "acme"

[agent]
kind = "baseline"

[shadow]
public_url = "https://shadow.example.test"
reorder_window_s = 0
outcome_wait_s = 0
call_idle_timeout_s = 60
"""


@pytest.fixture
def shadow_calls(tenant_dir: Path) -> dict[str, str]:
    """Three shadow calls taken through the real ShadowService to scored: CallSid -> run id."""
    from shadowpilot.config import load_settings
    from shadowpilot.runners import build_agent
    from shadowpilot.runners.shadow.reading import read_book
    from shadowpilot.runners.shadow.service import ShadowService
    from shadowpilot.runners.shadow.wire import ROUTES
    from tests.runners.shadow.twilio_sim import Call

    (tenant_dir / "shadowpilot.toml").write_text(SHADOW_CONFIG, encoding="utf-8")
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    calls = [Call(n) for n in range(1, 4)]

    async def main() -> None:
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        try:
            for c in calls:
                for route, params in [
                    c.started(),
                    c.task_event("task-queue.entered", "front-desk"),
                    c.said("customer", "my bill is wrong"),
                    c.said("agent", "let me look"),
                    c.stopped(),
                    c.task_event("task.completed", "front-desk"),
                ]:
                    await service.accept(ROUTES[route], params)
            for _ in range(2000):
                if len(service.book.finished) == len(calls):
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the calls were never scored")
        finally:
            await service.stop()

    asyncio.run(main())
    listed = {c["call_id"]: c["run_id"] for c in read_book(settings).listing()["calls"]}
    assert all(len(sid) == 34 for sid in listed) and all(listed.values())
    return listed


@pytest.mark.parametrize("width", WIDTHS)
def test_shadow_calls_keeps_callsids_whole(shadow_calls, cli, width):
    result = shown(cli, width, "shadow", "calls")
    assert result.exit_code == 0, result.stderr
    assert_whole(result.stdout, list(shadow_calls))
    assert max(len(line) for line in result.stdout.splitlines()) <= width
    wide = shown(cli, 250, "shadow", "calls")
    assert_whole(wide.stdout, [*shadow_calls, *shadow_calls.values()])  # with room, the run ids too


@pytest.mark.parametrize("width", WIDTHS)
def test_judge_keeps_case_ids_whole(tenant_dir: Path, cli, width):
    from tests.evals.test_judge import judge_policy, setup_run
    from tests.servers.openai_server import OpenAIServer

    replies = {call_sid(): ["RUDE answer"], call_sid(): ["MEH answer"], call_sid(): ["GOOD answer"]}
    with OpenAIServer(judge_policy) as server:
        setup_run(tenant_dir, cli, server, replies)
        result = shown(cli, width, "judge")
    assert result.exit_code == 0, result.stderr
    assert "Lowest-scored replies" in result.stdout
    worst = [cid for cid, (reply,) in replies.items() if not reply.startswith("GOOD")]
    assert_whole(result.stdout, worst)
    assert max(len(line) for line in result.stdout.splitlines()) <= width
