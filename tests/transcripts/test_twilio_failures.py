"""When Twilio cannot be read, `import twilio` says why in one line and exits 2 (the user's or the
environment's to fix), never exit 1 with a traceback; `--debug` shows the traceback."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import invoke, write_config
from tests.servers.twilio_rest import DAY, CallSpec, FakeTwilio, add_call, add_workspace, phone_call

SINCE = ("--since", "2026-11-01", "--until", "2026-12-01")


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake(tenant_dir: Path, monkeypatch: pytest.MonkeyPatch):
    f = FakeTwilio()
    add_workspace(f)
    add_call(f, CallSpec(1, phone_call("a bill"), DAY + timedelta(hours=1), participants=False))
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", f.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", f.auth_token)
    monkeypatch.setenv("SHADOWPILOT_TWILIO_API_BASE", f.start())
    yield f
    f.stop()


def one_line_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "bug in the harness" not in result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_an_unreachable_host_is_named_with_what_to_check(tenant_dir: Path, cli, monkeypatch) -> None:
    port = closed_port()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("SHADOWPILOT_TWILIO_API_BASE", f"http://127.0.0.1:{port}")
    line = one_line_error(invoke(cli, "import", "twilio", *SINCE))
    assert f"cannot reach Twilio at 127.0.0.1:{port}" in line
    assert "refused" in line and "proxy" in line and "network" in line


def test_debug_shows_the_traceback_and_still_exits_2(tenant_dir: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("SHADOWPILOT_TWILIO_API_BASE", f"http://127.0.0.1:{closed_port()}")
    result = invoke(cli, "--debug", "import", "twilio", *SINCE)
    assert result.exit_code == 2
    assert "cannot reach Twilio" in result.stderr and "Traceback" in result.stderr


def test_bad_credentials_name_the_variables(fake: FakeTwilio, cli, monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "wrong-secret-123")
    line = one_line_error(invoke(cli, "import", "twilio", *SINCE))
    assert "401" in line and "TWILIO_ACCOUNT_SID" in line and "TWILIO_AUTH_TOKEN" in line
    assert "wrong-secret-123" not in line


def test_a_forbidden_listing_names_the_variables(fake: FakeTwilio, cli) -> None:
    fake.fail("/v2/Transcripts", 403, times=None)
    line = one_line_error(invoke(cli, "import", "twilio", *SINCE))
    assert "403" in line and "Intelligence transcripts" in line and "TWILIO_AUTH_TOKEN" in line


def test_a_workspace_sid_twilio_does_not_have_names_the_setting(fake: FakeTwilio, tenant_dir: Path, cli) -> None:
    write_config(tenant_dir, f'[twilio]\nworkspace_sid = "WS{"8" * 32}"\n')
    line = one_line_error(invoke(cli, "import", "twilio", *SINCE))
    assert f"[twilio] workspace_sid = 'WS{'8' * 32}'" in line and "404" in line
    assert not fake.requests_to("/v2/Transcripts")  # it failed before fetching any call


def test_an_intelligence_service_twilio_does_not_have_names_the_setting(
    fake: FakeTwilio, tenant_dir: Path, cli
) -> None:
    write_config(tenant_dir, f'[twilio]\nintelligence_service_sid = "GA{"7" * 32}"\n')
    fake.fail("/v2/Transcripts", 404, times=None)
    line = one_line_error(invoke(cli, "import", "twilio", *SINCE))
    assert f"[twilio] intelligence_service_sid = 'GA{'7' * 32}'" in line and "404" in line


def test_twilio_failing_is_the_environments_failure(fake: FakeTwilio, cli) -> None:
    fake.fail("/v1/Workspaces", 500, times=None)
    line = one_line_error(invoke(cli, "import", "twilio", *SINCE))
    assert "HTTP 500" in line and "try again later" in line
