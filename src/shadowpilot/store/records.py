"""What the store tells about its cases and runs when they are listed, archived or removed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..case_sets import Origin
from ..types import CaseAudio


@dataclass(frozen=True)
class StoredCase:
    """A case as `cases` lists it: its newest version, how many versions it has, where that version
    came from, the human outcome, and the runs that replayed any version of it."""

    case_id: str
    version: int  # 1 for the first import; each changed re-import adds one
    source: str | None  # the file, `twilio:<sid>` or `shadow:<store>`
    origin: Origin
    channel: str | None
    escalated: bool
    reason: str | None
    tags: list[str]
    critical: bool
    imported_at: datetime
    archived_at: datetime | None
    runs: list[str] = field(default_factory=list)
    audio: CaseAudio | None = None  # the newest version's recording (its file is in Settings.audio_dir)


@dataclass(frozen=True)
class CaseRemoval:
    """What removing cases takes (or took): the cases with their versions, their results in
    `runs` (run ids, per case) and the rulings on them, which stay in the history with a note."""

    case_ids: list[str]
    versions: int
    runs: dict[str, list[str]]
    rulings: int
    removed_at: datetime | None = None  # None: not removed yet (what removing would take)


@dataclass(frozen=True)
class RunRemoval:
    """What removing runs takes (or took): the runs, their calls and gate results, and the
    rulings made from them, which stay in the history (and keep applying) with a note."""

    run_ids: list[str]
    calls: int
    gate_results: int
    rulings: int
    removed_at: datetime | None = None


@dataclass(frozen=True)
class Restored:
    """Cases brought back from the archive, and those asked for that were not archived."""

    restored: list[str]
    not_archived: list[str]
