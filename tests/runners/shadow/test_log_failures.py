"""The event log when writes fail part-way and when its lines are not what the reader expects:
a short write fails the whole batch and leaves no half record, the next batch works again,
a bad record is skipped and reported (by `serve` at start and by `shadow calls`), and a torn
write followed by an append does not take the complete record after it."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path

import httpx
import pytest

from shadowpilot.config import ShadowSettings, TwilioSettings
from shadowpilot.errors import StoreError
from shadowpilot.runners.shadow import eventlog
from shadowpilot.runners.shadow.calls import CallBook, replay
from shadowpilot.runners.shadow.eventlog import EventLog, LogReader, read_log
from shadowpilot.runners.shadow.wire import parse
from tests.runners.shadow.conftest import call_of, sp, wait_until
from tests.runners.shadow.twilio_sim import Call, ServerProcess, signed_form


def _append(log: EventLog, record: dict) -> None:
    asyncio.run(log.append(record))


def test_a_short_write_fails_the_whole_batch_leaves_no_half_record_and_the_next_batch_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.open()
    real_write = os.write
    target = log._fh.fileno()
    full = {"on": False}

    def disk_full_write(fd: int, data: bytes) -> int:
        """As a full disk answers: the first write takes what fits and says so; the next raises."""
        if fd != target or not full["on"]:
            return real_write(fd, data)
        if not full.get("short_done"):
            full["short_done"] = True
            return real_write(fd, bytes(data[:9]))  # part of a record: a short count, no error
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(eventlog.os, "write", disk_full_write)
    try:
        _append(log, {"k": "ev", "n": 1})
        full["on"] = True

        async def burst() -> list[BaseException | None]:
            return await asyncio.gather(
                *(log.append({"k": "ev", "n": 10 + i}) for i in range(5)), return_exceptions=True
            )

        outcomes = asyncio.run(burst())
        assert outcomes and all(isinstance(o, StoreError) for o in outcomes), outcomes  # nothing acknowledged
        assert path.read_bytes() == b'{"k":"ev","n":1}\n'  # the 9 bytes written were cut off again
        full["on"] = False
        _append(log, {"k": "ev", "n": 2})  # no restart: the next batch is written
    finally:
        log.close()
    assert [r["n"] for r in read_log(path)] == [1, 2]
    assert log.stats.failed_batches >= 1 and log.stats.records == 2


def test_a_failure_is_not_sticky_after_an_fsync_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.open()
    real_fsync = os.fsync
    target = log._fh.fileno()
    failing = {"on": True}

    def fsync(fd: int) -> None:
        if fd == target and failing["on"]:
            failing["on"] = False
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(eventlog.os, "fsync", fsync)
    try:
        with pytest.raises(StoreError):
            _append(log, {"k": "ev", "n": 1})
        _append(log, {"k": "ev", "n": 2})
    finally:
        log.close()
    assert [r["n"] for r in read_log(path)] == [2]  # the unacknowledged record was cut back out


def _ev(call: Call, text: str, rx: float) -> dict:
    _, params = call.said("customer", text)
    parsed = parse("transcriptions", params, [])
    assert parsed is not None
    return {"k": "ev", "route": "transcriptions", "key": parsed.key, "p": params, "rx": rx}


def _write_log(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))


def _line(record: dict) -> bytes:
    return eventlog.dumps(record)


def bad_log_lines(call: Call) -> list[bytes]:
    """A log where lines 2, 3, 4 and 6 are well-formed JSON but not records this server can apply."""
    return [
        _line(_ev(call, "my card was charged twice", 1000.0)),
        _line({"k": "rec", "call": call.call_sid, "rx": 1001.0, "rec": None, "error": None}),  # no ukey
        _line({"k": "scored", "call": call.call_sid, "rx": 1002.0}),  # no run_id
        _line({**_ev(call, "and again today", 0), "rx": "yesterday"}),  # a non-numeric time
        _line(_ev(call, "can you refund it", 1004.0)),
        b'{"k":"ev","route":"transcriptions","key":"rtt:x","p":{"CallSid":"CA1"},"rx":1005.0}\n',  # unreadable event
    ]


def test_bad_records_are_skipped_and_reported_with_their_line_numbers(tmp_path: Path) -> None:
    call = Call(7)
    path = tmp_path / "events.jsonl"
    _write_log(path, bad_log_lines(call))
    book = CallBook(ShadowSettings(), TwilioSettings())
    skipped = replay(book, path)
    assert [s.line for s in skipped] == [2, 3, 4, 6]
    assert "ukey" in skipped[0].why and "run_id" in skipped[1].why and "rx" in skipped[2].why
    said = [turn.text for _, turn in book.utterances(book.calls[call.call_sid])]
    assert said == ["my card was charged twice", "can you refund it"]


def test_a_torn_write_followed_by_an_append_keeps_the_record_after_it(tmp_path: Path) -> None:
    call = Call(8)
    first, second = _line(_ev(call, "hello", 1000.0)), _line(_ev(call, "I need help", 1001.0))
    path = tmp_path / "events.jsonl"
    _write_log(path, [first, b'{"k":"ev","route":"transcri', second])  # a half record, then a whole one
    reader = LogReader(path)
    got = [json.loads(_line(r)) for _, r in reader]
    assert got == [json.loads(first), json.loads(second)]
    assert [s.line for s in reader.skipped] == [2]


def test_shadow_calls_skips_bad_records_and_names_their_lines_on_stderr(tenant: Path) -> None:
    call = Call(9)
    _write_log(tenant / ".shadowpilot" / "acme.shadow" / "events.jsonl", bad_log_lines(call))
    result = sp(tenant, "shadow", "calls", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert [c["call_id"] for c in listing["calls"]] == [call.call_sid]
    assert [s["line"] for s in listing["skipped"]] == [2, 3, 4, 6]
    assert "skipped 4 line(s)" in result.stderr and "line 2, 3, 4, 6" in result.stderr


def test_serve_starts_with_bad_records_in_the_log_and_says_which_it_skipped(tenant: Path) -> None:
    call = Call(10)
    _write_log(tenant / ".shadowpilot" / "acme.shadow" / "events.jsonl", bad_log_lines(call))
    server = ServerProcess(tenant).start()
    try:
        health = httpx.get(server.base + "/healthz", timeout=10).json()
        assert health["calls"] == 1 and health["live"] == 1
    finally:
        server.stop()
    log_text = "".join(server.stderr)
    assert "skipped 4 line(s)" in log_text and "line 2, 3, 4, 6" in log_text


def _skip_note(stderr: str) -> str:
    """The one line that names the skipped lines (written by skipped_summary for both paths)."""
    [line] = [x for x in stderr.splitlines() if "skipped" in x and "line(s)" in x]
    return line[line.index("skipped") :]


def test_serve_and_shadow_calls_read_one_log_with_bad_lines_alike(tenant: Path) -> None:
    """One log, both readers: `shadow calls` (its listing) and `serve` (what it scores) skip the same
    lines, say so in the same words, and keep the same utterances of the call."""
    call = Call(12)
    _write_log(tenant / ".shadowpilot" / "acme.shadow" / "events.jsonl", bad_log_lines(call))
    listed = sp(tenant, "shadow", "calls", "--json")
    assert listed.returncode == 0, listed.stderr
    [before] = json.loads(listed.stdout)["calls"]
    server = ServerProcess(tenant).start()
    try:
        for route, params in [call.stopped(), call.task_event("task.completed", "front-desk")]:
            assert httpx.post(server.base + route, timeout=10, **signed_form(params, route)).status_code == 204
        scored = wait_until(lambda: (x := call_of(tenant, call.call_sid)) and x["state"] == "scored" and x)
    finally:
        server.stop()
    assert _skip_note("".join(server.stderr)) == _skip_note(listed.stderr)
    assert [u["text"] for u in before["utterances"]] == ["my card was charged twice", "can you refund it"]
    assert scored["utterances"] == before["utterances"]  # what serve scored is what the listing showed


def test_an_event_logged_under_the_old_key_is_still_a_duplicate_of_its_redelivery(tmp_path: Path) -> None:
    """Logs written before keys named the CallSid (`rtt:GT...:seq`): a redelivery after the
    upgrade computes `rtt:CA...:GT...:seq` and must still be recognised."""
    call = Call(11)
    record = _ev(call, "hello", 1000.0)
    old = {**record, "key": f"rtt:{call.gt}:{record['p']['SequenceId']}"}
    path = tmp_path / "events.jsonl"
    _write_log(path, [_line(old)])
    book = CallBook(ShadowSettings(), TwilioSettings())
    replay(book, path)
    assert record["key"] in book.seen  # what `accept` checks before logging a redelivery
    book.apply(record, 2)
    assert book.duplicates == 1 and len(book.calls[call.call_sid].marks) == 1
