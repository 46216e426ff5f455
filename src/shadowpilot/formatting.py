"""How numbers and durations are written: one module for the terminal, the reports and the gate's prose.

Words (plurals, nouns, turn labels) live in `wording`; numbers live here, so a percentage or
a cost is written the same way wherever it appears. Each function takes None where a figure
can be missing and says so in words. Standard library only: the CLI imports it at start-up.
"""

from __future__ import annotations

NOT_MEASURED = "not measured"  # a latency or a cost nothing recorded
NOT_AVAILABLE = "n/a"  # a rate with nothing to count


def percent(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.8512 -> "85.1%" (digits=0: "85%"); None -> "n/a"."""
    return NOT_AVAILABLE if x is None else f"{x:.{digits}%}"


def points(x: float | None, digits: int = 1) -> str:
    """A difference of two fractions in signed percentage points, bare: -0.05 -> "-5.0"; None -> "n/a"."""
    return NOT_AVAILABLE if x is None else f"{x * 100:+.{digits}f}"


def ms(x: float | None) -> str:
    """A duration in milliseconds, whole and grouped: 1234.5 -> "1,234 ms" (reports)."""
    return NOT_MEASURED if x is None else f"{x:,.0f} ms"


def ms_as_kept(x: float | None) -> str:
    """A duration in milliseconds as the gate keeps it (already rounded): 812.5 -> "812.5 ms" (terminal, checks)."""
    return NOT_MEASURED if x is None else f"{x:g} ms"


def seconds(x: float, digits: int = 0) -> str:
    """A duration in seconds for prose, grouped: 120 -> "120 s"."""
    return f"{x:,.{digits}f} s"


def usd(x: float | None, digits: int = 4, *, grouped: bool = True) -> str:
    """US dollars: 0.0123 -> "$0.0123"; grouped (the reports) writes thousands separators, the terminal
    does not; None -> "not measured"."""
    if x is None:
        return NOT_MEASURED
    return f"${x:,.{digits}f}" if grouped else f"${x:.{digits}f}"


def count(n: int) -> str:
    """A count with thousands separators: 100000 -> "100,000"."""
    return f"{n:,}"


def fixed(x: float, digits: int) -> str:
    """Exactly `digits` decimals, no separators, no unit: for machine-read attributes (JUnit's time, rates)."""
    return f"{x:.{digits}f}"


def compact(x: float) -> str:
    """At most one decimal, trailing zeros dropped: 12.0 -> "12", 12.34 -> "12.3" (SVG coordinates)."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def rounded(x: float | None, digits: int = 3) -> float | None:
    """`x` rounded for a model or JSON (None stays None): figures are kept at the precision they are shown."""
    return None if x is None else round(x, digits)
