"""An acknowledged event is never lost: SIGKILL the server after its 2xx, restart, and the call goes on."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.runners.shadow.conftest import agent_calls, call_of, log_records, sp, wait_until
from tests.runners.shadow.twilio_sim import Call, ServerProcess, signed_form

ATTRS = {"skill": "billing", "priority": "high", "vip": False}


def send(base: str, event: tuple[str, dict[str, str]]) -> int:
    route, params = event
    return httpx.post(base + route, timeout=10, **signed_form(params, route)).status_code


def test_sigkill_after_acknowledgements_loses_nothing_and_the_live_call_resumes(tenant: Path) -> None:
    c = Call(901)
    first = ServerProcess(tenant).start()
    try:
        for event in [c.started(), c.said("customer", "one"), c.said("agent", "two"), c.said("customer", "three")]:
            assert send(first.base, event) == 204
        wait_until(lambda: (call_of(tenant, c.call_sid) or {}).get("agent", {}).get("answered") == 2)
        assert send(first.base, c.said("agent", "four")) == 204
        assert send(first.base, c.said("customer", "five")) == 204
    finally:
        first.kill()  # SIGKILL right after the last 2xx: no shutdown code runs

    # read with no server at all: every acknowledged utterance is there, and the call is still live
    dead = call_of(tenant, c.call_sid)
    assert [u["text"] for u in dead["utterances"]] == ["one", "two", "three", "four", "five"]
    assert dead["state"] == "live"

    second = ServerProcess(tenant).start()
    try:
        wait_until(lambda: "resumed 1 call" in "".join(second.stderr), timeout=10)
        rest = [
            c.task_event("task-queue.entered", "front-desk"),
            c.said("agent", "six"),
            c.said("customer", "get me a supervisor"),
            c.task_event("task.transfer-initiated", "front-desk", ATTRS),
            c.task_event("task-queue.entered", "tier2", ATTRS),
            c.stopped(),
            c.task_event("task.completed", "tier2", ATTRS),
        ]
        for event in rest:
            assert send(second.base, event) == 204
        call = wait_until(lambda: (x := call_of(tenant, c.call_sid)) and x["state"] == "scored" and x)
        assert [u["text"] for u in call["utterances"]] == [
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "get me a supervisor",
        ]
        assert call["human"]["escalated"] and call["human"]["at_turn"] == 6
        assert call["agent"]["escalated_at_turn"] == 6

        asked = [a["text"] for a in agent_calls(tenant, c.call_sid)]
        # answered before the kill: never asked again; the rest asked after the restart
        assert asked.count("one") == 1 and asked.count("three") == 1
        assert "five" in asked and asked.count("get me a supervisor") == 1
        recs = [r["ukey"] for r in log_records(tenant) if r["k"] == "rec"]
        assert len(recs) == len(set(recs)) == 4  # one logged answer per customer utterance

        gate = sp(tenant, "gate", "--run", call["run_id"], "--min-cases", "1", "--json")
        assert gate.returncode == 0, gate.stderr
        assert json.loads(gate.stdout)["escalation"]["tp"] == 1
    finally:
        second.stop()


def test_a_restart_compacts_the_log_and_the_next_restart_resumes_the_live_call_without_asking_again(
    tenant: Path,
) -> None:
    done, live = Call(951), Call(952)
    summaries = tenant / ".shadowpilot" / "acme.shadow" / "calls.jsonl"
    first = ServerProcess(tenant).start()
    try:
        for event in [done.started(), done.said("customer", "my card was charged twice"), done.stopped()]:
            assert send(first.base, event) == 204
        assert send(first.base, done.task_event("task.completed", "front-desk")) == 204
        for event in [live.started(), live.said("customer", "one")]:
            assert send(first.base, event) == 204
        wait_until(lambda: (call_of(tenant, done.call_sid) or {}).get("state") == "scored")
        wait_until(lambda: (call_of(tenant, live.call_sid) or {}).get("agent", {}).get("answered") == 1)
    finally:
        first.kill()

    second = ServerProcess(tenant).start()  # compacts once it listens: the done call leaves the log
    try:
        wait_until(lambda: "resumed 1 call" in "".join(second.stderr), timeout=10)
        wait_until(lambda: "compacted events.jsonl" in "".join(second.stderr), timeout=10)
        assert not [r for r in log_records(tenant) if r.get("call") == done.call_sid]
        assert [json.loads(line)["call"] for line in summaries.read_text().splitlines()] == [done.call_sid]
        for event in [live.said("agent", "two"), live.said("customer", "three")]:
            assert send(second.base, event) == 204
        wait_until(lambda: (call_of(tenant, live.call_sid) or {}).get("agent", {}).get("answered") == 2)
    finally:
        second.kill()

    third = ServerProcess(tenant).start()  # replays the compacted log only
    try:
        wait_until(lambda: "resumed 1 call" in "".join(third.stderr), timeout=10)
        assert send(third.base, live.stopped()) == 204
        assert send(third.base, live.task_event("task.completed", "front-desk")) == 204
        call = wait_until(lambda: (x := call_of(tenant, live.call_sid)) and x["state"] == "scored" and x)
        assert [u["text"] for u in call["utterances"]] == ["one", "two", "three"]
        asked = [a["text"] for a in agent_calls(tenant, live.call_sid)]
        assert asked == ["one", "three"]  # each answered once, across two kills and a compaction
        kept = call_of(tenant, done.call_sid)
        assert kept and kept["state"] == "scored"
        assert [u["text"] for u in kept["utterances"]] == ["my card was charged twice"]
    finally:
        third.stop()
