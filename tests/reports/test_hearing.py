"""The hearing of an audio run in every report format (issue 13): recordings synthesised with
espeak-ng + sox, heard through the real openai client by a transcription server on loopback, the
baseline agent asked with what was heard; then the same cases as a text run. Every figure the
reports show is the gate JSON's figure for the same run, and a text run says "not measured"."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import recordings
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.reports.conftest import needs_chromium
from tests.reports.test_html import parse, text_of
from tests.servers.transcription_server import TranscriptionServer

EMERGENCY = "This is an emergency, my father is unconscious."


def recorded_case(folder: Path, case_id: str, spoken: str, written: str, **kw: Any) -> dict[str, Any]:
    """One customer turn, spoken as `spoken` in the call's recording and transcribed as `written`."""
    case = make_case(case_id, [written], **kw)
    said = [spoken if t["speaker"] == "customer" else t["text"] for t in case["turns"]]
    path, times = recordings.call(folder, said, case_id)
    for turn, (start, end) in zip(case["turns"], times, strict=True):
        turn["start_s"], turn["end_s"] = start, end
    return {**case, "audio": path.name}


@dataclass
class Runs:
    audio: str
    text: str
    folder: Path


@pytest.fixture
def runs(tenant_dir: Path, cli) -> Runs:
    """Three cases heard by a server that hears every turn as an emergency: `calm` said and
    transcribed so (heard right), `heard` where the caller said it and the transcript did not,
    `misheard` an address change heard as one. An audio run, then the same cases as text."""
    cases = [
        recorded_case(tenant_dir, "calm", EMERGENCY, EMERGENCY, escalated=True, at_customer_turn=0),
        recorded_case(
            tenant_dir, "heard", EMERGENCY, "I have a question about my father.", escalated=True, at_customer_turn=0
        ),
        recorded_case(tenant_dir, "misheard", "I want to change my address.", "I want to change my address."),
    ]
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "calls.jsonl", cases))).exit_code == 0
    with TranscriptionServer(EMERGENCY) as server:
        write_config(
            tenant_dir,
            f'[asr]\nkind = "openai"\nbase_url = "{server.base_url}"\ncost_per_minute = 0.006\n\n'
            "[gate]\nmax_asr_wer = 0.5\ncheck_latency = true\n",
        )
        audio = invoke(cli, "run", "--audio", "--json")
        assert audio.exit_code == 0, audio.stderr
    text = invoke(cli, "run", "--json")
    assert text.exit_code == 0, text.stderr
    return Runs(json.loads(audio.stdout)["run_id"], json.loads(text.stdout)["run_id"], tenant_dir)


def report(cli, fmt: str, run: str, *extra: str) -> str:
    done = invoke(cli, "report", "--format", fmt, "--run", run, *extra)
    assert done.exit_code == 0, done.stderr
    return done.stdout


def gate_json(cli, run: str) -> dict[str, Any]:
    done = invoke(cli, "gate", "--json", "--run", run)
    assert done.exit_code in (0, 3), done.stderr
    return json.loads(done.stdout)


def expected_figures(asr: dict[str, Any]) -> list[str]:
    """The figures as the gate JSON has them, written at the gate's precision."""
    return [
        f"{asr['wer']:.3f} ({asr['edits']} edits / {asr['ref_words']} words)",
        f"{asr['worst_case_wer']:.3f}",
        f"{asr['audio_minutes_per_call']:.2f} min",
        f"${asr['asr_cost_per_call']:.6f}",
        f"{asr['to_transcript_p50']:g} ms / {asr['to_transcript_p95']:g} ms",
        f"not measured / not measured (budget {asr['to_first_token_budget']:g} ms at p95)",
    ]


def junit_gate(xml: str) -> tuple[dict[str, str], dict[str, bool]]:
    """The gate suite's properties, and each gate testcase: passed?"""
    root = ET.fromstring(xml)
    (suite,) = [s for s in root.iter("testsuite") if s.get("name", "").endswith(".gate")]
    props = {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}
    cases = {t.get("name", ""): t.find("failure") is None for t in suite.iter("testcase")}
    return props, cases


