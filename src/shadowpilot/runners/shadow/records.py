"""The event log's record kinds as typed models: what a line of events.jsonl must hold to be applied.

The writers (service.py, worker.py) make an entry of one kind (Event, AgentAnswer, Ended,
Scored, Closed) and the server writes it with the time it was appended (`rx`): that is a
record (EventRecord, ...). The reader (calls.py) validates each line against the union of
records before applying it, so one well-formed but incomplete record (a missing `ukey`, a
non-numeric time) is a skipped, reported line, never a crash of `serve` or `shadow calls`.
Python names are readable; the log keeps its short keys (`ukey`, `rec`, `p`, `rx`) as
aliases, so the format on disk is the one it always was. The kind stays `k`: it is the
union's tag, and a line's kind is reported by that name when it is wrong.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, TypeAdapter, ValidationError

from .wire import Route


class _Entry(BaseModel):
    """What a writer logs; the server stamps it with `rx` as it appends it (`line`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True)

    def line(self, received: float) -> dict[str, Any]:
        """The record as the log holds it: its kind first, the receipt time last (on-disk keys)."""
        return {**self.model_dump(by_alias=True), "rx": received}


class Event(_Entry):
    """A webhook as received: its route, its deduplication key and its raw parameters, and the
    call it belongs to (None: a task naming no call; absent in logs from before compaction)."""

    k: Literal["ev"] = "ev"  # the kind, first on every line (eventlog.RECORD_START)
    route: Route
    key: str
    call: str | None = None
    params: dict[str, Any] = Field(alias="p")


class AgentAnswer(_Entry):
    """The agent's answer (a Recommendation's JSON) or error at one utterance, keyed by the
    utterance's event key."""

    k: Literal["rec"] = "rec"
    call: str
    utterance_key: str = Field(alias="ukey")
    recommendation: dict[str, Any] | None = Field(None, alias="rec")
    error: str | None = None
    ms: FiniteFloat = 0.0


class Ended(_Entry):
    k: Literal["ended"] = "ended"
    call: str
    why: str | None = None


class Summary(BaseModel):
    """A done call's `shadow calls` view, as its `scored`/`closed` record carries it and as
    calls.jsonl (checkpoint.py) keeps it once the call's records leave the log."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    call: str
    first_rx: FiniteFloat = 0.0
    view: dict[str, Any]


class Scored(_Entry):
    k: Literal["scored"] = "scored"
    call: str
    run_id: str
    # absent in logs from before calls were released, and when the call was no longer in memory
    summary: Summary | None = Field(None, exclude_if=lambda v: v is None)


class Closed(_Entry):
    k: Literal["closed"] = "closed"
    call: str
    why: str
    summary: Summary | None = None


LogEntry = Event | AgentAnswer | Ended | Scored | Closed


# The records as the log holds them: each entry with its receipt time. Read by the on-disk keys
# alone, so a line names its fields (and its kind) the one way it was always written.
_AS_READ = ConfigDict(extra="ignore", frozen=True, validate_by_name=False, validate_by_alias=True)


class EventRecord(Event):
    model_config = _AS_READ
    received: FiniteFloat = Field(alias="rx")  # when the server received or decided it (epoch seconds)


class AgentRecord(AgentAnswer):
    model_config = _AS_READ
    received: FiniteFloat = Field(alias="rx")


class EndedRecord(Ended):
    model_config = _AS_READ
    received: FiniteFloat = Field(alias="rx")


class ScoredRecord(Scored):
    model_config = _AS_READ
    received: FiniteFloat = Field(alias="rx")


class ClosedRecord(Closed):
    model_config = _AS_READ
    received: FiniteFloat = Field(alias="rx")


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
