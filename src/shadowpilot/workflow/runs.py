"""Runs: replay the stored cases through the agent and store what it did, batch by batch, resumable."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..case_sets import CASE_SETS, DEFAULT_CASE_SET, CaseSet, Origin, counted
from ..config import Settings
from ..errors import NotFoundError, RunAborted, RunInterrupted, StoreBusyError, UsageError
from ..runners import Agent, build_agent, replay
from ..runners.agent import turn_deadline_s
from ..runners.cache import CachedAgent, replay_keys
from ..store import Store, new_run_id
from ..terms import Term, Worded
from ..types import CacheStats, CallRun, RunManifest, Transcript
from ..versions import package_versions
from .hearing import Heard, asr_engine, hear, with_audio
from .workspace import Workspace, find_run

if TYPE_CHECKING:
    from ..asr.engine import AsrEngine

WRITE_BATCH = 50  # finished calls per store transaction during a run, at least
# ... and at most one batch write per interval: each write opens, migrates and checkpoints the store
# (~50 ms of CPU), so a fast replay (cached answers, a quick agent) writes fewer, larger batches
WRITE_INTERVAL_S = 5.0


@dataclass
class RunReport:
    run_id: str
    cases: int  # calls in the run (cases x repeats)
    errors: int  # agent errors among the calls made now
    status: str
    cache: CacheStats | None = None
    resumed: int = 0  # calls already stored before a resume
    elapsed_s: float = 0.0  # wall time of the replay itself (no start-up, no final write)
    case_set: str | None = None  # the case set it replayed (case_sets; None: not recorded)
    left_out: dict[Origin, int] | None = None  # stored cases outside the set, by origin (archive aside)
    no_audio: int = 0  # an audio run: cases of the set left out for having no recording
    heard: Heard | None = None  # an audio run: what hearing the customer turns gave (None: a text run)


def run(
    settings: Settings,
    *,
    agent: Agent | None = None,
    all_turns: bool = False,
    repeats: int = 1,
    use_cache: bool = True,
    cases: CaseSet | str = DEFAULT_CASE_SET,
    audio: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[CallRun], None] | None = None,
) -> RunReport:
    """Replay the stored cases of the set `cases` through the agent and store the run (never
    scores it). The default set is the imported cases (files and Twilio): live shadow calls join
    a replay only when asked for (`shadow`, `all`); archived cases never do. The report counts
    the stored cases left out.

    `audio`: an audio run. Only the cases with a recording are replayed (the others are counted in
    `no_audio`); each customer turn's span of it goes through the `[asr]` engine first
    (workflow.hearing), and the agent is asked with what was heard. UsageError when `[asr] kind`
    is none or no case of the set has audio.

    Results are written in batches as calls finish, and the store is open only for those
    writes, so other commands can read it while a run runs. An interrupted run is kept,
    marked `interrupted`, and `resume` finishes it; a run whose agent was never reached
    is marked `aborted` and raises RunAborted (exit 2).
    """
    if repeats < 1:
        raise UsageError.worded(Term("repeats"), " must be at least 1")
    chosen_set = next((name for name in CASE_SETS if name == cases), None)  # a name a caller typed
    if chosen_set is None:
        raise UsageError.worded(Term("case_set", "cases"), f" {cases!r}: one of {', '.join(CASE_SETS)}")
    origins = CASE_SETS[chosen_set]
    agent = agent or build_agent(settings)
    engine = asr_engine(settings) if audio else None

    def begin(store: Store, chosen: list[Transcript], heard: Heard | None) -> tuple[RunManifest, CachedAgent | None]:
        manifest = RunManifest(
            run_id=new_run_id(),
            created_at=datetime.now(UTC),
            tenant=settings.tenant.name,
            mode="replay",
            agent=agent.describe(),
            prompt_hash=agent.prompt_hash(),
            cases={c.id: c.fingerprint() for c in chosen},
            versions=package_versions(),
            all_turns=all_turns,
            repeats=repeats,
            asr=engine.describe() if engine is not None else None,
        )
        cached = _cache(store, settings, agent, chosen, repeats, set(), use_cache, heard)
        store.create_run(manifest, chosen_set)
        return manifest, cached

    with Workspace.creating(settings) as ws:
        tally = ws.store.case_tally()
        left_out = {o: n for o, n in tally.items() if o not in origins and n}
        chosen = ws.store.current_cases(origins)
        if chosen and engine is None:  # a text run starts in this same opening of the store
            manifest, cached = begin(ws.store, chosen, None)
    if not chosen:
        raise UsageError.worded(_no_cases(settings, chosen_set, left_out))
    no_audio = 0
    heard: Heard | None = None
    if engine is not None:
        chosen, no_audio = with_audio(chosen)
        if not chosen:
            raise UsageError(f"no {chosen_set} case in {settings.store_path} has a recording to replay with audio")
        heard = _hear(settings, engine, chosen)  # the store is closed meanwhile: hearing takes a while
        with Workspace.writing(settings) as ws:
            manifest, cached = begin(ws.store, chosen, heard)
    rep = _replay_into(settings, manifest, chosen, agent, cached, set(), on_start, on_result, heard)
    rep.case_set, rep.left_out, rep.no_audio, rep.heard = chosen_set, left_out, no_audio, heard
    return rep


def _hear(settings: Settings, engine: AsrEngine | None, cases: list[Transcript]) -> Heard | None:
    """What `engine` hears of the cases' customer turns (None: a text run, nothing to hear)."""
    if engine is None:
        return None
    return hear(settings, engine, cases, concurrency=min(settings.agent.concurrency, 4))


