"""Real-Time Transcription callbacks as Twilio documents them, read into a call: every event type,
transcription-error without a SequenceId, and Twilio's Timestamp placing events whatever order they
arrived in. Pure logic on hand-built payloads: the same parse and CallBook the server runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shadowpilot.config import ShadowSettings, TwilioSettings
from shadowpilot.runners.shadow.calls import CallBook
from shadowpilot.runners.shadow.wire import BadPayload, parse, parse_transcription
from shadowpilot.when import epoch_of, parse_when
from tests.runners.shadow.twilio_sim import Call, iso

T0 = datetime(2026, 11, 20, 14, 3, tzinfo=UTC).timestamp()


class Book:
    """A CallBook fed log records as the server writes them, with the receipt times we choose."""

    def __init__(self) -> None:
        self.book = CallBook(ShadowSettings(), TwilioSettings())

    def receive(self, event: tuple[str, dict[str, str]], rx: float) -> None:
        route, params = event
        name = {"/twilio/transcriptions": "transcriptions", "/twilio/taskrouter": "taskrouter"}[route]
        parsed = parse(name, params, self.book.shadow.task_call_keys)
        assert parsed is not None
        self.book.apply({"k": "ev", "route": name, "key": parsed.key, "p": params, "rx": rx})

    def said(self, call_id: str) -> list[str]:
        return [turn.text for _, turn in self.book.utterances(self.book.calls[call_id])]


# -- every documented event is accepted --------------------------------------------------------


def test_each_documented_event_type_parses_with_its_documented_fields() -> None:
    c = Call(1)
    started = parse_transcription(c.started(at="2026-11-20T14:03:00.000Z")[1]).event
    final = parse_transcription(c.said("customer", "I was double charged")[1]).event
    partial = parse_transcription(c.said("customer", "I was dou", final=False)[1]).event
    stopped = parse_transcription(c.stopped()[1]).event
    error = parse_transcription(c.error("32655", "engine unavailable")[1])

    assert (started.kind, started.seq, started.at) == ("started", 1, T0)
    assert (final.kind, final.text, final.track, final.seq) == ("utterance", "I was double charged", "inbound_track", 2)
    assert (partial.kind, partial.seq) == ("partial", 3)  # Final="false": not an utterance
    assert (stopped.kind, stopped.seq) == ("stopped", 4)
    assert (error.event.kind, error.event.seq, error.event.error) == ("error", None, "[32655] engine unavailable")
    assert error.key.startswith("rtt-error:")


def test_transcription_error_needs_no_sequence_id_nor_transcription_sid() -> None:
    params = {
        "CallSid": "CA1",
        "TranscriptionEvent": "transcription-error",
        "ErrorMessage": "stream lost",
        "Timestamp": "2026-11-20T14:03:00Z",
    }
    parsed = parse_transcription(params)
    assert (parsed.event.stream, parsed.event.error, parsed.event.at) == ("CA1", "stream lost", T0)
    assert parse_transcription(dict(params)).key == parsed.key  # a redelivery is the same event


def test_content_without_final_is_taken_as_final_and_content_without_sequence_is_refused() -> None:
    params = dict(Call(2).said("agent", "how can I help")[1])
    del params["Final"]
    assert parse_transcription(params).event.kind == "utterance"
    del params["SequenceId"]
    with pytest.raises(BadPayload, match="SequenceId"):
        parse_transcription(params)


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-20T14:03:00Z",
        "2026-11-20T14:03:00.000Z",
        "2026-11-20T14:03:00+00:00",
        str(int(T0)),
        str(int(T0 * 1000)),
        int(T0),
    ],
)
def test_timestamp_is_read_as_iso_or_epoch_seconds_or_milliseconds(raw: object) -> None:
    assert epoch_of(raw) == T0
    assert parse_when(raw) == datetime.fromtimestamp(T0, UTC)


def test_an_unreadable_timestamp_falls_back_to_receipt_time() -> None:
    book = Book()
    c = Call(3)
    book.receive(c.started(at="not a time"), rx=T0 + 5)
    mark = next(iter(book.book.calls[c.call_sid].marks.values()))
    assert (mark.at, mark.when, mark.clock) == (None, T0 + 5, "received")


# -- Timestamp places events; receipt time is only the fallback --------------------------------


def test_streams_are_ordered_by_twilio_timestamp_not_arrival_iso_and_epoch_alike() -> None:
    """A transcription restarted mid-call is a second TranscriptionSid with its own SequenceIds:
    its events, delivered first, still come after the first transcription's."""
    book = Book()
    first = Call(4)
    second = Call(4, gt="GT" + "9" * 32)
    late = [second.started(at=str(int(T0 + 60))), second.said("customer", "still there?", at=str(int(T0 + 61) * 1000))]
    early = [first.started(at=iso(T0)), first.said("customer", "hello"), first.said("agent", "hi, how can I help")]
    early[1][1]["Timestamp"] = iso(T0 + 1)
    early[2][1]["Timestamp"] = iso(T0 + 2)
    for i, event in enumerate(late + early):  # received in this order, one second apart
        book.receive(event, rx=T0 + 100 + i)
    assert book.said(first.call_sid) == ["hello", "hi, how can I help", "still there?"]
    call = book.book.calls[first.call_sid]
    assert {m.clock for m in call.marks.values()} == {"twilio"}
    assert call.started == T0  # the call began when Twilio says, not when we heard of it
    assert book.book.describe(call)["placed_by"] == {"twilio": 5, "received": 0}


