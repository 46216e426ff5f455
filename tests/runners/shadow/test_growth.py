"""Nothing grows without bound over a pilot: done calls leave memory and the log, listing is linear.

The ShadowService runs in-process here (the baseline agent, a real DuckDB store and a real
event log in tmp_path); what `shadow calls` shows is read back with `read_book`, as the command does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shadowpilot.config import load_settings
from shadowpilot.runners import build_agent
from shadowpilot.runners.shadow import checkpoint
from shadowpilot.runners.shadow.calls import CallBook
from shadowpilot.runners.shadow.eventlog import read_log
from shadowpilot.runners.shadow.reading import log_path, read_book
from shadowpilot.runners.shadow.service import ShadowService
from shadowpilot.runners.shadow.wire import ROUTES, parse
from tests.runners.shadow.twilio_sim import Call

CONFIG = """[tenant]
name = "grow"

[agent]
kind = "baseline"

[shadow]
public_url = "https://shadow.example.test"
reorder_window_s = 0
outcome_wait_s = 0
call_idle_timeout_s = 60
"""


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    (tmp_path / "shadowpilot.toml").write_text(CONFIG, encoding="utf-8")
    return load_settings(tmp_path / "shadowpilot.toml", environ={})


def whole_call(c: Call, words: str = "my bill is wrong") -> list[tuple[str, dict[str, str]]]:
    return [
        c.started(),
        c.task_event("task-queue.entered", "front-desk"),
        c.said("customer", words),
        c.said("agent", "let me look"),
        c.stopped(),
        c.task_event("task.completed", "front-desk"),
    ]


async def send(service: ShadowService, events: list[tuple[str, dict[str, str]]]) -> list[str]:
    return [await service.accept(ROUTES[route], params) for route, params in events]


async def until(check: Callable[[], bool], rounds: int = 2000) -> None:
    """Let the service work until `check` holds (bounded in rounds, not in wall time)."""
    for _ in range(rounds):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the service did not get there")


def listing(settings: Any) -> dict[str, dict[str, Any]]:
    return {c["call_id"]: c for c in read_book(settings).listing()["calls"]}


def test_a_scored_call_is_released_from_memory_and_still_listed(settings: Any) -> None:
    calls = [Call(n) for n in range(1, 4)]

    async def main() -> None:
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        try:
            for c in calls:
                await send(service, whole_call(c))
            await until(lambda: len(service.book.finished) == 3)
            # nothing of the calls is kept but their small Finished: no events, keys or tasks
            assert service.book.calls == {} and service.book.tasks == {} and service.book.seen == set()
            assert service.health()["scored"] == 3 and service.health()["in_memory"] == 0
            # Twilio retrying an old event of a done call does not bring the call back
            assert await service.accept(*_routed(calls[0].said("customer", "late words"))) == "duplicate"
            assert service.book.calls == {}
        finally:
            await service.stop()

    asyncio.run(main())
    seen = listing(settings)
    assert set(seen) == {c.call_sid for c in calls}
    for c in calls:
        assert seen[c.call_sid]["state"] == "scored" and seen[c.call_sid]["run_id"]
        assert [u["text"] for u in seen[c.call_sid]["utterances"]] == ["my bill is wrong", "let me look"]


def _routed(event: tuple[str, dict[str, str]]) -> tuple[Any, dict[str, str]]:
    route, params = event
    return ROUTES[route], params


def _live_and_done(settings: Any, *, compact_after: int) -> tuple[Call, Call, dict[str, dict[str, Any]]]:
    """One call done (scored), one still live with an answered utterance; the listing before."""
    done, live = Call(11), Call(12)

    async def main() -> None:
        service = ShadowService(settings, build_agent(settings), compact_after=compact_after)
        await service.start()
        try:
            await send(service, [live.started(), live.said("customer", "hello there")])
            await until(lambda: bool(service.book.calls[live.call_sid].results))
            await send(service, whole_call(done))
            await until(lambda: done.call_sid in service.book.finished)
            if compact_after == 1:
                await until(lambda: bool(service.compactions))
        finally:
            await service.stop()

    asyncio.run(main())
    return done, live, listing(settings)


def _records_of(path: Path, call_sid: str, book: CallBook) -> list[dict[str, Any]]:
    return [r for r in read_log(path) if book.record_call(r) == call_sid]


def test_compaction_keeps_every_record_of_a_live_call_and_moves_done_calls_to_summaries(settings: Any) -> None:
    path = log_path(settings)
    done, live, before = _live_and_done(settings, compact_after=10_000)  # not compacted yet
    book = CallBook(settings.shadow, settings.twilio)
    live_records = _records_of(path, live.call_sid, book)
    assert _records_of(path, done.call_sid, book)

    async def restart() -> None:  # a start compacts the done calls out of the log
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        await service.stop()
        assert service.compactions and service.compactions[0].done_calls == 1

    asyncio.run(restart())
    assert _records_of(path, done.call_sid, book) == []
    assert _records_of(path, live.call_sid, book) == live_records  # each one, in order
    assert [s.call_id for s in checkpoint.read_summaries(path)] == [done.call_sid]
    assert path.with_name("events.jsonl.1").is_file()  # the old log, archived whole
    assert listing(settings) == before


def test_the_server_compacts_every_compact_after_done_calls(settings: Any) -> None:
    done, live, before = _live_and_done(settings, compact_after=1)
    book = CallBook(settings.shadow, settings.twilio)
    assert _records_of(log_path(settings), done.call_sid, book) == []
    assert _records_of(log_path(settings), live.call_sid, book)
    assert set(before) == {done.call_sid, live.call_sid}
    assert before[done.call_sid]["state"] == "scored" and before[live.call_sid]["state"] == "live"


class Killed(Exception):
    """Stands for SIGKILL: nothing after the step runs, no cleanup."""


@pytest.mark.parametrize("step", ["written", "summaries", "archived"])
def test_a_kill_at_any_step_of_compaction_loses_nothing_acknowledged(settings: Any, step: str) -> None:
    path = log_path(settings)
    done, live, before = _live_and_done(settings, compact_after=10_000)
    book = CallBook(settings.shadow, settings.twilio)
    live_records = _records_of(path, live.call_sid, book)

    def crash(where: str) -> None:
        if where == step:
            raise Killed(where)

    loaded = CallBook(settings.shadow, settings.twilio)
    checkpoint.load(loaded, path)
    with pytest.raises(Killed):
        checkpoint.compact(path, set(loaded.finished), loaded.record_call, lambda _cid: None, crash=crash)

    # read as `shadow calls` reads, with no server: every call, once, as before
    assert listing(settings) == before
    assert _records_of(path, live.call_sid, book) == live_records

    async def restart() -> None:  # the next start finishes the job, and the live call goes on
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        try:
            assert service.resumed == [live.call_sid]
            await send(service, [live.said("agent", "hi"), live.stopped()])
            await until(lambda: live.call_sid in service.book.finished)
        finally:
            await service.stop()

    asyncio.run(restart())
    after = listing(settings)
    assert after[done.call_sid] == before[done.call_sid]
    assert [u["text"] for u in after[live.call_sid]["utterances"]] == ["hello there", "hi"]
    assert not path.with_name("events.jsonl.compact").exists()
    assert done.call_sid in {s.call_id for s in checkpoint.read_summaries(path)}


class CountingTasks(dict):
    """The book's tasks, counting every task handed out: the work listing does per task."""

    def __init__(self) -> None:
        super().__init__()
        self.visits = 0

    def values(self) -> Any:
        for value in super().values():
            self.visits += 1
            yield value

    def items(self) -> Any:
        for item in super().items():
            self.visits += 1
            yield item

    def __iter__(self) -> Any:
        for key in super().__iter__():
            self.visits += 1
            yield key

    def __getitem__(self, key: Any) -> Any:
        self.visits += 1
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.visits += 1
        return super().get(key, default)


