"""uvicorn's h11 protocol with a deadline on every request's head.

uvicorn closes an idle keep-alive connection (`timeout_keep_alive`) but arms nothing for a new
connection, and any byte cancels its keep-alive timer: a client that opens a connection, or sends
half a request line and stalls, would hold it forever. Here each connection, and each request
after a response, gets `seconds` to finish its head (h11's 16 KB head-size limit stays as is);
the body's deadline is the app's (limits.read_body).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .refusals import RefusalLog

log = logging.getLogger("shadowpilot.shadow")


def head_deadline_protocol(seconds: float) -> type[H11Protocol]:
    """The protocol class to hand uvicorn.Config(http=...)."""
    refusals = RefusalLog(log)

    class HeadDeadlineProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(seconds, self._head_late)

        def _head_late(self) -> None:
            self._head_timer = None
            # IDLE: no complete request head since the timer was armed (a head in progress, or nothing)
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.conn.trailing_data[0]:
                host = self.client[0] if self.client else "?"
                refusals.warning("closed a connection from %s: request head not received within %g s", host, seconds)
            self.transport.close()

    return HeadDeadlineProtocol
