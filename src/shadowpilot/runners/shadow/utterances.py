"""One track of live telephone audio cut into utterances by a voice-activity detector.

The detector is Silero VAD as faster-whisper bundles it (`faster_whisper.vad.get_vad_model`, an
ONNX model run by onnxruntime, already installed with the `voice` extra and the one the local ASR
engine filters silence with): no second model or library to pin, and the same idea of "speech"
on the live path as in `run --audio`. faster-whisper only offers it over a whole recording, so the
streaming part is ours: the 8 kHz audio is brought to 16 kHz (linear interpolation: enough for a
detector), scored in 32 ms windows as it comes, and an utterance ends after `silence_ms` of
windows below the silence threshold, or is cut at `max_utterance_s`. Windows quieter than -50 dBFS
are silence without asking the model (most of a phone line's silence), which keeps 100 live tracks
within a core.

A Cutter is fed a track's audio in timeline order (the server puts frames in order and fills gaps
with silence) and is deterministic: the same audio always gives the same utterances, which is what
lets a restarted server re-cut a stream from its frame file and recognise the utterances it had
already handed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...asr.audio import mulaw_decode

RATE = 8000
WINDOW = 256  # 8 kHz samples per detector window (512 at 16 kHz: Silero's window), 32 ms
WINDOW_MS = WINDOW * 1000 // RATE
THRESHOLD = 0.5  # Silero's default speech probability, and faster-whisper's
NEG_THRESHOLD = 0.35  # below this a window is silence (faster-whisper: threshold - 0.15)
QUIET_RMS = 10 ** (-50 / 20)  # -50 dBFS: silence, without running the model
PAD_MS = 200  # audio kept each side of the speech given to the ASR engine


@dataclass(frozen=True)
class Cut:
    """One utterance: where the speech is in the track (ms from the stream's start) and its audio."""

    start_ms: int
    end_ms: int
    audio: bytes  # 8 kHz mu-law, PAD_MS either side of the speech when the track has it


def vad_model() -> Any:
    """faster-whisper's bundled Silero model (one ONNX session; safe to share between threads)."""
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


class Cutter:
    """A track's detector state: feed it audio in order, get the utterances that ended."""

    def __init__(self, model: Any, *, silence_ms: int, max_utterance_s: float, min_speech_ms: int):
        self.model = model
        self.silence_windows = max(1, -(-silence_ms // WINDOW_MS))
        self.max_windows = max(2, int(max_utterance_s * 1000 // WINDOW_MS))
        self.min_windows = min_speech_ms // WINDOW_MS
        self.pad = PAD_MS * RATE // 1000
        self.audio = bytearray()  # mu-law kept from `kept_from` (samples from the stream's start)
        self.kept_from = 0
        self.windows = 0  # windows scored so far
        self.start: int | None = None  # the speech's first window, while in an utterance
        self.last_speech = 0  # the last window at or above the threshold, while in an utterance
        self._prev = 0.0  # the sample before the pending audio, to interpolate across blocks

    @property
    def position(self) -> int:
        """Samples taken so far (the track's timeline up to here is decided or pending)."""
        return self.kept_from + len(self.audio)

    def bound_ms(self) -> int:
        """No utterance this track has yet to give can end before this (ms): what lets two tracks'
        utterances be put in order of their ends without waiting for the call to end."""
        if self.start is not None:
            return (self.last_speech + 1) * WINDOW_MS
        return self.windows * WINDOW_MS

    def feed(self, mulaw: bytes) -> list[Cut]:
        self.audio += mulaw
        return self._score(final=False)

    def finish(self) -> list[Cut]:
        """The track ended: an utterance still open ends where its speech did."""
        cuts = self._score(final=True)
        if self.start is not None:
            cuts += self._end(self.last_speech + 1)
        return cuts

    def _score(self, *, final: bool) -> list[Cut]:
        first = self.windows * WINDOW - self.kept_from  # where the unscored audio begins in self.audio
        count = (len(self.audio) - first) // WINDOW
        if count <= 0:
            return []
        block = mulaw_decode(bytes(self.audio[first : first + count * WINDOW]))
        probs = self._probabilities(block, count)
        cuts: list[Cut] = []
        for p in probs:
            w = self.windows
            self.windows += 1
            if self.start is None:
                if p >= THRESHOLD:
                    self.start, self.last_speech = w, w
                continue
            if p >= NEG_THRESHOLD:
                self.last_speech = w if p >= THRESHOLD or w == self.last_speech + 1 else self.last_speech
            if w - self.last_speech >= self.silence_windows:
                cuts += self._end(self.last_speech + 1)
            elif w + 1 - self.start >= self.max_windows:
                cuts += self._end(w + 1)
        self._trim()
        return cuts

    def _probabilities(self, block: np.ndarray, count: int) -> list[float]:
        windows = block.reshape(count, WINDOW)
        loud = np.sqrt(np.mean(windows.astype(np.float64) ** 2, axis=1)) >= QUIET_RMS
        probs = [0.0] * count
        if loud.any():
            x8 = np.concatenate([[self._prev], block]).astype(np.float32)
            x16 = np.interp(np.arange(1, len(x8) * 2 - 1) / 2.0, np.arange(len(x8)), x8).astype(np.float32)
            x16 = x16[: count * WINDOW * 2]
            scores = np.asarray(self.model(x16)).reshape(-1)
            for i in np.flatnonzero(loud):
                probs[i] = float(scores[i])
        self._prev = float(block[-1])
        return probs

    def _end(self, end_window: int) -> list[Cut]:
        start, self.start = self.start, None
        assert start is not None
        if end_window - start < max(1, self.min_windows):
            return []
        lo = max(start * WINDOW - self.pad, self.kept_from)
        hi = min(end_window * WINDOW + self.pad, self.position)
        audio = bytes(self.audio[lo - self.kept_from : hi - self.kept_from])
        return [Cut(start * WINDOW_MS, end_window * WINDOW_MS, audio)]

    def _trim(self) -> None:
        """Keep only the audio an utterance may still need: from its start (less the pad), or the
        pad before the next window when none is open."""
        keep = (self.start if self.start is not None else self.windows) * WINDOW - self.pad
        drop = keep - self.kept_from
        if drop > 0:
            del self.audio[:drop]
            self.kept_from += drop
