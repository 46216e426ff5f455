"""Replay throughput: does the harness keep a slow agent's concurrency pool full?

Starts the OpenAI-compatible test server on 127.0.0.1 with a fixed latency per
request, replays several hundred synthetic cases through the real CLI path
(`shadowpilot import`, then `shadowpilot run --no-cache` in a subprocess, the
openai agent over the real SDK), and prints:

- requests, wall time, the ideal time (requests x latency / concurrency) and
  their ratio (target: within 1.25x);
- a peer: the same requests made straight with `openai.AsyncOpenAI` and an
  asyncio semaphore, no harness, and the harness's time against it;
- the peak concurrency the server saw (target: the configured concurrency);
- a cached rerun: its requests (target: 0) and wall time.

    .venv/bin/python bench/replay_throughput.py [--cases 400] [--turns 3] [--latency 0.1] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test servers live in tests/servers

from tests.servers.openai_server import OpenAIServer  # noqa: E402

CLI = [sys.executable, "-m", "shadowpilot.cli"]


def write_tenant(folder: Path, base_url: str, cases: int, turns: int, concurrency: int) -> None:
    (folder / "prompt.md").write_text("You are the front desk of a busy clinic. Escalate when asked.\n")
    (folder / "shadowpilot.toml").write_text(
        '[tenant]\nname = "bench"\n\n'
        f'[agent]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{base_url}"\nprompt = "prompt.md"\n'
        f"concurrency = {concurrency}\ntimeout_s = 10\n"
    )
    lines = []
    for i in range(cases):
        dialogue = []
        for t in range(turns):  # no trigger phrase: the agent is asked at every customer turn
            dialogue.append({"speaker": "customer", "text": f"Case {i}: question {t} about my appointment"})
            dialogue.append({"speaker": "agent", "text": f"Answer {t}"})
        lines.append(json.dumps({"id": f"b-{i:05d}", "turns": dialogue, "outcome": {"escalated": False}}))
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n")


def cli(folder: Path, *args: str) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHADOWPILOT_", "OPENAI_"))}
    started = time.perf_counter()
    out = subprocess.run([*CLI, *args], cwd=folder, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"shadowpilot {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
    return elapsed, json.loads(out.stdout) if out.stdout.strip().startswith("{") else {}


async def peer(base_url: str, bodies: list[dict], concurrency: int) -> float:
    """The very request bodies the harness sent, straight from the SDK with a semaphore:
    what a hand-written loop with no harness would get."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict) -> None:
        async with gate:
            stream = await client.chat.completions.create(**body)
            async for _ in stream:
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--turns", type=int, default=3, help="customer turns per case (each one request)")
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per request at the server")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--peer", help=argparse.SUPPRESS)  # internal: replay these bodies with the bare SDK
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        bodies = json.loads(Path(args.peer).read_text())
        print(asyncio.run(peer(args.base_url, bodies, args.concurrency)))
        return

    with OpenAIServer(latency_s=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_tenant(folder, server.base_url, args.cases, args.turns, args.concurrency)
        cli(folder, "import", "cases.jsonl", "--json")

        wall, run = cli(folder, "run", "--no-cache", "--json")
        requests = len(server.requests)
        peak = server.peak_concurrency
        ideal = requests * args.latency / args.concurrency

        before = len(server.requests)
        # the peer runs in its own process, as the CLI does, so neither shares the server's interpreter
        bodies = folder / "bodies.json"
        bodies.write_text(json.dumps(server.requests))
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--peer",
                str(bodies),
                "--base-url",
                server.base_url,
                "--concurrency",
                str(args.concurrency),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        peer_wall = float(out.stdout.strip())
        peer_requests = len(server.requests) - before

        cli(folder, "run", "--json")  # fills the cache (the --no-cache run did not write it)
        before_cached = len(server.requests)
        cached_wall, cached = cli(folder, "run", "--json")
        cached_requests = len(server.requests) - before_cached

    print(
        f"cases {args.cases} x {args.turns} customer turns · latency {args.latency * 1000:.0f} ms · "
        f"concurrency {args.concurrency}"
    )
    print(
        f"harness   requests {requests:5d}  wall {wall:6.2f} s  (run status {run.get('status')}, "
        f"{run.get('errors')} errors)"
    )
    print(f"ideal     requests x latency / concurrency = {ideal:6.2f} s")
    replay = run["elapsed_s"]
    print(
        f"ratio     replay {replay:.2f} s / ideal = {replay / ideal:.3f} (target <= 1.25) · "
        f"whole command / ideal = {wall / ideal:.3f} (with start-up and store writes)"
    )
    print(
        f"peer      raw AsyncOpenAI + semaphore, {peer_requests} requests: {peer_wall:6.2f} s · "
        f"replay / peer = {replay / peer_wall:.3f}"
    )
    print(f"peak      concurrency seen by the server = {peak} (configured {args.concurrency})")
    print(
        f"cached    rerun made {cached_requests} request(s) in {cached_wall:.2f} s "
        f"(cache hits {cached.get('cache', {}).get('hits')}, spend ${cached.get('spend_usd')})"
    )


if __name__ == "__main__":
    main()