def _task_visits(settings: Any, n: int) -> int:
    book = CallBook(settings.shadow, settings.twilio)
    book.tasks = CountingTasks()
    rx = 1_700_000_000.0
    for i in range(n):
        for route, params in whole_call(Call(1000 + i)):
            parsed = parse(ROUTES[route], params, settings.shadow.task_call_keys)
            assert parsed is not None
            rx += 1
            book.apply({"k": "ev", "route": ROUTES[route], "key": parsed.key, "p": params, "rx": rx})
    book.tasks.visits = 0
    assert len(book.listing()["calls"]) == n
    return book.tasks.visits


def test_shadow_calls_work_grows_linearly_with_the_calls(settings: Any) -> None:
    small, large = _task_visits(settings, 40), _task_visits(settings, 160)
    assert large <= 5 * small, (small, large)  # 4x the calls: about 4x the work, not 16x


def test_idle_calls_are_ended_all_at_once(settings: Any) -> None:
    now = [1_700_000_000.0]
    calls = [Call(2000 + n) for n in range(40)]

    async def main() -> None:
        service = ShadowService(settings, build_agent(settings), clock=lambda: now[0])
        await service.start()
        try:
            for c in calls:
                await send(service, [c.started(), c.said("customer", "are you there")])
            await until(lambda: all(service.book.calls[c.call_sid].results for c in calls))
            fsyncs = service.log.stats.fsyncs
            now[0] += settings.shadow.call_idle_timeout_s + 1
            assert await service.end_idle() == len(calls)
            assert service.log.stats.fsyncs - fsyncs <= 3  # one group commit, not one fsync per call
            assert all(service.book.calls[c.call_sid].ended_rx is not None for c in calls)
            assert service.book.open_calls == set()
        finally:
            await service.stop()

    asyncio.run(main())


