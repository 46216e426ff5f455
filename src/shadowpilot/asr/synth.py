"""Telephone speech from text, with espeak-ng and sox: the ASR tests' and benchmark's audio.

`say(text, path)` writes what a caller on a phone line sounds like to an ASR engine: 8 kHz mono
G.711 mu-law WAV, band-limited to the telephone band (300-3400 Hz). No audio file has to live in
the repository: the tests and `bench/asr_speed.py` make theirs from the sample's text.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import EnvironmentFailure

TOOLS = ("espeak-ng", "sox")


def missing_tools() -> list[str]:
    """Which of espeak-ng and sox are not on PATH (Debian: apt-get install espeak-ng sox)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _run(args: list[str]) -> None:
    try:
        subprocess.run(args, check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise EnvironmentFailure(f"{args[0]} is not installed (Debian: apt-get install espeak-ng sox)") from None
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode("utf-8", "replace").strip()
        raise EnvironmentFailure(f"{args[0]} failed (exit {exc.returncode}): {stderr}") from None


def say(text: str, path: Path, *, voice: str = "en-us+m3", words_per_minute: int = 130) -> Path:
    """`text` spoken by espeak-ng, as 8 kHz mu-law telephone audio in `path` (a WAV file)."""
    with tempfile.TemporaryDirectory(prefix="shadowpilot-say-") as tmp:
        wide = Path(tmp) / "wide.wav"
        _run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(wide), "--", text])
        _run(["sox", "-D", str(wide), "-r", "8000", "-c", "1", "-e", "u-law", str(path), "sinc", "300-3400"])
    return path


def encode_mulaw(source: Path, path: Path) -> Path:
    """`source` (any WAV sox reads) as G.711 mu-law in `path`, at its own rate and channels."""
    _run(["sox", "-D", str(source), "-e", "u-law", str(path)])
    return path


def silence(path: Path, seconds: float = 3.0, *, noise: float = 0.0) -> Path:
    """`seconds` of line silence as 8 kHz mu-law, with white noise at amplitude `noise` (0: digital silence)."""
    effects = ["synth", f"{seconds:g}", "whitenoise", "vol", f"{noise:g}"] if noise else ["trim", "0", f"{seconds:g}"]
    _run(["sox", "-D", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(path), *effects])
    return path
