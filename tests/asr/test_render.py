"""asr.render: a conversation rendered as a dual-channel telephone recording (espeak-ng + sox, no
model): the format a case's `audio` takes, each party on its own channel, each turn where its times
say and nothing of the other party there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shadowpilot.asr.audio import parse_wav_coded
from shadowpilot.asr.render import CUSTOMER_CHANNEL, GAP_S, render_call
from shadowpilot.types import Turn
from tests import recordings

TURNS = [
    Turn(speaker="agent", text="Harbourview Family Clinic, how can I help?"),
    Turn(speaker="customer", text="I think I was charged twice for my visit."),
    Turn(speaker="agent", text="Let me take a look at that for you."),
    Turn(speaker="customer", text="Thank you."),
]


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0


def test_a_call_is_rendered_one_party_per_channel_at_its_turn_times(tmp_path: Path) -> None:
    recordings.need_tools()
    call = render_call(TURNS, tmp_path / "call.wav")
    audio, codec = parse_wav_coded(call.path.read_bytes())
    assert (codec, audio.sample_rate, audio.channels) == ("mulaw", 8000, 2)  # a telephone recording
    assert call.duration_s == round(audio.duration_s, 3)

    # the turns one after another, GAP_S apart, the last ending with the recording
    assert len(call.times) == len(TURNS) and call.times[0][0] == 0.0
    for (_, end), (start, _) in zip(call.times, call.times[1:], strict=False):
        assert start - end == pytest.approx(GAP_S, abs=0.002)
    assert call.times[-1][1] == call.duration_s

    customer, other = (
        audio.channel(CUSTOMER_CHANNEL - 1).samples[:, 0],
        audio.channel(2 - CUSTOMER_CHANNEL).samples[:, 0],
    )
    for turn, (start, end) in zip(TURNS, call.times, strict=True):
        span = slice(round(start * 8000), round(end * 8000))
        speaking, silent = (customer, other) if turn.speaker == "customer" else (other, customer)
        assert rms(speaking[span]) > 0.01, (turn, start, end)  # this party speaks here ...
        assert rms(silent[span]) < 1e-3, (turn, start, end)  # ... and the other is silent
