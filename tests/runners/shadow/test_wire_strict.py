"""Strict webhook parsing, pure logic on hand-built payloads: a captured request re-split across
its name/value boundaries (still validly signed) is refused naming the parameter, dedup keys are
made of required fields, integers are digits only, and JSON nesting is bounded."""

from __future__ import annotations

import json

import pytest
from twilio.request_validator import RequestValidator

from shadowpilot.runners.shadow.wire import BadPayload, parse, parse_conversation, parse_transcription
from tests.runners.shadow.twilio_sim import PUBLIC_URL, RTT, TOKEN, Call


def _resplit(params: dict[str, str], name: str, new_name: str) -> dict[str, str]:
    """Move the boundary between `name` and its value: same characters, same signature."""
    value = params[name]
    joined = name + value
    assert joined.startswith(new_name)
    out = {k: v for k, v in params.items() if k != name}
    out[new_name] = joined[len(new_name) :]
    return out


def test_moving_characters_between_a_name_and_its_value_keeps_the_signature_but_is_refused() -> None:
    _, params = Call(1).said("agent", "let me transfer you")
    assert params["Track"] == "outbound_track"
    tampered = _resplit(params, "Track", "Trac")
    assert tampered["Trac"] == "koutbound_track"
    validator = RequestValidator(TOKEN)
    signature = validator.compute_signature(PUBLIC_URL + RTT, params)
    assert validator.validate(PUBLIC_URL + RTT, tampered, signature)  # Twilio's scheme cannot tell them apart
    with pytest.raises(BadPayload, match=r"parameter 'Trac'.*Track"):
        parse_transcription(tampered)


@pytest.mark.parametrize(
    ("name", "new_name"),
    [
        ("Track", "Trackin"),  # the value's head moved into the name
        ("TranscriptionSid", "TranscriptionS"),
        ("SequenceId", "Seq"),
    ],
)
def test_other_boundary_moves_on_fields_the_route_reads_are_refused(name: str, new_name: str) -> None:
    _, params = Call(2).said("customer", "hello")
    with pytest.raises(BadPayload, match=rf"parameter '?{new_name}'?"):
        parse_transcription(_resplit(params, name, new_name))


def test_a_value_tail_moved_onto_the_next_name_is_refused() -> None:
    _, params = Call(3).said("customer", "hello")
    # Track=inbound_track, TranscriptionData=... -> Track=inbound_trac, kTranscriptionData=...
    tampered = {k: v for k, v in params.items() if k not in ("Track", "TranscriptionData")}
    tampered["Track"] = "inbound_trac"
    tampered["kTranscriptionData"] = params["TranscriptionData"]
    with pytest.raises(BadPayload, match="kTranscriptionData"):
        parse_transcription(tampered)


def test_a_known_name_whose_value_begins_with_the_rest_of_another_known_name_is_refused() -> None:
    _, params = Call(4).task_event("task.created", "support", TimestampMs="1763647380000")
    tampered = {k: v for k, v in params.items() if k != "TimestampMs"}
    tampered["Timestamp"] = "Ms1763647380000"  # TimestampMs=... re-split as Timestamp=Ms...
    with pytest.raises(BadPayload, match="Timestamp"):
        parse("taskrouter", tampered, ["call_sid"])


def test_names_twilio_may_add_are_accepted_and_do_not_change_the_key() -> None:
    _, params = Call(5).said("customer", "hello")
    parsed = parse_transcription(params)
    newer = parse_transcription({**params, "ProviderData": "{}", "SomeFutureField": "x", "RetryCount": "1"})
    assert newer.key == parsed.key and newer.event == parsed.event


def test_content_keys_ignore_fields_not_read_so_a_resplit_among_them_is_a_duplicate() -> None:
    _, params = Call(6).task_event("task.created", "support", WorkerName="alex", WorkflowName="main")
    a = parse("taskrouter", params, ["call_sid"])
    b = parse("taskrouter", {**params, "WorkerName": "alexW", "WorkflowName": "orkflowmain"}, ["call_sid"])
    assert a is not None and b is not None and a.key == b.key


def test_transcription_keys_are_callsid_transcriptionsid_and_sequenceid_all_required() -> None:
    c = Call(7)
    _, params = c.said("customer", "hello")
    assert parse_transcription(params).key == f"rtt:{c.call_sid}:{c.gt}:{params['SequenceId']}"
    without = {k: v for k, v in params.items() if k != "TranscriptionSid"}
    with pytest.raises(BadPayload, match="field TranscriptionSid is missing"):
        parse_transcription(without)


