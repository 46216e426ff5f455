"""How much of an agent's (or the judge's) answer is read: at most `max_answer_bytes`, then no further.

An endpoint that answers 1 GB must cost a failed case, not the machine's memory. Two readers:
- `read_capped` for the http agent, which reads its response itself (decoded bytes counted);
- `cap_hook`, an httpx response hook for the openai SDK's client (agent and judge), which
  wraps the response's byte stream before the SDK reads it. A JSON answer is capped in total;
  a streamed (SSE) answer is capped per line, because its framing is many times its content:
  the content and tool-call arguments themselves are counted by the openai agent as they come.
Past the cap an `AnswerTooLarge` is raised from inside the read, so the connection is closed
unread: the server sees it go away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..errors import AgentError

DEFAULT_MAX_ANSWER_BYTES = 1_000_000
# A streamed line carries one chunk's JSON framing around its content.
SSE_LINE_SLACK = 64 * 1024


class AnswerTooLarge(AgentError):
    """The answer went past max_answer_bytes: an agent (or judge) error, never retried."""

    def __init__(self, limit: int, what: str = "the answer", field: str = "max_answer_bytes"):
        self.limit = limit
        super().__init__(f"{what} is larger than {field} = {limit:,} bytes; the rest was not read")


def too_large_in(exc: BaseException | None) -> AnswerTooLarge | None:
    """The AnswerTooLarge behind `exc` (a client library may wrap it in its own connection error)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, AnswerTooLarge):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def declared_too_large(headers: Any, limit: int) -> bool:
    """A Content-Length past the cap: refused before a byte of the body is read."""
    raw = headers.get("content-length")
    try:
        return raw is not None and int(raw) > limit
    except ValueError:
        return False


async def read_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """All of `chunks`, or AnswerTooLarge as soon as they pass `limit` bytes."""
    got = bytearray()
    async for chunk in chunks:
        got += chunk
        if len(got) > limit:
            raise AnswerTooLarge(limit)
    return bytes(got)


def _longest_line(chunk: bytes, line: int, limit: int) -> int:
    """The length of the line still open after `chunk` (`line` bytes of it came before);
    AnswerTooLarge when any line, counted across chunks, passes `limit`."""
    start = 0
    while (end := chunk.find(b"\n", start)) >= 0:
        if line + end - start > limit:
            raise AnswerTooLarge(limit - SSE_LINE_SLACK, "one streamed event of the answer")
        line, start = 0, end + 1
    line += len(chunk) - start
    if line > limit:
        raise AnswerTooLarge(limit - SSE_LINE_SLACK, "one streamed event of the answer")
    return line


def _wrapper_class(stream: Any) -> type:
    """A byte stream class of the same library as `stream` (httpx, or the SDK's own fork of it),
    so the response still accepts it as its stream."""
    base = next((c for c in type(stream).__mro__ if c.__name__ == "AsyncByteStream"), object)
    cached = _WRAPPERS.get(base)
    if cached is not None:
        return cached

    class Capped(base):  # type: ignore[valid-type, misc]
        def __init__(self, inner: Any, limit: int, per_line: bool):
            self._inner = inner
            self._limit = limit
            self._per_line = per_line

        async def __aiter__(self) -> AsyncIterator[bytes]:
            total = 0
            line = 0  # bytes of the current line so far (streamed answers)
            async for chunk in self._inner:
                if self._per_line:
                    line = _longest_line(chunk, line, self._limit + SSE_LINE_SLACK)
                else:
                    total += len(chunk)
                    if total > self._limit:
                        raise AnswerTooLarge(self._limit)
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    _WRAPPERS[base] = Capped
    return Capped


_WRAPPERS: dict[type, type] = {}


def cap_hook(limit: int) -> Callable[[Any], Awaitable[None]]:
    """An httpx (or httpx-compatible) async response hook that caps what is read of each answer."""

    async def hook(response: Any) -> None:
        streamed = "text/event-stream" in response.headers.get("content-type", "")
        if not streamed and declared_too_large(response.headers, limit):
            await response.aclose()
            raise AnswerTooLarge(limit)
        response.stream = _wrapper_class(response.stream)(response.stream, limit, streamed)

    return hook
