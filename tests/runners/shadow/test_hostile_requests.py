"""Validly signed but hostile requests against `shadow serve` under uvicorn: a captured request
re-split across a name/value boundary, a deeply nested JSON body, a loose integer. Each is a 400
naming the parameter, never a new event and never a 500."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.runners.shadow.conftest import call_of, log_records, make_tenant, shadow_client, wait_until
from tests.runners.shadow.twilio_sim import PUBLIC_URL, RTT, TASKS, TOKEN, Call, ServerProcess, signed_form


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tenant(tmp_path_factory.mktemp("hostile") / "acme")


@pytest.fixture(scope="module")
def http(folder: Path) -> Iterator[httpx.Client]:
    server = ServerProcess(folder).start()
    try:
        with shadow_client(server.base, timeout=30) as client:
            yield client
    finally:
        server.stop()


def test_a_replayed_request_with_a_name_value_boundary_moved_is_refused_not_a_new_turn(
    http: httpx.Client, folder: Path
) -> None:
    c = Call(301)
    assert http.post(RTT, **signed_form(c.started()[1], RTT)).status_code == 204
    _, said = c.said("customer", "I was charged twice")
    original = signed_form(said, RTT)
    assert http.post(RTT, **original).status_code == 204
    # the attacker keeps the signature and moves the `k` of Track into the value
    tampered = {k: v for k, v in said.items() if k != "Track"}
    tampered["Trac"] = "k" + said["Track"]
    resigned = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + RTT, tampered)
    assert resigned == original["headers"]["X-Twilio-Signature"]  # the same signature
    replay = signed_form(tampered, RTT)
    r = http.post(RTT, **replay)
    assert r.status_code == 400 and "Trac" in r.text
    call = wait_until(lambda: call_of(folder, c.call_sid))
    assert [u["text"] for u in call["utterances"]] == ["I was charged twice"]  # once, not twice


def test_a_signed_deeply_nested_json_body_is_a_400_not_a_500(http: httpx.Client) -> None:
    depth = 8_000  # past Python's recursion limit, and under the route's body cap (64 KB)
    raw = '{"CallSid":"CA' + "0" * 32 + '","TranscriptionEvent":"transcription-started","x":'
    raw += '{"a":' * depth + "1" + "}" * depth + "}"
    assert len(raw) < 64_000
    path = f"{RTT}?bodySHA256={hashlib.sha256(raw.encode()).hexdigest()}"
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + path, {})
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/json"}
    r = http.post(path, content=raw.encode(), headers=headers)
    assert r.status_code == 400 and "body" in r.text


def test_a_sequence_id_with_an_underscore_is_a_400_naming_the_field(http: httpx.Client, folder: Path) -> None:
    c = Call(302)
    _, said = c.said("customer", "hello there")
    r = http.post(RTT, **signed_form({**said, "SequenceId": "1_0"}, RTT))
    assert r.status_code == 400 and "SequenceId" in r.text
    assert not any(rec.get("p", {}).get("CallSid") == c.call_sid for rec in log_records(folder))


def test_a_signed_form_repeating_a_name_is_a_400_naming_it(http: httpx.Client) -> None:
    """`Timestamp=A&TimestampMs=B` re-split as `Timestamp=A&Timestamp=MsB`: the same signature."""
    route, params = Call(303).task_event("task.created", "support", Timestamp="1763647380", TimestampMs="1763647380123")
    pairs = [(k, v) for k, v in params.items() if k != "TimestampMs"] + [("Timestamp", "Ms1763647380123")]
    validator = RequestValidator(TOKEN)
    original = validator.compute_signature(PUBLIC_URL + route, params)
    headers = {"X-Twilio-Signature": original, "Content-Type": "application/x-www-form-urlencoded"}
    r = http.post(route, content=urlencode(pairs).encode(), headers=headers)
    assert r.status_code == 400 and "Timestamp" in r.text


def test_a_parameter_folded_into_the_callsid_is_a_400_naming_it_and_counted(http: httpx.Client, folder: Path) -> None:
    """`...&CallSid=CA<32 hex>&Final=true&...` re-split as `CallSid=CA<32 hex>Finaltrue` (Final
    gone) has the same signature; it made a bogus call before SIDs were checked."""
    c = Call(304)
    _, said = c.said("customer", "hello there")
    folded = {k: v for k, v in said.items() if k != "Final"}
    folded["CallSid"] = said["CallSid"] + "Final" + said["Final"]
    validator = RequestValidator(TOKEN)
    assert validator.compute_signature(PUBLIC_URL + RTT, folded) == validator.compute_signature(PUBLIC_URL + RTT, said)
    before = http.get("/healthz").json()["refused"].get("400", 0)
    r = http.post(RTT, **signed_form(folded, RTT))
    assert r.status_code == 400 and "field CallSid: expected CA and 32 hex digits" in r.text
    assert http.get("/healthz").json()["refused"]["400"] == before + 1
    assert not any(str(rec.get("p", {}).get("CallSid", "")).startswith(c.call_sid) for rec in log_records(folder))
    assert http.post(RTT, **signed_form(said, RTT)).status_code == 204  # the genuine one is taken


def test_a_task_callback_whose_queue_name_swallowed_the_next_pair_is_refused_and_the_human_unchanged(
    tmp_path: Path,
) -> None:
    """`TaskQueueName=front-desk&TaskQueueSid=WQ...` re-split as `TaskQueueName=front-deskTaskQueueSidWQ...`
    (TaskQueueSid gone) has the same signature. A task event is keyed by the fields read, so the
    copy was a new event: a queue outside first_line_queues, and the human "escalated"."""
    folder = make_tenant(tmp_path / "acme")
    config = folder / "shadowpilot.toml"
    config.write_text(config.read_text() + '\n[twilio]\nfirst_line_queues = ["front-desk"]\n', encoding="utf-8")
    c = Call(305)
    entered = c.task_event("task-queue.entered", "front-desk", Timestamp=str(int(time.time())))
    _, params = entered
    tampered = {k: v for k, v in params.items() if k != "TaskQueueSid"}
    tampered["TaskQueueName"] = params["TaskQueueName"] + "TaskQueueSid" + params["TaskQueueSid"]
    validator = RequestValidator(TOKEN)
    url = PUBLIC_URL + TASKS
    assert validator.compute_signature(url, tampered) == validator.compute_signature(url, params)
    server = ServerProcess(folder).start()
    try:
        with shadow_client(server.base, timeout=30) as http:
            for route, p in [c.started(), entered, c.said("customer", "my bill is wrong"), c.said("agent", "one sec")]:
                assert http.post(route, **signed_form(p, route)).status_code == 204
            r = http.post(TASKS, **signed_form(tampered, TASKS))
            assert r.status_code == 400 and "TaskQueueSid" in r.text, r.text
            for route, p in [c.stopped(), c.task_event("task.completed", "front-desk")]:
                assert http.post(route, **signed_form(p, route)).status_code == 204
            call = wait_until(lambda: (x := call_of(folder, c.call_sid)) and x["state"] == "scored" and x)
    finally:
        server.stop()
    assert call["human"]["escalated"] is False  # the copy did not make the human escalate
    queues = {rec["p"].get("TaskQueueName") for rec in log_records(folder) if rec.get("route") == "taskrouter"}
    assert queues == {"front-desk"}
