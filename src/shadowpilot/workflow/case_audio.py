"""A stored case's recording for the parts that listen to it (`run --audio`, the ASR scorers):
where its file is, the customer's channel as samples, and the slice of one turn.

The file is found only in the tenant's own audio folder (Settings.audio_dir), by the hash the
case version records: another tenant's settings never reach it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import NotFoundError
from ..store.audio import AudioStore
from ..types import Transcript, Turn

if TYPE_CHECKING:
    from ..asr.audio import Audio

WHISPER_RATE = 16_000  # asr.audio.WHISPER_RATE, without loading numpy to name it


def case_audio_path(settings: Settings, case: Transcript) -> Path:
    """The file of the case's recording; NotFoundError when the case has none or this tenant's
    folder does not hold it."""
    if case.audio is None:
        raise NotFoundError(f"case {case.id!r} has no audio")
    return AudioStore(settings.audio_dir).existing(case.audio.sha256)


def customer_audio(settings: Settings, case: Transcript, *, rate: int | None = WHISPER_RATE) -> Audio:
    """The customer's channel of the case's recording (the whole mix when it is mono), as float32
    samples at `rate` Hz (16 kHz, what Whisper listens at; None: the recording's own rate)."""
    from ..asr.audio import read_wav

    path = case_audio_path(settings, case)  # NotFoundError when the case has none
    assert case.audio is not None
    audio = read_wav(path)
    heard = audio.channel(case.audio.customer_channel - 1) if audio.channels > 1 else audio
    return heard if rate is None else heard.resampled(rate)


def turn_audio(audio: Audio, turn: Turn) -> Audio | None:
    """The part of `audio` a turn spans (its start_s to end_s, clipped to the recording); None when
    the turn has no times or spans nothing of it."""
    from ..asr.audio import Audio as _Audio

    if turn.start_s is None or turn.end_s is None or turn.end_s <= turn.start_s:
        return None
    first = max(0, round(turn.start_s * audio.sample_rate))
    last = min(audio.frames, round(turn.end_s * audio.sample_rate))
    if last <= first:
        return None
    return _Audio(audio.samples[first:last], audio.sample_rate)
