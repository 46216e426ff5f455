"""`run --audio` through the real CLI: cases with synthesised call recordings (espeak-ng + sox),
each customer turn heard by the real local engine (faster-whisper tiny.en) or a transcription
server the tests start, the baseline agent asked with what was heard. Keywords, not exact strings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shadowpilot.cli import app
from shadowpilot.config import load_settings
from shadowpilot.evals.reply import normalise
from shadowpilot.store import Store
from tests import recordings
from tests.asr.conftest import pinned_tiny_en
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.transcription_server import TranscriptionServer

LOCAL_ASR = '[asr]\nkind = "local"\nmodel = "tiny.en"\nlanguage = "en"\ncost_per_minute = 0.006\n'


def recorded_case(folder: Path, case_id: str, spoken: list[str], written: list[str] | None = None, **kw: Any) -> dict:
    """A case whose customer turns were spoken as `spoken` (one recording, agent turns between) and
    transcribed as `written` (default: what was spoken), every turn timed in the recording."""
    case = make_case(case_id, written or spoken, **kw)
    said = [spoken[i // 2] if t["speaker"] == "customer" else t["text"] for i, t in enumerate(case["turns"])]
    path, times = recordings.call(folder, said, case_id)
    for turn, (start, end) in zip(case["turns"], times, strict=True):
        turn["start_s"], turn["end_s"] = start, end
    return {**case, "audio": path.name}


def words(text: str | None) -> set[str]:
    return set(normalise([text or ""])[0].split())


@pytest.fixture
def audio_tenant(tenant_dir: Path, cli) -> Path:
    """Four cases: one heard as transcribed, one whose caller said an emergency the transcript
    missed, one with a customer turn without times, one without a recording."""
    pinned_tiny_en()  # skips without the voice extra or the wheel
    cases = [
        recorded_case(
            tenant_dir,
            "refund",
            ["I was charged twice and I would like a refund please.", "Thank you very much, goodbye."],
        ),
        recorded_case(
            tenant_dir,
            "heard",
            ["This is an emergency, my father is unconscious."],
            written=["I have a question about my father."],  # what a human transcriber wrote
            escalated=True,
            at_customer_turn=0,
            reason="emergency",
        ),
        recorded_case(tenant_dir, "untimed", ["I want to change my address.", "That is all, thanks."]),
        make_case("text-only", ["This is an emergency."], escalated=True, at_customer_turn=0),
    ]
    del cases[2]["turns"][2]["start_s"]  # its second customer turn has no span to hear
    done = invoke(cli, "import", str(write_jsonl(tenant_dir / "calls.jsonl", cases)))
    assert done.exit_code == 0, done.stderr
    write_config(tenant_dir, LOCAL_ASR + "[gate]\nmax_asr_wer = 0.0\n")  # tiny.en mishears: the check fails
    return tenant_dir


def test_run_audio_asks_the_agent_with_what_the_local_engine_heard(audio_tenant: Path, cli) -> None:
    done = invoke(cli, "run", "--audio", "--json")
    assert done.exit_code == 0, done.stderr
    out = json.loads(done.stdout)
    # 4 customer turns timed in the three recordings, 1 untimed (kept its text); text-only left out
    assert out["audio"] == {"turns_heard": 4, "asr_failed": 0, "untimed": 1, "no_audio": 1}
    assert out["cases"] == 3 and out["errors"] == 0

    s = load_settings(audio_tenant / "shadowpilot.toml", environ={})
    with Store.open(s.store_path) as store:
        manifest = store.manifest(out["run_id"])
        steps = store.scoring_steps(out["run_id"]).set_index(["case_id", "turn"])
    assert manifest.asr is not None and manifest.asr["kind"] == "local" and manifest.asr["model"] == "tiny.en"
    assert set(manifest.cases) == {"refund", "heard", "untimed"}

    refund = steps.loc[("refund", 0)]
    assert {"charged", "refund"} <= words(refund["heard"]), refund["heard"]  # tiny.en hears "twice" as "wife"
    assert refund["asr_ms"] > 0 and refund["audio_s"] == pytest.approx(2.9, abs=1.5)
    # the caller said "emergency" where the transcript did not: the agent, hearing it, escalates
    heard = steps.loc[("heard", 0)]
    assert "emergency" in words(heard["heard"]), heard["heard"]
    assert heard["escalate"] and heard["reason"] == "emergency"
    # a turn without times keeps the transcript's text and says nothing was heard
    assert "address" in words(steps.loc[("untimed", 0)]["heard"])
    assert steps.loc[("untimed", 2)]["heard"] is None or steps.loc[("untimed", 2)][["heard"]].isna().all()

    # the same cases replayed as text: the transcript's words, no emergency, nothing heard
    text = invoke(cli, "run", "--json")
    assert text.exit_code == 0, text.stderr
    with Store.open(s.store_path) as store:
        text_run = json.loads(text.stdout)["run_id"]
        text_steps = store.scoring_steps(text_run).set_index(["case_id", "turn"])
        assert store.manifest(text_run).asr is None
    assert not text_steps.loc[("heard", 0)]["escalate"]
    assert text_steps["heard"].isna().all()

    # gate scores the hearing from what was stored: the WER of the heard turns, and the check
    gate = invoke(cli, "gate", "--json", "--run", out["run_id"])
    verdict = json.loads(gate.stdout)
    asr = verdict["asr"]
    # 3 of the 4 turns heard: the refund call escalated at its first turn, so its second was never
    # asked (steps stop at the first escalation without --all-turns) and no step keeps its hearing
    assert (asr["turns"], asr["cases"]) == (3, 3)
    assert 0 < asr["wer"] < 0.5 and asr["edits"] >= 1 and asr["ref_words"] >= 15
    assert asr["wer"] == pytest.approx(asr["edits"] / asr["ref_words"], abs=1e-4)
    # the audio heard per conversation and what hearing it cost, from the steps' audio_s and price
    audio_s = steps.loc[steps["heard"].notna(), "audio_s"].sum()
    assert asr["audio_minutes"] == pytest.approx(audio_s / 60, abs=1e-3)
    assert asr["audio_minutes_per_call"] == pytest.approx(audio_s / 60 / 3, abs=1e-3)
    assert asr["asr_cost_per_call"] == pytest.approx(audio_s / 60 / 3 * 0.006, abs=1e-5)
    (check,) = [c for c in verdict["checks"] if c["name"] == "asr_wer"]
    assert not check["passed"] and "at most 0.000" in check["detail"]
    # the voice budget from the stored ASR times: the engine's time per heard turn; the baseline
    # agent reports no times of its own, so the first token is not measured
    heard_ms = steps.loc[steps["heard"].notna(), "asr_ms"]
    assert asr["to_transcript_p95"] == pytest.approx(heard_ms.quantile(0.95), abs=0.1) and asr["to_transcript_p95"] > 0
    assert asr["to_first_token_p95"] is None and asr["to_first_token_budget"] == 800
    shown = invoke(cli, "gate", "--run", out["run_id"])
    flat = " ".join(shown.stdout.replace("│", " ").split())
    assert "Hearing" in flat and "ASR WER" in flat and "to first token p95 not measured (budget 800 ms)" in flat
    # the text run heard nothing: not measured, and no check however strict
    text_gate = json.loads(invoke(cli, "gate", "--json", "--run", text_run).stdout)
    assert text_gate["asr"] is None and "asr_wer" not in [c["name"] for c in text_gate["checks"]]
    assert "not measured" in invoke(cli, "gate", "--run", text_run).stdout

    # flipped by hearing: the text run against the audio run of the same agent on the same cases
    compared = invoke(cli, "compare", text_run, out["run_id"], "--json")
    assert compared.exit_code in (0, 3), compared.stderr
    c = json.loads(compared.stdout)
    assert (c["audio_a"], c["audio_b"]) == (False, True)
    flips = {f["case_id"]: f for f in c["flipped"]}
    assert flips["heard"]["what"] == "escalation"
    assert (flips["heard"]["escalated_a"], flips["heard"]["escalated_b"]) == (False, True)
    assert "untimed" not in flips  # heard as transcribed, decided the same
    table = cli.invoke(app, ["compare", text_run, out["run_id"]], env={"COLUMNS": "160"}, catch_exceptions=False)
    assert "Flipped by hearing" in table.stdout and "escalated on B only" in table.stdout


def test_run_audio_with_asr_kind_none_exits_2_naming_the_field(tenant_dir: Path, cli) -> None:
    invoke(cli, "import", str(write_jsonl(tenant_dir / "c.jsonl", [make_case("c", ["hello"])])))
    done = invoke(cli, "run", "--audio")
    assert done.exit_code == 2
    assert "asr.kind" in done.stderr and "none" in done.stderr


def test_run_audio_with_no_recorded_case_exits_2(tenant_dir: Path, cli) -> None:
    invoke(cli, "import", str(write_jsonl(tenant_dir / "c.jsonl", [make_case("c", ["hello"])])))
    with TranscriptionServer("hello") as server:
        write_config(tenant_dir, f'[asr]\nkind = "openai"\nbase_url = "{server.base_url}"\n')
        done = invoke(cli, "run", "--audio")
    assert done.exit_code == 2
    assert "recording" in done.stderr


def test_an_asr_failure_fails_its_case_as_an_agent_error(tenant_dir: Path, cli) -> None:
    cases = [
        recorded_case(tenant_dir, "a", ["I would like a refund."]),
        recorded_case(tenant_dir, "b", ["Can I speak to a human?"], escalated=True, at_customer_turn=0),
    ]
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "c.jsonl", cases))).exit_code == 0
    with TranscriptionServer("I would like a refund.") as server:
        server.add_fault("500", times=100)  # every request of both cases
        asr = f'[asr]\nkind = "openai"\nbase_url = "{server.base_url}"\nmax_retries = 0\n'
        write_config(tenant_dir, asr)
        done = invoke(cli, "run", "--audio", "--json")
    assert done.exit_code == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["errors"] == 2 and out["audio"]["asr_failed"] == 2
    gate = invoke(cli, "gate", "--json", "--run", out["run_id"])
    verdict = json.loads(gate.stdout)
    assert verdict["errors"] == 2 and verdict["passed_cases"] == 0 and not verdict["passed"]
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    with Store.open(s.store_path) as store:
        errors = store.case_errors(out["run_id"])
    assert all(e is not None and e.startswith("ASR failed at turn 0") and "HTTP 500" in e for e in errors.values())


def test_the_cache_key_holds_what_was_heard() -> None:
    """The heard text is the agent's input: a different hearing of the same case is a different answer."""
    from shadowpilot.config import BaselineSettings
    from shadowpilot.runners.baseline import BaselineAgent
    from shadowpilot.runners.cache import replay_keys
    from shadowpilot.types import HeardTurn, Transcript

    case = Transcript.model_validate(make_case("c", ["I need a refund", "thanks"]))
    agent = BaselineAgent(BaselineSettings())
    heard = {"c": {0: HeardTurn(text="I need a refund", asr_ms=5, audio_s=1)}}
    misheard = {"c": {0: HeardTurn(text="I need a ref fund", asr_ms=5, audio_s=1)}}
    text = replay_keys(agent, [case], 1)
    assert replay_keys(agent, [case], 1, hearing=heard) == text  # heard as written: the same input
    assert replay_keys(agent, [case], 1, hearing=misheard)[0] != text[0]


