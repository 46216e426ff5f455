"""A pilot day on the shadow server: N calls, some of which never end, then a real restart.

Drives ShadowService in-process (the baseline agent, a real event log and DuckDB store in a
temporary folder, no HTTP: bench/shadow_load.py measures the webhooks) in waves of calls:
each call starts, gets a TaskRouter task and U utterances; most end (transcription-stopped and
task.completed), one in `--never-end` never does and is ended by the idle watch. It prints RSS
as the day goes, how long each ended call waited to be scored (max, against outcome_wait_s +
10 s), the compactions, then times `shadowpilot shadow calls --json` and a real `shadowpilot
shadow serve` restart (subprocess, loopback) on the day's folder. Bounded: `--max-seconds`.

With `--trace-from N`, Python's allocations are traced (tracemalloc) from N done calls to the
end of the day, and the figures say how many bytes allocated meanwhile are still held per done
call, with the lines holding most (slow: run it on a few thousand calls, not on a whole day).

    python bench/shadow_day.py [--calls 20000] [--wave 500] [--utterances 4] [--never-end 0.2]
    python bench/shadow_day.py --calls 8000 --trace-from 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.runners.shadow.twilio_sim import PUBLIC_URL, Call, ServerProcess  # noqa: E402

from shadowpilot.config import load_settings  # noqa: E402
from shadowpilot.runners import build_agent  # noqa: E402
from shadowpilot.runners.shadow.eventlog import read_log  # noqa: E402
from shadowpilot.runners.shadow.reading import log_path  # noqa: E402
from shadowpilot.runners.shadow.service import ShadowService  # noqa: E402
from shadowpilot.runners.shadow.wire import ROUTES  # noqa: E402

OUTCOME_WAIT_S = 2.0
IDLE_S = 4.0
CONFIG = f"""[tenant]
name = "day"

[agent]
kind = "baseline"

[shadow]
public_url = "{PUBLIC_URL}"
reorder_window_s = 0
outcome_wait_s = {OUTCOME_WAIT_S}
call_idle_timeout_s = {IDLE_S}
agent_concurrency = 16
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def anon_mb() -> float:
    """The process's anonymous memory (heap, arenas, DuckDB's buffers): RSS less mapped files."""
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def events(c: Call, utterances: int, ends: bool) -> list[tuple[str, dict[str, str]]]:
    out = [c.started(), c.task_event("task-queue.entered", "front-desk")]
    for i in range(utterances):
        who = "customer" if i % 2 == 0 else "agent"
        out.append(c.said(who, f"call {c.n} line {i}: my invoice number is {c.n * 7 + i}"))
    if ends:
        out += [c.stopped(), c.task_event("task.completed", "front-desk")]
    return out


async def play_call(service: ShadowService, evs: list[tuple[str, dict[str, str]]]) -> None:
    for route, params in evs:
        await service.accept(ROUTES[route], params)


def done(service: ShadowService) -> int:
    return len(service.book.finished)


