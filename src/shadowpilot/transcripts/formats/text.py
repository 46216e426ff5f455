"""Plain-text dialogues: a small header block, a blank line, then "Speaker: text" lines.

    id: call-0101
    escalated: true
    at_turn: 2
    reason: billing_dispute
    skill: billing
    priority: high
    vip: false
    queue: billing-tier2

    Customer: Hi, I was double charged
    Agent: I'm sorry to hear that...
    Customer: I want a supervisor now

Header keys are the flat keys of the CSV format (id, channel, customer_vip,
escalated, at_turn, reason, urgency, queue, skill, priority, vip, critical, tags...).
`at_turn` counts dialogue lines from 0. A line without a "Speaker:" prefix
continues the previous turn. Several cases in one file are separated by a line `===`.
Speakers are any case, and a tenant's own labels (`Receptionist:`) map by `[import] speakers`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ...errors import Problem
from ...types import Transcript
from ..audio import attach, ref_from_fields
from ..labels import id_from_name, unknown_speaker
from ..validate import DEFAULT_READING, Reading, ReadResult, problems_from_validation
from ._fields import build_case, known_key

_TURN = re.compile(r"^\s*([A-Za-z][\w .-]{0,30}?)\s*:\s?(.*)$")
_HEADER = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*:\s*(.*)$")
SEPARATOR = "==="


def _blocks(lines: list[str]) -> list[tuple[int, list[tuple[int, str]]]]:
    """Split on `===` lines: (index, [(lineno, text), ...]) per case."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for n, line in enumerate(lines, start=1):
        if line.strip() == SEPARATOR:
            blocks.append([])
        else:
            blocks[-1].append((n, line))
    return [(i, b) for i, b in enumerate(blocks) if any(t.strip() for _, t in b)]


def _read_block(
    path: Path, index: int, many: bool, block: list[tuple[int, str]], reading: Reading
) -> tuple[Transcript | None, int | None, list[Problem]]:
    file = str(path)
    problems: list[Problem] = []
    labels = reading.labels
    while block and not block[0][1].strip():
        block = block[1:]
    first_line = block[0][0]
    header: dict[str, str] = {}
    header_lines: dict[str, int] = {}
    body_start = 0
    for pos, (_n, line) in enumerate(block):
        if not line.strip():
            body_start = pos + 1
            break
        m = _HEADER.match(line)
        key = m.group(1).lower().replace(".", "_") if m else None
        if m and key is not None and known_key(key):
            header[key] = m.group(2)
            header_lines[key] = _n
            continue
        # no header block: the dialogue starts at once
        body_start = pos
        header, header_lines = {}, {}
        break

    turns: list[dict[str, Any]] = []
    turn_lines: list[int] = []
    for n, line in block[body_start:]:
        if not line.strip():
            continue
        m = _TURN.match(line)
        # a label of two words is a speaker only when mapped ("Front Desk:"); else it is prose
        if m and (" " not in m.group(1).strip() or labels.knows(m.group(1))):
            speaker = labels.speaker(m.group(1))
            if speaker is None:
                problems.append(Problem(file, n, "speaker", unknown_speaker(m.group(1))))
                continue
            turns.append({"speaker": speaker, "text": m.group(2).strip()})
            turn_lines.append(n)
        elif turns:
            turns[-1]["text"] = f"{turns[-1]['text']} {line.strip()}".strip()
        else:
            problems.append(Problem(file, n, "speaker", "a dialogue line needs a 'Speaker:' prefix"))
    record = f"{file}:{first_line}"  # the block's problems, on whatever lines, are one record
    if problems:
        return None, first_line, [p.of_record(record) for p in problems]

    ref, ref_errors = ref_from_fields(header)
    case, errors = build_case(header)
    errors = ref_errors + errors
    if errors:
        return None, first_line, [Problem(file, first_line, k, m, record) for k, m in errors]
    case.setdefault("id", id_from_name(f"{path.stem}-{index + 1}" if many else path.stem))
    case["turns"] = turns

    def line_of(loc: tuple[Any, ...]) -> int | None:
        if len(loc) >= 2 and loc[0] == "turns" and isinstance(loc[1], int) and loc[1] < len(turn_lines):
            return turn_lines[loc[1]]
        return None

    try:
        t = Transcript.model_validate(case)
    except ValidationError as exc:
        problems = problems_from_validation(exc, file, first_line, line_of=line_of)
        return None, first_line, [p.of_record(record) for p in problems]
    found, problem = attach(t, ref, file, header_lines.get("audio", first_line), reading.customer_channel, record)
    return found, first_line, [] if problem is None else [problem]


def read(path: Path, text: str, reading: Reading = DEFAULT_READING) -> ReadResult:
    result = ReadResult()
    blocks = _blocks(text.splitlines())
    for index, block in blocks:
        t, line, problems = _read_block(path, index, len(blocks) > 1, block, reading)
        reading.tick()
        result.problems.extend(problems)
        if t is not None:
            result.transcripts.append((line, t))
    return result