def _no_cases(settings: Settings, cases: CaseSet, left_out: dict[Origin, int]) -> Worded:
    """Why a run has nothing to replay, and what would give it cases."""
    if not left_out:
        return Worded(f"no cases in {settings.store_path}; run `shadowpilot import FILES` first")
    return Worded(
        f"no {cases} cases in {settings.store_path} to replay, only {counted(left_out)}; ",
        Term("case_set", "cases"),
        " chooses the set to replay",
    )


def resume(
    settings: Settings,
    run_id: str | None = None,
    *,
    agent: Agent | None = None,
    use_cache: bool = True,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[CallRun], None] | None = None,
) -> RunReport:
    """Finish an unfinished run (default: the newest) without redoing its finished calls.

    The agent must be the one the run started with (same config and prompt), or the
    run would measure two agents at once; an audio run's `[asr]` engine must be the one it started
    with too, and hears the unfinished cases again.
    """
    agent = agent or build_agent(settings)
    with Workspace.writing(settings) as ws:
        store = ws.store
        rid = store.unfinished_run_id() if run_id is None else find_run(store, run_id).run_id
        status = store.run_status(rid)
        if status == "complete":
            raise UsageError(f"run {rid} is already complete; nothing to resume")
        manifest = store.manifest(rid)
        if manifest.mode != "replay":
            raise UsageError(f"run {rid} is a {manifest.mode} run; only replay runs can be resumed")
        if agent.describe() != manifest.agent or agent.prompt_hash() != manifest.prompt_hash:
            raise UsageError(
                f"the agent's config or prompt changed since run {rid} started; "
                "start a new run (`shadowpilot run`) instead of resuming this one"
            )
        cases = store.cases_at(manifest.cases)
        if len(cases) != len(manifest.cases):
            raise NotFoundError(f"run {rid} used case versions that are no longer in {settings.store_path}")
        done = store.finished_calls(rid)
    engine = None
    if manifest.asr is not None:
        engine = asr_engine(settings)
        if engine.describe() != manifest.asr:
            raise UsageError(
                f"the [asr] settings changed since audio run {rid} started; "
                "start a new audio run instead of resuming this one"
            )
    unfinished = {c.id for c in cases for r in range(manifest.repeats) if (c.id, r) not in done}
    heard = _hear(settings, engine, [c for c in cases if c.id in unfinished])
    with Workspace.writing(settings) as ws:
        store = ws.store
        cached = _cache(store, settings, agent, cases, manifest.repeats, done, use_cache, heard)
        case_set = store.run_case_set(rid)
        store.reopen_run(rid)
    rep = _replay_into(settings, manifest, cases, agent, cached, done, on_start, on_result, heard)
    rep.case_set, rep.heard = case_set, heard
    return rep


def _cache(
    store: Store,
    settings: Settings,
    agent: Agent,
    cases: list[Transcript],
    repeats: int,
    done: set[tuple[str, int]],
    use_cache: bool,
    heard: Heard | None = None,
) -> CachedAgent | None:
    """The response cache in front of the agent, when it is on, with every answer the replay can
    use read now: the replay then needs the store only for its batch writes."""
    if not (use_cache and agent.cacheable(settings.agent.cache)):
        return None
    hearing = heard.hearing if heard is not None else None
    answers = store.cached_responses(replay_keys(agent, cases, repeats, done, hearing))
    return CachedAgent(agent, answers.get)


RUN_WRITE_WAIT_S = 1.0  # a batch write waits this long for a reader to let go, then waits for the next batch


RUN_FINAL_WAIT_S = 60.0  # the last write (and the run's status) waits this long


