"""The Media Streams audio, durable before it is used: one append-only frame file per stream.

`media/<StreamSid>.frames` holds a header line (the stream's `start`, JSON) and then one binary
record per frame: `FRAME` (track, timestamp ms, payload length, crc32 of the payload) then the
raw mu-law payload. One writer thread owns every open file: frames handed to it since its last
pass are written, each file written to is fsync'd once, and only then are the frames handed back
to the server to be cut into utterances (group commit, as events.jsonl does; passes are at most
`[shadow] media_fsync_ms` apart while frames keep coming). A record cut short by a crash, or one
whose crc does not match, ends the readable file: the reader stops there and a reopen cuts the
file back to the last whole record, so every frame read back is whole and was fsync'd.

Duplicates never reach the file: a frame is a (track, timestamp) of its stream, and the server
keeps one of each (media.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import StoreError
from .eventlog import write_all
from .media_wire import TRACKS, Media, Start, Track

FRAME = struct.Struct("<BIHI")  # track (0 inbound, 1 outbound), timestamp ms, payload bytes, crc32
MAGIC = b"SPMEDIA1 "
FSYNC_THREADS = 16  # streams fsync'd at once in a pass


@dataclass(frozen=True, slots=True)
class StoredFrame:
    track: Track
    timestamp_ms: int
    payload: bytes


def frame_bytes(track: Track, timestamp_ms: int, payload: bytes) -> bytes:
    return FRAME.pack(TRACKS.index(track), timestamp_ms, len(payload), zlib.crc32(payload)) + payload


def header_bytes(start: Start, received: float) -> bytes:
    head = {
        "stream": start.stream_sid,
        "call": start.call_sid,
        "account": start.account_sid,
        "tracks": list(start.tracks),
        "custom": start.custom,
        "rx": received,
    }
    return MAGIC + json.dumps(head, separators=(",", ":")).encode() + b"\n"


@dataclass
class StreamFile:
    """What a frame file holds: its `start` header, its whole frames, and where they end."""

    header: dict[str, Any]
    frames: list[StoredFrame]
    good_bytes: int  # the end of the last whole record: anything after it was never durable


def read_frames(path: Path) -> StreamFile | None:
    """The stream's header and every whole frame, in the order written; None for no usable file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    end = data.find(b"\n")
    if not data.startswith(MAGIC) or end < 0:
        return None
    try:
        header = json.loads(data[len(MAGIC) : end])
    except ValueError:
        return None
    frames: list[StoredFrame] = []
    at = end + 1
    while at + FRAME.size <= len(data):
        track_no, timestamp, length, crc = FRAME.unpack_from(data, at)
        body = data[at + FRAME.size : at + FRAME.size + length]
        if track_no >= len(TRACKS) or len(body) != length or zlib.crc32(body) != crc:
            break  # a torn or garbled record: nothing after it was written whole
        frames.append(StoredFrame(TRACKS[track_no], timestamp, body))
        at += FRAME.size + length
    return StreamFile(header, frames, at)


