"""Twilio Media Streams messages (JSON text frames on /twilio/media) -> small typed messages.

Shapes (twilio.com/docs/voice/media-streams/websocket-messages; wire-format reference 2.2):
`connected` {protocol, version}; `start` {sequenceNumber, streamSid, start: {accountSid, streamSid,
callSid, tracks, customParameters, mediaFormat: {encoding audio/x-mulaw, sampleRate 8000,
channels 1}}}; `media` {sequenceNumber, streamSid, media: {track inbound|outbound, chunk,
timestamp (ms since the stream began), payload (base64 mu-law)}}; `mark` {mark: {name}};
`stop` {stop: {accountSid, callSid}}; `dtmf` (ignored). Twilio sends the numbers as strings.
A message that is not one of these, or a `start` with another media format, is BadMessage:
the stream is closed, never half-understood.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Literal

Track = Literal["inbound", "outbound"]
TRACKS: tuple[Track, ...] = ("inbound", "outbound")
RTT_TRACK: dict[Track, str] = {"inbound": "inbound_track", "outbound": "outbound_track"}

MAX_PAYLOAD_BYTES = 8000  # one second of 8 kHz mu-law: Twilio sends 20 ms (160 bytes)
MAX_TIMESTAMP_MS = 48 * 3600 * 1000  # a stream longer than two days is not a phone call
MAX_CUSTOM_PARAMETERS = 32

_STREAM_SID = re.compile(r"MZ[0-9a-fA-F]{32}")
_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_DIGITS = re.compile(r"[0-9]{1,15}")


class BadMessage(ValueError):
    """A message that is not what Twilio sends on a Media Stream (the stream is closed)."""


@dataclass(frozen=True)
class Connected:
    protocol: str


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str | None
    tracks: tuple[Track, ...]
    custom: dict[str, str]


@dataclass(frozen=True, slots=True)
class Media:
    stream_sid: str
    seq: int | None  # sequenceNumber: per connection, in send order
    track: Track
    chunk: int | None
    timestamp_ms: int  # where the frame sits in its track: the frame's identity within the stream
    payload: bytes  # raw mu-law


@dataclass(frozen=True)
class Mark:
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Stop:
    stream_sid: str
    call_sid: str | None


@dataclass(frozen=True)
class Other:
    event: str  # dtmf, or an event Twilio adds later: ignored


Message = Connected | Start | Media | Mark | Stop | Other


def _obj(value: object, name: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise BadMessage(f"field {name}: expected an object")
    return value


def _text(obj: dict[str, object], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise BadMessage(f"field {where}{name}: expected a string")
    return value


def _num(value: object, name: str, *, required: bool = True) -> int | None:
    """Twilio's numbers are strings of digits; JSON numbers are taken too (never bools or floats)."""
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise BadMessage(f"field {name}: expected a whole number, got {value!r:.40}")


def _sid(value: str, pattern: re.Pattern[str], name: str) -> str:
    if not pattern.fullmatch(value):
        raise BadMessage(f"field {name}: {value!r:.40} is not a Twilio {name}")
    return value


def _track(value: object) -> Track:
    # the media message says inbound/outbound; accept the *_track spelling dtmf uses too
    name = value.removesuffix("_track") if isinstance(value, str) else value
    if name not in TRACKS:
        raise BadMessage(f"field media.track: expected inbound or outbound, got {value!r:.40}")
    return name  # type: ignore[return-value]


def parse_message(text: str | bytes) -> Message:
    """One WebSocket text frame as a typed message; BadMessage naming the field otherwise."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raise BadMessage("not a JSON message") from None
    msg = _obj(raw, "message")
    event = msg.get("event")
    if event == "media":
        media = _obj(msg.get("media"), "media")
        timestamp = _num(media.get("timestamp"), "media.timestamp")
        assert timestamp is not None
        if timestamp > MAX_TIMESTAMP_MS:
            raise BadMessage(f"field media.timestamp: {timestamp} ms is past any call's length")
        payload_text = media.get("payload")
        if not isinstance(payload_text, str) or len(payload_text) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
            raise BadMessage(f"field media.payload: expected base64 of at most {MAX_PAYLOAD_BYTES} bytes")
        try:
            payload = base64.b64decode(payload_text, validate=True)
        except (binascii.Error, ValueError):
            raise BadMessage("field media.payload: not base64") from None
        return Media(
            stream_sid=_sid(_text(msg, "streamSid", ""), _STREAM_SID, "streamSid"),
            seq=_num(msg.get("sequenceNumber"), "sequenceNumber", required=False),
            track=_track(media.get("track")),
            chunk=_num(media.get("chunk"), "media.chunk", required=False),
            timestamp_ms=timestamp,
            payload=payload,
        )
    if event == "connected":
        return Connected(str(msg.get("protocol") or ""))
    if event == "start":
        start = _obj(msg.get("start"), "start")
        stream_sid = _sid(_text(start, "streamSid", "start."), _STREAM_SID, "streamSid")
        if msg.get("streamSid", stream_sid) != stream_sid:
            raise BadMessage("field streamSid: differs from start.streamSid")
        fmt = _obj(start.get("mediaFormat"), "start.mediaFormat")
        shape = (fmt.get("encoding"), _num(fmt.get("sampleRate"), "start.mediaFormat.sampleRate"))
        channels = _num(fmt.get("channels", 1), "start.mediaFormat.channels")
        if shape != ("audio/x-mulaw", 8000) or channels != 1:
            raise BadMessage(f"field start.mediaFormat: expected audio/x-mulaw, 8000 Hz, 1 channel, got {fmt!r:.120}")
        tracks_raw = start.get("tracks", ["inbound"])
        if not isinstance(tracks_raw, list) or not tracks_raw or len(tracks_raw) > 2:
            raise BadMessage("field start.tracks: expected a list of inbound and/or outbound")
        tracks = tuple(dict.fromkeys(_track(t) for t in tracks_raw))
        custom_raw = _obj(start.get("customParameters", {}), "start.customParameters")
        if len(custom_raw) > MAX_CUSTOM_PARAMETERS:
            raise BadMessage(f"field start.customParameters: more than {MAX_CUSTOM_PARAMETERS} parameters")
        account = start.get("accountSid")
        return Start(
            stream_sid=stream_sid,
            call_sid=_sid(_text(start, "callSid", "start."), _CALL_SID, "callSid"),
            account_sid=_sid(account, _ACCOUNT_SID, "accountSid") if isinstance(account, str) else None,
            tracks=tracks,
            custom={str(k)[:200]: str(v)[:500] for k, v in custom_raw.items()},
        )
    if event == "stop":
        stop = _obj(msg.get("stop", {}), "stop")
        call = stop.get("callSid")
        return Stop(
            stream_sid=_sid(_text(msg, "streamSid", ""), _STREAM_SID, "streamSid"),
            call_sid=call if isinstance(call, str) else None,
        )
    if event == "mark":
        mark = _obj(msg.get("mark", {}), "mark")
        return Mark(_sid(_text(msg, "streamSid", ""), _STREAM_SID, "streamSid"), str(mark.get("name") or "")[:200])
    if isinstance(event, str) and event:
        return Other(event[:40])
    raise BadMessage("field event: missing")
