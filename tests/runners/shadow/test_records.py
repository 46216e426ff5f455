"""The event log's records as typed models: what a writer makes is what the log held before
(byte for byte), reads back as the same record, and a line in today's format still reads.

Pure: no server, no disk.
"""

from __future__ import annotations

import json

import pytest

from shadowpilot.runners.shadow.eventlog import dumps
from shadowpilot.runners.shadow.records import (
    AgentAnswer,
    AgentRecord,
    Closed,
    ClosedRecord,
    Ended,
    EndedRecord,
    Event,
    EventRecord,
    LogEntry,
    Scored,
    ScoredRecord,
    Summary,
    read_record,
)

VIEW = {"call_id": "CA1", "state": "scored", "run_id": "shadow-20261201"}
REC = {"case_id": "CA1", "turn": 0, "escalate": True, "reply": "One moment, héllo", "cost_usd": 1.2e-05}

# each kind, as the writer makes it, and the line the dict writers of before wrote for it
CASES: list[tuple[LogEntry, type, bytes]] = [
    (
        Event(route="transcriptions", key="rtt:CA1:1", call="CA1", params={"CallSid": "CA1", "Track": "inbound"}),
        EventRecord,
        b'{"k":"ev","route":"transcriptions","key":"rtt:CA1:1","call":"CA1","p":{"CallSid":"CA1","Track":"inbound"},'
        b'"rx":1764600000.125}\n',
    ),
    (
        Event(route="taskrouter", key="tr:EV1", call=None, params={}),
        EventRecord,
        b'{"k":"ev","route":"taskrouter","key":"tr:EV1","call":null,"p":{},"rx":1764600000.125}\n',
    ),
    (
        AgentAnswer(call="CA1", utterance_key="rtt:CA1:1", recommendation=REC, error=None, ms=12.5),
        AgentRecord,
        (
            '{"k":"rec","call":"CA1","ukey":"rtt:CA1:1","rec":{"case_id":"CA1","turn":0,"escalate":true,'
            '"reply":"One moment, héllo","cost_usd":1.2e-05},"error":null,"ms":12.5,"rx":1764600000.125}\n'
        ).encode(),
    ),
    (
        AgentAnswer(call="CA1", utterance_key="rtt:CA1:2", recommendation=None, error="timeout after 5 s", ms=5000.0),
        AgentRecord,
        b'{"k":"rec","call":"CA1","ukey":"rtt:CA1:2","rec":null,"error":"timeout after 5 s","ms":5000.0,'
        b'"rx":1764600000.125}\n',
    ),
    (
        Ended(call="CA1", why="no event for 60 s"),
        EndedRecord,
        b'{"k":"ended","call":"CA1","why":"no event for 60 s","rx":1764600000.125}\n',
    ),
    (
        Scored(call="CA1", run_id="shadow-20261201", summary=Summary(call="CA1", first_rx=1764599990.5, view=VIEW)),
        ScoredRecord,
        b'{"k":"scored","call":"CA1","run_id":"shadow-20261201","summary":{"call":"CA1","first_rx":1764599990.5,'
        b'"view":{"call_id":"CA1","state":"scored","run_id":"shadow-20261201"}},"rx":1764600000.125}\n',
    ),
    (
        Scored(call="CA1", run_id="shadow-20261201"),
        ScoredRecord,  # a call no longer in memory: no summary key
        b'{"k":"scored","call":"CA1","run_id":"shadow-20261201","rx":1764600000.125}\n',
    ),
    (
        Closed(call="CA1", why="the customer said nothing", summary=Summary(call="CA1", first_rx=1.5, view=VIEW)),
        ClosedRecord,
        b'{"k":"closed","call":"CA1","why":"the customer said nothing","summary":{"call":"CA1","first_rx":1.5,'
        b'"view":{"call_id":"CA1","state":"scored","run_id":"shadow-20261201"}},"rx":1764600000.125}\n',
    ),
]


@pytest.mark.parametrize(("entry", "kind", "line"), CASES, ids=lambda v: getattr(v, "k", None))
def test_every_kind_is_written_as_before_and_reads_back_as_itself(entry: LogEntry, kind: type, line: bytes) -> None:
    written = dumps(entry.line(1764600000.125))
    assert written == line  # the on-disk format, key order included (the kind first: RECORD_START)
    back = read_record(json.loads(written))
    assert isinstance(back, kind) and back.received == 1764600000.125
    assert back.model_dump(exclude={"received"}) == entry.model_dump()


def test_a_line_in_todays_format_reads_with_readable_names() -> None:
    ev = read_record(json.loads(b'{"k":"ev","route":"conversations","key":"c:1","p":{"A":"1"},"rx":5.0}'))
    assert isinstance(ev, EventRecord) and ev.params == {"A": "1"} and ev.call is None  # before compaction: no call
    rec = read_record(json.loads(b'{"k":"rec","call":"CA9","ukey":"u1","rec":{"escalate":false},"rx":7}'))
    assert isinstance(rec, AgentRecord)
    assert (rec.utterance_key, rec.recommendation, rec.error, rec.ms, rec.received) == (
        "u1",
        {"escalate": False},
        None,
        0.0,
        7.0,
    )


def test_a_line_is_read_by_its_on_disk_keys_only() -> None:
    from shadowpilot.runners.shadow.records import BadRecord

    with pytest.raises(BadRecord, match="field p: Field required"):
        read_record({"k": "ev", "route": "conversations", "key": "c:1", "params": {}, "rx": 5.0})
    with pytest.raises(BadRecord, match="field rx: Field required"):
        read_record({"k": "ended", "call": "CA1", "received": 5.0})
