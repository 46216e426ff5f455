"""The shadow server's durable memory: an append-only JSONL log, fsync'd before any 2xx.

One writer thread owns the file. Requests hand it records and wait; it writes
everything queued since its last fsync, fsyncs once, and wakes them all (group
commit), so N concurrent webhooks cost about one fsync, not N. Readers (`shadow
calls`, a restarting server) never lock anything: a torn last line can only be a
record that was never acknowledged, so it is skipped (and cut off on open).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import StoreError

Record = dict[str, Any]


def dumps(record: Record) -> bytes:
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def read_log(path: Path) -> Iterator[Record]:
    """Every complete record, in append order. A torn or garbled line is skipped, not fatal."""
    if not path.is_file():
        return
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return  # a write cut short by a kill: never acknowledged
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
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
    fsync_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))  # the latest ones

    def as_dict(self) -> dict[str, Any]:
        ms = sorted(self.fsync_ms)
        return {
            "records": self.records,
            "fsyncs": self.fsyncs,
            "records_per_fsync": round(self.records / self.fsyncs, 2) if self.fsyncs else None,
            "fsync_ms_p50": round(ms[len(ms) // 2], 3) if ms else None,
            "fsync_ms_max": round(ms[-1], 3) if ms else None,
        }


_STOP = object()


class EventLog:
    """Append records durably from asyncio code: `await log.append(record)` returns after fsync."""

    def __init__(self, path: Path):
        self.path = path
        self.stats = LogStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._fh: Any = None
        self._failed: BaseException | None = None

    def open(self) -> None:
        from ...private import open_private, private_dir

        private_dir(self.path.parent)  # the customers' words: this account's alone (0700, the log 0600)
        _cut_torn_tail(self.path)
        self._fh = os.fdopen(open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab", buffering=0)
        # make the file's directory entry durable too, the first time it is created
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
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
        if self._failed is not None:
            raise StoreError(f"the shadow event log {self.path} cannot be written: {self._failed}")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put((dumps(record), loop, fut))
        await fut

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
                self._fh.write(b"".join(line for line, _, _ in batch))
                t0 = time.perf_counter()
                os.fsync(self._fh.fileno())
                self.stats.fsync_ms.append((time.perf_counter() - t0) * 1000)
                self.stats.fsyncs += 1
                self.stats.records += len(batch)
            except OSError as exc:
                error = self._failed = exc
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
