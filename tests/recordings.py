"""Call recordings for the tests, synthesised with espeak-ng + sox (asr/synth.py) in a tmp folder:
no audio file lives in the repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shadowpilot.asr import synth


def need_tools() -> None:
    missing = synth.missing_tools()
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: they synthesise the audio (.ci/run installs them)")


def sox(*args: str | Path) -> None:
    subprocess.run(["sox", "-D", *map(str, args)], check=True, capture_output=True, timeout=60)


def mono(folder: Path, text: str, name: str = "mono") -> Path:
    """8 kHz mu-law mono telephone speech (as Twilio writes a single-channel recording)."""
    need_tools()
    return synth.say(text, folder / f"{name}.wav")


def dual(
    folder: Path, agent: str, customer: str, name: str = "dual", *, customer_channel: int = 2, pcm: bool = True
) -> Path:
    """A dual-channel call recording: one party per channel (the customer on `customer_channel`,
    Twilio's default 2), 16-bit PCM as Twilio's Recording .wav media is (`pcm=False`: mu-law)."""
    need_tools()
    a = synth.say(agent, folder / f"{name}-agent.wav")
    c = synth.say(customer, folder / f"{name}-customer.wav")
    first, second = (a, c) if customer_channel == 2 else (c, a)
    out = folder / f"{name}.wav"
    encoding = ["-e", "signed-integer", "-b", "16"] if pcm else ["-e", "u-law"]
    sox("-M", first, second, *encoding, out)
    return out


def call(
    folder: Path, said: list[str], name: str = "call", *, gap_s: float = 0.6
) -> tuple[Path, list[tuple[float, float]]]:
    """A mono telephone recording of `said` spoken one after another with `gap_s` of silence between,
    and each utterance's (start_s, end_s) in it: a transcript's turn times for its recording."""
    from shadowpilot.asr.audio import read_wav

    need_tools()
    parts: list[Path] = []
    times: list[tuple[float, float]] = []
    at = 0.0
    gap = synth.silence(folder / f"{name}-gap.wav", gap_s)
    for i, text in enumerate(said):
        piece = synth.say(text, folder / f"{name}-{i}.wav")
        length = read_wav(piece).duration_s
        times.append((round(at, 3), round(at + length, 3)))
        parts += [piece, gap]
        at += length + read_wav(gap).duration_s
    out = folder / f"{name}.wav"
    sox(*parts, out)
    return out, times
