"""Numbers as every output writes them (formatting): the same figure reads the same everywhere."""

from __future__ import annotations

from shadowpilot import formatting as f


def test_percent_and_points() -> None:
    assert f.percent(0.8512) == "85.1%" and f.percent(0.85, 0) == "85%" and f.percent(None) == "n/a"
    assert f.points(-0.05) == "-5.0" and f.points(0.1234) == "+12.3" and f.points(None) == "n/a"


def test_durations() -> None:
    assert f.ms(1234.5) == "1,234 ms" and f.ms(None) == "not measured"
    assert f.ms_as_kept(812.5) == "812.5 ms" and f.ms_as_kept(1500.0) == "1500 ms"
    assert f.seconds(120) == "120 s" and f.seconds(1234.56, 1) == "1,234.6 s"
    assert f.fixed(0.1234567, 3) == "0.123" and f.fixed(12345.0, 4) == "12345.0000"


def test_money_and_counts() -> None:
    assert f.usd(0.0123) == "$0.0123" and f.usd(None) == "not measured"
    assert f.usd(1234.5) == "$1,234.5000" and f.usd(1234.5, grouped=False) == "$1234.5000"
    assert f.count(100_000) == "100,000" and f.count(7) == "7"


def test_compact_and_rounded() -> None:
    assert f.compact(12.0) == "12" and f.compact(12.34) == "12.3" and f.compact(0.04) == "0"
    assert f.rounded(0.123456) == 0.123 and f.rounded(0.123456, 4) == 0.1235 and f.rounded(None) is None
