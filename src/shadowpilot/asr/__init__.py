"""Speech recognition: how customer audio becomes the text a text agent sees (`[asr]`).

`engine_from_settings(settings)` gives the configured engine (None for `kind = "none"`: the stored
transcript is used). Every engine answers `await engine.transcribe(audio)` with a `Transcription`,
one utterance or one recording at a time, so a caller with live audio (Media Streams) calls it per
utterance. The engines are `local` (faster-whisper on this machine, the `voice` extra) and
`openai` (any OpenAI-compatible transcription server).

Nothing here is imported when the CLI starts, and faster-whisper only when a local engine first
transcribes: `import shadowpilot.asr` costs numpy and pydantic, no model.
"""

from __future__ import annotations

from .audio import Audio, mulaw_decode, mulaw_encode, read_wav
from .engine import AsrEngine, engine_from_settings
from .transcription import Segment, Transcription, Word

__all__ = [
    "AsrEngine",
    "Audio",
    "Segment",
    "Transcription",
    "Word",
    "engine_from_settings",
    "mulaw_decode",
    "mulaw_encode",
    "read_wav",
]
