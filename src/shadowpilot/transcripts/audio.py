"""A case's `audio` field in the file formats: a recording's path, read, checked and described.

JSONL takes `"audio": "calls/0101.wav"` or `{"path": ..., "customer_channel": 1|2}`; CSV and the
text format take the flat keys `audio` and `audio_customer_channel`. A path is relative to the
transcript file. The recording must be a WAV file (PCM, float or 8 kHz mu-law as Twilio writes
it) with one or two channels; which channel is the customer's defaults as Twilio imports map
speakers ([twilio] channels, else Twilio's default: channel 2 is the customer's), so a file
import and `import twilio --audio` read a dual-channel recording the same way. Everything wrong
is a Problem on field `audio`, and the case is not imported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import AudioError, Problem
from ..types import CaseAudio, Transcript

AUDIO_KEYS = ("audio", "audio_customer_channel")
# The largest recording read (a 2-hour dual-channel 8 kHz 16-bit call is about 230 MB).
MAX_AUDIO_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class AudioRef:
    """What a transcript file says of its case's recording."""

    path: str
    customer_channel: int | None = None


def _channel(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in (1, 2) else None
    if isinstance(value, str) and value.strip() in ("1", "2"):
        return int(value.strip())
    return None


def ref_from_json(value: object) -> tuple[AudioRef | None, str | None]:
    """A JSON `audio` value -> the reference, or what is wrong with it."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return (AudioRef(value), None) if value.strip() else (None, "empty: give the recording's path")
    if isinstance(value, dict):
        extra = sorted(set(value) - {"path", "customer_channel"})
        if extra:
            return None, f"unknown key(s) {', '.join(map(repr, extra))} (an audio object has path and customer_channel)"
        path = value.get("path")
        if not isinstance(path, str) or not path.strip():
            return None, "needs a path: the recording's file, relative to the transcript file"
        raw = value.get("customer_channel")
        ch = _channel(raw)
        if raw is not None and ch is None:
            return None, f"customer_channel must be 1 or 2, got {raw!r}"
        return AudioRef(path, ch), None
    return None, f"expected the recording's path (a string) or an object with path, got {type(value).__name__}"


def ref_from_fields(fields: dict[str, str]) -> tuple[AudioRef | None, list[tuple[str, str]]]:
    """CSV/text flat keys -> the reference (the keys are removed from `fields`), and (key, message) errors."""
    path = fields.pop("audio", "").strip()
    raw = fields.pop("audio_customer_channel", "").strip()
    if not path:
        return None, [("audio_customer_channel", "set, but the case has no audio")] if raw else []
    ch = _channel(raw) if raw else None
    if raw and ch is None:
        return None, [("audio_customer_channel", f"must be 1 or 2, got {raw!r}")]
    return AudioRef(path, ch), []


def describe(path: Path, customer_channel: int | None) -> CaseAudio:
    """The recording at `path` as a case records it; AudioError naming what is wrong."""
    from ..asr.audio import parse_wav_coded

    try:
        size = path.stat().st_size
        if path.is_dir():
            raise AudioError(f"{path} is a directory, not an audio file")
        if size > MAX_AUDIO_BYTES:
            raise AudioError(f"{path} is {size / 2**20:.0f} MB, more than the {MAX_AUDIO_BYTES // 2**20} MB read")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AudioError(f"{path}: no such audio file") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot read the audio file: {exc.strerror or exc}") from None
    audio, codec = parse_wav_coded(raw, str(path))
    if audio.frames == 0:
        raise AudioError(f"{path}: the WAV file holds no audio")
    if audio.channels > 2:
        raise AudioError(f"{path}: {audio.channels} channels; a call recording has one (mono) or two (dual-channel)")
    chosen = 1 if audio.channels == 1 else customer_channel
    if chosen is None:
        raise AudioError(
            f"{path}: dual-channel, and no channel is the customer's: "
            "set customer_channel, or map one in [twilio] channels"
        )
    info = CaseAudio(
        sha256=hashlib.sha256(raw).hexdigest(),
        codec=codec,  # type: ignore[arg-type]  # CODECS holds only AudioCodec names
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        customer_channel=chosen,
        duration_s=round(audio.duration_s, 3),
    )
    info.keep_source(path)
    return info


def attach(
    t: Transcript,
    ref: AudioRef | None,
    file: str,
    line: int | None,
    default_channel: int | None,
    record: str | None = None,
) -> tuple[Transcript | None, Problem | None]:
    """The case with its recording described, or the Problem (file, line, field `audio`)."""
    if ref is None:
        return t, None
    path = Path(ref.path).expanduser()
    if not path.is_absolute():
        path = Path(file).parent / path
    try:
        info = describe(path, ref.customer_channel or default_channel)
    except AudioError as exc:
        return None, Problem(file, line, "audio", str(exc), record)
    if ref.customer_channel is not None and ref.customer_channel > info.channels:
        return None, Problem(
            file, line, "audio", f"customer_channel {ref.customer_channel}, but {path} is mono (one channel)", record
        )
    return t.model_copy(update={"audio": info}), None
