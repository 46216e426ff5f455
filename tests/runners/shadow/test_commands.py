"""`shadow twiml` and `shadow serve`'s refusals, through the real CLI in-process."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import invoke, write_config

PUBLIC = "https://shadow.example.test"


def test_twiml_prints_a_start_transcription_pointing_at_the_server(tenant_dir: Path, cli) -> None:
    write_config(tenant_dir, f'[shadow]\npublic_url = "{PUBLIC}/"\n')
    result = invoke(cli, "shadow", "twiml")
    assert result.exit_code == 0, result.output
    root = ET.fromstring(result.stdout.strip())
    node = root.find("./Start/Transcription")
    assert node is not None
    assert node.get("statusCallbackUrl") == f"{PUBLIC}/twilio/transcriptions"
    assert node.get("track") == "both_tracks" and node.get("partialResults") == "false"
    as_json = json.loads(invoke(cli, "shadow", "twiml", "--json", "--track", "inbound_track").stdout)
    assert 'track="inbound_track"' in as_json["twiml"]
    assert as_json["webhooks"]["taskrouter"] == f"{PUBLIC}/twilio/taskrouter"


@pytest.mark.parametrize("command", [["shadow", "twiml"], ["shadow", "serve"]])
def test_without_public_url_exit_2_naming_the_field(tenant_dir: Path, cli, monkeypatch, command) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "x")
    result = invoke(cli, *command)
    assert result.exit_code == 2
    assert "shadow.public_url" in result.stderr


def test_serve_refuses_to_start_without_the_auth_token(tenant_dir: Path, cli, monkeypatch) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    write_config(tenant_dir, f'[shadow]\npublic_url = "{PUBLIC}"\n')
    result = invoke(cli, "shadow", "serve")
    assert result.exit_code == 2
    assert "TWILIO_AUTH_TOKEN" in result.stderr


def test_shadow_calls_with_no_log_yet(tenant_dir: Path, cli) -> None:
    result = invoke(cli, "shadow", "calls", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"calls": []}
    assert invoke(cli, "shadow", "calls", "--state", "gone").exit_code == 2


def test_twiml_audio_streams_both_tracks_to_the_media_route_signed_url(tenant_dir: Path, cli) -> None:
    write_config(tenant_dir, f'[shadow]\npublic_url = "{PUBLIC}/"\n\n[asr]\nkind = "local"\n')
    result = invoke(cli, "shadow", "twiml", "--audio")
    assert result.exit_code == 0, result.output
    root = ET.fromstring(result.stdout.strip())
    node = root.find("./Start/Stream")
    assert node is not None
    assert node.get("url") == "wss://shadow.example.test/twilio/media" and node.get("track") == "both_tracks"
    # the audio is heard instead of Twilio's transcription: never both, or each utterance comes twice
    assert root.find("./Start/Transcription") is None
    as_json = json.loads(invoke(cli, "shadow", "twiml", "--audio", "--json").stdout)
    assert as_json["media_stream"] == "wss://shadow.example.test/twilio/media"
    assert ET.fromstring(as_json["twiml"]).find("./Start/Stream") is not None


def test_twiml_audio_without_an_asr_engine_exit_2_naming_the_field(tenant_dir: Path, cli) -> None:
    write_config(tenant_dir, f'[shadow]\npublic_url = "{PUBLIC}"\n')
    result = invoke(cli, "shadow", "twiml", "--audio")
    assert result.exit_code == 2
    assert "asr.kind" in result.stderr
