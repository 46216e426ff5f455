"""`import twilio --audio`: each call's Recording downloaded with its transcript, through the real
twilio client and the host-rewriting HTTP client against the fake Twilio on loopback, with
dual-channel recordings synthesised by espeak-ng + sox."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from shadowpilot.asr.audio import read_wav
from shadowpilot.config import load_settings
from shadowpilot.store import Store
from shadowpilot.workflow import customer_audio
from tests import recordings
from tests.conftest import invoke
from tests.servers.twilio_rest import DAY, CallSpec, FakeTwilio, add_call, add_workspace, phone_call, sid

SINCE = ("--since", "2026-11-01", "--until", "2026-12-01")
AGENT = "Thank you for calling Acme Health, how can I help?"


def customer_line(n: int) -> str:
    return f"I am calling about invoice number {n}, it was charged twice."


@pytest.fixture
def fake(tenant_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Call 1 names its participants (customer on channel 1); call 2 has none (Twilio's default:
    customer on 2); call 3's transcript names no recording and the call has none; call 4's
    transcript names none but the call has one (found by CallSid)."""
    f = FakeTwilio()
    add_workspace(f)
    folder = tenant_dir / "synth"
    folder.mkdir()
    for n, participants, media in ((1, True, True), (2, False, True), (3, False, False), (4, False, False)):
        add_call(
            f, CallSpec(n, phone_call(f"call {n}"), DAY + timedelta(hours=n), participants=participants, media=media)
        )
        rec = sid("RE", n)
        if n == 3:
            del f.recordings[rec]
            continue
        wav = recordings.dual(folder, AGENT, customer_line(n), f"call{n}", customer_channel=1 if participants else 2)
        f.media[rec] = wav.read_bytes()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", f.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", f.auth_token)
    monkeypatch.setenv("SHADOWPILOT_TWILIO_API_BASE", f.start())
    yield f
    f.stop()


def stored(tenant_dir: Path):
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    with Store.open(s.store_path, create=False) as store:
        return s, {c.id: c for c in store.current_cases()}


def test_import_twilio_audio_downloads_each_calls_recording(fake: FakeTwilio, tenant_dir: Path, cli) -> None:
    out = invoke(cli, "import", "twilio", *SINCE, "--audio", "--json")
    assert out.exit_code == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["without_audio"] == 1 and len(summary["added"]) == 4
    s, cases = stored(tenant_dir)
    by_n = {n: cases[sid("CA", n)] for n in (1, 2, 3, 4)}
    assert by_n[3].audio is None
    for n in (1, 2, 4):
        audio = by_n[n].audio
        assert audio is not None
        assert audio.sha256 == hashlib.sha256(fake.media[sid("RE", n)]).hexdigest()
        assert (audio.channels, audio.codec, audio.sample_rate) == (2, "pcm_s16le", 8000)
    # the customer's channel is the one the transcript's speakers were mapped by
    assert [by_n[n].audio.customer_channel for n in (1, 2, 4)] == [1, 2, 2]  # type: ignore[union-attr]
    kept = sorted(p.name for p in s.audio_dir.iterdir())
    assert kept == sorted(f"{by_n[n].audio.sha256}.wav" for n in (1, 2, 4))  # type: ignore[union-attr]  # no leftovers
    heard = customer_audio(s, by_n[1], rate=None).samples[:, 0]
    spoken = read_wav(tenant_dir / "synth" / "call1-customer.wav").samples[:, 0]
    assert np.corrcoef(heard[: len(spoken)], spoken)[0, 1] > 0.99
    # the media was asked for as Twilio serves it: .wav, both channels, redirected to storage
    media = fake.requests_to(r"/2010-04-01/Accounts/AC\w+/Recordings/RE\w+\.wav")
    assert len(media) == 3 and all(r.query.get("RequestedChannels") == "2" and r.status == 302 for r in media)
    assert len(fake.requests_to(r"/storage/RE\w+\.wav")) == 3
    assert len(fake.requests_to(r"/2010-04-01/Accounts/AC\w+/Recordings\.json")) == 2  # calls 3 and 4, by CallSid

    again = invoke(cli, "import", "twilio", *SINCE, "--audio")
    assert again.exit_code == 0, again.stderr
    assert "1 call had no recording" in " ".join(again.stdout.split())
    assert "4 unchanged" in again.stdout


def test_without_audio_no_recording_is_fetched(fake: FakeTwilio, tenant_dir: Path, cli) -> None:
    out = invoke(cli, "import", "twilio", *SINCE, "--json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["without_audio"] is None
    assert fake.requests_to(r".*\.wav") == []
    _, cases = stored(tenant_dir)
    assert all(c.audio is None for c in cases.values())


@pytest.mark.parametrize(("status", "says"), [(401, "401"), (403, "403"), (404, "404"), (500, "500")])
def test_a_recording_twilio_will_not_give_stops_the_import(
    fake: FakeTwilio, tenant_dir: Path, cli, status: int, says: str
) -> None:
    fake.fail(f"/2010-04-01/Accounts/{fake.account_sid}/Recordings/{sid('RE', 2)}.wav", status, times=None)
    out = invoke(cli, "import", "twilio", *SINCE, "--audio")
    assert out.exit_code == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and says in lines[0] and "Twilio" in lines[0], out.stderr
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    assert not s.store_path.exists() or not stored(tenant_dir)[1]
    assert not s.audio_dir.exists() or list(s.audio_dir.iterdir()) == []  # the downloads went with the import


def test_a_recording_that_is_not_audio_is_a_bad_record(fake: FakeTwilio, tenant_dir: Path, cli) -> None:
    fake.media[sid("RE", 2)] = b"<html>not audio</html>"
    out = invoke(cli, "import", "twilio", *SINCE, "--audio")
    assert out.exit_code == 2
    assert f"twilio:{sid('GT', 2)}" in out.stderr and "audio" in out.stderr and "not a WAV" in out.stderr
    assert "synth" not in out.stderr and ".incoming" not in out.stderr  # no local paths of the download


def test_a_recording_larger_than_the_bound_is_refused(
    fake: FakeTwilio, tenant_dir: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shadowpilot.transcripts.twilio.fetch.MAX_RECORDING_BYTES", 1000)
    out = invoke(cli, "import", "twilio", *SINCE, "--audio")
    assert out.exit_code == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "larger than" in lines[0], out.stderr
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    assert not s.audio_dir.exists() or list(s.audio_dir.iterdir()) == []
