"""The event log's record kinds as typed models: what a line of events.jsonl must hold to be applied.

The writer (service.py, worker.py) makes these records as dicts; the reader (calls.py)
validates each line against this union before applying it, so one well-formed but
incomplete record (a missing `ukey`, a non-numeric time) is a skipped, reported line,
never a crash of `serve` or `shadow calls`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, TypeAdapter, ValidationError

from .wire import Route


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    rx: FiniteFloat  # when the server received or decided it (epoch seconds)


class EventRecord(_Record):
    """A webhook as received: its route, its deduplication key and its raw parameters, and the
    call it belongs to (None: a task naming no call; absent in logs from before compaction)."""

    k: Literal["ev"]
    route: Route
    key: str
    p: dict[str, Any]
    call: str | None = None


class AgentRecord(_Record):
    """The agent's answer (or error) at one utterance, keyed by the utterance's event key."""

    k: Literal["rec"]
    call: str
    ukey: str
    rec: dict[str, Any] | None = None
    error: str | None = None
    ms: FiniteFloat = 0.0


class EndedRecord(_Record):
    k: Literal["ended"]
    call: str
    why: str | None = None


class Summary(BaseModel):
    """A done call's `shadow calls` view, as its `scored`/`closed` record carries it and as
    calls.jsonl (checkpoint.py) keeps it once the call's records leave the log."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    call: str
    first_rx: FiniteFloat = 0.0
    view: dict[str, Any]


class ScoredRecord(_Record):
    k: Literal["scored"]
    call: str
    run_id: str
    summary: Summary | None = None  # absent in logs from before calls were released


class ClosedRecord(_Record):
    k: Literal["closed"]
    call: str
    why: str
    summary: Summary | None = None


LogRecord = Annotated[EventRecord | AgentRecord | EndedRecord | ScoredRecord | ClosedRecord, Field(discriminator="k")]
_ADAPTER: TypeAdapter[LogRecord] = TypeAdapter(LogRecord)


class BadRecord(ValueError):
    """A log line that is JSON but not a record this version can apply."""


def _bad(exc: ValidationError, tag: Any = None) -> BadRecord:
    err = exc.errors()[0]
    loc = list(err["loc"])
    if loc and tag is not None and loc[0] == tag:  # the union's tag, not a field
        loc = loc[1:]
    where = ".".join(str(x) for x in loc) or "k"
    return BadRecord(f"field {where}: {err['msg']}")


def read_record(raw: dict[str, Any]) -> LogRecord:
    """The typed record, or BadRecord naming the first field that is wrong."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise _bad(exc, raw.get("k") if isinstance(raw, dict) else None) from None


def read_summary(raw: Any) -> Summary:
    """A line of calls.jsonl as a typed summary, or BadRecord naming the first field that is wrong."""
    try:
        return Summary.model_validate(raw)
    except ValidationError as exc:
        raise _bad(exc) from None