async def day(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    settings = load_settings(folder / "shadowpilot.toml", environ={})
    service = ShadowService(settings, build_agent(settings))
    await service.start()
    t0 = time.monotonic()
    rss: list[tuple[int, float]] = [(0, round(rss_mb(), 1))]
    anon: list[tuple[int, float]] = [(0, round(anon_mb(), 1))]
    sent = 0
    traced: tuple[int, tracemalloc.Snapshot] | None = None
    every_never = round(1 / args.never_end) if args.never_end > 0 else 0
    try:
        while sent < args.calls:
            if time.monotonic() - t0 > args.max_seconds:
                raise SystemExit(f"stopped: over --max-seconds after {sent} calls")
            wave = range(sent + 1, min(args.calls, sent + args.wave) + 1)
            plays = [events(Call(n), args.utterances, not (every_never and n % every_never == 0)) for n in wave]
            await asyncio.gather(*(play_call(service, evs) for evs in plays))
            del plays  # the harness's own copy of the wave's events is not the server's memory
            sent = wave[-1]
            # let scoring keep up with the day (bounded): the idle ones need IDLE_S + outcome_wait_s
            for _ in range(int((IDLE_S + OUTCOME_WAIT_S + 30) / 0.1)):
                if done(service) >= sent - len(wave):
                    break
                await asyncio.sleep(0.1)
            every = args.rss_every or max(args.calls // 4, 1)
            if sent % every < args.wave:
                rss.append((done(service), round(rss_mb(), 1)))
                anon.append((done(service), round(anon_mb(), 1)))
            if args.trace_from and traced is None and done(service) >= args.trace_from:
                gc.collect()
                tracemalloc.start(1)
                traced = (done(service), tracemalloc.take_snapshot())
        for _ in range(int((IDLE_S + OUTCOME_WAIT_S + 60) / 0.1)):
            if done(service) >= args.calls:
                break
            await asyncio.sleep(0.1)
        rss.append((done(service), round(rss_mb(), 1)))
        anon.append((done(service), round(anon_mb(), 1)))
        day_s = time.monotonic() - t0
        while service._compaction is not None and not service._compaction.done():
            await asyncio.sleep(0.1)  # a compaction in flight holds the records it copies
        held = retained(traced, done(service)) if traced is not None else {}
        return held | {
            "calls": args.calls,
            "day_s": round(day_s, 1),
            "scored_or_closed": done(service),
            "in_memory_calls": len(service.book.calls),
            "rss_mb_by_done_calls": rss,
            "anon_mb_by_done_calls": anon,
            "anon_mb_growth_second_half": second_half_growth(anon, args.calls),
            "compactions": len(service.compactions),
            "compaction_pause_s_max": round(max(service.pauses_s, default=0.0), 2),
            "log_bytes_at_end": log_path(settings).stat().st_size,
            "duplicates": service.book.duplicates,
        }
    finally:
        await service.stop()


def second_half_growth(samples: list[tuple[int, float]], calls: int) -> float:
    """Memory at the end less memory at the first sample past half the day's calls: "flat after
    scoring" is this near 0 (the first half holds the warm-up: the store's and DuckDB's caches)."""
    later = [mb for done_calls, mb in samples if done_calls >= calls // 2]
    return round(later[-1] - later[0], 1) if len(later) >= 2 else float("nan")


def retained(traced: tuple[int, tracemalloc.Snapshot], done_now: int) -> dict[str, object]:
    """Bytes allocated since the first snapshot and still held, per done call since, by line."""
    gc.collect()
    first_done, first = traced
    last = tracemalloc.take_snapshot()
    tracemalloc.stop()
    ours = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = last.filter_traces(ours).compare_to(first.filter_traces(ours), "lineno")
    calls = max(done_now - first_done, 1)
    held = sum(s.size_diff for s in stats)
    top = []
    for stat in stats[:8]:
        frame = stat.traceback[0]
        where = frame.filename.split("/site-packages/")[-1].split("/src/")[-1]
        top.append(f"{where}:{frame.lineno} {stat.size_diff / calls:+.0f} B/call")
    per_call = round(held / calls)
    return {"traced_done_calls": [first_done, done_now], "held_bytes_per_done_call": per_call, "held_by": top}


def waits(folder: Path, log: Path) -> dict[str, float]:
    """Per ended call: scored receipt - ended receipt, from the archives and the log (every record)."""
    ended: dict[str, float] = {}
    scored: dict[str, float] = {}
    for path in sorted(log.parent.glob("events.jsonl*")):
        for r in read_log(path):
            cid, rx = r.get("call"), float(r.get("rx") or 0)
            stop = r.get("k") == "ev" and (r.get("p") or {}).get("TranscriptionEvent") == "transcription-stopped"
            if cid and (r.get("k") == "ended" or stop):
                ended.setdefault(cid, rx)
            elif cid and r.get("k") in ("scored", "closed"):
                scored.setdefault(cid, rx)
    lags = sorted(scored[c] - ended[c] for c in ended if c in scored)
    return {
        "ended": len(ended),
        "scored_after_ending": len(lags),
        "wait_s_p50": round(lags[len(lags) // 2], 2) if lags else float("nan"),
        "wait_s_max": round(lags[-1], 2) if lags else float("nan"),
        "bound_s": OUTCOME_WAIT_S + 10,
    }


def after(folder: Path) -> dict[str, object]:
    script = Path(sys.executable).parent / "shadowpilot"
    t = time.monotonic()
    out = subprocess.run([str(script), "shadow", "calls", "--json"], cwd=folder, capture_output=True, text=True)
    calls_s = time.monotonic() - t
    listed = json.loads(out.stdout)["calls"] if out.returncode == 0 else []
    t = time.monotonic()
    server = ServerProcess(folder).start()
    restart_s = time.monotonic() - t
    server.stop()
    t = time.monotonic()
    server = ServerProcess(folder).start()  # again: the first start may have compacted the day's tail
    restart2_s = time.monotonic() - t
    server.stop()
    return {
        "shadow_calls_json_s": round(calls_s, 2),
        "listed": len(listed),
        "listed_scored": sum(c["state"] == "scored" for c in listed),
        "restart_s": round(restart_s, 2),
        "restart_again_s": round(restart2_s, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--wave", type=int, default=500)
    ap.add_argument("--utterances", type=int, default=4)
    ap.add_argument("--never-end", type=float, default=0.2)
    ap.add_argument("--max-seconds", type=float, default=3600)
    ap.add_argument("--rss-every", type=int, default=0, help="sample RSS every this many calls (default: calls/4)")
    ap.add_argument("--trace-from", type=int, default=0, help="trace allocations from this many done calls on")
    ap.add_argument("--keep", type=Path, help="copy the day's folder here before the restart (to profile it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="shadow-day-") as tmp:
        folder = Path(tmp)
        (folder / "shadowpilot.toml").write_text(CONFIG, encoding="utf-8")
        figures = asyncio.run(day(args, folder))
        log = folder / ".shadowpilot" / "day.shadow" / "events.jsonl"
        figures |= waits(folder, log)
        if args.keep is not None:  # as the day left it: the first start's compaction still to do
            shutil.copytree(folder, args.keep)
        figures |= after(folder)
        figures["archives_bytes"] = sum(p.stat().st_size for p in log.parent.glob("events.jsonl.*"))
        figures["summaries_bytes"] = (log.parent / "calls.jsonl").stat().st_size
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
