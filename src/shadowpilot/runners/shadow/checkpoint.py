"""Log compaction: the event log keeps only what a restart needs, done calls move to a summaries file.

A call is done once its `scored` (written to the store) or `closed` record is in the log. At a
checkpoint the server pauses appends and rewrites the log:

1. every record of a call not done (and of a task naming no call, unless calls.CallBook let go
   of it as an orphan) is copied, in order, to `events.jsonl.compact` (while appends go on),
   then, appends paused, those appended since, and the file is fsync'd;
2. each done call's summary (its `shadow calls` view) is appended to `calls.jsonl`, and a line
   for each orphan task let go of (which archive holds its events, and why) to
   `dropped-tasks.jsonl`, each fsync'd;
3. the current log is hard-linked as the next archive `events.jsonl.N` (never read again);
4. `events.jsonl.compact` is renamed over `events.jsonl` and the folder fsync'd.

The guarantee: at every instant `events.jsonl` is either the whole old log or the complete new
one (the rename is atomic and follows the fsyncs), and every done call's summary is durable in
`calls.jsonl` before its records leave the log. So a kill at any step loses no acknowledged
event of a call not done and no done call's listing; a kill between steps 2 and 4 leaves the old
log and a summary twice, which readers take once (the done call's later events are ignored).
Readers open the log before reading the summaries, so they see one side of the swap or the
other, never neither. They read both through the durable reader (eventlog.LogReader and
records.py's models): a log line that is not a usable record is skipped and reported with its
line number, as ever (calls.replay); a summaries line that is not one (torn by a kill) is
skipped. The new log and `calls.jsonl` are created 0600 like the log (private.py), and the
summaries are appended all or nothing (cut back on a failed write, as the log's batches are).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from ...private import fsync_dir, open_private
from .calls import CallBook, CallSummary, DroppedTask, replay
from .eventlog import LogReader, Record, dumps, write_all
from .records import BadRecord, ClosedRecord, EventRecord, LogRecord, ScoredRecord, read_record

CallOf = Callable[[Record | LogRecord], str | None]  # CallBook.record_call: the call a record is of

SUMMARIES = "calls.jsonl"
DROPPED_TASKS = "dropped-tasks.jsonl"
COMPACT_SUFFIX = ".compact"


def summaries_path(log: Path) -> Path:
    return log.with_name(SUMMARIES)


def read_summaries(log: Path) -> Iterator[CallSummary]:
    """The done calls' summaries, in the order they were written, each read as records.Summary.
    A torn last line (a kill mid-append) or a line that is no summary is skipped.

    Speed (`shadow calls` over a pilot's 20,000 summaries): the file is decoded in one JSON call
    when every line holds one object (else line by line, through LogReader's rules), and a
    summary already of the model's exact types (what the server writes) is taken as it is; any
    other goes through records.Summary, which accepts or refuses it as before. A summary read
    from a line as the server writes it also carries its view's own bytes (`CallSummary.raw`),
    which `shadow calls --json` prints instead of encoding the view again."""
    records, lines = _summary_records(summaries_path(log))
    for n, record in enumerate(records):
        summary = _as_written(record)
        if summary is None:
            try:
                summary = CallSummary.from_record(record)
            except BadRecord:
                continue
        elif lines is not None:
            summary.raw = _view_bytes(lines[n], record)
        yield summary


def _summary_records(path: Path) -> tuple[list[Record], list[bytes] | None]:
    """Every record of a JSONL file, as LogReader reads them, in one decode when it can: the
    lines up to the last newline (a torn last line is not read), blank ones left out, each one
    JSON object; then also those lines, one per record. Any line that is not (garbage, a torn
    write, two values) sends the whole file through LogReader, which skips it or reads the
    record after it (and no lines are given)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], None
    lines = [line for line in data[: data.rfind(b"\n") + 1].split(b"\n") if line.strip()]
    try:
        records = json.loads(b"[" + b",".join(lines) + b"]")
    except (ValueError, RecursionError):
        records = None
    if isinstance(records, list) and len(records) == len(lines) and all(type(r) is dict for r in records):
        return records, lines
    return [record for _, record in LogReader(path)], None


def _as_written(record: Record) -> CallSummary | None:
    """The summary when the record has exactly the types records.Summary wants (a str call, a
    finite number first_rx, an object view: JSON keys are always strings), else None."""
    call, view, first = record.get("call"), record.get("view"), record.get("first_rx", 0.0)
    if type(call) is not str or type(view) is not dict or type(first) not in (int, float):
        return None
    return CallSummary(call, float(first), view) if math.isfinite(first) else None


VIEW_KEY = b',"view":'


def _view_bytes(line: bytes, record: Record) -> bytes | None:
    """The view's JSON as the line holds it, when the line is exactly what eventlog.dumps wrote
    for these keys (call, first_rx, view: view last, no spaces) and pure ASCII: then those bytes
    are what json's encoder makes of the decoded view with `(",", ":")` separators, so printing
    them is printing the view. Else None (the view is encoded again). The first `,"view":` is the
    key's: inside a JSON string a quote is always escaped, and call and first_rx come before it."""
    if list(record) != ["call", "first_rx", "view"] or not line.isascii() or not line.endswith(b"}"):
        return None
    at = line.find(VIEW_KEY)
    return line[at + len(VIEW_KEY) : -1] if at > 0 else None


def load(book: CallBook, log: Path) -> int:
    """Fill a book from the summaries and the log, as a reader or a starting server sees them.

    The log is read by calls.replay, the durable reader: a line that is not a usable record is
    skipped and noted in `book.skipped` with its line number, as `serve` and `shadow calls`
    report it. The log is opened first: a compaction that swaps it meanwhile appended its
    summaries before the swap, so whichever log this reads, the done calls it lacks are in the
    summaries.
    """

    def add_summaries() -> None:
        for summary in read_summaries(log):
            book.add_finished(summary)

    replay(book, log, opened=add_summaries)
    return book.log_records  # the log's records: what a compaction's first phase will read


@dataclass
class Compaction:
    """What one checkpoint did."""

    kept: int  # records copied to the new log
    dropped: int  # records of done calls (and of orphan tasks let go of) left in the archive
    done_calls: int  # summaries appended
    archive: Path | None
    bytes_before: int
    bytes_after: int
    dropped_tasks: int = 0  # orphan tasks whose events were left in the archive (dropped-tasks.jsonl)


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
    tasks: list[DroppedTask] = field(default_factory=list)  # orphan tasks whose records were left out


def draft(
    log: Path,
    done: set[str],
    call_of: CallOf,
    describe: Callable[[str], CallSummary | None],
    upto: int | None = None,
    orphans: Iterable[DroppedTask] = (),
) -> Draft:
    """Write the new log from the first `upto` records of `log` (all: None), without the done
    calls'. Appends may go on meanwhile: they are the tail `finish` copies, appends paused.
    `describe` gives a done call's summary when its `scored`/`closed` record carries none (a log
    from before summaries existed); a done call with no summary at all keeps its records.
    `orphans` are tasks the book let go of: their events, logged before they were dropped (by
    key), are left out too, and `finish` writes why to dropped-tasks.jsonl."""
    clean_leftovers(log)
    tmp = log.with_name(log.name + COMPACT_SUFFIX)
    before = log.stat().st_size if log.is_file() else 0
    summaries: dict[str, CallSummary] = {}
    held: list[tuple[Record, str | None]] = []
    for _, record in islice(LogReader(log), upto):
        try:
            rec = read_record(record)
        except BadRecord:  # not applied when read, so kept as it is (it is reported at each start)
            held.append((record, None))
            continue
        cid = call_of(rec)
        held.append((record, cid))
        if cid in done and isinstance(rec, ScoredRecord | ClosedRecord) and rec.summary is not None:
            summaries[cid] = CallSummary.from_model(rec.summary)
    for cid in done - summaries.keys():
        found = describe(cid)
        if found is not None:
            summaries[cid] = found
    tasks = list(orphans)
    let_go = {key: t.dropped_rx for t in tasks for key in t.keys}  # an orphan's events, by key
    kept = dropped = 0
    # the customers' words, like the log itself: created 0600 (private.py), written in full or raised
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as fh:
        for record, cid in held:
            if cid is not None and cid in summaries:
                dropped += 1
                continue
            if let_go and _let_go(record, let_go):
                dropped += 1
                continue
            fh.write(dumps(record))
            kept += 1
    return Draft(tmp, summaries, kept, dropped, before, tasks)


def _let_go(record: Record, let_go: dict[str, float]) -> bool:
    """An event of an orphan task logged before the task was dropped (a later redelivery, taken
    as new, stays)."""
    if record.get("k") != "ev" or record.get("key") not in let_go:
        return False
    try:
        rec = read_record(record)
    except BadRecord:
        return False
    return isinstance(rec, EventRecord) and rec.received <= let_go[rec.key]


def finish(
    log: Path,
    d: Draft,
    tail: Iterable[Record],
    call_of: CallOf,
    *,
    crash: Callable[[str], None] | None = None,
) -> Compaction:
    """Append the records logged since the draft (`tail`, in order), make everything durable and
    swap the new log in (see the module docstring). Appends must be paused by the caller."""
    step = crash or (lambda _where: None)
    kept = d.kept
    with os.fdopen(open_private(d.tmp, os.O_WRONLY | os.O_APPEND), "ab") as fh:
        for record in tail:
            cid = call_of(record)
            if cid is None or cid not in d.summaries:
                fh.write(dumps(record))
                kept += 1
        fh.flush()
        os.fsync(fh.fileno())
    step("written")
    _append_summaries(summaries_path(log), d.summaries.values())
    archive = _next_archive(log) if log.is_file() else None
    if d.tasks:  # why their events leave the log, durable before they do
        where = archive.name if archive is not None else None
        _append_records(log.with_name(DROPPED_TASKS), [t.as_record(where) for t in d.tasks])
    step("summaries")
    if archive is not None:
        os.link(log, archive)
    step("archived")
    os.replace(d.tmp, log)
    fsync_dir(log.parent)
    step("swapped")
    after = log.stat().st_size
    return Compaction(kept, d.dropped, len(d.summaries), archive, d.before, after, len(d.tasks))


def _append_summaries(path: Path, summaries: Iterable[CallSummary]) -> None:
    """Append the summaries to calls.jsonl (0600) in one write, fsync'd: all or nothing, as the
    event log's batches are. A failed write (a full disk) is cut back to where the file ended,
    so it never holds half a summary, and raised: the compaction stops, the old log in use."""
    _append_records(path, [s.as_record().model_dump() for s in summaries])


def _append_records(path: Path, records: Iterable[Record]) -> None:
    """Append records to a JSONL file (0600) all or nothing (see _append_summaries)."""
    fd = open_private(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        lead = b""
        if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
            lead = b"\n"  # a line torn by a kill mid-append stays one garbled line, skipped
        try:
            write_all(fd, lead + b"".join(dumps(r) for r in records))
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
            raise
    finally:
        os.close(fd)


def compact(
    log: Path,
    done: set[str],
    call_of: CallOf,
    describe: Callable[[str], CallSummary | None],
    *,
    orphans: Iterable[DroppedTask] = (),
    crash: Callable[[str], None] | None = None,
) -> Compaction:
    """Both phases at once, nothing appended meanwhile (at start; `crash` is a test hook)."""
    return finish(log, draft(log, done, call_of, describe, orphans=orphans), [], call_of, crash=crash)


def archives(log: Path) -> list[Path]:
    """The log's archives (`events.jsonl.N`), oldest first."""
    numbered = []
    for p in log.parent.glob(log.name + ".*"):
        tail = p.name[len(log.name) + 1 :]
        if tail.isdigit():
            numbered.append((int(tail), p))
    return [p for _, p in sorted(numbered)]


def prune_archives(log: Path, keep: int | None) -> list[Path]:
    """Delete all but the newest `keep` archives (None: keep all); returns those deleted.

    Only after a swap, and never an archive that is still the live log itself (a compaction
    killed between its link and its swap leaves the log linked as an archive): every other
    archive was written off by a compaction that finished, so each of its records is in
    calls.jsonl (a done call's summary, and a scored call in the store before its `scored`
    record), in the log (a call or task not done was copied over), or in dropped-tasks.jsonl."""
    if keep is None:
        return []
    old = archives(log)
    old = old[: max(len(old) - keep, 0)]
    gone = []
    for path in old:
        if log.is_file() and os.path.samefile(path, log):
            continue
        path.unlink(missing_ok=True)
        gone.append(path)
    if gone:
        fsync_dir(log.parent)
    return gone
