"""The Workspace: one tenant's settings and its store, opened by a workflow step for as long as it
needs it and no longer, so other commands (and the shadow server) can use the store in between.

The store's rules hold unchanged (see Store.open): a held lock is waited for, then StoreBusyError;
a store that cannot be written opens read-only for a step that only reads; a missing store is
created only by the steps that bring cases in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..config import Settings
from ..errors import UsageError
from ..store import RunInfo, Store, open_store
from .refs import resolve_ref


def find_run(store: Store, ref: str) -> RunInfo:
    """The run a reference names (refs.py: an id, a unique prefix or suffix, latest...), any status."""
    return resolve_ref(store.runs(), ref, store.path)


def resolve_run_id(store: Store, run_id: str | None) -> str:
    """The run `run_id` names (a reference, see refs.py), which must be complete; None: the latest
    complete run (replay or shadow)."""
    if run_id is None:
        return store.latest_run_id()
    found = find_run(store, run_id)
    if found.status != "complete":
        named = found.run_id if found.run_id == run_id.strip() else f"{found.run_id} ({run_id.strip()})"
        raise UsageError(f"run {named} is {found.status}, not complete; it cannot be gated")
    return found.run_id


@dataclass(frozen=True)
class Workspace:
    """A tenant's settings and its opened store: what a workflow step works in."""

    settings: Settings
    store: Store

    @classmethod
    @contextmanager
    def reading(cls, settings: Settings) -> Iterator[Workspace]:
        """For a step that can do without writing: an unwritable store opens read-only."""
        with open_store(settings, create=False, writes=False) as store:
            yield cls(settings, store)

    @classmethod
    @contextmanager
    def writing(cls, settings: Settings, *, lock_timeout_s: float | None = None) -> Iterator[Workspace]:
        """For a step that writes to an existing store; `lock_timeout_s`: how long a held lock is
        waited for (default: the store's)."""
        with open_store(settings, create=False, lock_timeout_s=lock_timeout_s) as store:
            yield cls(settings, store)

    @classmethod
    @contextmanager
    def creating(cls, settings: Settings) -> Iterator[Workspace]:
        """For a step that may be the tenant's first: the store is created when missing."""
        with open_store(settings) as store:
            yield cls(settings, store)

    def complete_run(self, run_id: str | None) -> str:
        """The run a step works on: `run_id`, which must be complete; None: the latest complete run."""
        return resolve_run_id(self.store, run_id)