def test_an_interrupted_audio_run_resumes_hearing_its_unfinished_cases(
    tenant_dir: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C at the second case; the resume hears what is left with the same engine and asks the
    agent with the heard text, and a resume with other [asr] settings is refused."""
    (tenant_dir / "audio_once_agent.py").write_text(
        "import asyncio, os, signal, pathlib\n"
        "async def recommend(ctx):\n"
        "    flag = pathlib.Path('interrupt.flag')\n"
        "    if ctx.case_id == 'c1' and flag.exists():\n"
        "        flag.unlink()\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        await asyncio.sleep(1)\n"
        "    with open('asked.log', 'a') as f:\n"
        "        f.write(ctx.case_id + ': ' + ctx.turns[-1].text + '\\n')\n"
        "    return {'escalate': False}\n"
    )
    (tenant_dir / "interrupt.flag").touch()
    monkeypatch.syspath_prepend(str(tenant_dir))
    cases = [recorded_case(tenant_dir, f"c{i}", ["I would like a refund."]) for i in range(3)]
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "c.jsonl", cases))).exit_code == 0
    agent = '[agent]\nkind = "python"\ntarget = "audio_once_agent:recommend"\nconcurrency = 1\n'
    with TranscriptionServer("what the server heard") as server:
        asr = f'[asr]\nkind = "openai"\nbase_url = "{server.base_url}"\n'
        write_config(tenant_dir, agent + asr)
        stopped = invoke(cli, "run", "--audio")
        assert stopped.exit_code == 130, stopped.stderr
        write_config(tenant_dir, agent + asr + 'model = "another-model"\n')
        refused = invoke(cli, "run", "--resume")
        assert refused.exit_code == 2 and "[asr] settings changed" in refused.stderr
        write_config(tenant_dir, agent + asr)
        heard_before = len(server.requests)
        done = invoke(cli, "run", "--resume", "--json")
        assert done.exit_code == 0, done.stderr
        assert len(server.requests) - heard_before == 2  # c1 and c2 heard again, not c0
    assert json.loads(done.stdout)["resumed"] == 1
    asked = (tenant_dir / "asked.log").read_text().splitlines()
    assert asked == [f"c{i}: what the server heard" for i in range(3)]
