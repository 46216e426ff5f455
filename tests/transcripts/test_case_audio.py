"""Audio on stored cases through the real CLI: file imports' `audio` field (JSONL, CSV, text),
recordings synthesised with espeak-ng + sox, kept content-addressed beside the store, and read
back for the customer's channel and a turn's span."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import numpy as np
import pytest

from shadowpilot.asr.audio import read_wav
from shadowpilot.cli import app
from shadowpilot.config import load_settings
from shadowpilot.errors import NotFoundError
from shadowpilot.store import Store
from shadowpilot.types import Turn
from shadowpilot.workflow import case_audio_path, customer_audio, turn_audio
from tests import recordings
from tests.conftest import invoke, make_case, write_config, write_jsonl

AGENT = "Thank you for calling, how can I help?"
CUSTOMER = "I want a refund for the double charge on my bill."


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listed(cli) -> dict[str, dict]:
    out = invoke(cli, "cases", "--json")
    assert out.exit_code == 0, out.stderr
    return {c["case_id"]: c for c in json.loads(out.stdout)["cases"]}


def with_audio(case_id: str, audio: object) -> dict:
    return {**make_case(case_id, ["I want a refund"]), "audio": audio}


@pytest.fixture
def calls(tenant_dir: Path) -> Path:
    folder = tenant_dir / "calls"
    folder.mkdir()
    return folder


def test_jsonl_imports_mono_mulaw_and_dual_channel_recordings(tenant_dir: Path, calls: Path, cli) -> None:
    mono = recordings.mono(calls, CUSTOMER)
    dual = recordings.dual(calls, AGENT, CUSTOMER)
    src = write_jsonl(
        calls / "calls.jsonl",
        [with_audio("m", "mono.wav"), with_audio("d", {"path": "dual.wav"}), make_case("none", ["hello"])],
    )
    done = invoke(cli, "import", str(src))
    assert done.exit_code == 0, done.stderr
    cases = listed(cli)
    m, d = cases["m"]["audio"], cases["d"]["audio"]
    assert cases["none"]["audio"] is None
    assert m == {
        "sha256": sha(mono),
        "codec": "mulaw",
        "sample_rate": 8000,
        "channels": 1,
        "customer_channel": 1,
        "duration_s": pytest.approx(read_wav(mono).duration_s, abs=0.001),
    }
    # Twilio's default for a recording whose transcript names no participants: channel 2 is the customer
    assert (d["sha256"], d["codec"], d["channels"], d["customer_channel"]) == (sha(dual), "pcm_s16le", 2, 2)
    kept = tenant_dir / ".shadowpilot" / "acme.audio"
    assert sorted(p.name for p in kept.iterdir()) == sorted([f"{sha(mono)}.wav", f"{sha(dual)}.wav"])
    assert (kept / f"{sha(dual)}.wav").read_bytes() == dual.read_bytes()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in kept.iterdir()} == {0o600}
    table = cli.invoke(app, ["cases"], env={"COLUMNS": "200"}, catch_exceptions=False)
    assert "audio" in table.stdout and "2ch" in table.stdout and "1ch" in table.stdout
    shown = table.stdout + json.dumps(cases)
    assert "mono.wav" not in shown and "dual.wav" not in shown and "acme.audio" not in shown  # no audio paths


def test_csv_and_text_take_audio_and_the_customer_channel(tenant_dir: Path, calls: Path, cli) -> None:
    recordings.dual(calls, AGENT, CUSTOMER, "swapped", customer_channel=1, pcm=False)
    recordings.mono(calls, CUSTOMER)
    (calls / "calls.csv").write_text(
        "case_id,speaker,text,escalated,audio,audio_customer_channel\n"
        "c1,customer,I want a refund,false,swapped.wav,1\n"
        "c1,agent,Sure,,,\n",
        encoding="utf-8",
    )
    (calls / "call.txt").write_text(
        "id: t1\nescalated: false\naudio: mono.wav\n\nCustomer: I want a refund\nAgent: Sure\n", encoding="utf-8"
    )
    done = invoke(cli, "import", str(calls / "calls.csv"), str(calls / "call.txt"))
    assert done.exit_code == 0, done.stderr
    cases = listed(cli)
    assert (cases["c1"]["audio"]["codec"], cases["c1"]["audio"]["customer_channel"]) == ("mulaw", 1)
    assert cases["t1"]["audio"]["channels"] == 1


def test_the_customer_channel_follows_twilio_channels(tenant_dir: Path, calls: Path, cli) -> None:
    write_config(tenant_dir, '[twilio]\nchannels = { "1" = "customer", "2" = "agent" }\n')
    recordings.dual(calls, AGENT, CUSTOMER, customer_channel=1)
    assert invoke(cli, "import", str(write_jsonl(calls / "c.jsonl", [with_audio("d", "dual.wav")]))).exit_code == 0
    assert listed(cli)["d"]["audio"]["customer_channel"] == 1


@pytest.mark.parametrize(
    ("audio", "make", "says"),
    [
        ("missing.wav", None, "no such audio file"),
        ("notwav.wav", lambda p: p.write_text("hello"), "not a WAV file"),
        ("three.wav", "three", "3 channels"),
        ({"path": "mono.wav", "customer_channel": 2}, "mono", "is mono"),
        ({"path": "mono.wav", "customer_channel": 3}, "mono", "customer_channel must be 1 or 2"),
        ({"file": "mono.wav"}, "mono", "unknown key"),
        (17, None, "expected the recording's path"),
    ],
)
def test_bad_audio_names_file_line_and_field_and_imports_nothing(
    tenant_dir: Path, calls: Path, cli, audio: object, make: object, says: str
) -> None:
    if make == "mono":
        recordings.mono(calls, CUSTOMER)
    elif make == "three":
        one = recordings.mono(calls, CUSTOMER)
        recordings.sox("-M", one, one, one, calls / "three.wav")
    elif callable(make):
        make(calls / str(audio))
    src = write_jsonl(calls / "calls.jsonl", [make_case("good", ["hi"]), with_audio("bad", audio)])
    out = invoke(cli, "import", str(src))
    assert out.exit_code == 2
    assert f"{src}:2" in out.stderr and "audio" in out.stderr and says in out.stderr, out.stderr
    assert not (tenant_dir / ".shadowpilot" / "acme.audio").exists()
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    if s.store_path.exists():
        with Store.open(s.store_path) as store:
            assert store.current_cases() == []


def test_bad_audio_in_csv_names_its_line(tenant_dir: Path, calls: Path, cli) -> None:
    (calls / "calls.csv").write_text(
        "case_id,speaker,text,escalated,audio\nc1,customer,hi,false,\nc2,customer,hi,false,gone.wav\n",
        encoding="utf-8",
    )
    out = invoke(cli, "import", str(calls / "calls.csv"))
    assert out.exit_code == 2
    assert f"{calls / 'calls.csv'}:3" in out.stderr and "audio" in out.stderr and "gone.wav" in out.stderr


def test_recordings_are_content_addressed_and_versioned(tenant_dir: Path, calls: Path, cli) -> None:
    recordings.mono(calls, CUSTOMER, "one")
    src = write_jsonl(calls / "c.jsonl", [with_audio("a", "one.wav"), with_audio("b", "one.wav")])
    assert invoke(cli, "import", str(src)).exit_code == 0
    kept = tenant_dir / ".shadowpilot" / "acme.audio"
    assert len(list(kept.iterdir())) == 1  # the same recording twice is kept once
    again = json.loads(invoke(cli, "import", str(src), "--json").stdout)
    assert sorted(again["unchanged"]) == ["a", "b"]
    first = sha(calls / "one.wav")
    recordings.mono(calls, "A different caller entirely.", "one")  # the file changes under the same name
    changed = json.loads(invoke(cli, "import", str(src), "--json").stdout)
    assert sorted(changed["updated"]) == ["a", "b"]
    cases = listed(cli)
    assert cases["a"]["version"] == 2 and cases["a"]["audio"]["sha256"] == sha(calls / "one.wav") != first
    assert len(list(kept.iterdir())) == 2  # the earlier version's recording stays for the earlier version


def test_customer_audio_and_turn_slices(tenant_dir: Path, calls: Path, cli) -> None:
    dual = recordings.dual(calls, AGENT, CUSTOMER)
    customer_only = read_wav(calls / "dual-customer.wav")
    assert invoke(cli, "import", str(write_jsonl(calls / "c.jsonl", [with_audio("d", "dual.wav")]))).exit_code == 0
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    with Store.open(s.store_path) as store:
        (case,) = store.current_cases()
    assert case_audio_path(s, case).read_bytes() == dual.read_bytes()
    native = customer_audio(s, case, rate=None)
    assert (native.sample_rate, native.channels) == (8000, 1)
    n = customer_only.frames
    heard = native.samples[:n, 0]
    assert np.corrcoef(heard, customer_only.samples[:, 0])[0, 1] > 0.99  # the customer's channel, not the agent's
    wide = customer_audio(s, case)
    assert wide.sample_rate == 16000 and abs(wide.duration_s - native.duration_s) < 0.01
    part = turn_audio(wide, Turn(speaker="customer", text="x", start_s=0.5, end_s=1.25))
    assert part is not None and part.frames == 12000
    assert turn_audio(wide, Turn(speaker="customer", text="x")) is None
    assert turn_audio(wide, Turn(speaker="customer", text="x", start_s=99.0, end_s=100.0)) is None


def test_another_tenant_never_reaches_the_recording(tenant_dir: Path, calls: Path, cli) -> None:
    recordings.mono(calls, CUSTOMER)
    assert invoke(cli, "import", str(write_jsonl(calls / "c.jsonl", [with_audio("m", "mono.wav")]))).exit_code == 0
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    with Store.open(s.store_path) as store:
        (case,) = store.current_cases()
    other = tenant_dir / "other"
    other.mkdir()
    globex = load_settings(write_config(other, tenant="globex"), environ={})
    assert globex.audio_dir != s.audio_dir
    with pytest.raises(NotFoundError):
        case_audio_path(globex, case.model_copy(update={"tenant": "globex"}))
    with pytest.raises(NotFoundError):
        case_audio_path(s, make_transcript_without_audio())


def make_transcript_without_audio():
    from shadowpilot.types import Transcript

    return Transcript.model_validate(make_case("plain", ["hi"]))


def test_reports_carry_no_audio(tenant_dir: Path, calls: Path, cli) -> None:
    recordings.dual(calls, AGENT, CUSTOMER)
    assert invoke(cli, "import", str(write_jsonl(calls / "c.jsonl", [with_audio("d", "dual.wav")]))).exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    digest = sha(calls / "dual.wav")
    for fmt in ("html", "md", "json"):
        out = tenant_dir / f"report.{fmt}"
        made = invoke(cli, "report", "--format", fmt, "-o", str(out))
        assert made.exit_code == 0, made.stderr
        body = out.read_bytes()
        for leak in (digest.encode(), b"acme.audio", b"dual.wav", b"RIFF", b"data:audio", b"<audio"):
            assert leak not in body, (fmt, leak)
    reports = tenant_dir / "reports"
    if reports.exists():
        assert not [p for p in reports.rglob("*") if p.suffix in (".wav", ".mp3")]


def test_a_case_without_audio_keeps_its_version(tenant_dir: Path) -> None:
    """Stores made before cases had audio: the body and fingerprint of a case without it are unchanged."""
    from shadowpilot.types import Transcript

    t = Transcript.model_validate(make_case("plain", ["hi"]))
    assert "audio" not in t.model_dump(mode="json")
    body = t.model_dump(mode="json", exclude={"schema_version"})
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert t.fingerprint() == hashlib.sha256(raw.encode()).hexdigest()[:16]


def test_an_audio_folder_that_cannot_be_written_stores_nothing(tenant_dir: Path, calls: Path, cli) -> None:
    recordings.mono(calls, CUSTOMER)
    (tenant_dir / ".shadowpilot").mkdir(mode=0o700)
    (tenant_dir / ".shadowpilot" / "acme.audio").write_text("a file where the folder goes")
    src = write_jsonl(calls / "c.jsonl", [make_case("plain", ["hi"]), with_audio("m", "mono.wav")])
    out = invoke(cli, "import", str(src))
    assert out.exit_code == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "acme.audio" in lines[0], out.stderr
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    with Store.open(s.store_path) as store:
        assert store.current_cases() == []  # no case names a recording that is not there


def test_one_rule_says_which_channel_is_the_customers() -> None:
    """File imports and Twilio imports read a recording's channels by the mapping's one rule."""
    from shadowpilot.config import TwilioSettings
    from shadowpilot.transcripts.twilio.mapping import call_speakers, default_customer_channel
    from shadowpilot.transcripts.validate import DEFAULT_READING

    plain = TwilioSettings()
    assert DEFAULT_READING.customer_channel == default_customer_channel(plain) == 2
    flipped = TwilioSettings(channels={"1": "customer", "2": "agent"})
    assert default_customer_channel(flipped) == call_speakers({}, flipped).customer_channel == 1
    roles = {"channel": {"participants": [{"channel_participant": 1, "role": "Customer"}]}}
    assert call_speakers(roles, plain).customer_channel == 1  # a transcript's roles win over the default
    assert default_customer_channel(TwilioSettings(channels={"2": "agent"})) is None  # no customer: the file must say


def test_a_dual_recording_with_no_customer_channel_is_a_bad_record(tenant_dir: Path, calls: Path, cli) -> None:
    write_config(tenant_dir, '[twilio]\nchannels = { "2" = "agent" }\n')
    recordings.dual(calls, AGENT, CUSTOMER)
    src = write_jsonl(calls / "c.jsonl", [with_audio("d", "dual.wav")])
    out = invoke(cli, "import", str(src))
    assert out.exit_code == 2 and f"{src}:1" in out.stderr and "no channel is the customer's" in out.stderr
    ok = write_jsonl(calls / "ok.jsonl", [with_audio("d", {"path": "dual.wav", "customer_channel": 2})])
    assert invoke(cli, "import", str(ok)).exit_code == 0  # the case itself can say
