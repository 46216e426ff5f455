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
