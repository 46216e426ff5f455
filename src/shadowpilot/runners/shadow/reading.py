"""Where the shadow server keeps its log, and the calls read back from it: what `shadow calls`
needs, apart from the engine (service.py), so listing the calls never imports the agents, the
turn loop or asyncio."""

from __future__ import annotations

from pathlib import Path

from ...config import STORE_DIR, Settings, slug
from . import checkpoint
from .calls import CallBook


def shadow_dir(settings: Settings) -> Path:
    return settings.root / STORE_DIR / f"{slug(settings.tenant.name)}.shadow"


def log_path(settings: Settings) -> Path:
    return shadow_dir(settings) / "events.jsonl"


def read_book(settings: Settings) -> CallBook:
    """The calls as the summaries and the log have them, read without touching the server or the store
    (the log's unusable lines skipped and listed in `book.skipped`, as `serve` skips them)."""
    book = CallBook(settings.shadow, settings.twilio, keep_views=True)
    checkpoint.load(book, log_path(settings))
    return book
