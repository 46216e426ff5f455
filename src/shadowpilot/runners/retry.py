"""The one retry policy: exponential backoff with full jitter, honouring Retry-After.

Every path that retries a request asks `next_wait` what to do after a retryable failure:
the network agents (openai, http) and the judge through the async `retry` loop below, the
Twilio import through its HTTP client (transcripts.twilio.http). So the rules live once:
Retry-After as delay-seconds or an HTTP date (RFC 9110 section 10.2.3), capped by the policy's
`retry_after_cap_s` when it has one; otherwise a full-jitter backoff window that doubles up to
`cap_s`; and one call's deadline, `RetryPolicy.deadline_s`, out of which a Retry-After is waited.
`sleep`, `rng` and `clock` are injectable so tests need not wait.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from ..errors import AgentError, AgentUnreachable
from .masking import mask

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429})  # plus every 5xx


@dataclass(frozen=True)
class Failure:
    """What went wrong in one attempt, in words for the error message ("HTTP 500", "timeout")."""

    what: str
    retryable: bool
    retry_after_s: float | None = None
    # Set when the endpoint was not reached at all (runners.reach.Cause: refused, dns, tls, auth,
    # not_found): the last such failure raises AgentUnreachable instead of AgentError.
    unreachable: str | None = None

    def error(self, tail: str = "") -> AgentError:
        """The error this failure ends the call with; configured secrets masked (an error body may echo them)."""
        message = mask(self.what + tail)
        if self.unreachable is not None:
            return AgentUnreachable(message, self.unreachable)
        return AgentError(message)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_s: float = 0.5  # the first backoff window; doubles each retry
    cap_s: float = 20.0  # the largest backoff window
    # The longest Retry-After honoured as sent: a longer one is cut to this. None (the agents): waited as
    # asked, within the call's deadline. Twilio's import sets it to its max_backoff_s.
    retry_after_cap_s: float | None = None

    def backoff_budget_s(self) -> float:
        """The sum of every backoff window: the most the jittered waits between attempts can add."""
        return sum(min(self.cap_s, self.base_s * 2**i) for i in range(self.max_retries))

    def deadline_s(self, timeout_s: float) -> float:
        """The longest one call may take: timeout_s for each attempt plus the backoff windows.
        A server's Retry-After is waited out of this same budget, never on top of it (`retry`)."""
        return (self.max_retries + 1) * timeout_s + self.backoff_budget_s()


def status_retryable(status: int) -> bool:
    """429, 408 and 5xx are worth retrying; other 4xx mean the request itself is wrong."""
    return status in RETRYABLE_STATUS or 500 <= status <= 599


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date. None when absent or garbled."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The wait a response's headers ask for: `retry-after-ms` (OpenAI's) first, then `Retry-After`.

    `headers` is looked up case-insensitively by the clients that pass it (httpx, requests)."""
    if headers is None:
        return None
    ms = parse_retry_after(headers.get("retry-after-ms")) if headers.get("retry-after-ms") else None
    if ms is not None:
        return ms / 1000
    return parse_retry_after(headers.get("retry-after"))


def backoff_delay(attempt: int, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)) for retry number `attempt` (0-based)."""
    window = min(policy.cap_s, policy.base_s * (2**attempt))
    return rng() * window


@dataclass(frozen=True)
class Wait:
    """What to do after a retryable failure: wait `seconds` and try again, or give up (`give_up` says why,
    as the tail of the error message)."""

    seconds: float
    give_up: str | None = None


def next_wait(
    policy: RetryPolicy,
    retries: int,
    retry_after: float | None,
    *,
    rng: Callable[[], float] = random.random,
    elapsed_s: float = 0.0,
    deadline_s: float | None = None,
) -> Wait:
    """The decision after retryable failure number `retries + 1` of one call (`retries` already made).

    Out of retries: give up. A server's Retry-After (capped by `retry_after_cap_s`) replaces the
    backoff, but one longer than what is left of `deadline_s` gives up at once rather than sleep
    past it; otherwise a full-jitter backoff (within the deadline by construction)."""
    if retries >= policy.max_retries:
        return Wait(0.0, f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else " (no retries)")
    if retry_after is None:
        return Wait(backoff_delay(retries, policy, rng))
    delay = retry_after if policy.retry_after_cap_s is None else min(retry_after, policy.retry_after_cap_s)
    if deadline_s is not None and delay > deadline_s - elapsed_s:
        left = max(deadline_s - elapsed_s, 0.0)
        return Wait(
            delay,
            f": the server asked to retry after {delay:g} s, more than the {left:.1f} s"
            f" left of this turn's {deadline_s:g} s deadline",
        )
    return Wait(delay)


async def retry(
    attempt: Callable[[], Awaitable[T]],
    classify: Callable[[BaseException], Failure | None],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
    on_retry: Callable[[Failure, float], object] | None = None,
    deadline_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run `attempt()` until it succeeds, retrying what `classify` calls retryable.

    `classify` returns None for exceptions it does not know: those propagate unchanged
    (an AgentError about a malformed answer, a bug). A non-retryable Failure raises
    AgentError(what) at once; running out of retries raises AgentError("<what> after N retries");
    either is an AgentUnreachable when the failure says the endpoint was not reached.
    How long to wait, and when to stop, is `next_wait`'s: with a `deadline_s` (RetryPolicy.deadline_s),
    a Retry-After longer than what is left of it ends the call at once (AgentError saying so).
    """
    started = clock()
    retries = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if not failure.retryable:
                raise failure.error() from exc
            wait = next_wait(
                policy, retries, failure.retry_after_s, rng=rng, elapsed_s=clock() - started, deadline_s=deadline_s
            )
            if wait.give_up is not None:
                raise failure.error(wait.give_up) from exc
            if on_retry is not None:
                on_retry(failure, wait.seconds)
            retries += 1
            await sleep(wait.seconds)
