"""What the OpenAI-shaped test servers share: a threaded HTTP server on 127.0.0.1:<ephemeral>
holding the test's state, run in a background thread, stopped by setting the state's `stop`."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class HasStop(Protocol):
    stop: threading.Event  # set on close: wakes handlers that hang or sleep


class StateServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of concurrent connects must not overflow the listen backlog

    def __init__(self, handler: type[BaseHTTPRequestHandler], state: Any):
        super().__init__(("127.0.0.1", 0), handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its keep-alive connections (a run that stopped) is no server error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Background:
    """Runs a StateServer of `handler` over `state` in a daemon thread, as a context manager."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], state: HasStop):
        self._handler = handler
        self._state = state
        self._server: StateServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = StateServer(self._handler, self._state)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._state.stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, `http://127.0.0.1:<port>/v1`."""
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"
