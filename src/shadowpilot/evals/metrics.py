"""Aggregates and intervals over scored cases."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0/n and n/n,
    which is where a 20-case pilot lives.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def ratio(num: int, den: int) -> float | None:
    """num/den, or None when undefined (no cases of that kind)."""
    return num / den if den else None


def f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def wilson_arrays(successes: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """wilson_interval over arrays (breakdowns: one interval per group, computed at once)."""
    s, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    safe = np.where(n > 0, n, 1.0)
    p = s / safe
    z2 = z * z
    denom = 1 + z2 / safe
    centre = (p + z2 / (2 * safe)) / denom
    half = z * np.sqrt(p * (1 - p) / safe + z2 / (4 * safe * safe)) / denom
    lo = np.where(n > 0, np.maximum(0.0, centre - half), 0.0)
    hi = np.where(n > 0, np.minimum(1.0, centre + half), 1.0)
    return lo, hi


def passes_needed(passed: int, n: int, bar: float, lower_bound: bool, limit: int = 10_000_000) -> int | None:
    """How many more passing cases in a row would clear the bar (0: already clear; None: never,
    e.g. a Wilson lower bound can never reach a bar of 1.0)."""
    if lower_bound:
        if wilson_interval(passed, n)[0] >= bar:
            return 0
        if wilson_interval(passed + limit, n + limit)[0] < bar:
            return None
        lo, hi = 0, limit  # wilson lower bound of (p+m)/(n+m) rises with m: bisect
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if wilson_interval(passed + mid, n + mid)[0] < bar else (lo, mid)
        return hi
    if n and passed / n >= bar:
        return 0
    if bar >= 1:
        return None if passed < n else 0
    # (passed + m) / (n + m) >= bar  <=>  m >= (bar * n - passed) / (1 - bar)
    m = math.ceil((bar * n - passed) / (1 - bar) - 1e-9)
    return max(m, 0 if n else 1)
