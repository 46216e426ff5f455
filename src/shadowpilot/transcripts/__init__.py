"""Transcripts in: read files of any supported format, validate, select the top N.

The names here load their module on first use (PEP 562): the shadow server's log reader
(`shadow calls`) imports transcripts.twilio's parsers, which run this package first, and
need none of the file readers (loading.py).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loading import LoadResult, Sourced, load_transcripts

__all__ = ["LoadResult", "Sourced", "load_transcripts"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(import_module(".loading", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
