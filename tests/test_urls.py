"""The one URL sanitiser: what of a configured URL may be written down (manifests, messages, logs)."""

from __future__ import annotations

import pytest

from shadowpilot.urls import http_url, safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://[::1]:8000/v1", "http://[::1]:8000/v1"),  # IPv6 stays bracketed (was http://::1:8000/v1)
        ("http://user:pw@[2001:db8::5]/v1", "http://[2001:db8::5]/v1"),
        ("https://user:pass@gw.example.com/v1", "https://gw.example.com/v1"),
        ("https://gw.example.com:8443/v1/rec", "https://gw.example.com:8443/v1/rec"),
        ("https://gw.example/v1?api-key=sk-in-url", "https://gw.example/v1"),
        ("https://gw.example/v1?api-version=2024-06-01&key=s3cret", "https://gw.example/v1?api-version=2024-06-01"),
        (
            "https://x.example/rec?access_token=a&X-Amz-Signature=b&sig=c&password=d&region=eu",
            "https://x.example/rec?region=eu",
        ),
        ("https://x.example/rec#frag", "https://x.example/rec"),
        ("localhost:8000/v1", "localhost:8000/v1"),  # no scheme: read as a host, written without one
        ("bob:hunter22@agent.internal/rec?token=t", "agent.internal/rec"),
        ("http://agent.example:notaport/rec", "http://agent.example:notaport/rec"),
    ],
)
def test_safe_url_drops_credentials_and_keeps_the_address(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_no_secret_survives_in_any_form() -> None:
    for url in ("https://u:topsecret@h.example/p?apikey=topsecret", "u:topsecret@h.example?auth=topsecret"):
        assert "topsecret" not in safe_url(url)


def test_http_url_brackets_an_ipv6_host() -> None:
    assert http_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert http_url("::1", 8000) == "http://[::1]:8000"


def test_every_agent_writes_urls_the_same_way() -> None:
    """The http agent, the openai agent and the judge go through the one function (no local copies)."""
    from shadowpilot.runners import http_agent, openai_chat

    assert http_agent.safe_url is safe_url
    assert openai_chat._safe_url("http://u:p@[::1]:8000/v1?api_key=k") == "http://[::1]:8000/v1"
    assert openai_chat._safe_url(None) is None
