"""Live audio: Twilio Media Streams on /twilio/media, heard and fed to the same turn loop as transcriptions.

Path of a frame: the WebSocket message is parsed (media_wire.py), a (track, timestamp) already
had is dropped as a duplicate, the frame goes to the frame file (media_log.py) and only once it is
fsync'd is it used: put in timeline order per track (a frame that comes late waits up to
REORDER_MS of stream time for the ones before it; gaps become silence), cut into utterances by the
voice-activity detector (utterances.py), and each utterance, in order of where it ends in the call,
is transcribed by the `[asr]` engine and handed to ShadowService.accept as the
`transcription-content` event Twilio's Real-Time Transcription would have sent for it. That is
the one door: from there an utterance heard here is deduplicated, logged, ordered, shown to the
agent and stored exactly as a transcription webhook's is.

The stream is a transcription of its own: TranscriptionSid `GT` + the first 32 hex digits of the
StreamSid's sha256, SequenceId 0 for `transcription-started` (at `start`), 1, 2, ... for the
utterances, and the next one for `transcription-stopped` (at `stop`, or when the stream stays
disconnected past `[shadow] media_idle_timeout_s`). The cut is deterministic, so a stream re-cut
from its frame file after a restart gives the same SequenceIds to the same utterances: those
already accepted are not transcribed again, and accept would drop them as duplicates anyway.

A dropped connection leaves the stream in memory for `media_idle_timeout_s`: a reconnect with the
same StreamSid carries on where it was, and frames sent again are duplicates. After a restart the
stream is rebuilt from its frame file when Twilio (or the test) connects again with that StreamSid.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import ShadowSettings
from ...errors import StoreError
from .media_log import MediaLog, StoredFrame
from .media_wire import RTT_TRACK, TRACKS, Media, Start, Track
from .utterances import RATE, Cut, Cutter

if TYPE_CHECKING:
    from ...asr.engine import AsrEngine
    from .service import ShadowService

log = logging.getLogger("shadowpilot.shadow")

REORDER_MS = 200  # stream time a late frame is waited for before the track moves past its gap
SILENCE = 0xFF  # mu-law for zero
HISTORY = 3000  # frames a track remembers having had (a minute of 20 ms frames): resends are recognised


def transcription_sid(stream_sid: str) -> str:
    return "GT" + hashlib.sha256(stream_sid.encode()).hexdigest()[:32]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class MediaCounts:
    """What /healthz shows of the live audio."""

    streams_open: int = 0
    connections: int = 0
    refused: int = 0
    frames: int = 0  # media messages taken (each once)
    duplicates: int = 0  # a (track, timestamp) already had: resent, or a replayed copy
    late: int = 0  # came after the track had moved past its place: dropped, counted
    utterances: int = 0
    asr_errors: int = 0
    rebuilt: int = 0  # streams re-cut from their frame file after a restart

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class TrackState:
    cutter: Cutter
    frontier: int = 0  # samples of the timeline handed to the cutter
    seen: set[int] = field(default_factory=set)  # timestamps at or past the frontier, in flight or waiting
    waiting: dict[int, bytes] = field(default_factory=dict)  # durable frames not yet in order
    newest_ms: int = 0  # the latest durable frame's timestamp
    fed: set[int] = field(default_factory=set)  # the timestamps of the last HISTORY frames given to the cutter
    fed_order: deque[int] = field(default_factory=deque)

    def remember(self, ts: int) -> None:
        self.fed.add(ts)
        self.fed_order.append(ts)
        if len(self.fed_order) > HISTORY:
            self.fed.discard(self.fed_order.popleft())


class Stream:
    """One Media Stream's state, across its connections."""

    def __init__(self, media: MediaStreams, start: Start, received: float):
        self.media = media
        self.start = start
        self.received = received  # when the stream began, on this server's clock (kept in its file)
        self.gt = transcription_sid(start.stream_sid)
        self.tracks: dict[Track, TrackState] = {t: TrackState(media.cutter()) for t in start.tracks}
        self.ready: list[tuple[int, int, Cut]] = []  # cut, not yet given a sequence number: (end, track, cut)
        self.seq = 0
        self.turns: asyncio.Queue[tuple[int, Track | None, Cut | None, asyncio.Task[str] | None]] = asyncio.Queue()
        self.connections = 0
        self.stopped = False
        self.last_seen = time.monotonic()
        self.work = asyncio.Lock()  # one cutting pass at a time: a track's audio goes in in order
        self.scheduled = False  # a cutting pass is waiting to run
        self.on_durable = functools.partial(media.durable, self)  # one callback object: see MediaLog._pass
        self.sender = asyncio.create_task(self._send_turns(), name=f"media-{start.stream_sid}")

    # -- frames in ----------------------------------------------------------------------

    def take(self, m: Media) -> bool:
        """Whether this frame is new (then it goes to disk and into its track). A (track, timestamp)
        had before is a duplicate; a frame behind the track's frontier that it never had is late:
        dropped and counted (the track moved past its place, so a re-cut from disk hears what the
        live cut heard). Only the last HISTORY frames a
        track took are remembered: an older frame sent again counts as late, and is dropped too."""
        state = self.tracks.get(m.track)
        if state is None:
            return False  # a track the stream's start did not announce
        if m.timestamp_ms in state.seen or m.timestamp_ms in state.fed:
            self.media.counts.duplicates += 1
            return False
        if m.timestamp_ms * RATE // 1000 < state.frontier:
            self.media.counts.late += 1
            return False
        state.seen.add(m.timestamp_ms)
        return True

    def durable(self, frames: list[StoredFrame | Media]) -> None:
        """Frames now on disk: into their tracks' reorder buffers."""
        for f in frames:
            state = self.tracks.get(f.track)
            if state is None:
                continue
            state.waiting[f.timestamp_ms] = f.payload
            state.newest_ms = max(state.newest_ms, f.timestamp_ms)

    async def advance(self, *, final: bool = False) -> None:
        """Hand each track the audio now in order, cut it, and number the utterances that ended."""
        async with self.work:
            self.scheduled = False  # frames landing from here on need a pass of their own
            feeds: dict[Track, bytes] = {}
            for track, state in self.tracks.items():
                feeds[track] = self._ordered(state, final)
            loop = asyncio.get_running_loop()
            cuts = await loop.run_in_executor(self.media.vad_pool, self._cut, feeds, final)
            order = {t: i for i, t in enumerate(TRACKS)}
            for track, found in cuts.items():
                self.ready.extend((c.end_ms, order[track], c) for c in found)
            self.ready.sort(key=lambda x: (x[0], x[1]))
            bound = min((s.cutter.bound_ms() for s in self.tracks.values()), default=0)
            while self.ready and (final or self.ready[0][0] <= bound):
                _, track_no, cut = self.ready.pop(0)
                self.seq += 1
                self._turn(self.seq, TRACKS[track_no], cut)

    def _ordered(self, state: TrackState, final: bool) -> bytes:
        """The waiting frames that are in order now (past REORDER_MS behind the newest, or all when
        final), gaps filled with silence, overlaps trimmed."""
        horizon = None if final else state.newest_ms - REORDER_MS
        out = bytearray()
        for ts in sorted(state.waiting):
            if horizon is not None and ts > horizon:
                break
            payload = state.waiting.pop(ts)
            state.seen.discard(ts)
            state.remember(ts)
            at = ts * RATE // 1000
            if at > state.frontier:
                out += bytes([SILENCE]) * (at - state.frontier)
                state.frontier = at
            skip = state.frontier - at
            if skip < len(payload):
                out += payload[skip:]
                state.frontier += len(payload) - skip
        return bytes(out)

    def _cut(self, feeds: dict[Track, bytes], final: bool) -> dict[Track, list[Cut]]:
        """In the detector's thread."""
        out: dict[Track, list[Cut]] = {}
        for track, audio in feeds.items():
            cutter = self.tracks[track].cutter
            out[track] = cutter.feed(audio) if audio else []
            if final:
                out[track] += cutter.finish()
        return out

    # -- utterances out -----------------------------------------------------------------

    def key(self, seq: int) -> str:
        return f"rtt:{self.start.call_sid}:{self.gt}:{seq}"

    def _turn(self, seq: int, track: Track, cut: Cut) -> None:
        self.media.counts.utterances += 1
        done = self.key(seq) in self.media.service.book.seen or self.start.call_sid in self.media.service.book.finished
        hearing = None if done else asyncio.create_task(self.media.hear(cut))
        self.turns.put_nowait((seq, track, cut, hearing))

    def close(self) -> None:
        """The stream is over: its stopped event goes after its last utterance."""
        self.seq += 1
        self.turns.put_nowait((self.seq, None, None, None))

    async def _send_turns(self) -> None:
        """Hand the utterances to the service in SequenceId order (each after its transcription)."""
        await self.media.send(self, 0, None, None, "")
        while True:
            seq, track, cut, hearing = await self.turns.get()
            text = await hearing if hearing is not None else None
            if hearing is None and track is not None:
                continue  # accepted before (a stream re-cut after a restart)
            await self.media.send(self, seq, track, cut, text or "")
            if track is None:
                return


