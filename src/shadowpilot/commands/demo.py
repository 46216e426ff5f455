"""`shadowpilot demo`: the whole pilot loop on the bundled sample tenant, offline; `--voice`: the
same calls as telephone audio, heard by the local ASR."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .common import EXIT_NOT_READY, EXIT_OK, JSON_OPTION, console, emit_json, guarded

if TYPE_CHECKING:
    from rich.console import Console

    from ..demo import VoiceDemo


@guarded
def command(
    directory: Path = typer.Option(
        Path("shadowpilot-demo"), "--dir", metavar="DIR", help="Where the demo tenant's config, store and reports go."
    ),
    voice: bool = typer.Option(
        False,
        "--voice",
        help="Hear the calls: render them as telephone audio (espeak-ng, sox), replay them through the local "
        "ASR and the baseline agent beside the text replay (needs the voice extra; a few minutes).",
    ),
    calls: str | None = typer.Option(
        None, "--calls", metavar="IDS", help="With --voice: only these sample calls, comma-separated (hv-001,hv-005)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import the sample clinic's 20 calls, replay them through the offline baseline agent,
    score, gate, and write the pilot reports. No key, no network.

    With --voice, the calls are spoken into dual-channel 8 kHz mu-law recordings in DIR/voice
    (a store of their own), replayed as text and as heard by the local ASR (tiny.en), and the
    two compared: the ASR's word error rate, the cases flipped by hearing, the latencies.

    Exit 0 when the gate says go (with --voice: the audio run's), 3 when it says no-go (as every
    command does).
    """
    if voice:
        _voice(directory, calls, as_json)
    if calls is not None:
        from ..errors import UsageError

        raise UsageError("--calls goes with --voice (the text demo replays all 20 sample calls)")
    from ..demo import run_demo

    con = console(stderr=as_json)
    with con.status("running the pilot loop on the sample tenant..."):
        result = run_demo(directory)
    g = result.gate
    if as_json:
        from .gate import GATE_JSON_EXCLUDE

        emit_json(g.model_dump(mode="json", exclude=GATE_JSON_EXCLUDE))
    else:
        from .views import print_gate

        con.print(
            f"[bold]shadowpilot demo[/] · tenant [bold]{result.tenant}[/] · {result.imported} transcripts · "
            f"agent [bold]baseline[/] (offline keyword rules) · run {g.run_id}"
        )
        print_gate(con, g, "pilot verdict")
        con.print(
            f"reports: [bold]{result.reports['html']}[/] (open it in a browser), "
            f"[bold]{result.reports['md']}[/], [bold]{result.reports['json']}[/]"
        )
        con.print(f"store:   [bold]{result.store}[/] (DuckDB; query it with SQL)")
        con.print(
            f"try:     cd {directory} && shadowpilot history   ·   "
            "shadowpilot gate --use-lower-bound   ·   shadowpilot report --format junit"
        )
        if not g.passed:
            con.print(
                "[dim]exit code 3: the gate did not say go (the baseline is a deliberately simple first policy).[/]"
            )
    raise typer.Exit(EXIT_OK if g.passed else EXIT_NOT_READY)


STAGES = {
    "render": "speaking the sample calls as telephone audio (espeak-ng, sox)...",
    "text": "replaying them as text through the baseline agent...",
    "audio": "hearing every customer turn through the local ASR, then replaying...",
    "gate": "gating both runs and comparing them...",
}


def _voice(directory: Path, calls: str | None, as_json: bool) -> None:
    from ..demo import run_voice_demo

    ids = None if calls is None else [c.strip() for c in calls.split(",") if c.strip()]
    con = console(stderr=as_json)
    with con.status(STAGES["render"]) as status:
        result = run_voice_demo(directory, ids, on_stage=lambda stage: status.update(STAGES[stage]))
    if as_json:
        emit_json(result.model_dump(mode="json"))
    else:
        print_voice(con, result)
    raise typer.Exit(EXIT_OK if result.audio.passed else EXIT_NOT_READY)


