"""The retry helper: full-jitter backoff, Retry-After, limits; with an injected sleep, so nothing waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shadowpilot.errors import AgentError
from shadowpilot.runners.retry import Failure, RetryPolicy, backoff_delay, parse_retry_after, retry, status_retryable


class Flaky(Exception):
    def __init__(self, what: str = "HTTP 503", retryable: bool = True, retry_after: float | None = None):
        super().__init__(what)
        self.failure = Failure(what, retryable, retry_after)


def classify(exc: BaseException) -> Failure | None:
    return exc.failure if isinstance(exc, Flaky) else None


def run(errors: list[Exception], policy: RetryPolicy, rng=lambda: 0.5) -> tuple[str, list[float], int]:
    """Fail with each of `errors` in turn, then succeed; returns the result, the waits and the attempts."""
    waits: list[float] = []
    calls = 0

    async def sleep(delay: float) -> None:
        waits.append(delay)

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if calls <= len(errors):
            raise errors[calls - 1]
        return "ok"

    result = asyncio.run(retry(attempt, classify, policy, sleep=sleep, rng=rng))
    return result, waits, calls


def test_full_jitter_window_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=3.0)
    assert [backoff_delay(n, policy, rng=lambda: 0.999999) for n in range(5)] == pytest.approx(
        [0.5, 1.0, 2.0, 3.0, 3.0], rel=1e-5
    )
    assert backoff_delay(3, policy, rng=lambda: 0.0) == 0.0


def test_jitter_stays_within_bounds_with_a_real_rng() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0)
    for n in range(8):
        window = min(1.0, 0.1 * 2**n)
        delays = [backoff_delay(n, policy) for _ in range(200)]
        assert all(0 <= d < window for d in delays)
        assert max(delays) - min(delays) > window / 4  # jittered, not fixed


def test_retries_then_succeeds_with_backoff_waits() -> None:
    result, waits, calls = run([Flaky(), Flaky()], RetryPolicy(max_retries=3, base_s=1, cap_s=10))
    assert (result, calls) == ("ok", 3)
    assert waits == [0.5, 1.0]  # rng 0.5 x windows 1, 2


def test_retry_after_replaces_the_backoff() -> None:
    policy = RetryPolicy(max_retries=3, base_s=1)
    _, waits, _ = run([Flaky("HTTP 429", retry_after=7.0), Flaky("HTTP 429", retry_after=120.0)], policy)
    assert waits == [7.0, 120.0]  # no deadline given: waited as asked (agents pass theirs, see test_agent_limits)


def test_gives_up_after_max_retries_saying_what_happened() -> None:
    with pytest.raises(AgentError, match=r"^HTTP 503 after 2 retries$"):
        run([Flaky()] * 5, RetryPolicy(max_retries=2))
    with pytest.raises(AgentError, match=r"^HTTP 503 \(no retries\)$"):
        run([Flaky()], RetryPolicy(max_retries=0))


def test_non_retryable_fails_at_once_and_unknown_errors_propagate() -> None:
    with pytest.raises(AgentError, match=r"^HTTP 401: bad key$"):
        run([Flaky("HTTP 401: bad key", retryable=False)], RetryPolicy(max_retries=5))
    with pytest.raises(KeyError):
        run([KeyError("bug")], RetryPolicy(max_retries=5))


@pytest.mark.parametrize("status", [429, 408, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    assert status_retryable(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retryable(status: int) -> None:
    assert not status_retryable(status)


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 20, 14, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after("Fri, 20 Nov 2026 13:59:00 GMT", now=now) == 0.0  # in the past: retry now
    for garbled in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(garbled) is None
    assert parse_retry_after("-5") == 0.0


def test_a_calls_deadline_covers_every_attempt_and_the_longest_waits():
    from shadowpilot.runners.agent import AgentBase, turn_deadline_s
    from shadowpilot.runners.retry import RetryPolicy

    policy = RetryPolicy(max_retries=2, base_s=0.5, cap_s=20.0)
    # 3 attempts x 5 s, and the 2 backoff windows (0.5 s, 1 s); a Retry-After is waited out of this budget
    assert policy.deadline_s(5.0) == 3 * 5.0 + 0.5 + 1.0

    class Remote(AgentBase):
        turn_timeout_s = 21.0  # type: ignore[assignment]

    class Local(AgentBase):
        pass

    assert turn_deadline_s(Remote(), 5.0) == 21.0 and turn_deadline_s(Local(), 5.0) == 5.0