def test_a_chat_message_needs_its_message_sid() -> None:
    params = {
        "EventType": "onMessageAdded",
        "ConversationSid": "CH" + "1" * 32,
        "Index": "0",
        "Body": "hi",
        "Author": "+15550100",
    }
    with pytest.raises(BadPayload, match="field MessageSid is missing"):
        parse_conversation(params)
    assert parse_conversation({**params, "MessageSid": "IM" + "2" * 32}) is not None


@pytest.mark.parametrize("raw", ["1_0", " 7", "7 ", "+7", "-1", "٣", "1e3", "0x1", "", "9" * 19])
def test_sequence_ids_are_digits_only(raw: str) -> None:
    _, params = Call(8).said("customer", "hello")
    with pytest.raises(BadPayload, match="field SequenceId"):
        parse_transcription({**params, "SequenceId": raw})


def test_message_index_is_digits_only() -> None:
    params = {
        "EventType": "onMessageAdded",
        "ConversationSid": "CH" + "1" * 32,
        "MessageSid": "IM" + "2" * 32,
        "Index": "1_0",
        "Body": "hi",
    }
    with pytest.raises(BadPayload, match="field Index"):
        parse_conversation(params)


def test_deeply_nested_json_is_a_bad_payload_naming_the_field_not_a_recursion_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    _, params = Call(9).said("customer", "hello")
    with pytest.raises(BadPayload, match="field TranscriptionData"):
        parse_transcription({**params, "TranscriptionData": deep})
    nested: dict = {}
    for _ in range(40):
        nested = {"a": nested}
    with pytest.raises(BadPayload, match="field TranscriptionData"):
        parse_transcription({**params, "TranscriptionData": json.dumps({"transcript": "hi", "x": nested})})
    _, task = Call(9).task_event("task.created", "support")
    with pytest.raises(BadPayload, match="field TaskAttributes"):
        parse("taskrouter", {**task, "TaskAttributes": deep}, ["call_sid"])


# -- Twilio SID formats (twilio-oai patterns: two letters, then 32 hex digits) ------------------


def _every_event_twilio_sends() -> list[tuple[str, dict[str, str]]]:
    """What the simulator and `shadow selftest` send: the SIDs real Twilio events carry."""
    from shadowpilot.runners.shadow.selftest import new_call_sid, synthetic_call

    c = Call(10)
    sim = [c.started(), c.said("customer", "hi"), c.stopped(), c.error(), c.task_event("task.created", "support")]
    selftest = [(d.route, d.params) for d in synthetic_call(new_call_sid(), "call_sid", 1_763_647_380.0)]
    chat = (
        "/twilio/conversations",
        {
            "EventType": "onMessageAdded",
            "AccountSid": "AC" + "0" * 32,
            "ConversationSid": "CH" + "a1" * 16,
            "MessageSid": "IM" + "F0" * 16,
            "ParticipantSid": "MB" + "3" * 32,
            "ChatServiceSid": "IS" + "4" * 32,
            "Index": "0",
            "Body": "hi",
            "Author": "+15550100",
            "Source": "SMS",
        },
    )
    system = ("/twilio/conversations", {**chat[1], "ParticipantSid": "", "Author": "system", "Source": "API"})
    return [*sim, *selftest, chat, system]


def test_every_sid_the_simulator_and_selftest_send_passes_the_check() -> None:
    from shadowpilot.runners.shadow.wire import ROUTES, check_sids

    events = _every_event_twilio_sends()
    assert len(events) > 10
    for route, params in events:
        check_sids(ROUTES[route], params)  # no BadPayload


