"""Twilio's side of a Media Stream, for tests and bench/media_streams.py: a real WebSocket client
(the `websockets` package) sending `connected`, `start`, 20 ms `media` frames of both tracks and
`stop`, the upgrade request signed as Twilio signs it (the wss:// URL, no parameters)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect

from tests.runners.shadow.twilio_sim import ACCOUNT, PUBLIC_URL, TOKEN, sid

MEDIA_URL = "wss://" + PUBLIC_URL.removeprefix("https://") + "/twilio/media"
FRAME_MS = 20
FRAME_BYTES = 160
SILENT = b"\xff"


def signature(url: str = MEDIA_URL, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, {})


def mulaw_of(wav: Path) -> bytes:
    """A telephone WAV (what synth.say writes: 8 kHz mono mu-law) as raw mu-law bytes."""
    from shadowpilot.asr.audio import mulaw_encode, read_wav

    audio = read_wav(wav)
    assert audio.sample_rate == 8000 and audio.channels == 1, (audio.sample_rate, audio.channels)
    return mulaw_encode(audio.samples[:, 0])


@dataclass(frozen=True)
class Frame:
    track: str  # inbound / outbound
    chunk: int
    timestamp_ms: int
    payload: bytes


def conversation(turns: Iterable[tuple[str, bytes]], gap_s: float = 1.0) -> list[Frame]:
    """Both tracks of a call, frame by frame in send order: each turn's speech on its speaker's track
    (`inbound` the customer, `outbound` the human), silence on the other, `gap_s` between turns."""
    inbound, outbound = bytearray(), bytearray()
    gap = SILENT * int(8000 * gap_s)
    for track, speech in turns:
        inbound += gap
        outbound += gap
        mine, other = (inbound, outbound) if track == "inbound" else (outbound, inbound)
        mine += speech
        other += SILENT * len(speech)
    inbound += gap
    outbound += gap
    frames = []
    n = (len(inbound) + FRAME_BYTES - 1) // FRAME_BYTES
    for i in range(n):
        for track, audio in (("inbound", inbound), ("outbound", outbound)):
            payload = bytes(audio[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]).ljust(FRAME_BYTES, SILENT)
            frames.append(Frame(track, i + 1, i * FRAME_MS, payload))
    return frames


class Stream:
    """One Media Stream: its ids, and the messages Twilio sends on it."""

    def __init__(self, n: int):
        self.call_sid = sid("CA", n)
        self.stream_sid = sid("MZ", n)
        self.seq = 0

    def _next(self) -> str:
        self.seq += 1
        return str(self.seq)

    def connected(self) -> str:
        return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    def start(self) -> str:
        return json.dumps(
            {
                "event": "start",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": ACCOUNT,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound", "outbound"],
                    "customParameters": {},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )

    def media(self, f: Frame) -> str:
        return json.dumps(
            {
                "event": "media",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": f.track,
                    "chunk": str(f.chunk),
                    "timestamp": str(f.timestamp_ms),
                    "payload": base64.b64encode(f.payload).decode(),
                },
            }
        )

    def stop(self) -> str:
        return json.dumps(
            {
                "event": "stop",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": ACCOUNT, "callSid": self.call_sid},
            }
        )


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/twilio/media"


def open_stream(base: str, *, signed: str | None = None, headers: dict[str, str] | None = None):
    """A connection to the server under test, with Twilio's signature of MEDIA_URL (or `signed`)."""
    sent = {"X-Twilio-Signature": signed if signed is not None else signature(), **(headers or {})}
    return connect(ws_url(base), additional_headers=sent, max_size=2**20, open_timeout=10, ping_interval=None)


async def send_frames(ws: ClientConnection, stream: Stream, frames: Iterable[Frame], *, pace: bool = False) -> int:
    """Send `frames`; with `pace`, in real time (each frame when its timestamp, counted from the
    first frame's, comes due). Returns how many were sent."""
    t0 = time.monotonic()
    first: int | None = None
    sent = 0
    for f in frames:
        if pace:
            first = f.timestamp_ms if first is None else first
            delay = t0 + (f.timestamp_ms - first) / 1000.0 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await ws.send(stream.media(f))
        sent += 1
    return sent
