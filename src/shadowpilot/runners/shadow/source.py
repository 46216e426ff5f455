"""A live call as an EventSource, so the turn loop that replays stored cases runs shadow calls too.

Events reach the server out of order; the source hands the turn loop each
utterance once, in sequence order. An event after a gap waits up to
`reorder_window_s` for the events before it, then the loop moves on (a straggler
is still yielded when it comes, and the case puts it back in its place). The call
ends for the loop when it has ended and the human's routing is known, or
`outcome_wait_s` after it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from ..events import CallEnded, CallStarted, Event, Utterance
from .calls import Call, CallBook, Mark


class LiveCallEvents:
    def __init__(
        self,
        book: CallBook,
        call_id: str,
        wake: asyncio.Event,
        *,
        clock: Callable[[], float],
        reorder_window_s: float,
        outcome_wait_s: float,
    ):
        self.book = book
        self.call_id = call_id
        self.wake = wake
        self.clock = clock
        self.window = reorder_window_s
        self.outcome_wait = outcome_wait_s
        self.asked: list[str] = []  # the utterance key behind each Utterance.index yielded
        self._released: set[str] = set()
        self._last_seq: dict[int, int] = {}

    def _first_seq(self, call: Call) -> int:
        return 0 if call.channel == "chat" else 1

    def _releasable(self, call: Call, now: float) -> tuple[list[Mark], float | None]:
        """The events the loop may have now, in order, and how long until the next one may be."""
        ready: list[Mark] = []
        wait: float | None = None
        blocked: set[int] = set()
        for m in call.sequence():
            if m.key in self._released or m.stream_rank in blocked:
                continue
            prev = self._last_seq.get(m.stream_rank)
            # the stream's first event, or the next one (or a straggler behind us)
            first = m.kind == "started" or m.seq <= self._first_seq(call)
            in_order = first if prev is None else m.seq <= prev + 1
            due = m.rx + self.window - now
            if in_order or due <= 0:
                ready.append(m)
                self._released.add(m.key)
                self._last_seq[m.stream_rank] = max(prev if prev is not None else m.seq, m.seq)
            else:
                blocked.add(m.stream_rank)
                wait = due if wait is None else min(wait, due)
        return ready, wait

    def _finished(self, call: Call, now: float) -> tuple[bool, float | None]:
        if call.ended_rx is None or any(m.key not in self._released for m in call.marks.values()):
            return False, None
        if self.book.routing_known(call):
            return True, None
        left = call.ended_rx + self.outcome_wait - now
        return left <= 0, left

    async def __aiter__(self) -> AsyncIterator[Event]:
        call = self.book.calls[self.call_id]
        yield CallStarted(call.call_id, self.book.label(call), {})
        while True:
            self.wake.clear()
            now = self.clock()
            ready, wait = self._releasable(call, now)
            said = [m for m in ready if m.kind == "utterance"]
            if said:
                turns = {m.key: turn for m, turn in self.book.utterances(call)}
                for m in said:
                    self.asked.append(m.key)
                    yield Utterance(len(self.asked) - 1, turns[m.key])
                continue  # new events may have come in while the agent worked
            if ready:
                continue
            finished, left = self._finished(call, now)
            if finished:
                yield CallEnded()
                return
            timeouts = [t for t in (wait, left) if t is not None]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(0.01, min(timeouts)) if timeouts else None)
