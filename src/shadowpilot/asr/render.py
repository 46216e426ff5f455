"""A conversation as a telephone call recording: every turn spoken by espeak-ng (asr.synth.say), one
party per channel of an 8 kHz G.711 mu-law WAV, the turns one after another with a short gap.

What the voice demo hears: the sample's calls have text only, so the recordings are made from it on
this machine (no audio file lives in the repository). The customer is on channel 2 (Twilio's
default for a dual-channel recording), everyone else on channel 1; each turn's (start_s, end_s) in
the recording is returned, for the transcript's turn times, so a replay hears each customer turn's
span and nothing of the other party.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..types import Turn
from . import synth

CUSTOMER_CHANNEL = 2  # 1-based, as a case's audio.customer_channel counts
VOICES = {"customer": "en-us+m3", "other": "en-us+f3"}  # two voices: a listener can tell the parties apart
GAP_S = 0.4  # silence between one turn's end and the next's start


@dataclass(frozen=True)
class RenderedCall:
    """The recording written, and each turn's (start_s, end_s) in it, in the turns' order."""

    path: Path
    times: list[tuple[float, float]]
    duration_s: float


def render_call(turns: Sequence[Turn], path: Path, *, gap_s: float = GAP_S) -> RenderedCall:
    """`turns` spoken into `path` (dual-channel 8 kHz mu-law, the customer on channel 2).
    EnvironmentFailure (exit 2) naming the Debian packages when espeak-ng or sox is missing."""
    import numpy as np

    from .audio import TELEPHONE_RATE, Audio, read_wav

    pieces: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix="shadowpilot-render-") as tmp:
        for i, turn in enumerate(turns):
            if not turn.text.strip():
                pieces.append(np.zeros(0, dtype=np.float32))
                continue
            voice = VOICES["customer" if turn.speaker == "customer" else "other"]
            spoken = read_wav(synth.say(turn.text, Path(tmp) / f"{i}.wav", voice=voice))
            pieces.append(spoken.resampled(TELEPHONE_RATE).samples[:, 0])
        gap = round(gap_s * TELEPHONE_RATE)
        frames = sum(len(p) for p in pieces) + gap * max(0, len(pieces) - 1)
        mix = np.zeros((frames, 2), dtype=np.float32)
        times: list[tuple[float, float]] = []
        at = 0
        for turn, piece in zip(turns, pieces, strict=True):
            channel = CUSTOMER_CHANNEL if turn.speaker == "customer" else 3 - CUSTOMER_CHANNEL
            mix[at : at + len(piece), channel - 1] = piece
            times.append((round(at / TELEPHONE_RATE, 3), round((at + len(piece)) / TELEPHONE_RATE, 3)))
            at += len(piece) + gap
        pcm = Path(tmp) / "call.wav"
        pcm.write_bytes(Audio(mix, TELEPHONE_RATE).wav_bytes())
        synth.encode_mulaw(pcm, path)  # what a telephone recording is
    return RenderedCall(path, times, round(frames / TELEPHONE_RATE, 3))
