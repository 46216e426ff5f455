"""What the listing commands read: the store's rows as they are, nothing scored, so listing the
runs never loads the scoring (pandas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from ..store import RunSummary
from .workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd


def history(settings: Settings) -> pd.DataFrame:
    """Every run with its case count and latest verdict, oldest first, as a DataFrame."""
    with Workspace.reading(settings) as ws:
        return ws.store.history()


def run_summaries(settings: Settings) -> list[RunSummary]:
    """The same runs as history(), as typed rows read without pandas."""
    with Workspace.reading(settings) as ws:
        return ws.store.run_summaries()
