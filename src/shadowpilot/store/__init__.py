"""The tenant store (DuckDB). Nothing outside this package imports duckdb."""

from .db import ImportSummary, RunInfo, RunSummary, Store, new_run_id, open_store
from .records import CaseRemoval, Restored, RunRemoval, StoredCase

__all__ = [
    "CaseRemoval",
    "ImportSummary",
    "Restored",
    "RunInfo",
    "RunRemoval",
    "RunSummary",
    "Store",
    "StoredCase",
    "new_run_id",
    "open_store",
]
