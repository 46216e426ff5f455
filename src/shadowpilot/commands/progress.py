"""A progress bar with running totals after the count, for the long commands (run, judge)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .common import console


class Tally:
    """Running totals shown on the bar; `totals` is what the command reports at the end."""

    def __init__(self, progress: Progress, totals: dict[str, float]):
        self._progress = progress
        # rich takes a bar's fields as **kwargs beside its own parameters (start, total...); no total is
        # named like one, which mypy cannot know of a dict[str, float]
        self._fields = cast(dict[str, Any], totals)
        self._task = progress.add_task("", total=None, **self._fields)
        self.totals = totals
        self.started = False

    def start(self, total: int | None) -> None:
        """The bar appears here, once the work is counted: the library calls this after the config,
        the agent and the store are checked, so an error in them prints no bar above it. `None`:
        work whose size is not known yet (records being read), shown as a count."""
        self._progress.update(self._task, total=total)
        self._progress.start()
        self.started = True

    def at(self, done: int) -> None:
        """`done` items done, for work that counts itself (import's records)."""
        self._progress.update(self._task, completed=done, **self._fields)

    def add(self, **deltas: float) -> None:
        """One item done, adding `deltas` to the totals."""
        for key, value in deltas.items():
            self.totals[key] += value
        self._progress.update(self._task, advance=1, **self._fields)


@contextmanager
def tally(verb: str, unit_and_fields: str, totals: dict[str, float], *, transient: bool) -> Iterator[Tally]:
    """E.g. tally("replaying", "calls · {task.fields[errors]} errors", {"errors": 0}, transient=as_json)."""
    progress = Progress(
        TextColumn(verb),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit_and_fields),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=transient,
    )
    bar = Tally(progress, totals)
    try:
        yield bar
    except BaseException:
        # a command that stops early clears its bar: the last frame (4 calls, 4 errors) would
        # otherwise sit above an error line counting what the bar never showed (5 turns failed)
        progress.live.transient = True
        raise
    finally:
        if bar.started:  # a bar never started leaves no trace, not even a blank line
            progress.stop()
