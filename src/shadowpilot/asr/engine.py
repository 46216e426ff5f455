"""The engine protocol every ASR engine follows, and the one place `[asr] kind` picks an engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..config import Settings
    from .audio import Audio
    from .transcription import Transcription


class AsrEngine(Protocol):
    """Hears audio. `transcribe` is a coroutine, safe to await from many tasks at once: the local
    engine works in a worker thread (its model loaded once per engine), the openai engine over HTTP."""

    kind: str
    model: str

    async def transcribe(self, audio: Audio) -> Transcription:
        """The text of `audio` (any rate, any channels: mixed down and resampled as the engine needs).
        Raises AsrError (an AgentError) when the engine failed on it."""
        ...

    def describe(self) -> dict[str, Any]:
        """The engine's settings, for a run's manifest (no secrets)."""
        ...

    def warm_up(self) -> None:
        """Load what the first utterance would otherwise pay for inside its time (a model, an SDK's
        lazy imports and answer schemas); sends nothing. Called once, before the first is timed."""
        ...

    async def aclose(self) -> None: ...


def engine_from_settings(settings: Settings, *, environ: Mapping[str, str] | None = None) -> AsrEngine | None:
    """The engine `[asr]` configures; None for `kind = "none"` (the stored transcript is what the agent sees).
    ConfigError (exit 2) naming the `[asr]` field when it cannot be made (no model, no key, no extra)."""
    kind = settings.asr.kind
    if kind == "local":
        from .local import LocalEngine

        return LocalEngine.from_settings(settings)
    if kind == "openai":
        from .openai import OpenAIEngine

        return OpenAIEngine.from_settings(settings, environ=environ)
    return None
