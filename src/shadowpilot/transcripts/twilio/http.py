"""The HTTP client under the twilio SDK: retries rate limits, and can rewrite Twilio's hosts.

twilio-python's synchronous TwilioHttpClient does not retry a 429 (its `max_retries` only
reaches requests' connection retries, and only for https), and a 429 surfaces as an exception
from the middle of a paged listing. Retrying here, below the SDK, covers every call it makes,
next_page_url requests included.
"""

from __future__ import annotations

import random
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ...errors import UsageError

RETRY_STATUSES = frozenset({429, 503})


class TwilioUnreachable(UsageError):
    """No answer from Twilio's API at all (DNS, proxy, firewall, no network): the environment's
    failure, not the harness's, so one line and exit 2."""


def _reason(exc: requests.RequestException) -> str:
    """The short cause under requests' nested wrappers: "Connection refused", "timed out"..."""
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy refused or failed the connection"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time"
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found[-1].strip() if found else "the connection failed"


def unreachable(url: str, exc: requests.RequestException) -> TwilioUnreachable:
    host = urllib.parse.urlsplit(url).netloc or url
    return TwilioUnreachable(
        f"cannot reach Twilio at {host}: {_reason(exc)}; check the network connection, DNS, and any proxy "
        "(HTTPS_PROXY) or firewall between this machine and Twilio"
    )


def retry_delay(headers: Any, attempt: int, cap: float) -> float:
    """Retry-After (seconds) when the server sends it, else exponential backoff with jitter."""
    raw = None
    if headers is not None:
        try:
            raw = headers.get("Retry-After")
        except AttributeError:
            raw = None
    if raw is not None:
        try:
            return min(max(float(raw), 0.0), cap)
        except ValueError:
            pass  # an HTTP date: fall back to backoff rather than parse clocks
    return min(cap, 0.5 * 2**attempt) * (0.5 + random.random() / 2)


class RetryingHttpClient(TwilioHttpClient):
    """TwilioHttpClient that retries 429/503 and, with `base_url`, sends every request there.

    `base_url` keeps each request's path and query and swaps scheme and host, so the absolute
    next_page_url Twilio returns is rewritten too (the tests' fake API; an on-prem proxy)."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        max_retries: int = 5,
        max_backoff_s: float = 30.0,
        timeout: float | None = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[int, float], None] | None = None,
    ):
        super().__init__(timeout=timeout)
        self._base = urllib.parse.urlsplit(base_url) if base_url else None
        self.max_retries = max_retries
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._on_retry = on_retry
        self.retries = 0

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if self._base is not None:
            p = urllib.parse.urlsplit(url)
            url = urllib.parse.urlunsplit((self._base.scheme, self._base.netloc, p.path, p.query, ""))
        attempt = 0
        while True:
            try:
                response = super().request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    auth=auth,
                    timeout=timeout,
                    allow_redirects=allow_redirects,
                )
            except requests.RequestException as exc:
                raise unreachable(url, exc) from exc
            if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                return response
            delay = retry_delay(response.headers, attempt, self.max_backoff_s)
            self.retries += 1
            if self._on_retry is not None:
                self._on_retry(response.status_code, delay)
            self._sleep(delay)
            attempt += 1


def build_client(
    account_sid: str,
    auth_token: str,
    *,
    api_base: str | None = None,
    max_retries: int = 5,
    max_backoff_s: float = 30.0,
) -> Client:
    """A twilio Client over RetryingHttpClient. With `api_base`, TWILIO_REGION/EDGE are ignored."""
    http = RetryingHttpClient(base_url=api_base, max_retries=max_retries, max_backoff_s=max_backoff_s)
    return Client(account_sid, auth_token, http_client=http, environment={} if api_base else None)