@pytest.mark.parametrize(
    ("route", "field", "value"),
    [
        # a boundary moved: `Final=true` folded into the CallSid keeps the signature (names and
        # values are signed run together) and made a bogus call "CA...Finaltrue"
        ("transcriptions", "CallSid", "CA" + "0" * 32 + "Finaltrue"),
        ("transcriptions", "CallSid", "CA1"),
        ("transcriptions", "CallSid", "GT" + "0" * 32),  # another resource's SID
        ("transcriptions", "TranscriptionSid", "GT" + "g" * 32),  # not hex
        ("transcriptions", "AccountSid", "AC" + "0" * 31),  # one digit short
        ("conversations", "ConversationSid", "ch" + "1" * 32),  # the prefix is upper case
        ("conversations", "MessageSid", "IM" + "2" * 33),
        ("conversations", "ParticipantSid", "MB1"),
        ("taskrouter", "TaskSid", "WT" + "0" * 32 + "x"),
        ("taskrouter", "ResourceSid", "WK" + "0" * 32),  # a task's ResourceSid is its TaskSid
        ("taskrouter", "TaskQueueSid", "WQ-billing"),
        ("taskrouter", "WorkspaceSid", "WS"),
    ],
)
def test_a_sid_not_of_twilios_shape_is_refused_naming_the_field(route: str, field: str, value: str) -> None:
    from shadowpilot.runners.shadow.wire import check_sids

    base = {
        "transcriptions": Call(11).said("customer", "hello")[1],
        "conversations": _every_event_twilio_sends()[-2][1],
        "taskrouter": Call(11).task_event("task.created", "support")[1],
    }[route]
    with pytest.raises(BadPayload, match=rf"field {field}: expected [A-Z]{{2}} and 32 hex digits"):
        check_sids(route, {**base, field: value})  # type: ignore[arg-type]


def _swallowed(params: dict[str, str], name: str, absorbed: str) -> dict[str, str]:
    """`name`'s value takes the pair after it whole: `A=x&B=y` -> `A=xBy`, the same signature."""
    out = {k: v for k, v in params.items() if k != absorbed}
    out[name] = params[name] + absorbed + params[absorbed]
    return out


@pytest.mark.parametrize(
    ("name", "absorbed"),
    [("TaskQueueName", "TaskQueueSid"), ("TaskChannelUniqueName", "TaskQueueName"), ("TaskVersion", "Timestamp")],
)
def test_a_value_that_swallowed_the_next_pair_is_refused_naming_it(name: str, absorbed: str) -> None:
    _, params = Call(12).task_event("task-queue.entered", "support", TaskVersion="3", Timestamp="1763647380")
    tampered = _swallowed(params, name, absorbed)
    validator = RequestValidator(TOKEN)
    url = PUBLIC_URL + "/twilio/taskrouter"
    assert validator.compute_signature(url, tampered) == validator.compute_signature(url, params)
    with pytest.raises(BadPayload, match=rf"parameter {name}: its value holds {absorbed}"):
        parse("taskrouter", tampered, ["call_sid"])


def test_free_text_naming_a_field_is_not_taken_for_a_swallowed_pair() -> None:
    """Only a name that would sort between this one and the next one sent, and is not sent, counts;
    single words (Final, Body, Index...) are left to free text."""
    _, params = Call(13).task_event("task.completed", "support", TaskCompletedReason="Final TaskQueueSid check")
    assert parse("taskrouter", params, ["call_sid"]) is not None  # TaskQueueSid is sent: nothing swallowed
    err = Call(13).error(message="Final result never came")
    assert parse_transcription(err[1]).event.kind == "error"


def test_a_queue_name_that_swallowed_an_undocumented_pair_is_refused() -> None:
    """Twilio sends names it does not document; one swallowed into a short-name field (the queue
    the human's routing is read from) is refused all the same, by where its name would sort."""
    _, params = Call(14).task_event("task-queue.entered", "support", TaskQueueNew="x")
    tampered = _swallowed(params, "TaskQueueName", "TaskQueueNew")
    validator = RequestValidator(TOKEN)
    url = PUBLIC_URL + "/twilio/taskrouter"
    assert validator.compute_signature(url, tampered) == validator.compute_signature(url, params)
    assert parse("taskrouter", params, ["call_sid"]) is not None  # as sent: an unknown name, accepted
    with pytest.raises(BadPayload, match=r"parameter TaskQueueName: its value holds 'TaskQueueNewx'"):
        parse("taskrouter", tampered, ["call_sid"])


@pytest.mark.parametrize(
    "extra",
    [
        {"TaskQueueName": "Tier 2 Support"},
        {"TaskQueueName": "Front Desk (VIP)"},
        {"TransferType": "WORKER", "TransferTo": "WK" + "0" * 32},
        {"TransferType": "QUEUE"},
        {"ResourceType": "Worker"},
    ],
)
def test_short_name_fields_take_the_values_twilio_sends(extra: dict[str, str]) -> None:
    _, params = Call(15).task_event("task.updated", "support")
    assert parse("taskrouter", {**params, **extra}, ["call_sid"]) is not None
