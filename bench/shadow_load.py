"""Load on the live shadow server: N concurrent calls of signed Twilio events on loopback.

Starts `shadowpilot shadow serve` (real uvicorn, a subprocess) in a fresh tenant
folder, plays N calls x U utterances at once (Real-Time Transcription events plus
TaskRouter callbacks, some delivered twice, some out of order), then reads back
`shadow calls --json`, the event log and the store, and prints webhook latency
p50/p99, events lost (must be 0) and duplicates stored (must be 0).

With `--forged N`, N more clients send forged (unsigned-for-us) form POSTs of
`--forged-bytes` with `--forged-params` parameters as fast as they can for as long
as the genuine calls play (bounded by `--forged-max` requests each); the figures
then also say how the forged requests were answered and the server's peak RSS
(VmRSS from /proc, sampled every 0.1 s). Target: genuine ack p99 under 1 s, 0 lost,
RSS under 300 MB.

    python bench/shadow_load.py [--calls 200] [--utterances 10] [--dup 0.1] [--swap 0.1]
    python bench/shadow_load.py --forged 32 [--forged-bytes 1000000] [--forged-params 110000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.runners.shadow.twilio_sim import PUBLIC_URL, Call, ServerProcess, signed_form  # noqa: E402

CONFIG = f"""[tenant]
name = "load"

[agent]
kind = "baseline"

[shadow]
public_url = "{PUBLIC_URL}"
reorder_window_s = 0.5
outcome_wait_s = 2
agent_concurrency = 16
"""


def call_events(n: int, utterances: int, rng: random.Random, dup: float, swap: float) -> tuple[list, list]:
    """One call's deliveries (with duplicates and adjacent swaps) and the utterances it should end with."""
    c = Call(n)
    lines = [("customer" if i % 2 == 0 else "agent", f"call {n} line {i}") for i in range(utterances)]
    asks = 2 if n % 4 == 0 and utterances > 2 else None  # a quarter of the calls ask for a human at line 2
    if asks is not None:
        lines[asks] = ("customer", f"call {n}: I want a supervisor")
    events = [c.started(), c.task_event("task-queue.entered", "front-desk")]
    for i, (who, text) in enumerate(lines):
        events.append(c.said(who, text))
        if i == asks:  # ... and the human transfers them
            attrs = {"skill": "general", "priority": "normal", "vip": False}
            events.append(c.task_event("task.transfer-initiated", "front-desk", attrs))
            events.append(c.task_event("task-queue.entered", "tier2", attrs))
    events.append(c.stopped())
    events.append(c.task_event("task.completed", "front-desk"))
    for i in range(len(events) - 1):
        if rng.random() < swap:
            events[i], events[i + 1] = events[i + 1], events[i]
    deliveries = []
    for e in events:
        deliveries.append(e)
        if rng.random() < dup:
            deliveries.append(e)
    return deliveries, lines


