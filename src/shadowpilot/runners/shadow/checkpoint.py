"""Log compaction: the event log keeps only what a restart needs, done calls move to a summaries file.

A call is done once its `scored` (written to the store) or `closed` record is in the log. At a
checkpoint the server pauses appends and rewrites the log:

1. every record of a call not done (and of a task naming no call) is copied, in order, to
   `events.jsonl.compact` (while appends go on), then, appends paused, those appended since,
   and the file is fsync'd;
2. each done call's summary (its `shadow calls` view) is appended to `calls.jsonl`, fsync'd;
3. the current log is hard-linked as the next archive `events.jsonl.N` (never read again);
4. `events.jsonl.compact` is renamed over `events.jsonl` and the folder fsync'd.

The guarantee: at every instant `events.jsonl` is either the whole old log or the complete new
one (the rename is atomic and follows the fsyncs), and every done call's summary is durable in
`calls.jsonl` before its records leave the log. So a kill at any step loses no acknowledged
event of a call not done and no done call's listing; a kill between steps 2 and 4 leaves the old
log and a summary twice, which readers take once (the done call's later events are ignored).
Readers open the log before reading the summaries, so they see one side of the swap or the
other, never neither.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from .calls import CallBook, CallSummary
from .eventlog import Record, dumps, read_log

SUMMARIES = "calls.jsonl"
COMPACT_SUFFIX = ".compact"


def summaries_path(log: Path) -> Path:
    return log.with_name(SUMMARIES)


def read_summaries(log: Path) -> Iterator[CallSummary]:
    """The done calls' summaries, in the order they were written (a torn last line is skipped)."""
    for record in read_log(summaries_path(log)):
        summary = CallSummary.from_record(record)
        if summary is not None:
            yield summary


def load(book: CallBook, log: Path) -> int:
    """Fill a book from the summaries and the log, as a reader or a starting server sees them.

    The log is opened first: a compaction that swaps it meanwhile appended its summaries before
    the swap, so whichever log this reads, the done calls it lacks are in the summaries.
    """
    records = read_log(log)
    first = next(records, None)  # opens the log file now
    for summary in read_summaries(log):
        book.add_finished(summary)
    n = 0
    for record in _chain(first, records):
        book.apply(record)
        n += 1
    return n  # the log's records: what a compaction's first phase will read


def _chain(first: Record | None, rest: Iterable[Record]) -> Iterator[Record]:
    if first is not None:
        yield first
    yield from rest


@dataclass
class Compaction:
    """What one checkpoint did."""

    kept: int  # records copied to the new log
    dropped: int  # records of done calls left in the archive
    done_calls: int  # summaries appended
    archive: Path | None
    bytes_before: int
    bytes_after: int


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _next_archive(log: Path) -> Path:
    n = 1
    for p in log.parent.glob(log.name + ".*"):
        tail = p.name[len(log.name) + 1 :]
        if tail.isdigit():
            n = max(n, int(tail) + 1)
    return log.with_name(f"{log.name}.{n}")


def clean_leftovers(log: Path) -> None:
    """Remove a new log a killed compaction wrote but never swapped in (the old log is whole)."""
    log.with_name(log.name + COMPACT_SUFFIX).unlink(missing_ok=True)


@dataclass
class Draft:
    """A compaction's first phase: the new log written from the old one's first records."""

    tmp: Path
    summaries: dict[str, CallSummary]
    kept: int
    dropped: int
    before: int


def draft(
    log: Path,
    done: set[str],
    call_of: Callable[[Record], str | None],
    describe: Callable[[str], CallSummary | None],
    upto: int | None = None,
) -> Draft:
    """Write the new log from the first `upto` records of `log` (all: None), without the done
    calls'. Appends may go on meanwhile: they are the tail `finish` copies, appends paused.
    `describe` gives a done call's summary when its `scored`/`closed` record carries none (a log
    from before summaries existed); a done call with no summary at all keeps its records."""
    clean_leftovers(log)
    tmp = log.with_name(log.name + COMPACT_SUFFIX)
    before = log.stat().st_size if log.is_file() else 0
    summaries: dict[str, CallSummary] = {}
    held: list[tuple[Record, str | None]] = []
    for record in islice(read_log(log), upto):
        cid = call_of(record)
        held.append((record, cid))
        if cid in done and record.get("k") in ("scored", "closed"):
            found = CallSummary.from_record(record.get("summary"))
            if found is not None:
                summaries[cid] = found
    for cid in done - summaries.keys():
        found = describe(cid)
        if found is not None:
            summaries[cid] = found
    kept = dropped = 0
    with tmp.open("wb") as fh:
        for record, cid in held:
            if cid is not None and cid in summaries:
                dropped += 1
                continue
            fh.write(dumps(record))
            kept += 1
    return Draft(tmp, summaries, kept, dropped, before)


def finish(
    log: Path,
    d: Draft,
    tail: Iterable[Record],
    call_of: Callable[[Record], str | None],
    *,
    crash: Callable[[str], None] | None = None,
) -> Compaction:
    """Append the records logged since the draft (`tail`, in order), make everything durable and
    swap the new log in (see the module docstring). Appends must be paused by the caller."""
    step = crash or (lambda _where: None)
    kept = d.kept
    with d.tmp.open("ab") as fh:
        for record in tail:
            cid = call_of(record)
            if cid is None or cid not in d.summaries:
                fh.write(dumps(record))
                kept += 1
        fh.flush()
        os.fsync(fh.fileno())
    step("written")
    with summaries_path(log).open("ab+") as fh:
        if fh.tell() > 0:  # a line torn by a kill mid-append stays one garbled line, skipped
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
        for summary in d.summaries.values():
            fh.write(dumps(summary.as_record()))
        fh.flush()
        os.fsync(fh.fileno())
    step("summaries")
    archive = None
    if log.is_file():
        archive = _next_archive(log)
        os.link(log, archive)
    step("archived")
    os.replace(d.tmp, log)
    _fsync_dir(log.parent)
    step("swapped")
    return Compaction(kept, d.dropped, len(d.summaries), archive, d.before, log.stat().st_size)


def compact(
    log: Path,
    done: set[str],
    call_of: Callable[[Record], str | None],
    describe: Callable[[str], CallSummary | None],
    *,
    crash: Callable[[str], None] | None = None,
) -> Compaction:
    """Both phases at once, nothing appended meanwhile (at start; `crash` is a test hook)."""
    return finish(log, draft(log, done, call_of, describe), [], call_of, crash=crash)
