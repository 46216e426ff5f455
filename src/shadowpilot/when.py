"""Times in and out: one reader for the times Twilio sends (import, TaskRouter and the live server
all parse with it) and one writer for every time shadowpilot puts in a JSON document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def event_time(value: Any) -> tuple[datetime | None, float]:
    """Twilio's time and how precise it is (seconds): 1.0 for whole seconds, 0.001 otherwise.

    Twilio's formats differ by product and some are unverified (TaskRouter's callback Timestamp,
    Real-Time Transcription's Timestamp: epoch or ISO), so both are read; numbers above 1e11 are
    milliseconds. The precision matters because a whole-second time may lie up to a second before
    the event it stamps."""
    if value is None or value == "":
        return None, 1.0
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)), 0.001
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        text = value.strip()
        value = float(text) if "." in text else int(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            if value > 1e11:
                return datetime.fromtimestamp(value / 1000, UTC), 0.001
            return datetime.fromtimestamp(value, UTC), 1.0 if float(value).is_integer() else 0.001
        except (OverflowError, OSError, ValueError):
            return None, 1.0
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None, 1.0
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)), 0.001 if dt.microsecond else 1.0
    return None, 1.0


def parse_when(value: Any) -> datetime | None:
    """A datetime from a datetime, an ISO-8601 string, or epoch seconds/milliseconds; None if unreadable."""
    return event_time(value)[0]


def epoch_of(value: Any) -> float | None:
    """`parse_when` as epoch seconds (what the live server's event log keeps)."""
    dt = parse_when(value)
    return dt.timestamp() if dt is not None else None


def in_utc(dt: datetime) -> datetime:
    """`dt` in UTC, for a table whose heading says UTC: DuckDB hands a TIMESTAMPTZ back in the
    machine's zone (a naive time is UTC already)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def utc_text(dt: datetime) -> str:
    """The one way a time is written in JSON (the CLI's `--json`, the report, stored manifests):
    ISO 8601 in UTC to the millisecond with a `Z`, `2026-12-01T22:30:00.000Z`, whatever zone the
    time came in (a naive time is UTC: DuckDB's TIMESTAMP columns hold UTC). One fixed width, so
    the times of one document sort as text and every consumer parses one shape."""
    return in_utc(dt).isoformat(timespec="milliseconds").replace("+00:00", "Z")
