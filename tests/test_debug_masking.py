"""A traceback prints what its exceptions say, and they quote requests as they were made: every
configured secret, Authorization credential and URL password in it is masked as the rest of the
output masks them (runners/masking.py), for `--debug` and for a harness bug alike (issue 15)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shadowpilot.runners.masking import mask_credentials
from tests.conftest import invoke, write_config

KEY = "sk-test-0123456789abcdef"  # OPENAI_API_KEY: a configured secret
BEARER = "gw-token-5f2a9c81e7"  # a bearer token nobody configured
PASSWORD = "hunter2-pass-99"  # in a URL's userinfo
LEAK = (
    f"gateway said 401: headers {{'Authorization': 'Bearer {BEARER}'}}, key {KEY}, "
    f"via https://bob:{PASSWORD}@gw.example/v1"
)


@pytest.mark.parametrize(("raised", "exit_code"), [("RuntimeError", 1), ("ImportError", 2)])
def test_a_traceback_shows_no_secret(
    tenant_dir: Path, cli, monkeypatch: pytest.MonkeyPatch, raised: str, exit_code: int
) -> None:
    """The agent module fails as it loads: a RuntimeError is a harness bug (exit 1, traceback
    always), an ImportError a config error (exit 2, traceback with --debug)."""
    (tenant_dir / "leaky_agent.py").write_text(f"raise {raised}({LEAK!r})\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tenant_dir))
    monkeypatch.delitem(sys.modules, "leaky_agent", raising=False)  # another test's module of that name
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-token-0123456789")
    agent = '[agent]\nkind = "python"\ntarget = "leaky_agent:recommend"\n\n'
    write_config(tenant_dir, agent + '[shadow]\npublic_url = "https://shadow.example.test"\n')
    result = invoke(cli, "--debug", "shadow", "serve", "--port", "0")
    assert result.exit_code == exit_code, result.stderr
    err = result.stderr
    assert "Traceback" in err and "leaky_agent" in err
    for secret in (KEY, BEARER, PASSWORD):
        assert secret not in err
    assert "[OPENAI_API_KEY]" in err and "Bearer [masked]" in err and "https://[masked]@gw.example/v1" in err


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Basic QUM6dG9rZW4=", "Authorization: Basic [masked]"),
        ('{"authorization": "Bearer abcdefgh12345"}', '{"authorization": "Bearer [masked]"}'),
        ("('Authorization', 'Token abcdef123456')", "('Authorization', 'Token [masked]')"),
        ("GET http://AC123:tok@api.example/x failed", "GET http://[masked]@api.example/x failed"),
        ("plain https://api.example/v1 and bob@example.com", "plain https://api.example/v1 and bob@example.com"),
        ("bearer of bad news", "bearer of bad news"),  # a word, not a token
    ],
)
def test_credentials_are_masked_whatever_their_form(text: str, masked: str) -> None:
    assert mask_credentials(text, environ={}) == masked
