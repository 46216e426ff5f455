"""`shadowpilot demo --voice` through the real CLI: sample calls rendered as telephone audio
(espeak-ng + sox), heard by the real local engine (faster-whisper tiny.en), replayed through the
baseline agent beside their text replay, in the demo folder's own voice store. Two calls, not 20:
the whole sample takes minutes (README "Try it"); the figures are checked against the gate and
compare of the runs the demo names, and against the store. Plus the exit-2 paths."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from shadowpilot.config import load_settings
from shadowpilot.store import Store
from tests import recordings
from tests.asr.conftest import pinned_tiny_en
from tests.conftest import SAMPLE, invoke

# hv-005: the baseline escalates its text at the first turn (two turns early); hv-013: it escalates
# at the second of three customer turns, so the third is heard but never asked
CALLS = ["hv-005", "hv-013"]


def flat(text: str) -> str:
    return " ".join(text.split())


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def sample_customer_turns(ids: list[str]) -> dict[str, int]:
    out = {}
    for line in (SAMPLE / "transcripts.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["id"] in ids:
            out[record["id"]] = sum(1 for t in record["turns"] if t["speaker"] == "customer")
    return out


def digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` (but its voice demo) by its content hash."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] != "voice"
    }


def test_demo_voice_hears_the_calls_beside_their_text_replay(tmp_path: Path, cli, monkeypatch) -> None:
    pinned_tiny_en()  # skips without the voice extra
    recordings.need_tools()
    monkeypatch.chdir(tmp_path)
    assert invoke(cli, "demo", "--dir", "d").exit_code == 3  # the text demo first: the voice demo leaves it be
    text_demo = digest(tmp_path / "d")
    args = ["demo", "--voice", "--calls", ",".join(CALLS), "--dir", "d"]

    shown = invoke(cli, *args)
    assert shown.exit_code == 3, shown.stderr  # 2 cases: too few for a verdict, so not go
    said = flat(shown.stdout)
    text_run, audio_run = (re.search(rf"{side} replay .*? run (run-\S+)", said)[1] for side in ("text", "audio"))

    done = invoke(cli, *args, "--json")
    assert done.exit_code == 3, done.stderr
    out = json.loads(done.stdout)
    assert digest(tmp_path / "d") == text_demo  # the text demo's store and reports untouched
    voice = tmp_path / "d" / "voice"
    assert Path(out["folder"]) == voice and out["engine"]["model"] == "tiny.en" and out["calls"] == 2

    # every customer turn rendered is heard, before the replay: the hearing count
    customer = sample_customer_turns(CALLS)
    assert out["customer_turns"] == out["turns_heard"] == sum(customer.values()) == 6
    # the agent is asked at the heard turns up to its first escalation in each call: the steps the
    # run stores, which are the turns the gate's WER is over; the others were heard, never asked
    s = load_settings(voice / "shadowpilot.toml", environ={})
    with Store.open(s.store_path) as store:
        steps = store.scoring_steps(out["audio"]["run_id"])
        assert {c.id for c in store.current_cases()} == set(CALLS)
    assert steps["heard"].notna().all()
    asked = steps.groupby("case_id").size().to_dict()
    assert out["turns_asked"] == out["asr"]["turns"] == len(steps)
    assert out["turns_heard"] - out["turns_asked"] == sum(customer[c] - asked[c] for c in CALLS)
    for case_id in CALLS:
        mine = steps[steps["case_id"] == case_id].sort_values("turn")
        if asked[case_id] < customer[case_id]:  # it stopped asking: at an escalation, its last step
            assert mine["escalate"].tolist() == [False] * (len(mine) - 1) + [True], case_id

    # the figures are the gate's and compare's for the two runs, as those commands give them
    config = str(voice / "shadowpilot.toml")
    for side, kind in (("text", None), ("audio", "asr")):
        gate = json.loads(invoke(cli, "-c", config, "gate", "--json", "--run", out[side]["run_id"]).stdout)
        assert (gate["verdict"], gate["pass_rate"], gate["cases"]) == (
            out[side]["verdict"],
            out[side]["pass_rate"],
            out[side]["cases"],
        )
        if kind is None:
            assert gate["asr"] is None  # the text run heard nothing
        else:
            assert gate["asr"] == out["asr"]
    compared = json.loads(
        invoke(cli, "-c", config, "compare", out["text"]["run_id"], out["audio"]["run_id"], "--json").stdout
    )
    assert (compared["audio_a"], compared["audio_b"]) == (False, True)
    assert compared["flipped"] == out["flipped"]
    a = out["asr"]
    assert 0 < a["wer"] == pytest.approx(a["edits"] / a["ref_words"], abs=1e-4)
    assert a["to_transcript_p50"] > 0 and a["to_first_token_p95"] is None  # the baseline reports no times

    # the text output says the same of its own runs: each count once, with what it counts
    with Store.open(s.store_path) as store:
        first = store.scoring_steps(audio_run)
    gate = json.loads(invoke(cli, "-c", config, "gate", "--json", "--run", audio_run).stdout)["asr"]
    assert f"{out['turns_heard']} customer turns of 6 through the ASR, every one before the replay" in said
    assert (
        f"{gate['wer']:.3f} ({gate['edits']} edits / {gate['ref_words']} reference words) over the "
        f"{gate['turns']} heard turns the agent was asked at, in 2 cases" in said
    )
    not_asked = 6 - len(first)
    assert gate["turns"] == len(first) and not_asked > 0  # hv-013's last turn at least
    assert f"{not_asked} heard turn{'s' if not_asked > 1 else ''} came after the agent's first escalation" in said
    assert "to first token not measured (the baseline agent reports no times)" in said
    text_flips = json.loads(invoke(cli, "-c", config, "compare", text_run, audio_run, "--json").stdout)["flipped"]
    assert f"flipped by hearing {len(text_flips)} of 2" in said
    for f in text_flips:
        assert f["case_id"] in said

    # the recordings are kept in the voice store's audio folder only: one per call, none elsewhere
    kept = [p for p in Path(out["audio_dir"]).iterdir() if p.is_file()]
    assert len(kept) == 2
    assert {p for p in tmp_path.rglob("*.wav")} <= set(kept) and not list(voice.glob(".render-*"))

    # other calls in the same store would be replayed too: refused before anything is rendered
    other = invoke(cli, "demo", "--voice", "--calls", "hv-001", "--dir", "d")
    assert other.exit_code == 2 and "hv-005" in one_line(other.stderr)


def test_demo_voice_without_espeak_ng_and_sox_names_the_debian_packages(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    done = invoke(cli, "demo", "--voice", "--dir", "d")
    assert done.exit_code == 2
    line = one_line(done.stderr)
    assert "espeak-ng and sox are not installed (Debian: apt-get install espeak-ng sox)" in line
    assert not (tmp_path / "d").exists()  # nothing written

    espeak = shutil.which("espeak-ng", path="/usr/bin:/bin:/usr/local/bin")
    if espeak is None:
        pytest.skip("espeak-ng not installed: the one-tool case needs it")
    (tmp_path / "bin" / "espeak-ng").symlink_to(espeak)
    done = invoke(cli, "demo", "--voice", "--dir", "d")
    assert done.exit_code == 2 and "; sox is not installed (Debian: apt-get install espeak-ng sox)" in one_line(
        done.stderr
    )


def test_demo_voice_without_the_voice_extra_names_it(tmp_path: Path, cli, monkeypatch) -> None:
    recordings.need_tools()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # importlib finds no faster_whisper
    done = invoke(cli, "demo", "--voice", "--dir", "d")
    assert done.exit_code == 2
    line = one_line(done.stderr)
    assert "faster-whisper" in line and "pip install 'shadowpilot[voice]'" in line
    assert not (tmp_path / "d" / "voice" / ".shadowpilot").exists()  # nothing rendered, no store


def test_demo_calls_is_for_the_voice_demo_and_names_sample_calls(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    alone = invoke(cli, "demo", "--calls", "hv-001", "--dir", "d")
    assert alone.exit_code == 2 and "--calls goes with --voice" in one_line(alone.stderr)
    unknown = invoke(cli, "demo", "--voice", "--calls", "hv-001,hv-999", "--dir", "d")
    assert unknown.exit_code == 2 and "'hv-999'" in one_line(unknown.stderr)
    assert not (tmp_path / "d").exists()
