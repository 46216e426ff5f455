"""The shadow server's durable memory: an append-only JSONL log, fsync'd before any 2xx.

One writer thread owns the file. Requests hand it records and wait; it writes
everything queued since its last fsync, fsyncs once, and wakes them all (group
commit), so N concurrent webhooks cost about one fsync, not N. A batch is all or
nothing: every byte written and fsync'd, or the file cut back to where the last
good batch ended and every request in it told (503), so the log never holds half a
record and a full disk acknowledges nothing; the next batch tries again.

Readers (`shadow calls`, a restarting server) never lock anything: a torn last line
can only be a record that was never acknowledged, so it is skipped (and cut off on
open). A line that is not a record is skipped and reported, never fatal; a complete
record written after garbage on the same line (a torn write followed by an append) is
still read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import StoreError

if TYPE_CHECKING:
    import asyncio

Record = dict[str, Any]


def dumps(record: Record) -> bytes:
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


RECORD_START = b'{"k":'  # every record is written with its kind first (dumps keeps key order)


@dataclass(frozen=True)
class Skipped:
    """A log line that is not a usable record: where it is and why, for the reader to report."""

    line: int  # 1-based
    why: str


def _record_in(raw: bytes) -> tuple[Record | None, bool]:
    """The record a line holds and True; else the complete record after garbage on it (a torn
    write that a later append finished the line of) and False; else (None, False)."""
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        record = None
    if isinstance(record, dict):
        return record, True
    at = raw.rfind(RECORD_START)
    while at > 0:
        try:
            record = json.loads(raw[at:])
        except (ValueError, RecursionError):
            record = None
        if isinstance(record, dict):
            return record, False
        at = raw.rfind(RECORD_START, 0, at)
    return None, False


class LogReader:
    """Iterate a log's records in append order, noting every line skipped (`skipped`)."""

    def __init__(self, path: Path):
        self.path = path
        self.skipped: list[Skipped] = []
        self.records = 0  # records yielded so far (what read_log would have yielded)

    def skip(self, line: int, why: str) -> None:
        self.skipped.append(Skipped(line, why))

    def __iter__(self) -> Iterator[tuple[int, Record]]:
        if not self.path.is_file():
            return
        with self.path.open("rb") as fh:
            for n, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    return  # a write cut short at the end: never acknowledged, not reported
                if not raw.strip():
                    continue
                record, whole = _record_in(raw)
                if record is None:
                    self.skip(n, "not a JSON record")
                    continue
                if not whole:
                    self.skip(n, "a torn write before the record on this line (skipped; the record is read)")
                self.records += 1
                yield n, record


def read_log(path: Path) -> Iterator[Record]:
    """Every complete record, in append order. A torn or garbled line is skipped, not fatal."""
    for _, record in LogReader(path):
        yield record


def _cut_torn_tail(path: Path) -> None:
    """Drop a partial last line so the next append starts on a line of its own."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        fh.truncate(data.rfind(b"\n") + 1)
        fh.flush()
        os.fsync(fh.fileno())


@dataclass
class LogStats:
    """What group commit bought: records written per fsync, and how long fsyncs took."""

    records: int = 0
    fsyncs: int = 0
    failed_batches: int = 0  # batches not made durable (disk full, I/O error): none acknowledged
    fsync_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))  # the latest ones

    def as_dict(self) -> dict[str, Any]:
        ms = sorted(self.fsync_ms)
        return {
            "records": self.records,
            "fsyncs": self.fsyncs,
            "records_per_fsync": round(self.records / self.fsyncs, 2) if self.fsyncs else None,
            "failed_batches": self.failed_batches,
            "fsync_ms_p50": round(ms[len(ms) // 2], 3) if ms else None,
            "fsync_ms_max": round(ms[-1], 3) if ms else None,
        }


_STOP = object()


def write_all(fd: int, data: bytes) -> None:
    """Write every byte or raise: a full disk makes os.write return short without raising."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # not seen on Linux (it raises ENOSPC), but a zero would loop forever
            raise OSError(errno.ENOSPC, "no byte could be written")
        view = view[n:]


class EventLog:
    """Append records durably from asyncio code: `await log.append(record)` returns after fsync."""

    def __init__(self, path: Path):
        self.path = path
        self.stats = LogStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._fh: Any = None
        self._good = 0  # where the last durable batch ends: a failed batch is cut back to it
        self._dirty: BaseException | None = None  # set while bytes past _good could not be cut off

    def open(self) -> None:
        from ...private import fsync_dir, open_private, private_dir

        private_dir(self.path.parent)  # the customers' words: this account's alone (0700, the log 0600)
        _cut_torn_tail(self.path)
        self._fh = os.fdopen(open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab", buffering=0)
        self._good = os.fstat(self._fh.fileno()).st_size
        # make the file's directory entry durable too, the first time it is created
        fsync_dir(self.path.parent)
        self._thread = threading.Thread(target=self._run, name="shadow-eventlog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    async def append(self, record: Record) -> None:
        """Returns once the record is on disk (written and fsync'd); raises StoreError if it is not."""
        import asyncio  # here: reading the log (`shadow calls`) needs no event loop

        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put((dumps(record), loop, fut))
        await fut

    def _commit(self, data: bytes) -> None:
        """One batch, all or nothing: written in full and fsync'd, or cut back and raised."""
        fd = self._fh.fileno()
        if self._dirty is not None:
            self._cut_back()  # a previous failure left bytes behind: they must go first
        try:
            write_all(fd, data)
            t0 = time.perf_counter()
            os.fsync(fd)
            self.stats.fsync_ms.append((time.perf_counter() - t0) * 1000)
        except OSError as exc:
            self._dirty = exc
            with contextlib.suppress(OSError):
                self._cut_back()
            raise
        self._good += len(data)
        self.stats.fsyncs += 1

    def _cut_back(self) -> None:
        """Drop whatever a failed batch left past the last durable byte (a half record)."""
        fd = self._fh.fileno()
        if os.fstat(fd).st_size != self._good:
            os.ftruncate(fd, self._good)
            os.fsync(fd)
        self._dirty = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while True:  # everything that queued up while the last fsync ran goes in this one
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            error: BaseException | None = None
            try:
                self._commit(b"".join(line for line, _, _ in batch))
                self.stats.records += len(batch)
            except Exception as exc:  # OSError mostly; anything else must still answer every request
                error = exc
                self.stats.failed_batches += 1
            for _, loop, fut in batch:
                loop.call_soon_threadsafe(_settle, fut, error, self.path)
            if stop:
                return


def _settle(fut: asyncio.Future[None], error: BaseException | None, path: Path) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(StoreError(f"could not write the shadow event log {path}: {error}"))
