"""The /twilio/media WebSocket route: who may open a stream, and what one may cost.

The upgrade request is checked before it is accepted: its X-Twilio-Signature must be Twilio's
signature of the stream's URL (`wss://` + `[shadow] public_url`'s host + /twilio/media, as
`shadow twiml --audio` prints it, with no parameters: what Twilio signs for a WebSocket), else
the handshake is refused (HTTP 403) with one log line. So are streams past
`[shadow] media_max_streams`, and every stream when `[asr] kind = "none"` (audio needs an ASR
engine to become words). After the handshake: messages over `media_max_message_bytes` (uvicorn's
ws_max_size closes those), more frames than `media_max_frames_per_s` (a token bucket holding
`media_burst_s` of them), no message for `media_idle_timeout_s`, or a message that is not Twilio's
close the connection (1008), with one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from .media import MediaStreams, Stream
from .media_wire import BadMessage, Connected, Media, Other, Start, Stop, parse_message
from .refusals import RefusalLog
from .signature import check

log = logging.getLogger("shadowpilot.shadow")

MEDIA_ROUTE = "/twilio/media"
POLICY = 1008  # WebSocket close code: policy violation


def stream_url(public_url: str) -> str:
    """The URL Twilio connects to (and signs) for `public_url`: wss:// for https://, ws:// for http://."""
    base = public_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :]
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :]
    return base


class Bucket:
    """Frames a stream may send: `rate` a second, `burst_s` seconds of them at once."""

    def __init__(self, rate: float, burst_s: float):
        self.rate = rate
        self.capacity = rate * burst_s
        self.tokens = self.capacity
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def media_endpoint(media: MediaStreams | None, validator: Any, public_url: str, refusals: RefusalLog, why_not: str):
    signed_for = stream_url(public_url)
    s = media.settings if media is not None else None

    async def endpoint(websocket: WebSocket) -> None:
        client = websocket.client.host if websocket.client else "?"
        path = websocket.url.path

        async def refuse(why: str) -> None:
            if media is not None:
                media.counts.refused += 1
            refusals.refused(403, "403 WebSocket %s from %s: %s", path, client, why)
            await websocket.close(code=POLICY)  # before accept: uvicorn answers the handshake 403

        checked = check(
            validator,
            public_url=signed_for,
            path=path,
            query=websocket.url.query,
            method="GET",
            headers=websocket.headers,
            content_type="",
            body=b"",
        )
        if not checked.ok:
            await refuse(checked.why)
            return
        if media is None or s is None:
            await refuse(why_not)
            return
        if media.counts.connections >= s.media_max_streams:
            await refuse(f"{media.counts.connections} streams open, the limit ([shadow] media_max_streams)")
            return
        await websocket.accept()
        media.counts.connections += 1
        stream: Stream | None = None
        bucket = Bucket(s.media_max_frames_per_s, s.media_burst_s)
        last = [time.monotonic()]

        async def watchdog() -> None:
            """The idle deadline, checked a few times a second rather than armed per message (a
            timer per message is a tenth of the loop's time at 50 streams)."""
            idle = s.media_idle_timeout_s
            while True:
                await asyncio.sleep(min(1.0, idle / 4))
                if time.monotonic() - last[0] >= idle:
                    log.warning("stream on %s from %s: no message for %g s, closed", path, client, idle)
                    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                        await websocket.close(code=POLICY)
                    return

        guard = asyncio.create_task(watchdog())
        try:
            while True:
                try:
                    text = await websocket.receive_text()
                except KeyError:  # a binary frame: Twilio sends text only
                    raise BadMessage("a binary WebSocket message") from None
                except RuntimeError:  # closed by the watchdog
                    return
                last[0] = time.monotonic()
                msg = parse_message(text)
                if isinstance(msg, Media):
                    if stream is None or msg.stream_sid != stream.start.stream_sid:
                        raise BadMessage("media before its stream's start, or for another stream")
                    if not bucket.take():
                        log.warning(
                            "stream %s from %s: over %g frames/s ([shadow] media_max_frames_per_s), closed",
                            msg.stream_sid,
                            client,
                            s.media_max_frames_per_s,
                        )
                        await websocket.close(code=POLICY)
                        return
                    media.frame(stream, msg)
                elif isinstance(msg, Start):
                    if stream is not None:
                        raise BadMessage("a second start on one connection")
                    stream = await media.begin(msg)
                elif isinstance(msg, Stop):
                    if stream is not None and msg.stream_sid == stream.start.stream_sid:
                        done, stream = stream, None
                        media.disconnected(done)
                        await media.end(done, "stop")
                elif isinstance(msg, Connected | Other):
                    continue
                # mark: an echo of a mark we sent (bidirectional streams only); nothing to do
        except BadMessage as exc:
            log.warning("stream on %s from %s: %s; closed", path, client, exc)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=POLICY)
        except WebSocketDisconnect:
            pass  # dropped: the stream waits media_idle_timeout_s for a reconnect
        finally:
            guard.cancel()
            media.counts.connections -= 1
            if stream is not None:
                media.disconnected(stream)

    return endpoint
