"""Audio in: WAV files (mu-law, PCM, float, one or two channels) and telephone mu-law bytes, read as
sox reads them; G.711 done with numpy; resampled to Whisper's 16 kHz mono."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from shadowpilot.asr.audio import MULAW_TABLE, Audio, mulaw_decode, mulaw_encode, parse_wav, read_wav
from shadowpilot.errors import AudioError


def sox(*args: str | Path) -> None:
    subprocess.run(["sox", "-D", *map(str, args)], check=True, capture_output=True)


def data_chunk(path: Path) -> bytes:
    """The samples of a WAV file as written (without the pad byte after an odd-sized chunk)."""
    raw = path.read_bytes()
    at = raw.index(b"data")
    return raw[at + 8 : at + 8 + int.from_bytes(raw[at + 4 : at + 8], "little")]


def test_mulaw_decodes_as_sox_does(say, tmp_path: Path) -> None:
    speech = say("Hello, I need to change my appointment")
    sox(speech, "-b", "16", "-e", "signed-integer", tmp_path / "pcm.wav")
    ours, theirs = read_wav(speech), read_wav(tmp_path / "pcm.wav")
    assert (ours.sample_rate, ours.channels) == (8000, 1)
    assert ours.frames == theirs.frames > 8000  # over a second of speech
    assert np.array_equal(ours.samples, theirs.samples)
    assert np.array_equal(Audio.from_mulaw(data_chunk(speech)).samples, ours.samples)  # the Media Streams path


def test_mulaw_encoding_round_trips_and_agrees_with_sox(say, tmp_path: Path) -> None:
    every = bytes(range(256))
    again = mulaw_encode(mulaw_decode(every))
    # 0x7f is G.711's negative zero: it decodes to 0, which encodes as 0xff
    assert [i for i in range(256) if again[i] != every[i]] == [0x7F]
    assert again[0x7F] == 0xFF and MULAW_TABLE[0x7F] == MULAW_TABLE[0xFF] == 0
    assert (MULAW_TABLE[0x00], MULAW_TABLE[0x80]) == (-32124, 32124)  # the ends of the table

    speech = say("Can someone call me back this afternoon")
    sox(speech, "-b", "16", "-e", "signed-integer", tmp_path / "pcm.wav")
    sox(tmp_path / "pcm.wav", "-e", "u-law", tmp_path / "resaid.wav")
    ours = np.frombuffer(mulaw_encode(read_wav(tmp_path / "pcm.wav").samples), dtype=np.uint8).astype(int)
    theirs = np.frombuffer(data_chunk(tmp_path / "resaid.wav")[: len(ours)], dtype=np.uint8).astype(int)
    # sox rounds to 14 bits before the G.711 rule, the rule itself truncates: at most one step apart
    assert np.abs(ours - theirs).max() <= 1
    assert (ours == theirs).mean() > 0.8


def test_a_dual_channel_recording_gives_each_party_its_channel(say, quiet, tmp_path: Path) -> None:
    speech, silence = say("I was charged twice for my visit"), quiet(seconds=1.0)
    sox(speech, tmp_path / "speech-pcm.wav")
    both = tmp_path / "both.wav"
    sox("-M", silence, speech, "-b", "16", "-e", "signed-integer", both)  # left: silence, right: the customer
    audio = read_wav(both)
    assert audio.channels == 2
    left, right = audio.channel(0), audio.channel(1)
    assert float(np.abs(left.samples).max()) == 0.0
    assert float(np.abs(right.samples).max()) > 0.1
    assert audio.mono().channels == 1
    with pytest.raises(ValueError, match="channel 2 does not exist"):
        audio.channel(2)


@pytest.mark.parametrize("encoding", [("-b", "24", "-e", "signed-integer"), ("-b", "32", "-e", "floating-point")])
def test_pcm_24_bit_and_float_read_like_16_bit(say, tmp_path: Path, encoding: tuple[str, ...]) -> None:
    speech = say("Thursday afternoon is better for me")
    sox(speech, "-b", "16", "-e", "signed-integer", tmp_path / "pcm16.wav")
    sox(speech, *encoding, tmp_path / "other.wav")
    a, b = read_wav(tmp_path / "pcm16.wav"), read_wav(tmp_path / "other.wav")
    assert a.frames == b.frames
    assert np.abs(a.samples - b.samples).max() < 1e-4


def test_resampled_to_16k_mono_for_whisper_keeps_the_pitch() -> None:
    t = np.arange(8000) / 8000
    tone = Audio(0.5 * np.sin(2 * np.pi * 1000 * t), 8000)  # one second of 1 kHz
    heard = tone.for_whisper()
    assert heard.dtype == np.float32 and heard.ndim == 1 and len(heard) == 16000
    spectrum = np.abs(np.fft.rfft(heard))
    assert round(float(np.argmax(spectrum)) * 16000 / len(heard)) == 1000


def test_wav_bytes_read_back_as_the_same_audio() -> None:
    audio = Audio(np.linspace(-0.9, 0.9, 4000), 8000)
    back = parse_wav(audio.wav_bytes())
    assert (back.sample_rate, back.frames, back.channels) == (8000, 4000, 1)
    assert np.abs(back.samples - audio.samples).max() < 1e-4


def test_a_file_that_is_not_wav_audio_is_refused_naming_it(tmp_path: Path, quiet) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio", encoding="utf-8")
    with pytest.raises(AudioError, match=r"notes\.wav: not a WAV file"):
        read_wav(text)
    with pytest.raises(AudioError, match=r"gone\.wav: cannot read the audio file"):
        read_wav(tmp_path / "gone.wav")
    alaw = tmp_path / "alaw.wav"
    sox(quiet(seconds=0.5), "-e", "a-law", alaw)
    with pytest.raises(AudioError, match=r"alaw\.wav: 8-bit A-law WAV is not supported"):
        read_wav(alaw)