def test_without_timestamps_streams_keep_arrival_order_and_say_so() -> None:
    book = Book()
    first, second = Call(5), Call(5, gt="GT" + "8" * 32)
    events = [second.started(), second.said("customer", "b"), first.started(), first.said("customer", "a")]
    for i, (route, params) in enumerate(events):
        del params["Timestamp"]
        book.receive((route, params), rx=T0 + i)
    call = book.book.calls[first.call_sid]
    assert book.said(first.call_sid) == ["b", "a"]
    assert book.book.describe(call)["placed_by"] == {"twilio": 0, "received": 4}
    assert call.started == T0


def test_an_utterance_is_placed_against_a_moment_on_twilios_clock_only_when_both_have_it() -> None:
    """The customer asks for a supervisor at T0+4; the human transfers at T0+6; the utterance's
    callback is retried and arrives at T0+9. With Twilio's time on both sides it is before the
    transfer; with the transfer known only by receipt, receipts are compared, never a mix."""

    def at_turn(transfer_stamp: dict[str, str]) -> int | None:
        book = Book()
        c = Call(9)
        book.receive(c.started(at=iso(T0)), rx=T0)
        book.receive(c.said("customer", "my bill is wrong", at=iso(T0 + 1)), rx=T0 + 1.2)
        transfer = c.task_event("task.transfer-initiated", "billing", {"skill": "billing"}, **transfer_stamp)
        book.receive(transfer, rx=T0 + 6.2)
        book.receive(c.said("customer", "get me a supervisor", at=iso(T0 + 4)), rx=T0 + 9)
        return book.book.outcome(book.book.calls[c.call_sid]).at_turn

    assert at_turn({"Timestamp": iso(T0 + 6)}) == 1  # Twilio's clock on both sides: said before the transfer
    assert at_turn({}) == 0  # the transfer known by receipt only: receipt against receipt


def test_the_escalation_turn_counts_only_what_was_received_before_a_receipt_timed_transfer() -> None:
    book = Book()
    c = Call(6)
    book.receive(c.started(at=iso(T0 - 3600)), rx=T0)
    book.receive(c.said("customer", "my bill is wrong", at=iso(T0 - 3599)), rx=T0 + 1)
    book.receive(c.task_event("task.transfer-initiated", "front-desk", {"skill": "billing"}), rx=T0 + 6)
    book.receive(c.said("customer", "hello?", at=iso(T0 - 3598)), rx=T0 + 9)
    assert book.book.outcome(book.book.calls[c.call_sid]).at_turn == 0


def test_transcription_error_is_recorded_on_the_call_and_ends_it() -> None:
    book = Book()
    c = Call(7)
    book.receive(c.started(), rx=T0)
    book.receive(c.said("customer", "hello?"), rx=T0 + 1)
    book.receive(c.error("32655", "engine unavailable"), rx=T0 + 2)
    call = book.book.calls[c.call_sid]
    assert call.state == "ended" and call.ended_rx == T0 + 2
    assert call.error == "[32655] engine unavailable"
    seen = book.book.describe(call)
    assert seen["ended"] == "transcription error: [32655] engine unavailable"
    assert seen["transcription_error"] == "[32655] engine unavailable"
    assert book.book.tags(call) == ["shadow", "transcription-error"]


def test_partials_keep_their_place_in_the_sequence_but_are_never_utterances() -> None:
    book = Book()
    c = Call(8)
    events = [c.started(), c.said("customer", "I want to", final=False), c.said("customer", "I want to pay")]
    for i, e in enumerate(reversed(events)):
        book.receive(e, rx=T0 + i)
    call = book.book.calls[c.call_sid]
    assert [m.kind for m in call.sequence()] == ["started", "partial", "utterance"]
    assert book.said(c.call_sid) == ["I want to pay"]
    assert json.loads(events[1][1]["TranscriptionData"]) == {"transcript": "I want to"}