def _replay_into(
    settings: Settings,
    manifest: RunManifest,
    cases: list[Transcript],
    agent: Agent,
    cached: CachedAgent | None,
    done: set[tuple[str, int]],
    on_start: Callable[[int], None] | None,
    on_result: Callable[[CallRun], None] | None,
    heard: Heard | None = None,
) -> RunReport:
    """Replay and store, opening the store only to write: a batch on a thread (_BatchWriter) once
    WRITE_BATCH calls have finished and WRITE_INTERVAL_S has passed since the last (a batch that
    finds the store busy waits for the next one), then the rest and the run's status."""
    if cached is not None:
        agent = cached
    errors = finished = 0
    writer = _BatchWriter(settings, manifest.run_id)

    def collect(result: CallRun) -> None:
        nonlocal errors, finished
        errors += result.error is not None
        finished += 1
        writer.add((), result)
        if writer.due():
            writer.add(cached.take_pending() if cached else ())
            writer.start(RUN_WRITE_WAIT_S)
        if on_result is not None:
            on_result(result)

    total = len(cases) * manifest.repeats
    if on_start is not None:
        on_start(total - len(done))
    status = "failed"
    started = time.perf_counter()
    try:
        asyncio.run(
            _replay_and_close(
                cases,
                agent,
                concurrency=settings.agent.concurrency,
                all_turns=manifest.all_turns,
                timeout_s=turn_deadline_s(agent, settings.agent.timeout_s),
                max_reply_chars=settings.agent.max_reply_chars,
                repeats=manifest.repeats,
                skip=done,
                fingerprints=manifest.cases,
                on_result=collect,
                hearing=heard.hearing if heard is not None else None,
            )
        )
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"  # raised as RunInterrupted once the finished calls are stored
    except RunAborted as exc:
        status = "aborted"
        raise RunAborted.worded(
            f"run {manifest.run_id} stopped and marked aborted (gate and report skip it; ",
            Term("resume", "resume()"),
            f" finishes it once the agent answers): {exc}",
        ) from None
    finally:
        elapsed = time.perf_counter() - started
        writer.join()  # the batch being written, if one is
        writer.add(cached.take_pending() if cached else ())
        if cached is not None:
            previous = manifest.cache or CacheStats(enabled=True)
            manifest = manifest.model_copy(update={"cache": previous.plus(cached.hits, cached.misses)})
        elif manifest.cache is None:
            manifest = manifest.model_copy(update={"cache": CacheStats(enabled=False)})
        # the rest of the calls and the run's status in one opening of the store (each costs a checkpoint)
        with Workspace.writing(settings, lock_timeout_s=RUN_FINAL_WAIT_S) as ws:
            writer.write_into(ws.store)
            if status == "aborted":
                ws.store.drop_failed_calls(manifest.run_id)
            ws.store.finish_run(manifest.run_id, status, manifest)
    if status == "interrupted":
        raise RunInterrupted(manifest.run_id, kept=len(done) + finished, total=total)
    return RunReport(
        run_id=manifest.run_id,
        cases=total,
        errors=errors,
        status=status,
        cache=manifest.cache,
        resumed=len(done),
        elapsed_s=elapsed,
    )


class _BatchWriter:
    """The run's finished calls (and new cache answers), written in batches on a thread, one batch
    at a time: opening, writing and closing the store takes a while (a checkpoint, an fsync), and
    the replay's event loop keeps its requests going meanwhile. A batch that finds the store busy,
    or fails, is kept for the next one (the final write, on the caller's thread, says why)."""

    def __init__(self, settings: Settings, run_id: str):
        self._settings = settings
        self._run_id = run_id
        self._lock = threading.Lock()
        self._calls: list[CallRun] = []
        self._cache: list[tuple[str, str, str]] = []
        self._thread: threading.Thread | None = None
        self._failure: Exception | None = None
        self._last = time.monotonic()

    def add(self, cache_entries: Iterable[tuple[str, str, str]], call: CallRun | None = None) -> None:
        with self._lock:
            self._cache.extend(cache_entries)
            if call is not None:
                self._calls.append(call)

    def due(self) -> bool:
        """WRITE_BATCH calls waiting, WRITE_INTERVAL_S since the last write, none being written;
        a batch that failed for another reason than a busy store is raised here (it stops the replay)."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        busy = self._thread is not None and self._thread.is_alive()
        return not busy and len(self._calls) >= WRITE_BATCH and time.monotonic() - self._last >= WRITE_INTERVAL_S

    def start(self, wait_s: float) -> None:
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._write_kept, args=(wait_s,), name="run-batch-write")
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def write_into(self, store: Store) -> None:
        """Everything kept, into `store` (opened by the caller, on this thread); raises what the write raises."""
        self._last = time.monotonic()
        with self._lock:
            calls, self._calls = self._calls, []
            cache, self._cache = self._cache, []
        if calls or cache:
            store.add_call_runs(self._run_id, calls, cache)

    def _write_kept(self, wait_s: float) -> None:
        try:
            self._write(wait_s)
        except StoreBusyError:
            pass  # kept, and written with the next batch
        except Exception as exc:  # kept too; raised on the replay's side by due()
            self._failure = exc

    def _write(self, wait_s: float) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
            cache, self._cache = self._cache, []
        if not calls and not cache:
            return
        try:
            with Workspace.writing(self._settings, lock_timeout_s=wait_s) as ws:
                ws.store.add_call_runs(self._run_id, calls, cache)
        except BaseException:
            with self._lock:  # back in front of what came meanwhile
                self._calls[:0] = calls
                self._cache[:0] = cache
            raise


async def _replay_and_close(cases: list[Transcript], agent: Agent, **kwargs: Any) -> list[CallRun]:
    """Warm the agent up (off the loop: no turn's time), replay, then release the agent's
    connections on the same event loop."""
    try:
        await asyncio.to_thread(agent.warm_up)
        return await replay(cases, agent, **kwargs)
    finally:
        await agent.aclose()
