"""Audio as the ASR engines take it: `Audio` (float32 samples and their rate), read from WAV files or
telephone mu-law bytes, one channel picked, resampled to the 16 kHz mono Whisper listens to.

WAV files are read by a small RIFF reader rather than the stdlib `wave`, which refuses G.711 mu-law
(format 7: what telephone recordings and Twilio Media Streams carry) and 32-bit float; `wave`
writes the 16-bit PCM files sent to transcription servers. G.711 is done with numpy (the stdlib
`audioop` is deprecated and gone in 3.13): the decode is ITU-T G.711's 256-entry table, the encode
its segment rule, so every byte round-trips and sox's own encoding is at most one step away.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioError

WHISPER_RATE = 16_000  # what Whisper models listen at
TELEPHONE_RATE = 8_000  # G.711 / Twilio Media Streams

_FORMAT_PCM = 1
_FORMAT_FLOAT = 3
_FORMAT_MULAW = 7
_FORMAT_EXTENSIBLE = 0xFFFE
_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


@dataclass(frozen=True, eq=False)
class Audio:
    """Samples in [-1, 1] as float32, shape (frames, channels), at `sample_rate` Hz.

    What an engine transcribes: one utterance or a whole recording. A caller with a live stream
    (Media Streams) makes one per utterance with `Audio.from_mulaw`."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2:
            raise ValueError(f"audio samples must be (frames,) or (frames, channels), got shape {samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        object.__setattr__(self, "samples", samples)

    @classmethod
    def from_mulaw(cls, data: bytes, sample_rate: int = TELEPHONE_RATE, channels: int = 1) -> Audio:
        """G.711 mu-law bytes (interleaved when `channels` > 1), as Twilio Media Streams send them."""
        decoded = mulaw_decode(data)
        usable = len(decoded) - len(decoded) % channels
        return cls(decoded[:usable].reshape(-1, channels), sample_rate)

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def channel(self, index: int) -> Audio:
        """One channel (0 = left): a dual-channel call recording holds one party per channel."""
        if not 0 <= index < self.channels:
            raise ValueError(f"channel {index} does not exist: the audio has {self.channels} channel(s)")
        return Audio(self.samples[:, index], self.sample_rate)

    def mono(self) -> Audio:
        """The channels mixed down (their mean); the same audio when it has one."""
        if self.channels == 1:
            return self
        return Audio(self.samples.mean(axis=1), self.sample_rate)

    def resampled(self, rate: int) -> Audio:
        """At `rate` Hz, by polyphase filtering (scipy.signal.resample_poly: anti-aliased, exact ratio)."""
        if rate == self.sample_rate:
            return self
        from scipy.signal import resample_poly

        g = math.gcd(rate, self.sample_rate)
        out = resample_poly(self.samples, rate // g, self.sample_rate // g, axis=0)
        return Audio(np.clip(out, -1.0, 1.0).astype(np.float32), rate)

    def for_whisper(self) -> np.ndarray:
        """16 kHz mono float32, one dimension: what faster-whisper's `transcribe` takes."""
        return np.ascontiguousarray(self.mono().resampled(WHISPER_RATE).samples[:, 0])

    def wav_bytes(self) -> bytes:
        """A 16-bit PCM WAV file of this audio (what an OpenAI-compatible server is sent)."""
        pcm = np.round(np.clip(self.samples, -1.0, 1.0) * 32767).astype("<i2")
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(self.channels)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(pcm.tobytes())
        return out.getvalue()


# -- G.711 mu-law --------------------------------------------------------------------------------------------------


def _mulaw_table() -> np.ndarray:
    """The 256 16-bit values G.711 mu-law bytes decode to."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


MULAW_TABLE = _mulaw_table()


def mulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes -> float32 samples in [-1, 1]."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return MULAW_TABLE[codes].astype(np.float32) / 32768.0


def mulaw_encode(samples: np.ndarray) -> bytes:
    """float32 samples in [-1, 1] -> G.711 mu-law bytes (the segment rule: sign, 3-bit exponent, 4-bit mantissa)."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64).ravel() * 32768.0), -32768, 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), _MULAW_CLIP) + _MULAW_BIAS
    # the exponent is the position of the highest set bit above bit 7 (magnitude is in [132, 32767])
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


# -- WAV files ------------------------------------------------------------------------------------------------------


def read_wav(path: Path | str) -> Audio:
    """A WAV file: PCM 8/16/24/32-bit, 32-bit float or G.711 mu-law, any number of channels.
    AudioError naming the file when it is not one of those."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AudioError(f"{path}: cannot read the audio file: {exc.strerror or exc}") from None
    return parse_wav(raw, str(path))


def parse_wav(raw: bytes, name: str = "audio") -> Audio:
    """`read_wav` on bytes already in memory; `name` is what errors call them."""
    return parse_wav_coded(raw, name)[0]


# WAV format tag and bits -> the codec name a case's audio records (types.AudioCodec).
CODECS = {
    (_FORMAT_PCM, 8): "pcm_u8",
    (_FORMAT_PCM, 16): "pcm_s16le",
    (_FORMAT_PCM, 24): "pcm_s24le",
    (_FORMAT_PCM, 32): "pcm_s32le",
    (_FORMAT_FLOAT, 32): "float32",
    (_FORMAT_MULAW, 8): "mulaw",
}


def parse_wav_coded(raw: bytes, name: str = "audio") -> tuple[Audio, str]:
    """`parse_wav`, with the file's codec (CODECS) beside the samples: what a stored case's audio records."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    data: bytes | None = None
    pos = 12
    while pos + 8 <= len(raw):
        chunk, size = struct.unpack_from("<4sI", raw, pos)
        body = raw[pos + 8 : pos + 8 + size]
        if chunk == b"fmt ":
            if len(body) < 16:
                raise AudioError(f"{name}: WAV fmt chunk is {len(body)} bytes, shorter than 16")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]  # the sub-format GUID starts with the format tag
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data":
            data = body
            break
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    if fmt is None:
        raise AudioError(f"{name}: WAV file has no fmt chunk")
    if data is None:
        raise AudioError(f"{name}: WAV file has no data chunk")
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1:
        raise AudioError(f"{name}: WAV file says {channels} channel(s) at {rate} Hz")
    samples = _samples(data, tag, bits, name)
    usable = len(samples) - len(samples) % channels
    return Audio(samples[:usable].reshape(-1, channels), rate), CODECS[(tag, bits)]


def _samples(data: bytes, tag: int, bits: int, name: str) -> np.ndarray:
    """The data chunk's samples, interleaved, as float32 in [-1, 1]."""
    if tag == _FORMAT_MULAW and bits == 8:
        return mulaw_decode(data)
    if tag == _FORMAT_FLOAT and bits == 32:
        return np.frombuffer(data[: len(data) - len(data) % 4], dtype="<f4").astype(np.float32)
    if tag == _FORMAT_PCM and bits == 8:
        return (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if tag == _FORMAT_PCM and bits == 16:
        return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.float32) / 32768.0
    if tag == _FORMAT_PCM and bits == 24:
        b = np.frombuffer(data[: len(data) - len(data) % 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value & 0x800000, value - (1 << 24), value)
        return value.astype(np.float32) / float(1 << 23)
    if tag == _FORMAT_PCM and bits == 32:
        return (np.frombuffer(data[: len(data) - len(data) % 4], dtype="<i4") / float(1 << 31)).astype(np.float32)
    kinds = {_FORMAT_PCM: "PCM", _FORMAT_FLOAT: "float", _FORMAT_MULAW: "mu-law", 6: "A-law"}
    kind = kinds.get(tag, f"format {tag}")
    raise AudioError(
        f"{name}: {bits}-bit {kind} WAV is not supported (PCM 8/16/24/32-bit, 32-bit float or 8-bit mu-law)"
    )
