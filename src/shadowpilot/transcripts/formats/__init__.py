"""One reader per source format. Each turns a file into Transcripts; nothing after them sees the format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..labels import DEFAULT_LABELS, SpeakerLabels
from ..validate import Reading, ReadResult
from . import csv, jsonl, text

Reader = Callable[[Path, str, Reading], ReadResult]

READERS: dict[str, Reader] = {"jsonl": jsonl.read, "csv": csv.read, "text": text.read}
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".txt": "text",
    ".text": "text",
    ".dialogue": "text",
}


def detect(path: Path, content: str, labels: SpeakerLabels = DEFAULT_LABELS) -> str | None:
    """The format from the extension, else from the content; None when neither tells."""
    by_ext = EXTENSIONS.get(path.suffix.lower())
    if by_ext:
        return by_ext
    head = content.lstrip()
    if head.startswith(("{", "[")):
        return "jsonl"
    first = head.splitlines()[0] if head else ""
    for sep in (",", ";"):
        if sep in first and set(csv.REQUIRED) <= {c.strip() for c in first.split(sep)}:
            return "csv"
    if any(labels.knows(line.split(":", 1)[0]) for line in head.splitlines() if ":" in line):
        return "text"
    return None