def test_every_format_shows_the_gate_s_hearing_figures(runs: Runs, cli) -> None:
    verdict = gate_json(cli, runs.audio)
    asr = verdict["asr"]
    assert asr is not None and (asr["turns"], asr["cases"]) == (3, 3)
    assert asr["wer"] > 0 and asr["to_transcript_p95"] is not None and asr["to_first_token_p95"] is None

    data = json.loads(report(cli, "json", runs.audio))
    h = data["hearing"]
    assert h["measured"] and h["asr"] == asr  # the gate's summary, unchanged
    assert data["gate"]["checks"] == verdict["checks"]
    # per case: the scorer's WER; the worst of them is the gate's worst case, and the edits add up
    wer = {c["case_id"]: c["wer"] for c in h["cases"]}
    assert wer["calm"] == 0.0 and wer["heard"] > 0 and wer["misheard"] > 0
    assert max(wer.values()) == asr["worst_case_wer"] and h["cases"][0]["wer"] == asr["worst_case_wer"]
    assert sum(c["edits"] for c in h["cases"]) == asr["edits"]
    assert sum(c["ref_words"] for c in h["cases"]) == asr["ref_words"]
    # the worst turns, worst first, the heard-right one last; each a customer turn counted from 1
    worst = h["worst_turns"]
    assert [t["case_id"] for t in worst][-1] == "calm" and worst[-1]["wer"] == 0.0
    assert worst[0]["wer"] == asr["worst_case_wer"] and all(t["customer_turn"] == 1 for t in worst)
    assert h["token_cost_per_call"] == (verdict["cost"] or {}).get("per_call_mean")
    assert h["flipped"] is None  # no baseline

    figures = expected_figures(asr)
    html = report(cli, "html", runs.audio)
    shown = text_of(parse(html))
    md = report(cli, "md", runs.audio)
    for figure in figures:
        assert figure in shown, figure
        assert figure in md.replace("\\", ""), figure
    assert "Worst heard turns" in shown and "misheard" in shown
    assert "| calm | 0.000 (0 / " in md

    props, checks = junit_gate(report(cli, "junit", runs.audio))
    assert props["hearing_asr_wer"] == figures[0] and props["hearing_to_transcript"] == figures[4]
    # the JUnit's checks are the gate's: the WER check, and the voice budget not measured = failed
    assert checks == {c["name"]: c["passed"] for c in verdict["checks"]}
    assert checks["asr_wer"] == (asr["wer"] <= 0.5) and checks["asr_to_first_token"] is False

    # audio is personal data: no recording's name or folder in what a customer is sent
    for text in (html, md, json.dumps(data)):
        assert not re.search(r"calm\.wav|heard\.wav|misheard\.wav", text)


def test_a_text_run_says_not_measured_and_lists_what_hearing_flipped(runs: Runs, cli) -> None:
    verdict = gate_json(cli, runs.text)
    assert verdict["asr"] is None

    data = json.loads(report(cli, "json", runs.text))
    h = data["hearing"]
    assert not h["measured"] and h["asr"] is None and h["cases"] == [] and h["worst_turns"] == []
    md = report(cli, "md", runs.text)
    section = md[md.index("## Hearing") :]
    assert section.count("| not measured |") == 9 and "| 0" not in section
    html = text_of(parse(report(cli, "html", runs.text)))
    assert "Not measured: no customer turn was heard" in html
    props, checks = junit_gate(report(cli, "junit", runs.text))
    assert {k: v for k, v in props.items() if k.startswith("hearing_")} == {
        k: "not measured" for k in props if k.startswith("hearing_")
    }
    assert len([k for k in props if k.startswith("hearing_")]) == 9
    assert "asr_wer" not in checks and "asr_to_first_token" not in checks  # no check on a text run, as the gate
    assert checks == {c["name"]: c["passed"] for c in verdict["checks"]}

    # against the audio run as baseline: the cases hearing changed, as `compare` lists them
    compared = invoke(cli, "compare", runs.audio, runs.text, "--json")
    flips = [f["case_id"] for f in json.loads(compared.stdout)["flipped"]]
    assert sorted(flips) == ["heard", "misheard"]
    with_base = json.loads(report(cli, "json", runs.text, "--baseline", runs.audio))["hearing"]
    assert [f["case_id"] for f in with_base["flipped"]] == flips and with_base["baseline_run"] == runs.audio
    md = report(cli, "md", runs.text, "--baseline", runs.audio)
    assert f"**Flipped by hearing** against `{runs.audio}` (2)" in md
    assert "- `heard`: escalated on the audio run only" in md and "- `misheard`: escalated on the audio run only" in md
    html = text_of(parse(report(cli, "html", runs.text, "--baseline", runs.audio)))
    assert "Flipped by hearing" in html
    assert re.search(r"\bmisheard ?: escalated on the audio run only", html)
    # two text runs: nothing to flip by hearing
    assert json.loads(report(cli, "json", runs.text, "--baseline", runs.text))["hearing"]["flipped"] is None


@needs_chromium
def test_the_audio_report_opens_clean_in_chromium(runs: Runs, cli, browser) -> None:
    page = runs.folder / "audio-report.html"
    done = invoke(cli, "report", "--format", "html", "--run", runs.audio, "--baseline", runs.text, "-o", str(page))
    assert done.exit_code in (0, 3), done.stderr
    log = browser.open(page.as_uri(), width=1280, height=900)
    browser.settle(0.3)
    assert log.console_errors == []
    assert log.requests == [page.as_uri()]  # nothing else loaded: no audio, no other file
    shown = browser.evaluate("document.querySelector('#hear-h').parentElement.innerText")
    assert "ASR word error rate" in shown and "Flipped by hearing" in shown
    assert browser.evaluate("document.querySelectorAll('audio, video, source').length") == 0
