"""The live shadow server as Twilio meets it: `shadowpilot shadow serve` under uvicorn on 127.0.0.1,
fed webhooks signed with twilio's RequestValidator. One server serves this module; each test
uses its own call SIDs."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.runners.shadow.conftest import (
    agent_calls,
    call_of,
    log_records,
    make_tenant,
    shadow_calls,
    sp,
    wait_until,
)
from tests.runners.shadow.twilio_sim import (
    CONV,
    PUBLIC_URL,
    RTT,
    TASKS,
    TOKEN,
    Call,
    ServerProcess,
    iso,
    signed_form,
    signed_json,
)

ATTRS = {"skill": "billing", "priority": "high", "vip": False}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tenant(tmp_path_factory.mktemp("shadow") / "acme")


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(folder).start()
    yield srv
    srv.stop()


def send(http: httpx.Client, event: tuple[str, dict[str, str]]) -> int:
    route, params = event
    return http.post(route, **signed_form(params, route)).status_code


def scored(folder: Path, call_id: str) -> dict | None:
    call = call_of(folder, call_id)
    return call if call and call["state"] == "scored" else None


# -- security ---------------------------------------------------------------------------------


def test_signed_requests_pass_and_everything_else_gets_403_logged_without_its_body(
    http: httpx.Client, server: ServerProcess, folder: Path
) -> None:
    call = Call(101)
    route, started = call.started()
    assert http.post(route, **signed_form(started, route)).status_code == 204

    route, said = call.said("customer", "my card number is SECRET-BODY-MARKER")
    unsigned = signed_form(said, route)
    del unsigned["headers"]["X-Twilio-Signature"]
    forged = signed_form(said, route, token="not-the-auth-token")
    wrong_url = signed_form(said, route, url=server.base + route)  # the URL we were reached on, not public_url
    other_route = signed_form(said, TASKS)
    tampered = signed_form(said, route)
    tampered["content"] = tampered["content"].replace(b"SECRET", b"SECRXT")
    for name, kwargs in [
        ("unsigned", unsigned),
        ("forged", forged),
        ("wrong url", wrong_url),
        ("signed for another route", other_route),
        ("tampered body", tampered),
    ]:
        assert http.post(route, **kwargs).status_code == 403, name

    # JSON bodies: signed on the URL carrying bodySHA256, and the body must match that hash
    path, ok = signed_json(said, RTT)
    assert http.post(path, **ok).status_code == 204
    path, changed = signed_json(call.said("customer", "second")[1], RTT)
    changed["content"] = changed["content"].replace(b"second", b"sec0nd")
    assert http.post(path, **changed).status_code == 403
    _, no_hash = signed_json(call.said("customer", "third")[1], RTT)
    assert http.post(RTT, **no_hash).status_code == 403

    assert http.get("/healthz").status_code == 200  # unsigned, on purpose

    # only what was signed was taken: one utterance, from the JSON request
    seen = wait_until(lambda: call_of(folder, call.call_sid))
    assert [u["text"] for u in seen["utterances"]] == ["my card number is SECRET-BODY-MARKER"]
    wait_until(lambda: "".join(server.stderr).count("403 POST /twilio/transcriptions") == 7)
    logged = "".join(server.stderr)
    assert "SECRET" not in logged and "sec0nd" not in logged


# -- a whole call, scored, then gated -----------------------------------------------------------


def escalated_call(n: int) -> tuple[Call, list[tuple[str, dict[str, str]]]]:
    c = Call(n)
    events = [
        c.started(),
        c.said("customer", "hi, I was double charged"),
        c.task_event("task-queue.entered", "front-desk"),
        c.task_event("reservation.accepted", "front-desk"),
        c.said("agent", "sorry to hear that, let me look"),
        c.said("customer", "I want a supervisor now"),
        c.task_event("task.transfer-initiated", "front-desk", ATTRS, TransferMode="COLD"),
        c.task_event("task-queue.entered", "tier2", ATTRS),
        c.said("agent", "transferring you"),
        c.stopped(),
        c.task_event("task.completed", "tier2", ATTRS),
    ]
    return c, events


def kept_call(n: int, first_words: str = "what time do you open") -> tuple[Call, list[tuple[str, dict[str, str]]]]:
    c = Call(n)
    events = [
        c.started(),
        c.said("customer", first_words),
        c.task_event("task-queue.entered", "front-desk"),
        c.said("agent", "nine to five"),
        c.said("customer", "thanks, bye"),
        c.stopped(),
        c.task_event("task.completed", "front-desk"),
    ]
    return c, events


def test_a_full_call_becomes_a_scored_case_and_gate_scores_the_days_shadow_run(
    http: httpx.Client, folder: Path
) -> None:
    esc, esc_events = escalated_call(201)
    kept, kept_events = kept_call(202)
    broken, broken_events = kept_call(203, "boom goes the agent")
    for event in esc_events + kept_events + broken_events:
        assert send(http, event) == 204

    for c in (esc, kept, broken):
        wait_until(lambda c=c: scored(folder, c.call_sid))
    listing = shadow_calls(folder)
    by_id = {c["call_id"]: c for c in listing["calls"]}
    first = by_id[esc.call_sid]
    assert set(first) >= {"call_id", "state", "utterances"}
    assert first["utterances"] == [
        {"speaker": "customer", "text": "hi, I was double charged"},
        {"speaker": "agent", "text": "sorry to hear that, let me look"},
        {"speaker": "customer", "text": "I want a supervisor now"},
        {"speaker": "agent", "text": "transferring you"},
    ]
    assert first["human"]["escalated"] is True and first["human"]["at_turn"] == 2
    assert first["human"]["queue"] == "tier2" and first["human"]["routing"] == ATTRS
    assert first["agent"]["escalated_at_turn"] == 2
    assert by_id[broken.call_sid]["agent"]["errors"] == 1
    run_id = first["run_id"]
    assert run_id.startswith("shadow-") and by_id[kept.call_sid]["run_id"] == run_id

    # the server is still running: gate opens the store between the server's short writes
    result = sp(folder, "gate", "--run", run_id, "--min-cases", "1", "--json")
    assert result.returncode == 3, result.stderr  # the agent error fails the gate (max_errors = 0)
    gate = json.loads(result.stdout)
    assert gate["run_id"] == run_id and gate["cases"] >= 3
    failures = {f["case_id"]: f["why"] for f in gate["failures"]}
    assert esc.call_sid not in failures and kept.call_sid not in failures
    assert "agent error" in failures[broken.call_sid] and "exploded" in failures[broken.call_sid]
    assert gate["errors"] >= 1 and gate["escalation"]["tp"] >= 1 and gate["escalation"]["tn"] >= 1
    assert gate["routing"]["per_attribute"]["skill"] == 1.0


# -- reliability ------------------------------------------------------------------------------


def test_duplicates_and_reordering_give_each_utterance_once_in_order(http: httpx.Client, folder: Path) -> None:
    c = Call(301)
    lines = [("customer" if i % 2 == 0 else "agent", f"line {i} of the call") for i in range(8)]
    events = [c.started()] + [c.said(who, text) for who, text in lines]
    deliveries = events * 2  # every event twice
    random.Random(7).shuffle(deliveries)
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda e: send(http, e), deliveries))
    assert codes == [204] * len(deliveries)
    for event in [c.stopped(), c.task_event("task-queue.entered", "front-desk"), c.task_event("task.completed", "x")]:
        assert send(http, event) == 204
    assert send(http, events[3]) == 204  # a late redelivery after the call ended

    call = wait_until(lambda: scored(folder, c.call_sid))
    assert [(u["speaker"], u["text"]) for u in call["utterances"]] == lines
    asked = agent_calls(folder, c.call_sid)
    assert [a["text"] for a in asked] == [text for who, text in lines if who == "customer"]
    assert [a["seen"] for a in asked] == [1, 3, 5, 7]  # the conversation so far, in order
    keys = [r["key"] for r in log_records(folder) if r["k"] == "ev"]
    assert len(keys) == len(set(keys))  # no duplicate stored


def test_a_chat_is_ordered_by_message_index_and_scored(http: httpx.Client, folder: Path) -> None:
    conv = "CH" + "7" * 32
    msgs = [
        ("+15550199", "hello, can I move my appointment?"),
        ("agent.kim", "sure, to when?"),
        ("+15550199", "friday"),
    ]

    def added(i: int, author: str, body: str) -> tuple[str, dict[str, str]]:
        source = "SMS" if author.startswith("+") else "SDK"  # the customer texts in; the agent writes in Flex
        return CONV, {
            "EventType": "onMessageAdded",
            "ConversationSid": conv,
            "MessageSid": f"IM{i:032x}",
            "Index": str(i),
            "Author": author,
            "Body": body,
            "Source": source,
            "RetryCount": "0",
        }

    for i in (1, 0, 2):
        assert send(http, added(i, *msgs[i])) == 204
    closed = {
        "EventType": "onConversationStateUpdated",
        "ConversationSid": conv,
        "StateFrom": "active",
        "StateTo": "closed",
        "Reason": "API",
    }
    assert send(http, (CONV, closed)) == 204
    call = wait_until(lambda: scored(folder, conv))
    assert call["channel"] == "sms"  # the binding the customer wrote over (Source), as the importer labels it
    assert [(u["speaker"], u["text"]) for u in call["utterances"]] == [
        ("customer", msgs[0][1]),
        ("agent", msgs[1][1]),
        ("customer", msgs[2][1]),
    ]


@pytest.mark.timing  # a latency bound (0.5 s per webhook): it flakes on a loaded machine, so `pytest -m timing`
def test_a_slow_agent_never_delays_a_webhook(http: httpx.Client, folder: Path) -> None:
    c = Call(401)
    assert send(http, c.started()) == 204
    assert send(http, c.said("customer", "please be slow about this")) == 204  # the agent sleeps 2 s
    wait_until(lambda: agent_calls(folder, c.call_sid), every=0.05)
    latencies = []
    for i in range(20):
        event = c.said("agent" if i % 2 == 0 else "customer", f"while the agent thinks {i}")
        t0 = time.perf_counter()
        assert send(http, event) == 204
        latencies.append(time.perf_counter() - t0)
    assert not call_of(folder, c.call_sid)["agent"]["answered"]  # the agent really was still busy
    assert max(latencies) < 0.5, latencies
    assert send(http, c.stopped()) == 204
    call = wait_until(lambda: scored(folder, c.call_sid))
    assert len(call["utterances"]) == 21


def test_shadow_calls_json_shape(folder: Path, http: httpx.Client) -> None:
    c = Call(501)
    send(http, c.started())
    send(http, c.said("customer", "still talking"))
    live = wait_until(lambda: call_of(folder, c.call_sid))
    assert live["state"] == "live"
    listing = shadow_calls(folder)
    assert list(listing) == ["calls"]
    for call in listing["calls"]:
        assert call["call_id"] and call["state"] in ("live", "ended", "scored")
        assert all(set(u) == {"speaker", "text"} for u in call["utterances"])
    only_live = json.loads(sp(folder, "shadow", "calls", "--state", "live", "--json").stdout)["calls"]
    assert c.call_sid in {x["call_id"] for x in only_live} and all(x["state"] == "live" for x in only_live)


def test_a_second_server_for_the_same_tenant_is_refused(folder: Path, server: ServerProcess) -> None:
    second = ServerProcess(folder)
    with pytest.raises(RuntimeError, match="already running"):
        second.start()


# -- Real-Time Transcription as Twilio documents it ------------------------------------------------


def test_every_transcription_event_type_is_accepted_and_an_error_ends_the_call(
    http: httpx.Client, folder: Path
) -> None:
    c = Call(601)
    for event in [
        c.started(),
        c.said("customer", "I need to chan", final=False),
        c.said("customer", "I need to change my address"),
        c.said("agent", "sure, what is the new one"),
        c.stopped(),
    ]:
        assert send(http, event) == 204, event[1]["TranscriptionEvent"]

    broken = Call(602)
    for event in [broken.started(), broken.said("customer", "hello, can you hear me"), broken.error()]:
        assert send(http, event) == 204, event[1]["TranscriptionEvent"]
    assert send(http, broken.error()) == 204  # a redelivery is taken and ignored
    # call_idle_timeout_s is 30 minutes: only the error can end the call in time for this wait
    call = wait_until(lambda: scored(folder, broken.call_sid))
    assert call["ended"] == "transcription error: [00000] synthetic failure"
    assert call["transcription_error"] == "[00000] synthetic failure"
    assert [u["text"] for u in call["utterances"]] == ["hello, can you hear me"]
    done = wait_until(lambda: scored(folder, c.call_sid))
    assert [u["text"] for u in done["utterances"]] == ["I need to change my address", "sure, what is the new one"]
    assert done["ended"] == "transcription stopped" and done["placed_by"] == {"twilio": 5, "received": 0}


def test_twilio_timestamps_place_events_delivered_out_of_receipt_order(http: httpx.Client, folder: Path) -> None:
    """A transcription restarted mid-call (a second TranscriptionSid, SequenceId from 1 again) is
    delivered first, and one utterance arrives late. Twilio's Timestamps, ISO on one stream and
    epoch milliseconds on the other, put the conversation back in the order it was said."""
    # the transfer is sent now; the first transcription ran up to it, the second one after it
    t0 = time.time() - 10
    first, second = Call(701), Call(701, gt="GT" + "e" * 32)
    after = t0 + 600
    later = [
        second.started(at=str(int(after * 1000))),
        second.said("agent", "you are through to billing", at=str(int((after + 1) * 1000))),
        second.said("customer", "thanks", at=str(int((after + 2) * 1000))),
        second.stopped(at=str(int((after + 3) * 1000))),
    ]
    for event in later:
        assert send(http, event) == 204
    assert send(http, first.started(at=iso(t0))) == 204
    assert send(http, first.said("customer", "my bill is wrong", at=iso(t0 + 1))) == 204
    assert send(http, first.task_event("task-queue.entered", "front-desk")) == 204
    supervisor = first.said("customer", "get me a supervisor", at=iso(t0 + 3))
    assert send(http, first.task_event("task.transfer-initiated", "front-desk", ATTRS)) == 204
    assert send(http, supervisor) == 204  # its callback came late; the customer said it before the transfer
    assert send(http, first.said("agent", "transferring you", at=iso(t0 + 5))) == 204
    assert send(http, first.stopped(at=iso(t0 + 6))) == 204
    assert send(http, first.task_event("task.completed", "front-desk", ATTRS)) == 204

    call = wait_until(lambda: scored(folder, first.call_sid))
    assert [u["text"] for u in call["utterances"]] == [
        "my bill is wrong",
        "get me a supervisor",
        "transferring you",
        "you are through to billing",
        "thanks",
    ]
    assert call["human"]["escalated"]
    assert call["started_at"].startswith(iso(t0)[:19])  # the call began when Twilio says
    assert call["placed_by"] == {"twilio": 9, "received": 0}


# -- shadow selftest ----------------------------------------------------------------------------


def test_selftest_posts_a_synthetic_call_and_prints_how_it_was_scored(
    http: httpx.Client, server: ServerProcess, folder: Path
) -> None:
    env = {"TWILIO_AUTH_TOKEN": TOKEN}
    result = sp(folder, "shadow", "selftest", "--url", server.base, "--timeout", "60", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    call_id = re.search(r"selftest call (CA[0-9a-f]{32}): 13 signed events accepted", out).group(1)
    assert "scored in run selftest-" in out
    # the supervisor request is the customer's 2nd line (transcript index 2, after the greeting)
    assert "human: escalated to selftest-second-line at customer turn 2" in out
    assert "agent: escalate at customer turn 2" in out  # the test agent escalates when asked for a supervisor

    seen = call_of(folder, call_id)
    assert seen["selftest"] is True and seen["state"] == "scored" and seen["run_id"].startswith("selftest-")
    again = sp(folder, "shadow", "selftest", "--url", server.base, "--json", env=env)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["call"]["call_id"] != call_id and second["signed_for"] == PUBLIC_URL  # a fresh CallSid per run
    history = json.loads(sp(folder, "history", "--json").stdout)["runs"]
    runs = {r["run_id"]: r for r in history}
    assert runs[seen["run_id"]]["cases"] == 2  # both selftests, in their own run
    assert all(r["cases"] >= 1 for r in history)
    # a selftest run is never the run `gate` or `report` pick by default (the module's earlier
    # tests may have left a shadow run in this folder: then that one is picked, else none)
    picked = sp(folder, "gate", "--json")
    seen_gate = (picked.returncode, picked.stdout, picked.stderr)
    if picked.returncode == 2:
        assert "no finished run" in picked.stderr, seen_gate
    else:
        assert not json.loads(picked.stdout)["run_id"].startswith("selftest-"), seen_gate

    # the call view is signed like a webhook, and serves selftest calls only
    assert http.get(f"/selftest/{call_id}").status_code == 403
    path = f"/selftest/{Call(201).call_sid}"
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + path, {})
    assert http.get(path, headers={"X-Twilio-Signature": signature}).status_code == 404


def test_selftest_signed_for_a_stale_public_url_says_which_url_it_signed(server: ServerProcess, folder: Path) -> None:
    env = {"TWILIO_AUTH_TOKEN": TOKEN}
    stale = "https://old-tunnel.example.test"
    result = sp(folder, "shadow", "selftest", "--url", server.base, "--public-url", stale, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"signed {stale}/twilio/transcriptions" in result.stderr
    assert "403" in result.stderr and "public_url" in result.stderr and "Traceback" not in result.stderr

    wrong_token = sp(folder, "shadow", "selftest", "--url", server.base, env={"TWILIO_AUTH_TOKEN": "not-it"})
    assert wrong_token.returncode == 2 and "403" in wrong_token.stderr

    unreachable = sp(folder, "shadow", "selftest", "--url", "http://127.0.0.1:9", env=env)
    assert unreachable.returncode == 2
    assert "could not reach http://127.0.0.1:9/twilio/transcriptions" in unreachable.stderr
