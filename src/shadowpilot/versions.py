"""The versions a run manifest records, so a result can be traced to the code that made it."""

from __future__ import annotations

import platform
from importlib.metadata import version


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("shadowpilot", "duckdb", "pandas", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # not installed as a distribution (e.g. running from a checkout)
            out[pkg] = "unknown"
    return out
