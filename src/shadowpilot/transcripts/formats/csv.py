"""CSV: one row per turn.

Columns: `case_id`, `speaker`, `text` (required); `start_s`, `end_s` (optional).
Case-level columns are read from each case's first row: tenant, channel,
started_at, critical, tags, customer_<name>, and the human outcome escalated,
at_turn, reason, urgency, queue, skill, priority, vip, routing_<attribute>.
Alternatively the case-level columns live in a sidecar `<name>.outcomes.csv`
beside the file, one row per case_id; when it exists, it is the only source.
A case's recording: `audio` (a WAV path, relative to the file) and `audio_customer_channel` (1 or 2).
Columns are separated by `,`, or by `;` when the header is (European spreadsheet exports).
"""

from __future__ import annotations

import csv as _csv
import io
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ...errors import Problem
from ...types import Transcript
from ..audio import attach, ref_from_fields
from ..validate import DEFAULT_READING, Reading, ReadResult, problems_from_validation, read_text_file
from ._fields import build_case, known_key

TURN_COLUMNS = ("case_id", "speaker", "text", "start_s", "end_s")
REQUIRED = ("case_id", "speaker", "text")


def sidecar_for(path: Path) -> Path:
    return path.with_name(f"{path.stem}.outcomes.csv")


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(".outcomes.csv")


def _header(text: str, delimiter: str) -> list[str]:
    first = next(_csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    return [h.strip() for h in first]


def delimiter_of(text: str, wanted: tuple[str, ...] = REQUIRED) -> str:
    """`;` when the header splits on it into more columns, and at least as many of the `wanted`
    ones, than on `,` (a European spreadsheet's export); else `,`."""
    comma, semi = _header(text, ","), _header(text, ";")
    if len(semi) > len(comma) and sum(c in semi for c in wanted) >= sum(c in comma for c in wanted):
        return ";"
    return ","


def _rows(text: str, delimiter: str = ",") -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = _csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    rows = []
    end = reader.line_num  # a quoted field may span lines: a row is reported where it starts
    for row in reader:
        rows.append((end + 1, {k: (v or "") for k, v in row.items() if k is not None}))
        end = reader.line_num
    return header, rows


def _case_fields(row: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in row.items() if k not in TURN_COLUMNS or k == "case_id"}


def read(path: Path, text: str, reading: Reading = DEFAULT_READING) -> ReadResult:
    file = str(path)
    result = ReadResult()
    delimiter = delimiter_of(text)
    try:
        header, rows = _rows(text, delimiter)
    except _csv.Error as exc:
        result.problems.append(Problem(file, None, None, f"invalid CSV: {exc}"))
        return result
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        # a header that splits on ; only: say so, a comma-separated reading would name one odd column
        looks = " (the file looks ;-separated: its header was split on ;)" if delimiter == ";" else ""
        result.problems.append(Problem(file, 1, ", ".join(missing), f"missing column(s) in the header{looks}"))
        return result
    unknown = [h for h in header if h not in TURN_COLUMNS and not known_key(h)]
    if unknown:
        result.problems.append(Problem(file, 1, ", ".join(unknown), "unknown column(s)"))
        return result

    # Case-level fields: from the sidecar when there is one, else the case's first row.
    side = sidecar_for(path)
    side_fields: dict[str, tuple[str, int, dict[str, str]]] | None = None
    if side.exists():
        side_text, problem = read_text_file(side)
        if problem:
            result.problems.append(problem)
            return result
        side_text = side_text or ""
        side_header, side_rows = _rows(side_text, delimiter_of(side_text, ("case_id",)))
        side_unknown = [h for h in side_header if h != "case_id" and not known_key(h)]
        if side_unknown:
            result.problems.append(Problem(str(side), 1, ", ".join(side_unknown), "unknown column(s)"))
            return result
        side_fields = {}
        for line, row in side_rows:
            cid = (row.get("case_id") or "").strip()
            if not cid:
                result.problems.append(Problem(str(side), line, "case_id", "required field is missing"))
                continue
            side_fields[cid] = (str(side), line, row)

    cases: dict[str, dict[str, Any]] = {}
    for line, row in rows:
        cid = row.get("case_id", "").strip()
        if not cid:
            result.problems.append(Problem(file, line, "case_id", "required field is missing"))
            continue
        entry = cases.setdefault(cid, {"line": line, "first": row, "turns": [], "turn_lines": []})
        speaker = reading.labels.canonical(row.get("speaker", "").strip())
        turn: dict[str, Any] = {"speaker": speaker, "text": row.get("text", "")}
        for col in ("start_s", "end_s"):
            if row.get(col, "").strip():
                turn[col] = row[col].strip()
        entry["turns"].append(turn)
        entry["turn_lines"].append(line)

    for cid, entry in cases.items():
        reading.tick()
        record = f"{file}#{cid}"  # a case's rows (and its sidecar row) are one record
        src_file, src_line, fields = file, entry["line"], _case_fields(entry["first"])
        if side_fields is not None:
            if cid not in side_fields:
                result.problems.append(Problem(str(side), None, "case_id", f"no outcome row for case {cid!r}", record))
                continue
            src_file, src_line, fields = side_fields[cid]
        fields = dict(fields)
        ref, ref_errors = ref_from_fields(fields)
        case, errors = build_case(fields)
        errors = ref_errors + errors
        if errors:
            result.problems.extend(Problem(src_file, src_line, k, m, record) for k, m in errors)
            continue
        case["id"] = cid
        case["turns"] = entry["turns"]
        turn_lines = entry["turn_lines"]

        def line_of(loc: tuple[Any, ...], turn_lines: list[int] = turn_lines) -> int | None:
            if len(loc) >= 2 and loc[0] == "turns" and isinstance(loc[1], int):
                return turn_lines[loc[1]]
            return None

        try:
            t = Transcript.model_validate(case)
        except ValidationError as exc:
            problems = problems_from_validation(exc, src_file, src_line, line_of=line_of)
            for err, p in zip(exc.errors(), problems, strict=True):
                where = file if err["loc"][0] == "turns" else src_file
                result.problems.append(Problem(where, p.line, p.field, p.message, record))
            continue
        # the audio path is relative to the file that names it (the sidecar, when it holds the case's fields)
        found, problem = attach(t, ref, src_file, src_line, reading.customer_channel, record)
        if problem is not None:
            result.problems.append(problem)
            continue
        result.transcripts.append((entry["line"], found or t))
    return result
