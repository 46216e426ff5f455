"""What issue 15 left growing: TaskRouter tasks that name no call, and the log's archives.

The ShadowService runs in-process (the baseline agent, a real event log and DuckDB store in
tmp_path) on a clock the test moves, so ages are decided by the test, never by waiting.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from shadowpilot.config import load_settings
from shadowpilot.runners import build_agent
from shadowpilot.runners.shadow import checkpoint
from shadowpilot.runners.shadow.eventlog import read_log
from shadowpilot.runners.shadow.reading import log_path, read_book
from shadowpilot.runners.shadow.service import ShadowService
from tests.runners.shadow.test_growth import send, until, whole_call
from tests.runners.shadow.twilio_sim import Call

CONFIG = """[tenant]
name = "bounds"

[agent]
kind = "baseline"

[shadow]
public_url = "https://shadow.example.test"
reorder_window_s = 0
outcome_wait_s = 0
call_idle_timeout_s = 100000
max_orphan_tasks = 3
orphan_task_ttl_s = 60
"""


def _settings(folder: Path, extra: str = "") -> Any:
    (folder / "shadowpilot.toml").write_text(CONFIG + extra, encoding="utf-8")
    return load_settings(folder / "shadowpilot.toml", environ={})


def orphan_task(n: int) -> tuple[str, dict[str, str]]:
    """A TaskRouter callback whose task names no call (no call attribute): a task of the workspace
    that this pilot never hears a call for."""
    route, params = Call(n).task_event("task.created", "support")
    return route, {**params, "TaskAttributes": json.dumps({"direction": "inbound", "from": "+15550100"})}


def test_orphan_tasks_are_bounded_and_their_events_archived_with_why(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    now = [1_000_000.0]
    live = Call(50)
    orphans = [orphan_task(100 + i) for i in range(5)]
    sids = [params["TaskSid"] for _, params in orphans]

    async def main() -> None:
        service = ShadowService(settings, build_agent(settings), clock=lambda: now[0])
        await service.start()
        try:
            assert await send(service, [live.started(), live.task_event("task.created", "support")]) == ["accepted"] * 2
            for event in orphans:
                assert await send(service, [event]) == ["accepted"]  # acknowledged: in the log
                now[0] += 1
            # past max_orphan_tasks = 3: the two oldest left memory at once
            book = service.book
            assert set(book.tasks) == {live.task, *sids[2:]}
            assert set(book.dropped_tasks) == set(sids[:2])
            assert "max_orphan_tasks = 3" in book.dropped_tasks[sids[0]].why
            # past orphan_task_ttl_s = 60 the rest go; the live call's task stays, however old
            now[0] += 61
            assert book.expire_tasks(now[0]) == 3
            assert set(book.tasks) == {live.task}
            assert "orphan_task_ttl_s = 60" in book.dropped_tasks[sids[4]].why
            assert service.health()["tasks_in_memory"] == 1
            await service.compact()
            assert book.dropped_tasks == {}
        finally:
            await service.stop()

    asyncio.run(main())
    log = log_path(settings)
    in_log = {r["p"].get("TaskSid") for r in read_log(log) if r["k"] == "ev"}
    assert live.task in in_log and not in_log & set(sids)  # compacted out of the log...
    (archive,) = checkpoint.archives(log)
    assert {r["p"].get("TaskSid") for r in read_log(archive) if r["k"] == "ev"} >= set(sids)  # ...kept here
    why = [json.loads(line) for line in (log.parent / "dropped-tasks.jsonl").read_text().splitlines()]
    assert sorted(w["task"] for w in why) == sorted(sids)
    assert {w["archive"] for w in why} == {archive.name} and all(w["why"] and w["events"] == 1 for w in why)

    async def restart() -> set[str]:
        service = ShadowService(settings, build_agent(settings), clock=lambda: now[0])
        await service.start()
        try:
            return set(service.book.tasks)
        finally:
            await service.stop()

    assert asyncio.run(restart()) == {live.task}  # a restart does not bring them back


def test_a_replay_drops_the_same_orphans_as_the_server_did(tmp_path: Path) -> None:
    """The count bound is decided as tasks arrive, so the log read again (`shadow calls`, a
    restart before any compaction) keeps the same ones."""
    settings = _settings(tmp_path)

    async def main() -> set[str]:
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        try:
            await send(service, [orphan_task(200 + i) for i in range(6)])
            return set(service.book.tasks)
        finally:
            await service.stop()

    kept = asyncio.run(main())
    assert len(kept) == 3 and set(read_book(settings).tasks) == kept


def test_keep_archives_keeps_the_newest_and_every_done_call_stays_listed(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "keep_archives = 1\n")
    calls = [Call(300 + i) for i in range(3)]

    async def main() -> None:
        service = ShadowService(settings, build_agent(settings), compact_after=1)
        await service.start()
        try:
            for n, c in enumerate(calls, start=1):
                await send(service, whole_call(c))
                await until(lambda n=n: len(service.compactions) >= n)
        finally:
            await service.stop()

    asyncio.run(main())
    log = log_path(settings)
    assert [p.name for p in checkpoint.archives(log)] == ["events.jsonl.3"]  # 1 and 2 deleted
    listed = {c["call_id"]: c["state"] for c in read_book(settings).listing()["calls"]}
    assert listed == {c.call_sid: "scored" for c in calls}  # all in calls.jsonl and the store


def test_pruning_never_deletes_an_archive_that_is_still_the_live_log(tmp_path: Path) -> None:
    """A compaction killed between its link and its swap leaves the log linked as the newest
    archive: its records were carried nowhere yet, so it stays, whatever keep_archives says."""
    log = tmp_path / "events.jsonl"
    for n in (1, 2):
        (tmp_path / f"events.jsonl.{n}").write_text(f'{{"k":"old{n}"}}\n')
    log.write_text('{"k":"live"}\n')
    os.link(log, tmp_path / "events.jsonl.3")
    assert checkpoint.prune_archives(log, None) == []  # unset: every archive is kept, as before
    gone = checkpoint.prune_archives(log, 0)
    assert [p.name for p in gone] == ["events.jsonl.1", "events.jsonl.2"]
    assert [p.name for p in checkpoint.archives(log)] == ["events.jsonl.3"] and log.read_text() == '{"k":"live"}\n'
