"""The shadow server's store path alone: N live calls written batch by batch, memory as it goes.

What ShadowService._write does for each batch, on one worker thread as the server has it: open
the tenant store, Store.add_shadow_calls, close. No agent, no event log, no HTTP, so what the
figures show is the store's own share of the server's memory over a pilot day (bench/shadow_day.py
measures the whole server). Prints the anonymous memory (smaps_rollup: heap, arenas, DuckDB's
allocator; mapped files left out) every `--every` calls, and the growth after warm-up.

    python bench/shadow_store_rss.py [--calls 20000] [--batch 50] [--every 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import make_case  # noqa: E402

from shadowpilot.config import load_settings  # noqa: E402
from shadowpilot.store import open_store  # noqa: E402
from shadowpilot.types import AgentStep, CallRun, Recommendation, RunManifest, Transcript  # noqa: E402


def anon_mb() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def live_call(n: int) -> tuple[Transcript, CallRun, RunManifest]:
    """A call like the day bench's: four utterances, two answered by the agent."""
    texts = [f"call {n} line {i}: my invoice number is {n * 7 + i}" for i in range(4)]
    case = Transcript.model_validate(make_case(f"CA{n:032x}", texts))
    said = [Recommendation(case_id=case.id, turn=t, escalate=False, reply="noted") for t in (0, 2)]
    steps = [AgentStep(turn=r.turn, customer_turn=r.turn, recommendation=r) for r in said]
    manifest = RunManifest(
        run_id="shadow-20301101",
        created_at=datetime(2030, 11, 1, tzinfo=UTC),
        tenant="day",
        mode="shadow",
        agent={"kind": "baseline"},
        cases={},
        versions={},
    )
    return case, CallRun(case_id=case.id, fingerprint=case.fingerprint(), steps=steps), manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--every", type=int, default=2000)
    args = ap.parse_args()
    samples: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="shadow-store-") as tmp:
        folder = Path(tmp)
        (folder / "shadowpilot.toml").write_text('[tenant]\nname = "day"\n\n[agent]\nkind = "baseline"\n')
        settings = load_settings(folder / "shadowpilot.toml", environ={})

        def write_day() -> None:
            for start in range(0, args.calls, args.batch):
                batch = [live_call(n) for n in range(start, min(start + args.batch, args.calls))]
                with open_store(settings, lock_timeout_s=2.0) as store:
                    store.add_shadow_calls(batch, source="shadow:bench")
                done = start + len(batch)
                if done % args.every < args.batch:
                    samples.append((done, round(anon_mb(), 1)))

        failed: list[BaseException] = []

        def run() -> None:
            try:
                write_day()
            except BaseException as exc:  # raised again on the main thread
                failed.append(exc)

        worker = threading.Thread(target=run, name="shadow-store")  # as the server's one store thread
        worker.start()
        worker.join()
        if failed:
            raise failed[0]
        store_mb = settings.store_path.stat().st_size / 2**20
    warm = samples[min(1, len(samples) - 1)]
    print(
        json.dumps(
            {
                "calls": args.calls,
                "batch": args.batch,
                "anon_mb_by_calls": samples,
                "growth_mb_after_warmup": round(samples[-1][1] - warm[1], 1),
                "growth_from_calls": warm[0],
                "store_mb": round(store_mb, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
