"""The log lines for refused requests, bounded: a flood of forged requests must not fill the disk.

Each refusal is one warning line, up to `burst` per `window_s`; past that they are only counted,
and the count is logged in one line with the first refusal of a later window. Every refusal is
also counted by status for good (`counts`, shown by /healthz under `refused`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable


class RefusalLog:
    def __init__(
        self,
        log: logging.Logger,
        *,
        burst: int = 20,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.log, self.burst, self.window_s, self.clock = log, burst, window_s, clock
        self._start = clock()
        self._logged = self._quiet = 0
        self.counts: Counter[int] = Counter()  # refusals by HTTP status, since the server started

    def refused(self, status: int, msg: str, *args: object) -> None:
        """Count one refused request under its status, and log it within the budget."""
        self.counts[status] += 1
        self.warning(msg, *args)

    def warning(self, msg: str, *args: object) -> None:
        now = self.clock()
        if now - self._start >= self.window_s:
            if self._quiet:
                self.log.warning(
                    "%d more refused request(s) in %.0f s not logged one by one", self._quiet, now - self._start
                )
            self._start, self._logged, self._quiet = now, 0, 0
        if self._logged < self.burst:
            self._logged += 1
            self.log.warning(msg, *args)
        else:
            self._quiet += 1