def test_a_batch_of_finished_calls_is_stored_as_one_by_one_would_and_reads_versions_once(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scoring keeps up with a busy day: the package versions for the manifest are read once,
    not once per case, and a batch lands as the same calls written one by one would."""
    import shadowpilot.versions as versions
    from shadowpilot.store import Store

    read: list[int] = []
    real = versions.package_versions
    monkeypatch.setattr(versions, "package_versions", lambda: read.append(1) or real())
    written: list[tuple[Any, Any, Any]] = []
    real_write = ShadowService._write
    monkeypatch.setattr(ShadowService, "_write", lambda self, batch: (written.extend(batch), real_write(self, batch)))
    calls = [Call(3000 + n) for n in range(12)]

    async def main() -> None:
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        try:
            for c in calls:
                await send(service, whole_call(c))
            await until(lambda: len(service.book.finished) == len(calls))
        finally:
            await service.stop()

    asyncio.run(main())
    assert len(read) == 1 and len(written) == len(calls)

    def stored(path: Path) -> tuple[Any, list[Any], list[Any]]:
        with Store.open(path) as store:
            run_id = store.latest_run_id()
            steps = store.steps(run_id).sort_values(["case_id", "turn"])
            cases = sorted((c.id, c.fingerprint()) for c in store.run_cases(run_id))
            steps = steps.drop(columns=["latency_ms"], errors="ignore").astype(str)  # NaN != NaN
            return store.manifest(run_id).cases, cases, steps.values.tolist()

    one_by_one = settings.root / "one.duckdb"
    with Store.open(one_by_one) as store:
        for case, call_run in written:
            manifest = ShadowService(settings, build_agent(settings))._manifest(case)
            store.add_shadow_call(case, call_run, manifest, source="one")
    assert stored(one_by_one) == stored(settings.store_path)
    assert set(stored(settings.store_path)[0]) == {c.call_sid for c in calls}


@pytest.mark.parametrize("calls", [[], [{"call_id": "CA1", "utterances": [{"text": 'café "quoted"'}]}, {"n": 2}]])
def test_shadow_calls_json_is_the_same_document_emit_json_writes(
    calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """`shadow calls --json` encodes call by call (fast over 20,000 calls): the same JSON."""
    from shadowpilot.commands.common import emit_json
    from shadowpilot.commands.shadow import _emit_listing

    _emit_listing(calls)
    fast = capsys.readouterr().out
    emit_json({"calls": calls})
    assert json.loads(fast) == json.loads(capsys.readouterr().out) == {"calls": calls}


def test_an_event_acknowledged_while_the_new_log_is_drafted_is_in_it(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhooks are not held back while the log is rewritten; what they logged meanwhile is kept."""
    import threading

    path = log_path(settings)
    _, live, _ = _live_and_done(settings, compact_after=10_000)
    drafting, go_on = threading.Event(), threading.Event()
    real_draft = checkpoint.draft

    def slow_draft(*args: Any) -> Any:
        drafting.set()
        assert go_on.wait(30)
        return real_draft(*args)

    async def main() -> None:
        service = ShadowService(settings, build_agent(settings), compact_after=10_000)
        await service.start()  # compacts the done call once it is up, as a day's checkpoint does
        await until(lambda: bool(service.compactions))
        monkeypatch.setattr(checkpoint, "draft", slow_draft)
        try:
            await send(service, whole_call(Call(13)))
            await until(lambda: Call(13).call_sid in service.book.finished)
            compaction = asyncio.create_task(service.compact())
            await until(drafting.is_set)
            assert await service.accept(*_routed(live.said("agent", "while drafting"))) == "accepted"
            go_on.set()
            await compaction
            assert service.compactions[-1].done_calls == 1
        finally:
            await service.stop()

    asyncio.run(main())
    book = CallBook(settings.shadow, settings.twilio)
    assert _records_of(path, Call(13).call_sid, book) == []
    texts = [u["text"] for u in listing(settings)[live.call_sid]["utterances"]]
    assert texts == ["hello there", "while drafting"]
    assert "while drafting" in path.read_text()
