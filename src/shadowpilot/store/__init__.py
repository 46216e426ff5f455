"""The tenant store (DuckDB). Nothing outside this package imports duckdb."""

from .db import ImportSummary, RunInfo, Store, new_run_id, open_store

__all__ = ["ImportSummary", "RunInfo", "Store", "new_run_id", "open_store"]
