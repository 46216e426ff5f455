"""Growth meets durability: released calls and compaction keep the durable log's guarantees.

The log is read by one reader (records.py's typed records through eventlog.LogReader) whether
checkpoint.load or calls.replay reads it, so a bad line is skipped and named by its line number
in both; compaction's files are this account's alone (0600); the summaries are appended all or
nothing; a scored/closed record's summary is a typed field.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from shadowpilot.config import ShadowSettings, TwilioSettings
from shadowpilot.runners import build_agent
from shadowpilot.runners.shadow import checkpoint
from shadowpilot.runners.shadow.calls import CallBook, replay
from shadowpilot.runners.shadow.reading import log_path, read_book
from shadowpilot.runners.shadow.records import BadRecord, ScoredRecord, read_record
from shadowpilot.runners.shadow.service import ShadowService
from tests.runners.shadow.test_growth import CONFIG, _live_and_done, listing, settings  # noqa: F401
from tests.runners.shadow.test_log_failures import _write_log, bad_log_lines


def test_load_skips_and_reports_bad_lines_as_replay_does(tmp_path: Path) -> None:
    from tests.runners.shadow.twilio_sim import Call

    path = tmp_path / "events.jsonl"
    _write_log(path, [*bad_log_lines(Call(7)), b"not json at all\n"])
    replayed, loaded = CallBook(ShadowSettings(), TwilioSettings()), CallBook(ShadowSettings(), TwilioSettings())
    replay(replayed, path)
    n = checkpoint.load(loaded, path)
    assert [s.line for s in loaded.skipped] == [s.line for s in replayed.skipped] == [2, 3, 4, 6, 7]
    assert [s.why for s in loaded.skipped] == [s.why for s in replayed.skipped]
    assert n == 6  # the records (JSON objects) the log holds: what a compaction's first phase reads


def test_a_summary_is_a_typed_field_of_the_scored_record() -> None:
    view = {"call_id": "CA1", "state": "scored"}
    scored = {"k": "scored", "call": "CA1", "run_id": "r", "rx": 1.0}
    rec = read_record({**scored, "summary": {"call": "CA1", "view": view}})
    assert isinstance(rec, ScoredRecord) and rec.summary is not None and rec.summary.view == view
    with pytest.raises(BadRecord, match=r"summary\.view"):  # a skipped, reported line, as any bad field
        read_record({**scored, "summary": {"call": "CA1", "view": 3}})
    ev = read_record({"k": "ev", "route": "transcriptions", "key": "k", "p": {}, "rx": 1.0, "call": "CA1"})
    assert ev.call == "CA1"


def test_compaction_files_are_private_whatever_the_umask(settings: Any) -> None:  # noqa: F811
    old = os.umask(0o022)
    try:
        _live_and_done(settings, compact_after=1)  # compacts while serving
    finally:
        os.umask(old)
    path = log_path(settings)
    files = [path, checkpoint.summaries_path(path), *path.parent.glob("events.jsonl.*")]
    assert len(files) >= 3
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_a_start_reports_skipped_lines_then_compacts_them_away_with_the_archive_named(
    settings: Any,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, _, before = _live_and_done(settings, compact_after=10_000)
    path = log_path(settings)
    with path.open("ab") as fh:
        fh.write(b'{"k":"rec","call":"CA-x","rx":1.0}\n')  # a record missing its ukey
        fh.write(b"garbage\n")
    lines = len(path.read_bytes().splitlines())
    assert [s.line for s in read_book(settings).skipped] == [lines - 1, lines]  # `shadow calls` sees them

    async def restart() -> None:
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        await service.stop()

    with caplog.at_level(logging.WARNING, logger="shadowpilot.shadow"):
        asyncio.run(restart())
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"skipped 2 line(s) of {path}" in said and f"line {lines - 1}, {lines}" in said
    assert "events.jsonl.1" in said  # where those lines are now
    # the record that cannot be applied is carried over (reported again), the garbage is not
    assert [s.why for s in read_book(settings).skipped] == ["field ukey: Field required"]
    assert listing(settings) == before


def test_a_failed_summaries_append_is_cut_back_and_leaves_the_old_log_whole(
    settings: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _live_and_done(settings, compact_after=10_000)
    path = log_path(settings)
    summaries = checkpoint.summaries_path(path)
    summaries.write_bytes(b'{"call":"CA-old","first_rx":1.0,"view":{"call_id":"CA-old","state":"ended"}}\n')
    os.chmod(summaries, 0o600)
    log_before, summaries_before = path.read_bytes(), summaries.read_bytes()
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data[:7]))  # part of it lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_all", disk_full)
    loaded = CallBook(settings.shadow, settings.twilio)
    checkpoint.load(loaded, path)
    with pytest.raises(OSError):
        checkpoint.compact(path, set(loaded.finished), loaded.record_call, lambda _cid: None)
    assert summaries.read_bytes() == summaries_before  # never half a summary
    assert path.read_bytes() == log_before  # the old log, whole and in use
