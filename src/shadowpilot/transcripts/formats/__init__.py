"""One reader per source format. Each turns a file into Transcripts; nothing after them sees the format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..validate import ReadResult
from . import csv, jsonl, text

Reader = Callable[[Path, str], ReadResult]

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


def detect(path: Path, content: str) -> str | None:
    """The format from the extension, else from the content; None when neither tells."""
    by_ext = EXTENSIONS.get(path.suffix.lower())
    if by_ext:
        return by_ext
    head = content.lstrip()
    if head.startswith(("{", "[")):
        return "jsonl"
    first = head.splitlines()[0] if head else ""
    if "," in first and {"case_id", "speaker", "text"} <= {c.strip() for c in first.split(",")}:
        return "csv"
    if any(line.split(":", 1)[0].strip().lower() in text.SPEAKERS for line in head.splitlines() if ":" in line):
        return "text"
    return None
