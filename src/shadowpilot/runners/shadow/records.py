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
    """A webhook as received: its route, its deduplication key and its raw parameters."""

    k: Literal["ev"]
    route: Route
    key: str
    p: dict[str, Any]


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


class ScoredRecord(_Record):
    k: Literal["scored"]
    call: str
    run_id: str


class ClosedRecord(_Record):
    k: Literal["closed"]
    call: str
    why: str


LogRecord = Annotated[EventRecord | AgentRecord | EndedRecord | ScoredRecord | ClosedRecord, Field(discriminator="k")]
_ADAPTER: TypeAdapter[LogRecord] = TypeAdapter(LogRecord)


class BadRecord(ValueError):
    """A log line that is JSON but not a record this version can apply."""


def read_record(raw: dict[str, Any]) -> LogRecord:
    """The typed record, or BadRecord naming the first field that is wrong."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        if loc and loc[0] == raw.get("k"):  # the union's tag, not a field
            loc = loc[1:]
        where = ".".join(str(x) for x in loc) or "k"
        raise BadRecord(f"field {where}: {err['msg']}") from None
