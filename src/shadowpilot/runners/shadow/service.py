"""The shadow server's engine, without HTTP: accept events, run the agent, turn finished calls into cases.

Order of things for every accepted event: deduplicate, append to the event log
and fsync, apply it to the in-memory CallBook, and only then answer 2xx. So an
acknowledged event survives a SIGKILL, and on start the log is replayed to
rebuild every call, resuming those not yet scored.

The tenant store (DuckDB) is never held open: finished calls are written in short
transactions, off the event loop, retried with backoff while another command
holds the file, then marked `scored` in the log, with the call's summary, and
released from memory. Every `compact_after` released calls (and at start) the log
is compacted (checkpoint.py), so a restart replays only the calls not yet done.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ...config import Settings
from ...errors import EnvironmentFailure, StoreError
from ...types import CallRun, RunManifest, Transcript
from ..agent import Agent, turn_deadline_s
from ..turn_loop import run_call
from . import checkpoint, memory
from .calls import CallBook, CallSummary, DroppedTask, skipped_summary
from .eventlog import EventLog, Record
from .reading import log_path
from .records import Closed, Ended, Event, LogEntry, Scored
from .source import LiveCallEvents
from .wire import Route, check_sids, parse
from .worker import ObservedAgent, ReachLog

log = logging.getLogger("shadowpilot.shadow")

NO_TIMEOUT = 10.0 * 365 * 24 * 3600  # the turn loop's own timeout: ObservedAgent enforces the turn deadline


def day_run_id(when: datetime, *, selftest: bool = False) -> str:
    """One shadow run per pilot day (UTC); `shadow selftest` calls get a run of their own that
    day, so a synthetic call never counts in the pilot's figures."""
    return f"{'selftest' if selftest else 'shadow'}-{when.astimezone(UTC):%Y%m%d}"


def case_run_id(case: Transcript) -> str:
    return day_run_id(case.started_at or datetime.now(UTC), selftest="selftest" in case.tags)


COMPACT_AFTER = 1000  # released calls between two compactions: keeps the log (and a restart) small


