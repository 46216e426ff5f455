"""One reader for the times Twilio sends: import, TaskRouter and the live server all parse with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_when(value: Any) -> datetime | None:
    """A datetime from a datetime, an ISO-8601 string, or epoch seconds/milliseconds; None if unreadable.

    Twilio's formats differ by product and some are unverified (TaskRouter's Timestamp,
    Real-Time Transcription's Timestamp: reference sections 1.3 and 5.2), so both are read;
    numbers above 1e11 are taken as milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


def epoch_of(value: Any) -> float | None:
    """`parse_when` as epoch seconds (what the live server's event log keeps)."""
    dt = parse_when(value)
    return dt.timestamp() if dt is not None else None
