"""Retries for agent requests: exponential backoff with full jitter, honouring Retry-After.

Generic over the transport: the caller passes a coroutine factory (one attempt) and a
classifier that turns an exception into a `Failure` (retryable or not, and how long the
server asked us to wait). Both network agents (openai, http) use it, so every retry is
ours: measured, jittered and bounded. `sleep` and `rng` are injectable so tests need not wait.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
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


def backoff_delay(attempt: int, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)) for retry number `attempt` (0-based)."""
    window = min(policy.cap_s, policy.base_s * (2**attempt))
    return rng() * window


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
    When the server sent Retry-After we wait exactly that, else a jittered backoff. With a
    `deadline_s` (RetryPolicy.deadline_s), a Retry-After longer than what is left of it ends
    the call at once (AgentError saying so) instead of sleeping past the deadline.
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
            if retries >= policy.max_retries:
                tail = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else " (no retries)"
                raise failure.error(tail) from exc
            if failure.retry_after_s is not None:
                delay = failure.retry_after_s
                left = None if deadline_s is None else deadline_s - (clock() - started)
                if left is not None and delay > left:
                    raise failure.error(
                        f": the server asked to retry after {delay:g} s, more than the {max(left, 0.0):.1f} s"
                        f" left of this turn's {deadline_s:g} s deadline"
                    ) from exc
            else:
                delay = backoff_delay(retries, policy, rng)
            if on_retry is not None:
                on_retry(failure, delay)
            retries += 1
            await sleep(delay)