@dataclass
class MediaStats:
    frames: int = 0  # frames made durable
    fsyncs: int = 0
    passes: int = 0
    failed: int = 0  # frames not made durable (a full disk): never used
    fsync_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        ms = sorted(self.fsync_ms[-10_000:])
        return {
            "frames_durable": self.frames,
            "fsyncs": self.fsyncs,
            "passes": self.passes,
            "frames_not_durable": self.failed,
            "fsync_ms_p50": round(ms[len(ms) // 2], 3) if ms else None,
            "fsync_ms_max": round(ms[-1], 3) if ms else None,
        }


Done = Callable[[list[Media] | None, BaseException | None], None]
_STOP = object()


class _Open:
    """One stream's file as the writer holds it."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd
        self.good = os.fstat(fd).st_size


class MediaLog:
    """Frame files under `folder`, written by one thread. `open_stream` is synchronous (a stream
    starts once); `append` hands frames over and returns at once: `done` is called on the event
    loop with the frames once they are fsync'd, or with the error that kept them from disk."""

    def __init__(self, folder: Path, *, fsync_ms: float):
        self.folder = folder
        self.interval_s = fsync_ms / 1000.0
        self.stats = MediaStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._files: dict[str, _Open] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fsync_pool = ThreadPoolExecutor(max_workers=FSYNC_THREADS, thread_name_prefix="shadow-media-fsync")

    def path(self, stream_sid: str) -> Path:
        return self.folder / f"{stream_sid}.frames"

    def start(self) -> None:
        from ...private import private_dir

        private_dir(self.folder.parent)
        private_dir(self.folder)  # the customers' voices: this account's alone
        self._thread = threading.Thread(target=self._run, name="shadow-media-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._fsync_pool.shutdown(wait=True)
        with self._lock:
            for f in self._files.values():
                os.close(f.fd)
            self._files.clear()

    def open_stream(self, start: Start, received: float) -> StreamFile | None:
        """Open (or reopen, after a dropped connection or a restart) a stream's file. Returns what
        the file already held (None: new), cut back to its last whole record."""
        from ...private import fsync_dir, open_private

        path = self.path(start.stream_sid)
        with self._lock:
            if start.stream_sid in self._files:
                return None  # still open from an earlier connection: its frames are in memory
        existing = read_frames(path)
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            if existing is None:
                os.ftruncate(fd, 0)
                write_all(fd, header_bytes(start, received))
            elif os.fstat(fd).st_size != existing.good_bytes:
                os.ftruncate(fd, existing.good_bytes)  # a torn record from before a crash
            os.fsync(fd)
            fsync_dir(self.folder)
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"could not open the stream's audio file {path}: {exc}") from exc
        with self._lock:
            self._files[start.stream_sid] = _Open(path, fd)
        return existing

    def close_stream(self, stream_sid: str) -> None:
        """Close a stream's file once its frames are durable (queued after them)."""
        self._queue.put(("close", stream_sid))

    def append(self, stream_sid: str, frames: list[Media], done: Done) -> None:
        loop = asyncio.get_running_loop()
        self._queue.put(("frames", stream_sid, frames, loop, done))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            # let the interval's frames gather without waking for each (a wake-up per frame is a GIL
            # hand-off per frame, which the event loop pays for), then take them all: one pass
            if first is not _STOP:
                time.sleep(self.interval_s)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._pass(batch)
            if stop:
                return

    def _commit(self, entry: tuple[str, list[tuple[list[Media], Any, Done]]]) -> BaseException | None:
        """One stream's frames of a pass, written and fsync'd; the error that kept them off disk, if any."""
        sid, items = entry
        with self._lock:
            f = self._files.get(sid)
        count = sum(len(frames) for frames, _, _ in items)
        if f is None:
            return StoreError(f"stream {sid} has no open audio file")
        data = b"".join(frame_bytes(m.track, m.timestamp_ms, m.payload) for frames, _, _ in items for m in frames)
        try:
            write_all(f.fd, data)
            t0 = time.perf_counter()
            os.fsync(f.fd)
            ms = (time.perf_counter() - t0) * 1000
        except OSError as exc:  # a full disk: cut back to the last durable byte, use none of them
            with contextlib.suppress(OSError):
                os.ftruncate(f.fd, f.good)
            with self._lock:
                self.stats.failed += count
            return StoreError(f"could not write the stream's audio {f.path}: {exc}")
        f.good += len(data)
        with self._lock:
            self.stats.fsync_ms.append(ms)
            if len(self.stats.fsync_ms) > 20_000:
                del self.stats.fsync_ms[:10_000]
            self.stats.fsyncs += 1
            self.stats.frames += count
        return None

    def _pass(self, batch: list[Any]) -> None:
        self.stats.passes += 1
        per_file: dict[str, list[tuple[list[Media], Any, Done]]] = {}
        closing: list[str] = []
        for item in batch:
            if item[0] == "close":
                closing.append(item[1])
                continue
            _, sid, frames, loop, done = item
            per_file.setdefault(sid, []).append((frames, loop, done))
        # every file's frames written, then every file fsync'd at once (FSYNC_THREADS at a time): the
        # filesystem commits them together, where one after the other 50 streams cost 50 fsyncs a pass
        outcome = list(self._fsync_pool.map(self._commit, per_file.items()))
        for (_sid, items), error in zip(per_file.items(), outcome, strict=True):
            # one wake-up of the loop per callback and pass, not per frame: a stream hands every
            # frame over with the same callback, so its frames of a pass come back together
            grouped: dict[int, tuple[Any, Done, list[Media]]] = {}
            for frames, loop, done in items:
                grouped.setdefault(id(done), (loop, done, []))[2].extend(frames)
            for loop, done, frames in grouped.values():
                with contextlib.suppress(RuntimeError):  # the loop is gone: the server is stopping
                    loop.call_soon_threadsafe(done, None if error else frames, error)
        for sid in closing:
            with self._lock:
                f = self._files.pop(sid, None)
            if f is not None:
                os.close(f.fd)


def stored_frames(path: Path) -> Iterator[StoredFrame]:
    """Every whole frame of a stream's file (for tests, `shadow` tooling and the bench)."""
    found = read_frames(path)
    yield from found.frames if found is not None else ()
