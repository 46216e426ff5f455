"""calls.jsonl read fast (one decode, the model's types taken as written) reads exactly what the
line-by-line reader with records.Summary read: the same summaries, the same lines skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowpilot.runners.shadow.calls import CallSummary
from shadowpilot.runners.shadow.checkpoint import read_summaries, summaries_path
from shadowpilot.runners.shadow.eventlog import LogReader
from shadowpilot.runners.shadow.records import BadRecord


def _line(call: str, first_rx: object = 1.5, **view: object) -> str:
    return json.dumps({"call": call, "first_rx": first_rx, "view": {"call_id": call, "state": "scored", **view}})


def _slow(log: Path) -> list[CallSummary]:
    """The reader before: LogReader, then records.Summary on every line."""
    out = []
    for _, record in LogReader(summaries_path(log)):
        try:
            out.append(CallSummary.from_record(record))
        except BadRecord:
            continue
    return out


CLEAN = [_line("CA1"), _line("CA2", 2), _line("CA3", utterances=[{"text": 'café "x"'}])]
ODD = [
    _line("CA4", "3.25"),  # a number as a string: the model's lax float takes it
    _line("CA5", True),  # a bool: whatever the model says, both readers say the same
    json.dumps({"call": "CA6", "view": {}}),  # first_rx absent: its default
    json.dumps({"call": 7, "first_rx": 1, "view": {}}),  # not a summary: skipped
    json.dumps({"call": "CA8", "first_rx": 1, "view": []}),
    '{"call": "CA9", "first_rx": Infinity, "view": {}}',
    "[1, 2]",  # JSON, not an object
    "",  # blank
    'garbage{"k": 1}' + _line("CA10"),  # a torn write, then a whole record on the line
    "not json at all",
]


@pytest.mark.parametrize(
    "lines",
    [CLEAN, CLEAN + ODD, ODD, [*CLEAN, '{"call": "CA99", "first_rx"'], []],
    ids=["clean", "odd", "only-odd", "torn-last-line", "empty"],
)
def test_the_fast_read_is_the_line_by_line_read(tmp_path: Path, lines: list[str]) -> None:
    log = tmp_path / "events.jsonl"
    torn = lines and lines[-1].startswith('{"call": "CA99"')
    text = "\n".join(lines) + ("" if torn else "\n") if lines else ""
    summaries_path(log).write_text(text, encoding="utf-8")
    fast = list(read_summaries(log))
    assert [(s.call_id, s.first_rx, s.view) for s in fast] == [(s.call_id, s.first_rx, s.view) for s in _slow(log)]
    if lines is CLEAN:
        assert [s.call_id for s in fast] == ["CA1", "CA2", "CA3"]


def test_no_summaries_file_is_no_summaries(tmp_path: Path) -> None:
    assert list(read_summaries(tmp_path / "events.jsonl")) == []


def test_views_printed_as_read_are_the_bytes_encoding_them_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`shadow calls --json` prints a done call's view as calls.jsonl holds it: the same bytes as
    encoding it again, whether the view is ASCII, not (encoded again), or of the old time format."""
    from shadowpilot.commands.shadow import _emit_listing
    from shadowpilot.config import ShadowSettings, TwilioSettings
    from shadowpilot.runners.shadow.calls import CallBook
    from shadowpilot.runners.shadow.checkpoint import load
    from shadowpilot.runners.shadow.eventlog import dumps

    views = [
        {
            "call_id": "CA1",
            "state": "scored",
            "started_at": "2026-12-02T10:00:00.000Z",
            "utterances": [{"text": 'a "q" \\ b'}],
        },
        {
            "call_id": "CA2",
            "state": "ended",
            "started_at": "2026-12-02T10:00:01.000Z",
            "utterances": [{"text": "café"}],
        },
        {"call_id": "CA3", "state": "scored", "started_at": "2026-12-02T10:00:02+00:00", "run_id": "r"},
    ]
    log = tmp_path / "events.jsonl"
    summaries = b"".join(dumps({"call": v["call_id"], "first_rx": float(n), "view": v}) for n, v in enumerate(views))
    (tmp_path / "calls.jsonl").write_bytes(summaries)
    book = CallBook(ShadowSettings(), TwilioSettings(), keep_views=True)
    load(book, log)
    assert set(book.raw_views) == {"CA1"}  # the others are encoded again
    listed = book.listing()["calls"]
    _emit_listing(listed, raw=book.raw_view)
    printed = capsys.readouterr().out
    _emit_listing(listed)
    assert printed == capsys.readouterr().out
    assert [c["started_at"] for c in json.loads(printed)["calls"]][2] == "2026-12-02T10:00:02.000Z"
