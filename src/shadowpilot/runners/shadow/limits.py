"""What a request may cost before anyone knows it is Twilio's: body size, parameter count, read time.

The signature can only be checked over the whole body, so until then the server is spending on
strangers. Each rule here bounds that spend: the body is refused on its Content-Length before a
byte of it is read, counted as it streams (chunked bodies too) and cut off past the route's
limit, and read within `read_timeout_s`; the parameters are counted with one bytes scan before
any parsing or HMAC. (The head's own deadline is in slow_clients.py: it runs before the app.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request

from ...config import ShadowSettings
from .wire import Route


class Refused(Exception):
    """A request refused before it was trusted: answered `status` and the connection closed."""

    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status = status
        self.why = why


@dataclass(frozen=True)
class Limits:
    body_bytes: int
    params: int
    read_timeout_s: float

    @classmethod
    def of(cls, settings: ShadowSettings, route: Route) -> Limits:
        return cls(
            getattr(settings.max_body_bytes, route), getattr(settings.max_params, route), settings.read_timeout_s
        )


async def read_body(request: Request, limits: Limits) -> bytes:
    """The body, or Refused: 413 past the limit (declared or streamed), 408 when it is too slow.

    A client that goes away mid-body raises starlette's ClientDisconnect, for the caller to log."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.body_bytes:
        raise Refused(413, f"Content-Length {declared} is over the route's limit of {limits.body_bytes} bytes")
    body = bytearray()
    try:
        async with asyncio.timeout(limits.read_timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limits.body_bytes:
                    raise Refused(413, f"body over the route's limit of {limits.body_bytes} bytes")
    except TimeoutError:
        raise Refused(408, f"body not received within {limits.read_timeout_s:g} s ({len(body)} bytes came)") from None
    return bytes(body)


def form_params(body: bytes, query: str) -> int:
    """How many parameters a form request carries (body and query), counted without parsing."""
    return (body.count(b"&") + 1 if body else 0) + (query.count("&") + 1 if query else 0)


def check_params(count: int, limits: Limits) -> None:
    if count > limits.params:
        raise Refused(413, f"{count} parameters, over the limit of {limits.params}")
