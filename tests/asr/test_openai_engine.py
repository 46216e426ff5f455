"""The openai engine against a real transcription server on 127.0.0.1 (tests/servers/transcription_server.py),
called by the real `openai` client: the request it sends, the answers it reads, and how 429, 500, a hang,
an oversized answer and a closed port end."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shadowpilot.asr import Audio, Transcription, engine_from_settings
from shadowpilot.asr.audio import parse_wav
from shadowpilot.asr.openai import OpenAIEngine
from shadowpilot.config import Settings, load_settings
from shadowpilot.errors import AgentUnreachable, AsrError, ConfigError
from tests.servers.transcription_server import TranscriptionServer

HEARD = "I'd like to book an appointment for Tuesday at 3."


def tone(seconds: float = 1.5, rate: int = 8000) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio(0.3 * np.sin(2 * np.pi * 440 * t), rate)


def settings(tmp_path: Path, base_url: str, **asr: Any) -> Settings:
    lines = ['kind = "openai"', f'base_url = "{base_url}"']
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in asr.items()]
    (tmp_path / "shadowpilot.toml").write_text("[asr]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(tmp_path / "shadowpilot.toml", environ={})


def engine(tmp_path: Path, base_url: str, **asr: Any) -> OpenAIEngine:
    made = engine_from_settings(settings(tmp_path, base_url, **asr), environ={})
    assert isinstance(made, OpenAIEngine)
    made._sleep = lambda _s: asyncio.sleep(0)  # backoff windows are runners.retry's (tested there)
    return made


def hear(eng: OpenAIEngine, audio: Audio) -> Transcription:
    async def go() -> Transcription:
        try:
            # a safety net, not an assertion: a hang regression fails here instead of stalling the suite
            return await asyncio.wait_for(eng.transcribe(audio), 60)
        finally:
            await eng.aclose()

    return asyncio.run(go())


def test_the_request_is_openais_multipart_and_verbose_json_gives_segments(tmp_path: Path) -> None:
    with TranscriptionServer(HEARD) as server:
        eng = engine(tmp_path, server.base_url, model="whisper-large-v3", language="en", cost_per_minute=0.006)
        heard = hear(eng, tone(1.5))
    [got] = server.requests
    assert got.field("model") == "whisper-large-v3"
    assert got.field("language") == "en"
    assert got.field("response_format") == "verbose_json"
    assert got.fields.get("timestamp_granularities[]") == ["segment"]
    sent = parse_wav(got.audio)
    assert (sent.sample_rate, sent.channels) == (8000, 1) and sent.duration_s == pytest.approx(1.5)
    assert heard.text == HEARD
    assert [(s.start_s, s.end_s, s.text) for s in heard.segments] == [(0.0, 1.5, HEARD)]
    assert (heard.engine, heard.model, heard.language) == ("openai", "whisper-large-v3", "english")
    assert heard.duration_s == 1.5
    assert heard.cost_usd == pytest.approx(1.5 / 60 * 0.006)


def test_json_answers_carry_text_only_and_the_duration_is_the_audios(tmp_path: Path) -> None:
    stereo = Audio(np.stack([tone(2.0).samples[:, 0], np.zeros(16000)], axis=1), 8000)
    with TranscriptionServer(HEARD) as server:
        heard = hear(engine(tmp_path, server.base_url, response_format="json"), stereo)
    [got] = server.requests
    assert got.field("response_format") == "json" and "timestamp_granularities[]" not in got.fields
    assert parse_wav(got.audio).channels == 1  # mixed down before it is sent
    assert (heard.text, heard.segments, heard.duration_s, heard.model) == (HEARD, [], 2.0, "whisper-1")


def test_a_429_is_retried_after_its_retry_after_and_then_heard(tmp_path: Path) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with TranscriptionServer(HEARD) as server:
        server.add_fault("429", retry_after="0.2")
        server.add_fault("500")
        eng = engine(tmp_path, server.base_url, max_retries=3)
        eng._sleep = sleep
        heard = hear(eng, tone())
        assert len(server.requests) == 3
    assert heard.text == HEARD
    assert waits[0] == 0.2  # the server's Retry-After, as asked
    assert (eng.requests, eng.retries) == (3, 2)


def test_a_server_that_keeps_failing_ends_in_one_clear_error(tmp_path: Path) -> None:
    with TranscriptionServer(HEARD) as server:
        server.add_fault("500", times=10)
        eng = engine(tmp_path, server.base_url, max_retries=2)
        with pytest.raises(AsrError) as failed:
            hear(eng, tone())
        assert len(server.requests) == 3
    message = str(failed.value)
    assert message.startswith(f"the ASR engine (whisper-1) at {server.base_url}: HTTP 500 after 2 retries")


def test_a_hang_is_cut_at_timeout_s_on_every_attempt(tmp_path: Path) -> None:
    with TranscriptionServer(HEARD) as server:
        server.add_fault("hang", times=10)
        eng = engine(tmp_path, server.base_url, timeout_s=0.3, max_retries=1)
        with pytest.raises(AsrError, match=r"timeout after 0\.3 s after 1 retry"):
            hear(eng, tone())
        assert len(server.requests) == 2
    assert eng.deadline_s == pytest.approx(2 * 0.3 + 0.5)


def test_an_answer_past_max_answer_bytes_is_not_read(tmp_path: Path) -> None:
    with TranscriptionServer(HEARD) as server:
        server.add_fault("huge", size=5_000_000)
        eng = engine(tmp_path, server.base_url, max_answer_bytes=100_000)
        with pytest.raises(AsrError, match=r"larger than max_answer_bytes = 100,000 bytes"):
            hear(eng, tone())
        assert len(server.requests) == 1  # never retried


def test_nothing_listening_is_unreachable_naming_asr_base_url(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eng = engine(tmp_path, f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(AgentUnreachable, match=r"the ASR engine \(whisper-1\) at .*connection refused.*asr\.base_url"):
        hear(eng, tone())


def test_a_server_off_this_machine_needs_the_key_named_by_api_key_env(tmp_path: Path) -> None:
    cfg = settings(tmp_path, "https://asr.example.com/v1", api_key_env="ASR_GATEWAY_KEY")
    with pytest.raises(ConfigError, match=r"needs ASR_GATEWAY_KEY in the environment: asr\.base_url"):
        engine_from_settings(cfg, environ={"OPENAI_API_KEY": "sk-not-this-one"})
    made = engine_from_settings(cfg, environ={"ASR_GATEWAY_KEY": "gw-secret-123456"})
    assert isinstance(made, OpenAIEngine)
    assert made.client.api_key == "gw-secret-123456"
    assert "gw-secret" not in str(made.describe())
