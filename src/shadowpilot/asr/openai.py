"""`[asr] kind = "openai"`: any OpenAI-compatible `POST /v1/audio/transcriptions` (OpenAI, a local
faster-whisper server, a gateway), called with the real `openai` client.

The client is made as the agent's and the judge's are (runners.openai_chat.make_client: the key from
`[asr] api_key_env`, none needed on this machine, no redirects followed, at most `max_answer_bytes` of
an answer read) and every request goes through the one retry policy (runners.retry: 429, 5xx,
timeouts and dropped connections retried with backoff, Retry-After honoured within the deadline).
Each attempt is bounded by `timeout_s`, so a server that hangs costs `timeout_s x (max_retries + 1)`
plus the backoff, never more. The audio is sent as a 16-bit PCM WAV, mixed down to mono at its own rate.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AgentError, AgentUnreachable, AsrError
from ..urls import safe_url
from .transcription import Segment, Transcription, Word, asr_cost

if TYPE_CHECKING:
    import openai

    from ..config import AsrSettings, Settings
    from ..runners.reach import Endpoint
    from ..runners.retry import Failure, RetryPolicy
    from .audio import Audio

DEFAULT_MODEL = "whisper-1"


class OpenAIEngine:
    """One transcription request per utterance; `requests` and `retries` add up over the engine's life."""

    kind = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        settings: AsrSettings,
        *,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ):
        from ..runners.reach import Endpoint
        from ..runners.retry import RetryPolicy

        self.client = client
        self.settings = settings
        self.model: str = settings.model or DEFAULT_MODEL
        self.retry_policy = retry_policy or RetryPolicy(max_retries=settings.max_retries)
        self._sleep = sleep
        self._rng = rng
        self.endpoint: Endpoint = Endpoint(
            f"the ASR engine ({self.model})",
            safe_url(str(client.base_url).rstrip("/")),
            "asr.base_url",
            settings.api_key_env,
        )
        self.requests = 0
        self.retries = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, environ: Mapping[str, str] | None = None) -> OpenAIEngine:
        """The engine `[asr]` configures, its client made here (ConfigError when no key can be had)."""
        from ..runners.openai_chat import make_client

        cfg = settings.asr
        client = make_client(
            "the ASR engine",
            "asr",
            cfg.base_url,
            cfg.timeout_s,
            environ,
            max_answer_bytes=cfg.max_answer_bytes,
            key_env=cfg.api_key_env,
        )
        return cls(client, cfg)

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "kind": self.kind,
            "model": self.model,
            "base_url": safe_url(s.base_url) if s.base_url else None,
            "language": s.language,
            "response_format": s.response_format,
            "timeout_s": s.timeout_s,
            "max_retries": self.retry_policy.max_retries,
        }

    @property
    def deadline_s(self) -> float:
        """The longest one utterance can take with every retry."""
        return self.retry_policy.deadline_s(self.settings.timeout_s)

    async def transcribe(self, audio: Audio) -> Transcription:
        from ..runners.retry import retry

        wav = audio.mono().wav_bytes()
        started = time.perf_counter()

        def note_retry(_failure: Failure, _delay: float) -> None:
            self.retries += 1

        try:
            answer = await retry(
                lambda: self._attempt(wav),
                self._classify,
                self.retry_policy,
                sleep=self._sleep,
                rng=self._rng,
                on_retry=note_retry,
                deadline_s=self.deadline_s,
            )
        except AgentUnreachable as exc:
            raise self.endpoint.unreachable(exc) from exc
        except AgentError as exc:  # retried and still failing, or not worth retrying (a 400, an answer too large)
            raise AsrError(f"{self.endpoint.who} at {self.endpoint.url}: {exc}") from exc
        return self._transcription(answer, audio, time.perf_counter() - started)

    def warm_up(self) -> None:
        """The SDK's lazy parts now, not inside the first utterance's time: its audio resource and
        answer types (~0.1 s of imports) and pydantic's schemas for the answer, built on the first
        answer parsed (~70 ms), and anyio's asyncio backend, which httpcore imports on the process's
        first request (~0.2 s under load; a loopback answer takes a few ms). No request is sent."""
        import anyio._backends._asyncio  # noqa: F401  # loaded by httpcore's first anyio.Event()
        from openai.types.audio import Transcription, TranscriptionVerbose

        _ = self.client.audio.transcriptions
        usage = {"type": "duration", "seconds": 1}
        Transcription.construct(text="", usage=usage)
        segment = {"id": 0, "seek": 0, "start": 0.0, "end": 1.0, "text": "", "tokens": [], "temperature": 0.0}
        TranscriptionVerbose.construct(duration=1.0, language="en", text="", segments=[segment], usage=usage)

    async def aclose(self) -> None:
        await self.client.close()

    # -- one request ----------------------------------------------------------------------------------------------
    async def _attempt(self, wav: bytes) -> Any:
        self.requests += 1
        s = self.settings
        extra: dict[str, Any] = {}
        if s.language:
            extra["language"] = s.language
        if s.response_format == "verbose_json":
            extra["timestamp_granularities"] = ["segment"]
        # the SDK's timeout bounds each read; this bounds the whole answer (a server that drips)
        async with asyncio.timeout(s.timeout_s):
            return await self.client.audio.transcriptions.create(
                model=self.model,
                file=("utterance.wav", wav, "audio/wav"),
                response_format=s.response_format,
                timeout=s.timeout_s,
                **extra,
            )

    def _classify(self, exc: BaseException) -> Failure | None:
        from ..runners.openai_chat import classify_openai_error

        return classify_openai_error(exc, self.settings.timeout_s)

    def _transcription(self, answer: Any, audio: Audio, took_s: float) -> Transcription:
        text = getattr(answer, "text", None)
        if not isinstance(text, str):
            raise AsrError(f"{self.endpoint.who} at {self.endpoint.url}: the answer has no text")
        segments = []
        for seg in getattr(answer, "segments", None) or ():
            words = [Word(start_s=w.start, end_s=w.end, text=w.word.strip()) for w in getattr(seg, "words", None) or ()]
            if seg.text.strip():
                segments.append(Segment(start_s=seg.start, end_s=seg.end, text=seg.text.strip(), words=words))
        duration = getattr(answer, "duration", None)
        duration_s = float(duration) if isinstance(duration, int | float) else audio.duration_s
        return Transcription(
            text=text.strip(),
            segments=segments,
            duration_s=round(duration_s, 3),
            engine=self.kind,
            model=self.model,
            language=getattr(answer, "language", None) or self.settings.language,
            processing_s=round(took_s, 4),
            cost_usd=asr_cost(duration_s, self.settings.cost_per_minute),
        )