class MediaStreams:
    """Every live stream of the server, and what they share: the frame files, the detector, the ASR."""

    def __init__(
        self,
        service: ShadowService,
        engine: AsrEngine | None,
        folder: Path,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.service = service
        self.engine = engine
        self.settings: ShadowSettings = service.settings.shadow
        self.clock = clock
        self.log = MediaLog(folder, fsync_ms=self.settings.media_fsync_ms)
        self.counts = MediaCounts()
        self.streams: dict[str, Stream] = {}
        self.hearing = asyncio.Semaphore(self.settings.media_asr_concurrency)
        self.vad_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow-vad")
        self._model: Any = None
        self._reaper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, holding on to it until it is done (the loop keeps weak refs)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cutter(self) -> Cutter:
        s = self.settings
        if self._model is None:
            from .utterances import vad_model

            self._model = vad_model()
        return Cutter(
            self._model,
            silence_ms=s.media_silence_ms,
            max_utterance_s=s.media_max_utterance_s,
            min_speech_ms=s.media_min_speech_ms,
        )

    def start(self) -> None:
        self.log.start()
        self.cutter()  # load the detector now, not on the first call
        self._reaper = asyncio.create_task(self._reap_idle(), name="media-reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        for stream in list(self.streams.values()):
            stream.sender.cancel()
            await asyncio.gather(stream.sender, return_exceptions=True)
        self.log.stop()
        self.vad_pool.shutdown(wait=True)

    def health(self) -> dict[str, Any]:
        self.counts.streams_open = len(self.streams)
        return {**self.counts.as_dict(), **self.log.stats.as_dict()}

    # -- a connection -------------------------------------------------------------------

    async def begin(self, start: Start) -> Stream:
        """The stream a `start` names: still in memory (a reconnect), rebuilt from its frame file
        (after a restart), or new."""
        stream = self.streams.get(start.stream_sid)
        if stream is not None:
            stream.connections += 1
            return stream
        received = self.clock()
        existing = await asyncio.get_running_loop().run_in_executor(None, self.log.open_stream, start, received)
        if existing is not None:
            received = float(existing.header.get("rx", received))
        stream = Stream(self, start, received)
        stream.connections = 1
        self.streams[start.stream_sid] = stream
        if existing is not None and existing.frames:
            self.counts.rebuilt += 1
            seen: set[tuple[str, int]] = set()
            frames = []
            for f in existing.frames:
                if (f.track, f.timestamp_ms) not in seen:
                    seen.add((f.track, f.timestamp_ms))
                    frames.append(f)
            stream.durable(frames)  # type: ignore[arg-type]
            for state in stream.tracks.values():
                state.newest_ms += REORDER_MS  # everything stored is in order now
            await stream.advance()
            log.info("stream %s: rebuilt from %d stored frame(s)", start.stream_sid, len(frames))
        return stream

    def frame(self, stream: Stream, m: Media) -> None:
        stream.last_seen = time.monotonic()
        if not stream.take(m):
            return
        self.counts.frames += 1
        self.log.append(stream.start.stream_sid, [m], stream.on_durable)

    def durable(self, stream: Stream, frames: list[Media] | None, error: BaseException | None) -> None:
        """The writer's word on a stream's frames of one pass: on disk (then used), or not (dropped)."""
        if error is not None or frames is None:
            log.error("stream %s: frame(s) not made durable, not used: %s", stream.start.stream_sid, error)
            return
        stream.durable(frames)  # type: ignore[arg-type]
        if not stream.scheduled:  # one cutting pass waiting at a time, however many frames came
            stream.scheduled = True
            self._spawn(self._advance(stream))

    async def _advance(self, stream: Stream, *, final: bool = False) -> None:
        try:
            await stream.advance(final=final)
        except Exception:
            log.exception("stream %s: cutting its audio failed", stream.start.stream_sid)

    async def end(self, stream: Stream, why: str) -> None:
        """The stream stopped (or stayed away too long): its last utterances, then transcription-stopped."""
        if stream.stopped:
            return
        stream.stopped = True
        await self._wait_durable(stream)
        await self._advance(stream, final=True)
        stream.close()
        self.log.close_stream(stream.start.stream_sid)
        await asyncio.gather(stream.sender, return_exceptions=True)
        self.streams.pop(stream.start.stream_sid, None)
        log.info("stream %s of call %s ended: %s", stream.start.stream_sid, stream.start.call_sid, why)

    async def _wait_durable(self, stream: Stream) -> None:
        """Let the frames already handed to the writer land (one pass) before the final cut."""
        landed = asyncio.get_running_loop().create_future()

        def done(*_: object) -> None:
            if not landed.done():
                landed.set_result(None)

        self.log.append(stream.start.stream_sid, [], done)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(landed, timeout=10)

    def disconnected(self, stream: Stream) -> None:
        stream.connections -= 1
        stream.last_seen = time.monotonic()

    async def _reap_idle(self) -> None:
        idle = self.settings.media_idle_timeout_s
        while True:
            await asyncio.sleep(min(1.0, idle / 4))
            now = time.monotonic()
            for stream in list(self.streams.values()):
                if stream.connections <= 0 and now - stream.last_seen >= idle and not stream.stopped:
                    self._spawn(self.end(stream, f"disconnected for {idle:g} s without a reconnect"))

    # -- hearing and handing on -----------------------------------------------------------

    async def hear(self, cut: Cut) -> str:
        from ...asr.audio import Audio

        assert self.engine is not None
        async with self.hearing:
            try:
                heard = await self.engine.transcribe(Audio.from_mulaw(cut.audio))
            except Exception as exc:  # AsrError mostly: sent with no words (not a turn); the stream goes on
                self.counts.asr_errors += 1
                log.warning("the ASR engine failed on an utterance: %s", exc)
                return ""
        return heard.text.strip()

    async def send(self, stream: Stream, seq: int, track: Track | None, cut: Cut | None, text: str) -> None:
        """The event Twilio's Real-Time Transcription would have sent, through the webhooks' own door."""
        s = stream.start
        params: dict[str, str] = {
            "AccountSid": s.account_sid or "",
            "CallSid": s.call_sid,
            "TranscriptionSid": stream.gt,
            "SequenceId": str(seq),
            "StreamSid": s.stream_sid,
        }
        if not params["AccountSid"]:
            del params["AccountSid"]
        if seq == 0:
            params |= {"TranscriptionEvent": "transcription-started", "Track": "both_tracks"}
            params["Timestamp"] = _iso(stream.received)
        elif track is None or cut is None:
            params["TranscriptionEvent"] = "transcription-stopped"
            params["Timestamp"] = _iso(self.clock())
        else:
            params |= {
                "TranscriptionEvent": "transcription-content",
                "Track": RTT_TRACK[track],
                "Final": "true",
                "TranscriptionData": json.dumps({"transcript": text}),
                "Timestamp": _iso(stream.received + cut.end_ms / 1000.0),
                "AudioStartMs": str(cut.start_ms),
                "AudioEndMs": str(cut.end_ms),
            }
        delay = 0.2
        while True:
            try:
                await self.service.accept("transcriptions", params)
                return
            except StoreError as exc:  # a full disk: the event is not lost, only late
                log.warning("stream %s: utterance %d not stored yet, retrying: %s", s.stream_sid, seq, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
