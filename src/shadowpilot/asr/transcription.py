"""What an ASR engine hears in one utterance: the text, its timed segments (and words, when the
engine gives them), how long the audio was and which engine and model heard it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Word(_Frozen):
    """One word with its times in seconds from the start of the audio."""

    start_s: float
    end_s: float
    text: str
    probability: float | None = None


class Segment(_Frozen):
    """A stretch of speech the engine heard as one piece, with its times in seconds."""

    start_s: float
    end_s: float
    text: str
    words: list[Word] = Field(default_factory=list)


class Transcription(_Frozen):
    """One engine's hearing of one piece of audio. `text` is "" when nothing was said (silence, noise)."""

    text: str
    segments: list[Segment] = Field(default_factory=list)
    duration_s: float = Field(ge=0)  # of the audio given, silence included
    engine: str  # "local", "openai"
    model: str  # the model directory's name or the server's model
    language: str | None = None  # as the engine detected or was told
    processing_s: float = Field(0.0, ge=0)  # wall-clock seconds the engine took
    cost_usd: float | None = None  # [asr] cost_per_minute x duration; None when no price is set

    @property
    def real_time_factor(self) -> float | None:
        """Audio seconds heard per second of processing (5.0: five times faster than real time)."""
        return self.duration_s / self.processing_s if self.processing_s > 0 else None


def asr_cost(duration_s: float, cost_per_minute: float | None) -> float | None:
    """What hearing `duration_s` of audio costs at `cost_per_minute` USD (None: no price configured)."""
    return None if cost_per_minute is None else round(duration_s / 60.0 * cost_per_minute, 6)