def raw_request(host: str, route: str, params: dict[str, str]) -> bytes:
    """The exact bytes of one signed form POST (signed before the clock starts)."""
    kwargs = signed_form(params, route)
    head = [f"POST {route} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(kwargs['content'])}"]
    head += [f"{k}: {v}" for k, v in kwargs["headers"].items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + kwargs["content"]


def forged_request(host: str, size: int, params: int) -> bytes:
    """A form POST of about `size` bytes and `params` parameters with a signature that is not Twilio's."""
    value = "v" * max(0, size // max(params, 1) - len(f"p{params}=&"))
    body = "&".join(f"p{i}={value}" for i in range(params)).encode()[:size]
    body += b"v" * (size - len(body))  # the last value takes what the names left over
    head = [
        "POST /twilio/transcriptions HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {len(body)}",
        "Content-Type: application/x-www-form-urlencoded",
        "X-Twilio-Signature: Zm9yZ2VkLXNpZ25hdHVyZQ==",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def forge(base: str, raw: bytes, stop: asyncio.Event, limit: int, answers: dict[str, int]) -> None:
    """One attacker: a fresh connection per forged request, as fast as the server lets it, until
    `stop` or `limit` requests; each answer (status or how the connection ended) is counted."""
    host, port = base.removeprefix("http://").split(":")
    for _ in range(limit):
        if stop.is_set():
            return
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError as exc:
            answers[type(exc).__name__] = answers.get(type(exc).__name__, 0) + 1
            await asyncio.sleep(0.01)
            continue
        try:
            writer.write(raw)
            await writer.drain()
            status = (await asyncio.wait_for(reader.readline(), 30)).split(b" ", 2)[1].decode()
        except (OSError, IndexError, asyncio.IncompleteReadError, TimeoutError) as exc:
            status = "closed" if isinstance(exc, OSError | IndexError) else type(exc).__name__
        finally:
            writer.close()
        answers[status] = answers.get(status, 0) + 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (/proc/<pid>/stat utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample_rss(pid: int, stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.1)


def attackers(base: str, raw: bytes, clients: int, limit: int, stop: Any, out: Any) -> None:
    """The forged clients, in a process of their own so that writing their bodies never delays
    the genuine client's event loop: what the figures then show is the server's doing."""

    async def run() -> dict[str, int]:
        done = asyncio.Event()
        answers: dict[str, int] = {}

        async def watch() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.1)
            done.set()

        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(forge(base, raw, done, limit, answers) for _ in range(clients)))
        watcher.cancel()
        return answers

    out.put(asyncio.run(run()))


async def under_attack(base: str, calls: list[list], connections: int, pid: int, args: argparse.Namespace) -> tuple:
    """The genuine play with `args.forged` attackers (another process) and an RSS sampler beside it."""
    raw = forged_request(base.removeprefix("http://"), args.forged_bytes, args.forged_params)
    mp = multiprocessing.get_context("fork")
    stop, out = mp.Event(), mp.Queue()
    attack = mp.Process(target=attackers, args=(base, raw, args.forged, args.forged_max, stop, out))
    attack.start()
    sampling = asyncio.Event()
    peak = [rss_mb(pid)]
    sampler = asyncio.create_task(sample_rss(pid, sampling, peak))
    await asyncio.sleep(0.5)  # the attack is under way before the first genuine webhook
    try:
        played = await play(base, calls, connections)
    finally:
        stop.set()
        answers = await asyncio.to_thread(out.get, timeout=120)
        await asyncio.to_thread(attack.join, 30)
        sampling.set()
        await sampler
    return played, answers, peak[0], len(raw)


async def play(base: str, calls: list[list], connections: int) -> tuple[list[float], int]:
    """Each call sends its events in order, one at a time; calls run side by side over a pool of
    keep-alive connections. A minimal HTTP/1.1 client on asyncio streams, so the figures measure
    the server, not a client library's overhead."""
    host, port = base.removeprefix("http://").split(":")
    requests = [[raw_request(f"{host}:{port}", route, params) for route, params in d] for d in calls]
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, int(port)))
    latencies: list[float] = []
    failures: list[str] = []
    reconnects: list[int] = []

    async def one_call(reqs: list[bytes]) -> None:
        for raw in reqs:
            reader, writer = await pool.get()
            t0 = time.perf_counter()
            writer.write(raw)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
                # the server closed this idle keep-alive connection (timeout_keep_alive) before the
                # request reached it: send it again on a new one, as an HTTP client does
                reconnects.append(1)
                writer.close()
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
            latencies.append((time.perf_counter() - t0) * 1000)
            status = head.split(b" ", 2)[1]
            length = next(
                (int(h.split(b":")[1]) for h in head.lower().split(b"\r\n") if h.startswith(b"content-length:")), 0
            )
            if length:
                await reader.readexactly(length)
            if status != b"204":
                failures.append(head.decode(errors="replace")[:80])
            pool.put_nowait((reader, writer))

    await asyncio.gather(*(one_call(r) for r in requests))
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    if failures:
        raise SystemExit(f"{len(failures)} webhook(s) not acknowledged, e.g. {failures[0]}")
    return latencies, len(reconnects)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--utterances", type=int, default=10)
    ap.add_argument("--dup", type=float, default=0.1, help="share of events delivered twice")
    ap.add_argument("--swap", type=float, default=0.1, help="share of events swapped with the next one")
    ap.add_argument("--connections", type=int, default=50, help="keep-alive HTTP connections")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for every call to be scored")
    ap.add_argument("--forged", type=int, default=0, help="attackers sending forged requests meanwhile")
    ap.add_argument("--forged-bytes", type=int, default=1_000_000, help="size of each forged body")
    ap.add_argument("--forged-params", type=int, default=110_000, help="parameters in each forged body")
    ap.add_argument("--forged-max", type=int, default=5000, help="forged requests per attacker at most")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    plays = [call_events(n, args.utterances, rng, args.dup, args.swap) for n in range(1, args.calls + 1)]
    with tempfile.TemporaryDirectory(prefix="shadow-load-") as tmp:
        folder = Path(tmp)
        (folder / "shadowpilot.toml").write_text(CONFIG, encoding="utf-8")
        server = ServerProcess(folder).start()
        try:
            t0 = time.perf_counter()
            cpu0 = cpu_s(server.proc.pid)
            genuine = [d for d, _ in plays]
            forged: dict[str, int] = {}
            peak_rss = rss_mb(server.proc.pid)
            forged_size = 0
            if args.forged:
                (latencies, reconnects), forged, peak_rss, forged_size = asyncio.run(
                    under_attack(server.base, genuine, args.connections, server.proc.pid, args)
                )
            else:
                latencies, reconnects = asyncio.run(play(server.base, genuine, args.connections))
            sent_s = time.perf_counter() - t0
            play_cpu = cpu_s(server.proc.pid) - cpu0
            peak_rss = max(peak_rss, rss_mb(server.proc.pid))
            deadline = time.monotonic() + args.timeout
            health: dict = {}
            while time.monotonic() < deadline:
                health = httpx.get(server.base + "/healthz", timeout=10).json()
                if health["scored"] >= args.calls:
                    break
                time.sleep(0.5)
            scored_s = time.perf_counter() - t0
            listing = subprocess.run(
                [str(Path(sys.executable).parent / "shadowpilot"), "shadow", "calls", "--json"],
                cwd=folder,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            gate = subprocess.run(
                [str(Path(sys.executable).parent / "shadowpilot"), "gate", "--json"],
                cwd=folder,
                capture_output=True,
                text=True,
            )
        finally:
            server.stop()
        calls = {c["call_id"]: c for c in json.loads(listing)["calls"]}
        log = [json.loads(x) for x in (folder / ".shadowpilot/load.shadow/events.jsonl").read_text().splitlines()]

        from shadowpilot.store import Store

        with Store.open(folder / ".shadowpilot/load.duckdb", create=False) as store:
            stored = store.con.execute("SELECT count(*), count(DISTINCT case_id) FROM run_cases").fetchall()[0]

    expected = sum(len(lines) for _, lines in plays)
    unique_events = sum(len({json.dumps(p, sort_keys=True) for _, p in d}) for d, _ in plays)
    lost = misordered = dup_utterances = 0
    for n, (_, lines) in enumerate(plays, start=1):
        got = calls.get(Call(n).call_sid, {}).get("utterances", [])
        want = [{"speaker": w, "text": t} for w, t in lines]
        lost += sum(1 for u in want if u not in got)
        dup_utterances += len(got) - len({json.dumps(u, sort_keys=True) for u in got})
        misordered += got != want
    keys = [r["key"] for r in log if r["k"] == "ev"]
    dup_logged = len(keys) - len(set(keys))
    states = [c["state"] for c in calls.values()]
    gate_json = json.loads(gate.stdout) if gate.stdout.strip().startswith("{") else {}

    print(f"shadow load: {args.calls} calls x {args.utterances} utterances, dup {args.dup:.0%}, swap {args.swap:.0%}")
    print(
        f"  webhooks sent          {len(latencies)} ({unique_events} distinct events) in {sent_s:.2f} s; "
        f"server CPU {play_cpu:.1f} s meanwhile; {reconnects} resent on a new connection"
    )
    print(
        f"  webhook latency ms     p50 {pct(latencies, 50):.1f}  p99 {pct(latencies, 99):.1f}  max {max(latencies):.1f}"
    )
    if args.forged:
        told = ", ".join(f"{k}: {v}" for k, v in sorted(forged.items()))
        print(
            f"  forged requests        {sum(forged.values())} from {args.forged} clients, {forged_size} bytes "
            f"and {args.forged_params} params each; answered {told}"
        )
    print(f"  server peak RSS        {peak_rss:.0f} MB")
    print(f"  utterances expected    {expected}; lost {lost} (must be 0); calls out of order {misordered}")
    print(f"  duplicates stored      {dup_logged} in the log, {dup_utterances} in calls (must be 0)")
    print(
        f"  calls scored           {states.count('scored')}/{args.calls} after {scored_s:.1f} s; "
        f"store run_cases {stored[0]} rows, {stored[1]} distinct"
    )
    lg = health.get("log", {})
    print(
        f"  group commit           {lg.get('records')} records in {lg.get('fsyncs')} fsyncs "
        f"({lg.get('records_per_fsync')} per fsync, p50 {lg.get('fsync_ms_p50')} ms)"
    )
    if gate_json:
        print(
            f"  gate on the shadow run {gate_json.get('verdict')}: {gate_json.get('cases')} cases, "
            f"tp {gate_json['escalation']['tp']} tn {gate_json['escalation']['tn']}"
        )
    if gate_json.get("failures"):
        print(f"  first gate failure     {gate_json['failures'][0]['why']} (the baseline agent routes by no queue)")
    ok = lost == misordered == 0 and dup_logged == 0 and dup_utterances == 0 and stored[0] == stored[1] == args.calls
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
