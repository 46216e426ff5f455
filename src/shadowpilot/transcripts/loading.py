"""Read transcript files of any supported format and validate them (shadowpilot.transcripts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Problem, UsageError
from ..terms import Term, Worded
from ..types import Speaker, Transcript
from .formats import EXTENSIONS, READERS, detect
from .formats.csv import is_sidecar
from .labels import SpeakerLabels
from .validate import Reading, check_duplicates, read_text_file, validate

__all__ = ["LoadResult", "Sourced", "load_transcripts"]


@dataclass(frozen=True)
class Sourced:
    """A case with where it came from, so later problems can point back at it."""

    transcript: Transcript
    file: str
    line: int | None


@dataclass
class LoadResult:
    cases: list[Sourced] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def transcripts(self) -> list[Transcript]:
        return [c.transcript for c in self.cases]


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in EXTENSIONS and not is_sidecar(f)))
        else:
            out.append(p)
    return out


def load_transcripts(
    paths: list[Path] | list[str],
    format: str | None = None,
    speakers: Mapping[str, Speaker] | None = None,
    progress: Callable[[int], None] | None = None,
    customer_channel: int | None = 2,
) -> LoadResult:
    """Read every file; collect all good cases and every problem (file, line, field).

    `speakers` maps the tenant's own speaker labels (any case) to speakers, as `[import] speakers`
    does; `progress` is called with the number of records read so far, as they are read;
    `customer_channel`: a dual-channel `audio` file's customer channel when its case does not say."""
    if format is not None and format not in READERS:
        raise UsageError(f"unknown format {format!r} (choose from {', '.join(READERS)})")
    labels = SpeakerLabels(speakers)
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        if progress is not None:
            progress(count)

    reading = Reading(labels=labels, tick=tick, customer_channel=customer_channel)
    result = LoadResult()
    files = _expand([Path(p) for p in paths])
    if not files:
        raise UsageError("no transcript files found in " + ", ".join(str(p) for p in paths))
    for path in files:
        result.files.append(str(path))
        content, problem = read_text_file(path)
        if problem is not None:
            result.problems.append(problem)
            continue
        assert content is not None
        kind = format or detect(path, content, labels)
        if kind is None:
            result.problems.append(
                Problem(
                    str(path),
                    None,
                    None,
                    Worded("cannot tell the format from the name or content; use ", Term("format")),
                )
            )
            continue
        read = validate(READERS[kind](path, content, reading), str(path))
        result.problems.extend(read.problems)
        result.cases.extend(Sourced(t, str(path), line) for line, t in read.transcripts)
    dupes = check_duplicates([(c.file, c.line, c.transcript) for c in result.cases])
    if dupes:
        result.cases = [c for i, c in enumerate(result.cases) if i not in dupes]
        result.problems.extend(dupes.values())
    return result