def print_voice(con: Console, r: VoiceDemo) -> None:
    """The voice demo: the two verdicts, what the ASR heard and how well, the flips, the times."""
    from rich.table import Table

    from ..formatting import NOT_MEASURED, ms_as_kept, percent
    from ..wording import plural
    from .views import LABEL, STYLE

    e = r.engine
    con.print(
        f"[bold]shadowpilot demo --voice[/] · tenant [bold]{r.tenant}[/] · {plural(r.calls, 'call')} spoken as "
        f"telephone audio (dual-channel 8 kHz mu-law, {r.audio_minutes:.1f} min, in {r.render_s:g} s) · "
        f"agent [bold]baseline[/] · ASR [bold]{e.get('kind')} {e.get('model')}[/] "
        f"({e.get('device')} {e.get('compute_type')}, {e.get('cpu_threads')} threads, VAD on)",
        soft_wrap=True,
    )
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for label, v in (("text replay", r.text), ("audio replay", r.audio)):
        t.add_row(
            label,
            f"[{STYLE[v.verdict]}]{LABEL[v.verdict]}[/]  pass rate {percent(v.pass_rate)} "
            f"({v.passed_cases}/{v.cases}) · run {v.run_id}",
        )
    a = r.asr
    t.add_row(
        "heard",
        f"{plural(r.turns_heard, 'customer turn')} of {r.customer_turns} through the ASR, every one before the "
        f"replay, one call at a time ({r.audio_run_s:g} s with the replay, load average {r.load_average:g})"
        + (f"; {plural(r.asr_failed, 'ASR failure')} (each fails its case)" if r.asr_failed else ""),
    )
    if a is None or a.wer is None:
        t.add_row("ASR WER", NOT_MEASURED)
    else:
        not_asked = r.turns_heard - r.turns_asked
        t.add_row(
            "ASR WER",
            f"{a.wer:.3f} ({a.edits} edits / {a.ref_words} reference words) over the "
            f"{plural(a.turns, 'heard turn')} the agent was asked at, in {plural(a.cases, 'case')}; "
            f"worst case {a.worst_case_wer:.3f}"
            + (
                f"\n{plural(not_asked, 'heard turn')} came after the agent's first escalation in "
                f"{'its' if not_asked == 1 else 'their'} call: never asked, so not scored"
                if not_asked
                else ""
            )
            + (
                f"\n{plural(r.turns_asked - a.turns, 'turn')} asked had nothing said to score"
                if r.turns_asked != a.turns
                else ""
            ),
        )
    flips = [
        f"{f.case_id}: "
        + (
            f"escalated on the {'text' if f.escalated_a else 'audio'} run only"
            if f.what == "escalation"
            else f"routing right on the {'text' if f.routing_ok_a else 'audio'} run only"
        )
        for f in r.flipped
    ]
    t.add_row(
        "flipped by hearing",
        f"{len(flips)} of {r.calls}" + (": " + "; ".join(flips) if flips else " (hearing changed no decision)"),
    )
    if a is not None:

        def span(p50: float | None, p95: float | None) -> str:
            if p50 is None and p95 is None:
                return f"{NOT_MEASURED} (the baseline agent reports no times)"
            return f"p50 {ms_as_kept(p50)} · p95 {ms_as_kept(p95)}"

        t.add_row(
            "latency",
            "per heard turn, from the end of the customer's speech:\n"
            f"to transcript {span(a.to_transcript_p50, a.to_transcript_p95)} (the engine's time on this machine)\n"
            f"to first token {span(a.to_first_token_p50, a.to_first_token_p95)}\n"
            f"to full reply {span(a.to_full_reply_p50, a.to_full_reply_p95)}",
        )
    con.print(t)
    con.print(f"store:   [bold]{r.store}[/] (the voice demo's own; the text demo's is untouched)", soft_wrap=True)
    con.print(f"audio:   [bold]{r.audio_dir}[/] (the recordings, by content hash; never in a report)", soft_wrap=True)
    con.print(
        f"try:     cd {r.folder} && shadowpilot compare {r.text.run_id} {r.audio.run_id}   ·   "
        f"shadowpilot report --run {r.audio.run_id} --baseline {r.text.run_id}",
        soft_wrap=True,
    )
