"""Managing the store: list the cases, remove cases or runs, restore archived cases.

The store is the tenant's own (Store.open refuses another tenant's config), so nothing here can
reach another tenant's cases. Removal is for good, in one transaction; the rulings on what was
removed stay in the history with a note, so the record of who ruled what stays whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Settings
from ..errors import UsageError
from ..store import CaseRemoval, Restored, RunRemoval, Store, StoredCase
from .workspace import Workspace


def list_cases(settings: Settings, *, archived: bool = False) -> list[StoredCase]:
    """The stored cases (`archived`: the archive), newest version each, in import order."""
    with Workspace.reading(settings) as ws:
        return ws.store.stored_cases(archived=archived)


def remove_cases(settings: Settings, case_ids: Sequence[str], *, dry_run: bool = False) -> CaseRemoval:
    """Remove cases, every version, with their results in the runs that replayed them (those runs'
    recorded verdicts stay as given); `dry_run`: what it would take, nothing removed."""
    if not case_ids:
        raise UsageError("name the cases to remove")
    with Workspace.reading(settings) if dry_run else Workspace.writing(settings) as ws:
        return ws.store.remove_cases(case_ids, dry_run=dry_run)


def restore_cases(settings: Settings, case_ids: Sequence[str] | None = None) -> Restored:
    """Bring archived cases back into the stored selection (None: the whole archive)."""
    with Workspace.writing(settings) as ws:
        return ws.store.restore_cases(case_ids)


def run_refs(store: Store, refs: Sequence[str]) -> list[str]:
    """The runs `refs` name, for removal: full run ids as given (the one place it is read, to become
    the run-reference resolver's call); the store checks they exist."""
    del store  # a resolver reads it (prefixes, `latest`)
    return [r.strip() for r in refs if r.strip()]


def remove_runs(settings: Settings, runs: Sequence[str], *, dry_run: bool = False) -> RunRemoval:
    """Remove runs with everything they stored; the rulings made from them stay and keep applying.
    `dry_run`: what it would take, nothing removed."""
    if not [r for r in runs if r.strip()]:
        raise UsageError("name the runs to remove")
    with Workspace.reading(settings) if dry_run else Workspace.writing(settings) as ws:
        return ws.store.remove_runs(run_refs(ws.store, runs), dry_run=dry_run)