class ShadowService:
    def __init__(
        self,
        settings: Settings,
        agent: Agent,
        *,
        clock: Callable[[], float] = time.time,
        compact_after: int = COMPACT_AFTER,
    ):
        self.settings = settings
        self.agent = agent
        self.clock = clock
        self.compact_after = compact_after
        self.path = log_path(settings)
        self.log = EventLog(self.path)
        self.book = CallBook(settings.shadow, settings.twilio)
        self.compactions: list[checkpoint.Compaction] = []
        self.pauses_s: list[float] = []  # how long each compaction held appends back
        self._log_records = 0  # records in the current log (as read_log counts them)
        self._tail: list[Record] | None = None  # appended while a compaction drafts the new log
        self._compaction: asyncio.Task[None] | None = None
        self._appending = 0  # appends in flight: a compaction waits for them to land
        self._landed = asyncio.Event()
        self._open = asyncio.Event()  # cleared while a compaction owns the log
        self._landed.set()
        self._open.set()
        self.slots = asyncio.Semaphore(settings.shadow.agent_concurrency)
        self.reach = ReachLog()
        self.resumed: list[str] = []
        self.written = 0
        self._pending: dict[str, asyncio.Future[bool]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._queued: set[str] = set()  # finished calls waiting for their store write
        self._background: list[asyncio.Task[None]] = []
        self._cases: asyncio.Queue[tuple[Transcript, CallRun]] = asyncio.Queue()
        self._versions: dict[str, str] | None = None
        self._store_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow-store")

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        memory.cap_arenas()  # before the pools' threads allocate: RSS flat over a pilot (memory.py)
        checkpoint.clean_leftovers(self.path)
        self._log_records = checkpoint.load(self.book, self.path)
        skipped = self.book.skipped
        if skipped:  # reported, never a reason not to start: the other calls still need serving
            log.warning("%s", skipped_summary(skipped, self.path))
        self.book.expire_tasks(self.clock())  # orphan tasks past their age: archived by this compaction
        self.log.open()
        self.resumed = [cid for cid, call in self.book.calls.items() if not call.done]
        for cid in self.resumed:
            self._ensure_runner(cid)
        if self.resumed:
            log.info("resumed %d call(s) from %s", len(self.resumed), self.path)
        if self.book.released or self.book.dropped_tasks or any(c.done for c in self.book.calls.values()):
            # done calls still in the log: the next restart need not replay them. Compacted as the
            # day's checkpoints are (appends go on while it drafts), not before listening: at
            # 20,000 calls the first start after a day would otherwise refuse webhooks for seconds
            self._compaction = asyncio.create_task(self._compact_at_start(bool(skipped)), name="shadow-compaction")
        self._background = [asyncio.create_task(self._watch_idle()), asyncio.create_task(self._write_cases())]

    async def stop(self) -> None:
        if self._compaction is not None:  # never cut short: its thread would swap the log under us
            await asyncio.gather(self._compaction, return_exceptions=True)
        tasks = [*self._runners.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._store_pool.shutdown(wait=True)  # let a store write in progress commit
        self.log.close()

    # -- events -------------------------------------------------------------------------

    async def record(self, entry: LogEntry) -> None:
        """Append durably, then apply; wakes the calls it changed (and forgets those released).
        The entry is stamped with its receipt time here, after any compaction pause, so the
        times follow the order of the log."""
        while not self._open.is_set():  # a compaction owns the log: wait, then append to the new one
            await self._open.wait()
        record = entry.line(self.clock())
        self._appending += 1
        self._landed.clear()
        tail = self._tail
        if tail is not None:
            tail.append(record)  # in the order the log gets them
        try:
            await self.log.append(record)
            self._log_records += 1
        except BaseException:
            if tail is not None:
                with contextlib.suppress(ValueError):
                    tail.remove(record)  # never acknowledged: not carried over either
            raise
        finally:
            self._appending -= 1
            if not self._appending:
                self._landed.set()
        for cid in self.book.apply(record):
            if cid not in self.book.calls:  # released: nothing will wait on it again
                self._wakes.pop(cid, None)
                continue
            wake = self._wakes.get(cid)
            if wake is not None:
                wake.set()

    # -- compaction ---------------------------------------------------------------------

    def _done(self) -> set[str]:
        return set(self.book.finished) | {cid for cid, c in self.book.calls.items() if c.done}

    def _describe(self, cid: str) -> CallSummary | None:
        call = self.book.calls.get(cid)
        return self.book.summary(call) if call is not None and call.done else None

    def _compacted(self, done: set[str], orphans: list[DroppedTask], result: checkpoint.Compaction) -> None:
        """After a swap: a done call from an old log (no summary in its record) is released now;
        the orphan tasks the new log left out are no longer waiting for a compaction."""
        for cid in done:
            call = self.book.calls.get(cid)
            if call is not None:
                self.book.release(call, self.book.summary(call))
                self._wakes.pop(cid, None)
        self.book.released = 0
        for task in orphans:
            if self.book.dropped_tasks.get(task.sid) is task:
                del self.book.dropped_tasks[task.sid]
        self._log_records = result.kept
        self.compactions.append(result)
        log.info(
            "compacted %s: %d done call(s) and %d orphan task(s) archived to %s, %d record(s) kept",
            self.path.name,
            result.done_calls,
            result.dropped_tasks,
            result.archive.name if result.archive else "-",
            result.kept,
        )
        try:  # [shadow] keep_archives: the oldest archives go, once this swap has carried them over
            pruned = checkpoint.prune_archives(self.path, self.settings.shadow.keep_archives)
        except OSError as exc:
            log.warning("could not delete old log archives in %s: %s", self.path.parent, exc)
        else:
            if pruned:
                keep = self.settings.shadow.keep_archives
                log.info("deleted %d old log archive(s) ([shadow] keep_archives = %s)", len(pruned), keep)

    async def _compact_at_start(self, skipped: bool) -> None:
        """The start's checkpoint, once the server is up: the same two phases as the day's."""
        before = len(self.compactions)
        await self.compact()
        if skipped and len(self.compactions) > before and self.compactions[-1].archive is not None:
            log.warning(  # the lines named at start are there now
                "the log as it was, with the lines skipped above, is kept as %s", self.compactions[-1].archive.name
            )

    async def compact(self) -> None:
        """Draft the new log while appends go on, then pause them only to copy those appended
        meanwhile and swap. A failure (a full disk) leaves the old log whole and in use: it is
        logged, and tried again later."""
        loop = asyncio.get_running_loop()
        self._open.clear()
        await self._landed.wait()
        done, upto, self._tail = self._done(), self._log_records, []
        orphans = list(self.book.dropped_tasks.values())
        self._open.set()
        try:
            draft = await loop.run_in_executor(
                None, checkpoint.draft, self.path, done, self.book.record_call, self._describe, upto, orphans
            )
        except OSError as exc:
            self._tail = None
            checkpoint.clean_leftovers(self.path)
            log.warning("could not compact %s, keeping it whole: %s", self.path, exc)
            return
        self._open.clear()
        paused = time.perf_counter()
        try:
            await self._landed.wait()
            tail, self._tail = self._tail or [], None
            stats = self.log.stats
            self.log.close()
            try:
                result = await loop.run_in_executor(
                    None, checkpoint.finish, self.path, draft, tail, self.book.record_call
                )
                self._compacted(done, orphans, result)
            except OSError as exc:
                checkpoint.clean_leftovers(self.path)
                log.warning("could not compact %s, keeping it whole: %s", self.path, exc)
            finally:
                self.log = EventLog(self.path)
                self.log.stats = stats
                self.log.open()
        finally:
            self._open.set()
            self.pauses_s.append(time.perf_counter() - paused)
        await loop.run_in_executor(None, memory.trim)  # the released calls' pages, back to the system

    async def accept(self, route: Route, params: dict[str, Any]) -> str:
        """Take one verified webhook; returns what became of it (`accepted`, `duplicate`, `ignored`).

        Raises BadPayload for fields its route cannot use (a Sid not of the shape Twilio gives it
        too), StoreError when it could not be made durable (the caller answers 5xx so Twilio retries).
        """
        check_sids(route, params)  # at the wire only: a log from before the check still replays
        parsed = parse(route, params, self.settings.shadow.task_call_keys)
        if parsed is None:
            return "ignored"
        key = parsed.key
        pending = self._pending.get(key)
        if pending is not None:  # the same event is being written: answer when it is durable
            if not await asyncio.shield(pending):
                raise StoreError("the event could not be written")
            return "duplicate"
        if key in self.book.seen:
            return "duplicate"
        call_id = getattr(parsed.event, "call_id", None)
        if call_id is not None and call_id in self.book.finished:
            return "duplicate"  # a retry or a straggler for a call already done: nothing to do with it
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[key] = done
        try:
            await self.record(Event(route=route, key=key, call=call_id, params=dict(params)))
            done.set_result(True)
        except BaseException:
            done.set_result(False)
            raise
        finally:
            del self._pending[key]
        if route != "taskrouter" and call_id in self.book.calls:
            self._ensure_runner(call_id)
        return "accepted"

    # -- the agent, per call --------------------------------------------------------------

    def _ensure_runner(self, call_id: str) -> None:
        call = self.book.calls.get(call_id)
        if call is None or call.done or call_id in self._runners or call_id in self._queued:
            return
        self._wakes.setdefault(call_id, asyncio.Event())
        task = asyncio.create_task(self._run_call(call_id), name=f"shadow-call-{call_id}")
        self._runners[call_id] = task
        task.add_done_callback(functools.partial(self._runner_done, call_id))

    def _runner_done(self, call_id: str, task: asyncio.Task[None]) -> None:
        self._runners.pop(call_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("shadow call %s failed in the harness: %r", call_id, task.exception())

    async def _run_call(self, call_id: str) -> None:
        s = self.settings.shadow
        call = self.book.calls[call_id]
        source = LiveCallEvents(
            self.book,
            call_id,
            self._wakes[call_id],
            clock=self.clock,
            reorder_window_s=s.reorder_window_s,
            outcome_wait_s=s.outcome_wait_s,
        )
        agent = ObservedAgent(
            self.agent,
            call=call,
            source=source,
            slots=self.slots,
            timeout_s=turn_deadline_s(self.agent, self.settings.agent.timeout_s),
            max_reply_chars=self.settings.agent.max_reply_chars,
            record=self.record,
            reach=self.reach,
        )
        call_run = await run_call(source, agent, fingerprint="live", timeout_s=NO_TIMEOUT)
        if not any(turn.speaker == "customer" for _, turn in self.book.utterances(call)):
            why = self.book.no_customer(call) or "the customer said nothing"
            summary = self.book.summary(call, closed=why)
            await self.record(Closed(call=call_id, why=why, summary=summary.as_record()))
            return
        case, fixed = self.book.to_case(call, self.settings.tenant.name, call_run, source.asked)
        self._queued.add(call_id)
        await self._cases.put((case, fixed))

    async def _watch_idle(self) -> None:
        """A call that stops hearing from Twilio (a missed transcription-stopped) is ended.

        Only calls not ended are looked at, and all that went idle are ended at once (their
        records share one fsync), however many there are."""
        idle = self.settings.shadow.call_idle_timeout_s
        while True:
            await asyncio.sleep(min(5.0, idle / 4))
            await self.end_idle()
            if self.book.expire_tasks(self.clock()):  # orphan tasks past [shadow] orphan_task_ttl_s
                self._maybe_compact()

    async def end_idle(self) -> int:
        idle = self.settings.shadow.call_idle_timeout_s
        now = self.clock()
        calls = [self.book.calls[cid] for cid in self.book.open_calls if cid in self.book.calls]
        gone = [c.call_id for c in calls if c.ended_rx is None and not c.done and now - c.last_rx >= idle]
        why = f"no event for {idle:g} s"
        await asyncio.gather(*(self.record(Ended(call=cid, why=why)) for cid in gone))
        return len(gone)

    # -- finished calls into the store ------------------------------------------------------

    def _manifest(self, case: Transcript) -> RunManifest:
        from ... import versions

        if self._versions is None:  # read once: package metadata costs ~40 ms, per case it was the bottleneck
            self._versions = versions.package_versions()
        started = case.started_at or datetime.now(UTC)
        return RunManifest(
            run_id=case_run_id(case),
            created_at=started,
            tenant=self.settings.tenant.name,
            mode="selftest" if "selftest" in case.tags else "shadow",
            agent=self.agent.describe(),
            prompt_hash=self.agent.prompt_hash(),
            cases={},
            versions=self._versions,
        )

    def _write(self, batch: list[tuple[Transcript, CallRun]]) -> None:
        from ...store import open_store

        with open_store(self.settings, lock_timeout_s=2.0) as store:
            calls = [(case, call_run, self._manifest(case)) for case, call_run in batch]
            store.add_shadow_calls(calls, source=f"shadow:{self.path.name}")

    async def _write_cases(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._cases.get()]
            while not self._cases.empty():
                batch.append(self._cases.get_nowait())
            delay = 0.2
            while True:
                try:
                    await loop.run_in_executor(self._store_pool, self._write, batch)
                    break
                except (StoreError, EnvironmentFailure) as exc:  # a lock held by a reader, a full disk
                    log.warning("could not write %d shadow call(s) yet, retrying in %.1f s: %s", len(batch), delay, exc)
                except Exception:
                    log.exception("writing %d shadow call(s) failed; retrying in %.1f s", len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            self.written += len(batch)
            await asyncio.gather(*(self._scored(case) for case, _ in batch))
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        """Compact once `compact_after` calls were released or orphan tasks dropped since the last time."""
        busy = self._compaction is not None and not self._compaction.done()
        if self.book.released + len(self.book.dropped_tasks) >= self.compact_after and not busy:
            self._compaction = asyncio.create_task(self.compact(), name="shadow-compaction")

    async def _scored(self, case: Transcript) -> None:
        """Mark the stored call `scored`, with its summary: the book then releases it."""
        call = self.book.calls.get(case.id)
        with contextlib.suppress(StoreError):
            run_id = case_run_id(case)
            summary = None if call is None else self.book.summary(call, state="scored", run_id=run_id).as_record()
            await self.record(Scored(call=case.id, run_id=run_id, summary=summary))
        self._queued.discard(case.id)

    def health(self) -> dict[str, Any]:
        states = [c.state for c in self.book.calls.values()] + [f.state for f in self.book.finished.values()]
        return {
            "ok": True,
            "calls": len(states),
            "in_memory": len(self.book.calls),
            "live": states.count("live"),
            "ended": states.count("ended"),
            "scored": states.count("scored"),
            "events": self.book.events,
            "tasks_in_memory": len(self.book.tasks),
            "agent_running": len(self._runners),
            "log": self.log.stats.as_dict(),
        }
