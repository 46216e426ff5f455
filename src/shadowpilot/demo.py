"""The demo: the bundled sample tenant through the whole loop, in a folder of its own; the voice
demo: the same calls as telephone audio, heard by the local ASR, beside their text replay."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from . import workflow
from .config import CONFIG_NAME, load_settings
from .errors import EnvironmentFailure, UsageError
from .evals.compare import DecisionFlip
from .reports import render_report
from .types import AsrSummary, CallRun, GateResult, Turn, Verdict

if TYPE_CHECKING:
    from .config import Settings

SAMPLE = Path(__file__).with_name("sample")


@dataclass
class DemoResult:
    tenant: str
    imported: int
    gate: GateResult
    reports: dict[str, Path]
    store: Path


def run_demo(directory: Path) -> DemoResult:
    """Copy the sample config (once), import, run the baseline agent, gate, write the reports
    (pilot-report.html for the tenant, .md and .json).

    Re-running adds a run to the same store, so `history` shows the pilot over time.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / CONFIG_NAME
    if not config.exists():
        shutil.copy(SAMPLE / CONFIG_NAME, config)
    settings = load_settings(config, environ={})
    imported = workflow.import_files(settings, [SAMPLE / "transcripts.jsonl"])
    run = workflow.run(settings)
    result = workflow.gate(settings, run.run_id)
    data = workflow.build_report_data(settings, run.run_id)
    reports = {}
    for fmt in ("html", "md", "json"):
        path = directory / f"pilot-report.{fmt}"
        path.write_text(render_report(data, fmt), encoding="utf-8")
        reports[fmt] = path
    s = imported.summary
    return DemoResult(
        tenant=settings.tenant.name,
        imported=len(s.added) + len(s.updated) + len(s.unchanged),
        gate=result,
        reports=reports,
        store=settings.store_path,
    )


# -- the voice demo: the sample's calls heard as telephone audio -----------------------------------

VOICE_DIR = "voice"  # the voice demo's own tenant folder inside the demo's: the text store is never touched
# The voice store's config: the sample's, hearing through the local engine (tiny.en, the voice extra).
VOICE_ASR = """
[asr]
# the voice demo: the local engine hears each customer turn's audio
kind = "local"
model = "tiny.en"
language = "en"
"""
# One call heard at a time: on a small machine, calls heard at once queue on the same cores and the
# end-of-speech-to-transcript time measures the queue, not the engine (hearing takes no longer).
VOICE_CONCURRENCY = "concurrency = 1  # the voice demo: one call heard at a time (the ASR's time, not a queue's)"
DEBIAN_TOOLS = "apt-get install espeak-ng sox"


class RunVerdict(BaseModel):
    """One run's verdict, as the gate gave it."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    verdict: Verdict
    passed: bool
    pass_rate: float
    passed_cases: int
    cases: int

    @classmethod
    def of(cls, g: GateResult) -> RunVerdict:
        return cls(
            run_id=g.run_id,
            verdict=g.verdict,
            passed=g.passed,
            pass_rate=g.pass_rate,
            passed_cases=g.passed_cases,
            cases=g.cases,
        )


class VoiceDemo(BaseModel):
    """What the voice demo measured: the same calls replayed as text and as heard audio.

    Two turn counts, on purpose: `turns_heard` is every customer turn the ASR transcribed (hearing
    comes before the replay, so it hears them all); `turns_asked` the heard turns the agent was
    then asked at (it stops asking after its first escalation in a call). The gate's `asr` figures
    (WER, latencies) are over the turns asked, the only ones a run stores."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    folder: Path  # the voice demo's tenant folder (its shadowpilot.toml)
    store: Path
    audio_dir: Path  # where the store keeps the recordings (content-addressed)
    calls: int
    customer_turns: int  # in the calls rendered: what the ASR had to hear
    audio_minutes: float  # the recordings rendered, both parties
    turns_heard: int
    turns_asked: int
    asr_failed: int
    engine: dict[str, Any]
    text: RunVerdict
    audio: RunVerdict
    asr: AsrSummary | None  # the audio run's gate figures, as the gate has them
    flipped: list[DecisionFlip]  # cases whose decision hearing changed (text run A, audio run B)
    render_s: float
    audio_run_s: float  # hearing every customer turn, then the replay
    load_average: float  # the machine's 1-minute load average as the audio run ended: timings depend on it


def voice_settings(directory: Path) -> Settings:
    """The voice demo's tenant (DIR/voice): the sample's config with the local engine, written once."""
    folder = directory / VOICE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / CONFIG_NAME
    if not config.exists():
        sample = (SAMPLE / CONFIG_NAME).read_text(encoding="utf-8")
        text, n = re.subn(r"(?m)^concurrency = \d+$", VOICE_CONCURRENCY, sample, count=1)
        assert n == 1, "the sample config sets [agent] concurrency"
        config.write_text(text + VOICE_ASR, encoding="utf-8")
    return load_settings(config, environ={})


