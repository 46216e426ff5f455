"""The tenant store (DuckDB). Nothing outside this package imports duckdb."""

from .db import ImportSummary, RunSummary, Store, new_run_id, open_store

__all__ = ["ImportSummary", "RunSummary", "Store", "new_run_id", "open_store"]
