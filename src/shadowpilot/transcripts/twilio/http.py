"""The HTTP client under the twilio SDK: retries rate limits, and can rewrite Twilio's hosts.

twilio-python's synchronous TwilioHttpClient does not retry a 429 (its `max_retries` only
reaches requests' connection retries, and only for https), and a 429 surfaces as an exception
from the middle of a paged listing. Retrying here, below the SDK, covers every call it makes,
next_page_url requests included. How long to wait is the one retry policy's (runners.retry):
Retry-After in seconds or as an HTTP date, capped by max_backoff_s; else full-jitter backoff;
and the same per-request deadline as the agents', out of which every Retry-After is waited.
"""

from __future__ import annotations

import random
import re
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ...errors import UsageError
from ...runners.retry import RetryPolicy, next_wait, retry_after_s

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


def twilio_policy(max_retries: int = 5, max_backoff_s: float = 30.0) -> RetryPolicy:
    """`[twilio] max_retries` and `max_backoff_s` as the retry policy: max_backoff_s is both the largest
    backoff window and the longest Retry-After honoured."""
    return RetryPolicy(max_retries=max_retries, base_s=0.5, cap_s=max_backoff_s, retry_after_cap_s=max_backoff_s)


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
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(timeout=timeout)
        self._base = urllib.parse.urlsplit(base_url) if base_url else None
        self.policy = twilio_policy(max_retries, max_backoff_s)
        self._sleep = sleep
        self._on_retry = on_retry
        self._rng = rng
        self._clock = clock
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
        retries = 0
        started = self._clock()
        per_request_s = timeout or self.timeout
        deadline_s = self.policy.deadline_s(per_request_s) if per_request_s else None
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
            if response.status_code not in RETRY_STATUSES:
                return response
            wait = next_wait(
                self.policy,
                retries,
                retry_after_s(response.headers),
                rng=self._rng,
                elapsed_s=self._clock() - started,
                deadline_s=deadline_s,
            )
            if wait.give_up is not None:
                return response  # the SDK raises it as the error it is (a 429 names itself)
            self.retries += 1
            if self._on_retry is not None:
                self._on_retry(response.status_code, wait.seconds)
            self._sleep(wait.seconds)
            retries += 1


class MediaRefused(Exception):
    """Twilio answered a media download with an error status (the body is Twilio's error JSON)."""

    def __init__(self, status: int, text: str):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.text = text


def download(
    http: RetryingHttpClient, url: str, auth: tuple[str, str], dest: Path, max_bytes: int, timeout: float = 60.0
) -> int:
    """GET a media file (a Recording's .wav) into `dest`, at most `max_bytes`: the SDK's own
    requests read text and do not follow the redirect Twilio answers media with. The same host
    rewriting and retry policy as every other request; MediaRefused on an error status, the
    bytes written otherwise."""
    if http._base is not None:
        p = urllib.parse.urlsplit(url)
        url = urllib.parse.urlunsplit((http._base.scheme, http._base.netloc, p.path, p.query, ""))
    retries = 0
    started = http._clock()
    session = http.session or requests.Session()
    while True:
        try:
            with session.get(url, auth=auth, stream=True, timeout=timeout, allow_redirects=True) as response:
                if response.status_code in RETRY_STATUSES:
                    wait = next_wait(
                        http.policy,
                        retries,
                        retry_after_s(response.headers),
                        rng=http._rng,
                        elapsed_s=http._clock() - started,
                        deadline_s=http.policy.deadline_s(timeout),
                    )
                    if wait.give_up is not None:
                        raise MediaRefused(response.status_code, response.text[:2000])
                    http.retries += 1
                    http._sleep(wait.seconds)
                    retries += 1
                    continue
                if response.status_code >= 400:
                    raise MediaRefused(response.status_code, response.text[:2000])
                written = 0
                with dest.open("wb") as out:
                    for block in response.iter_content(1 << 16):
                        written += len(block)
                        if written > max_bytes:
                            raise MediaRefused(413, f"the recording is larger than {max_bytes // 2**20} MB")
                        out.write(block)
                return written
        except requests.RequestException as exc:
            raise unreachable(url, exc) from exc


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