def can_speak() -> None:
    """EnvironmentFailure (exit 2) naming the Debian packages when espeak-ng or sox is missing:
    checked before anything is written, as the rendering needs both."""
    from .asr import synth

    missing = synth.missing_tools()
    if missing:
        raise EnvironmentFailure(
            f"the voice demo speaks the sample calls with espeak-ng and sox; {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed (Debian: {DEBIAN_TOOLS})"
        )


def can_hear(settings: Settings) -> None:
    """The local engine's own check, before any rendering: exit 2 naming the voice extra when
    faster-whisper (or the tiny.en wheel) is not installed."""
    from .workflow.hearing import asr_engine

    asr_engine(settings)


def sample_calls(ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The sample's transcript records (all 20, or those of `ids`, in the file's order)."""
    records = [json.loads(line) for line in (SAMPLE / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()]
    if ids is None:
        return records
    unknown = sorted(set(ids) - {r["id"] for r in records})
    if unknown:
        raise UsageError(f"no sample call {', '.join(map(repr, unknown))}: the sample's are hv-001 to hv-020")
    return [r for r in records if r["id"] in set(ids)]


def _only_these(settings: Settings, ids: set[str]) -> None:
    """A run replays every case in its store: one holding other sample calls than these would
    replay those too, and the figures would not be of the calls chosen. UsageError then."""
    if not settings.store_path.exists():
        return
    with workflow.Workspace.reading(settings) as ws:
        others = sorted({c.id for c in ws.store.current_cases()} - ids)
    if others:
        raise UsageError(
            f"{settings.store_path} already holds other sample calls ({', '.join(others[:5])}"
            f"{', ...' if len(others) > 5 else ''}), which the runs would replay too: "
            "choose the same calls again, all of them, or a new demo folder"
        )


def render_calls(records: list[dict[str, Any]], folder: Path) -> tuple[Path, float]:
    """Each record's call rendered as a recording in `folder`, and a transcripts file beside them
    whose cases name it (`audio`, the customer on channel 2) and time every turn in it; the file
    and the minutes of audio rendered."""
    from .asr.render import CUSTOMER_CHANNEL, render_call

    out, seconds = [], 0.0
    for record in records:
        turns = [Turn(speaker=t["speaker"], text=t["text"]) for t in record["turns"]]
        call = render_call(turns, folder / f"{record['id']}.wav")
        timed = [{**t, "start_s": a, "end_s": b} for t, (a, b) in zip(record["turns"], call.times, strict=True)]
        audio = {"path": call.path.name, "customer_channel": CUSTOMER_CHANNEL}
        out.append({**record, "turns": timed, "audio": audio})
        seconds += call.duration_s
    path = folder / "transcripts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    return path, round(seconds / 60.0, 2)


def run_voice_demo(
    directory: Path, calls: Sequence[str] | None = None, *, on_stage: Callable[[str], None] | None = None
) -> VoiceDemo:
    """The sample's calls (all, or the case ids `calls`) as telephone audio, in the voice demo's
    own store under `directory`: rendered with espeak-ng and sox, imported with their recordings
    (kept content-addressed in that store's audio folder; the rendering folder is removed), then
    replayed through the baseline agent twice, as text and as heard by the local ASR, both gated
    and compared. `on_stage(name)` is told each stage as it starts (render, text, audio, gate)."""
    stage = on_stage or (lambda _name: None)
    records = sample_calls(calls)
    can_speak()
    settings = voice_settings(directory)
    can_hear(settings)
    _only_these(settings, {r["id"] for r in records})
    stage("render")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".render-", dir=settings.root) as tmp:
        path, minutes = render_calls(records, Path(tmp))
        render_s = time.perf_counter() - started
        workflow.import_files(settings, [path])
    stage("text")
    text = workflow.run(settings)
    stage("audio")
    asked = 0

    def count(result: CallRun) -> None:
        nonlocal asked
        asked += sum(1 for step in result.steps if step.heard is not None)

    started = time.perf_counter()
    audio = workflow.run(settings, audio=True, on_result=count)
    audio_run_s = time.perf_counter() - started
    load = os.getloadavg()[0]
    assert audio.heard is not None  # an audio run hears
    stage("gate")
    text_gate, audio_gate = workflow.gate(settings, text.run_id), workflow.gate(settings, audio.run_id)
    compared = workflow.compare_runs(settings, text.run_id, audio.run_id)
    with workflow.Workspace.reading(settings) as ws:
        engine = ws.store.manifest(audio.run_id).asr or {}
    return VoiceDemo(
        tenant=settings.tenant.name,
        folder=settings.root,
        store=settings.store_path,
        audio_dir=settings.audio_dir,
        calls=len(records),
        customer_turns=sum(1 for r in records for t in r["turns"] if t["speaker"] == "customer"),
        audio_minutes=minutes,
        turns_heard=audio.heard.turns,
        turns_asked=asked,
        asr_failed=audio.heard.failed,
        engine=engine,
        text=RunVerdict.of(text_gate),
        audio=RunVerdict.of(audio_gate),
        asr=audio_gate.asr,
        flipped=list(compared.flipped),
        render_s=round(render_s, 1),
        audio_run_s=round(audio_run_s, 1),
        load_average=round(load, 2),
    )
