"""The canonical format: one Transcript JSON object per line (DESIGN.md)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from ...errors import Problem
from ...types import Transcript
from ..audio import attach, ref_from_json
from ..labels import DEFAULT_LABELS, SpeakerLabels
from ..validate import DEFAULT_READING, Reading, ReadResult, problems_from_validation


def parse_line(
    raw: str, file: str, line: int, labels: SpeakerLabels = DEFAULT_LABELS, customer_channel: int | None = 2
) -> tuple[Transcript | None, list[Problem]]:
    """One JSONL line -> a Transcript, or the problems with it."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, [Problem(file, line, None, f"invalid JSON: {exc.msg} (column {exc.colno})")]
    except RecursionError:
        return None, [Problem(file, line, None, "invalid JSON: nested too deeply")]
    return from_object(obj, file, line, raw=raw, labels=labels, customer_channel=customer_channel)


def _whole(text: str) -> object | None:
    """The whole file as one JSON value, or None when it is not one (it is JSONL then)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def from_object(
    obj: object,
    file: str,
    line: int | None,
    prefix: str = "",
    raw: str | None = None,
    labels: SpeakerLabels = DEFAULT_LABELS,
    customer_channel: int | None = 2,
) -> tuple[Transcript | None, list[Problem]]:
    record = f"{file}:{prefix}" if prefix else None  # an array item: its problems are one record
    if not isinstance(obj, dict):
        kind = type(obj).__name__
        return None, [Problem(file, line, prefix or None, f"expected a JSON object, got {kind}", record)]
    ref = None
    if "audio" in obj:  # the recording's path: read and described once the case itself is good
        ref, why = ref_from_json(obj["audio"])
        if why is not None:
            return None, [Problem(file, line, f"{prefix}.audio" if prefix else "audio", why, record)]
        obj = {k: v for k, v in obj.items() if k != "audio"}
        raw = None

    def with_audio(t: Transcript) -> tuple[Transcript | None, list[Problem]]:
        found, problem = attach(t, ref, file, line, customer_channel, record)
        return found, [] if problem is None else [problem]

    # strict JSON mode: a number where text belongs, or "yes" for a boolean, is a
    # bad record rather than coerced; ISO dates still parse.
    try:
        return with_audio(Transcript.model_validate_json(raw if raw is not None else json.dumps(obj), strict=True))
    except ValidationError as first:
        exc = first
    canonical = labels.turns(obj)  # "Customer", or a tenant's "Caller", as "customer": read again
    if canonical is not obj:
        try:
            return with_audio(Transcript.model_validate_json(json.dumps(canonical), strict=True))
        except ValidationError as again:
            exc = again
    rename = (lambda p: f"{prefix}.{p}" if p else prefix) if prefix else None
    problems = problems_from_validation(exc, file, line, rename=rename)
    return None, [p.of_record(record) for p in problems] if record else problems


def read(path: Path, text: str, reading: Reading = DEFAULT_READING) -> ReadResult:
    file = str(path)
    result = ReadResult()
    labels, channel = reading.labels, reading.customer_channel
    stripped = text.lstrip()
    if stripped.startswith("{") and len(stripped.strip().splitlines()) > 1:
        whole = _whole(text)  # one pretty-printed transcript in a .json file
        if isinstance(whole, dict):
            t, problems = from_object(whole, file, 1, labels=labels, customer_channel=channel)
            reading.tick()
            result.problems.extend(problems)
            if t is not None:
                result.transcripts.append((1, t))
            return result
    if stripped.startswith("["):  # a .json file holding an array of transcripts
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(file, exc.lineno, None, f"invalid JSON: {exc.msg}"))
            return result
        except RecursionError:
            result.problems.append(Problem(file, None, None, "invalid JSON: nested too deeply"))
            return result
        for i, obj in enumerate(items):
            t, problems = from_object(obj, file, None, prefix=f"[{i}]", labels=labels, customer_channel=channel)
            reading.tick()
            result.problems.extend(problems)
            if t is not None:
                result.transcripts.append((None, t))
        return result
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        t, problems = parse_line(raw, file, lineno, labels, channel)
        reading.tick()
        result.problems.extend(problems)
        if t is not None:
            result.transcripts.append((lineno, t))
    return result
