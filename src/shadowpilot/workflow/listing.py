"""What the listing commands read: the store's rows as they are, nothing scored, so listing the
runs never loads the scoring (pandas)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..config import Settings
from ..store import RunSummary
from .changes import run_changes
from .workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd


def history(settings: Settings) -> pd.DataFrame:
    """Every run, oldest first, with its case count, latest verdict and `changed`: the fields
    (changes.FIELDS) that differ from the previous run of its mode, None for the first of its mode."""
    import pandas as pd

    with Workspace.reading(settings) as ws:
        df = ws.store.history()
        changes = run_changes(ws.store.manifests())
    df["changed"] = pd.Series([changes.get(rid) for rid in df["run_id"]], index=df.index, dtype=object)
    return df


def run_summaries(settings: Settings) -> list[RunSummary]:
    """The same runs as history(), as typed rows read without pandas."""
    with Workspace.reading(settings) as ws:
        rows = ws.store.run_summaries()
        changes = run_changes(ws.store.manifests())
    return [replace(r, changed=changes.get(r.run_id)) for r in rows]
