"""The real local engine (faster-whisper, CPU int8, Whisper tiny.en from the pinned wheel) hearing
telephone speech: judged by WER and keywords, not exact strings (Whisper writes "3" for "three")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shadowpilot.asr import Audio, Transcription, engine_from_settings, read_wav
from shadowpilot.asr.local import LocalEngine, resolve_model
from shadowpilot.asr.quality import corpus_wer
from shadowpilot.config import load_settings
from shadowpilot.errors import ConfigError
from shadowpilot.evals.reply import normalise

BOOKING = "I would like to book an appointment for Tuesday at three"


def hear(engine: LocalEngine, audio: Audio) -> Transcription:
    return asyncio.run(engine.transcribe(audio))


def test_telephone_speech_is_heard_within_the_wer_bound(local_engine: LocalEngine, say) -> None:
    audio = read_wav(say(BOOKING))
    assert audio.sample_rate == 8000
    heard = hear(local_engine, audio)
    assert corpus_wer([BOOKING], [heard.text]) <= 0.3, heard.text
    words = set(normalise([heard.text])[0].split())
    assert {"appointment", "tuesday", "3"} <= words, heard.text
    assert (heard.engine, heard.model, heard.language) == ("local", "tiny.en", "en")
    assert heard.duration_s == pytest.approx(audio.duration_s, abs=0.01)
    assert heard.segments and heard.segments[0].start_s < heard.segments[-1].end_s <= audio.duration_s + 0.5
    assert heard.processing_s > 0 and heard.cost_usd is None


def test_silence_and_line_noise_become_no_words(local_engine: LocalEngine, quiet) -> None:
    for audio in (read_wav(quiet(seconds=3.0)), read_wav(quiet(seconds=3.0, noise=0.02))):
        heard = hear(local_engine, audio)
        assert heard.text == "" and heard.segments == [], heard.text
        assert heard.duration_s == pytest.approx(3.0, abs=0.01)


def test_utterances_heard_at_once_share_one_model_load(tiny_en: Path, say) -> None:
    engine = LocalEngine(tiny_en, language="en", cost_per_minute=0.006)
    first, second = (
        read_wav(say("Hello, I need to speak to someone", "a")),
        read_wav(say("Please call me tomorrow", "b")),
    )

    async def both() -> list[Transcription]:
        return list(await asyncio.gather(engine.transcribe(first), engine.transcribe(second)))

    a, b = asyncio.run(both())
    assert engine.loads == 1
    assert "speak" in a.text.lower() and "tomorrow" in b.text.lower(), (a.text, b.text)
    assert a.cost_usd == pytest.approx(first.duration_s / 60 * 0.006, abs=1e-6)


def test_the_config_picks_the_local_engine_with_the_bundled_model(tiny_en: Path, tmp_path: Path) -> None:
    config = '[asr]\nkind = "local"\nmodel = "tiny.en"\nbeam_size = 5\nlanguage = "en"\n'
    (tmp_path / "shadowpilot.toml").write_text(config, encoding="utf-8")
    engine = engine_from_settings(load_settings(tmp_path / "shadowpilot.toml"))
    assert isinstance(engine, LocalEngine)
    assert engine.model_path == tiny_en
    assert {k: engine.describe()[k] for k in ("model", "compute_type", "beam_size", "language")} == {
        "model": "tiny.en",
        "compute_type": "int8",
        "beam_size": 5,
        "language": "en",
    }
    none = tmp_path / "none.toml"
    none.write_text('[asr]\nkind = "none"\n', encoding="utf-8")
    assert engine_from_settings(load_settings(none)) is None


def test_a_model_directory_beside_the_config_is_used_and_nothing_is_downloaded(tiny_en: Path, tmp_path: Path) -> None:
    models = tmp_path / "models" / "tiny"
    models.mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (models / name).symlink_to(tiny_en / name)
    assert resolve_model("models/tiny", tmp_path) == models

    with pytest.raises(ConfigError, match=r"field asr\.model: 'small\.en' is not a model directory.*never downloaded"):
        resolve_model("small.en", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"field asr\.model: .*empty is not a faster-whisper model directory"):
        resolve_model("empty", tmp_path)
    config = tmp_path / "shadowpilot.toml"
    config.write_text('[asr]\nkind = "local"\nmodel = "Systran/faster-whisper-small"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"shadowpilot\.toml: field asr\.model: 'Systran/faster-whisper-small'"):
        engine_from_settings(load_settings(config))
