"""Import speed of `import twilio` against the fake Twilio REST API on loopback: calls per second.

    python bench/twilio_import.py [--calls 200] [--sentences 12] [--page-size 5] [--concurrency 4]

Builds N finished calls (every fourth one transferred) with their tasks and events, serves
them from tests/servers/twilio_rest.py, and times workflow.import_twilio with the real twilio
client: listing pages, each call's sentence pages, TaskRouter tasks/events, mapping, the store.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers.twilio_rest import BILLING, CallSpec, FakeTwilio, add_call, add_workspace

from shadowpilot.config import load_settings
from shadowpilot.transcripts.twilio.http import build_client
from shadowpilot.workflow import import_twilio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--sentences", type=int, default=12, help="sentences per call")
    ap.add_argument("--page-size", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()

    fake = FakeTwilio()
    add_workspace(fake)
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    for n in range(1, args.calls + 1):
        lines = [("customer" if i % 2 == 0 else "agent", f"line {i} of call {n}") for i in range(args.sentences)]
        transfer = 2 * (args.sentences // 4) if n % 4 == 0 else None
        add_call(
            fake,
            CallSpec(
                n,
                lines,
                start + timedelta(minutes=n),
                transfer_after=transfer,
                transfer_queue=BILLING,
                attributes={"skill": "billing", "priority": "high", "vip": n % 8 == 0},
            ),
        )
    base = fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "shadowpilot.toml"
            cfg.write_text(
                f'[tenant]\nname = "bench"\n[twilio]\nsources = ["calls"]\npage_size = {args.page_size}\n'
                f"concurrency = {args.concurrency}\n",
                encoding="utf-8",
            )
            settings = load_settings(cfg, environ={})
            client = build_client(fake.account_sid, fake.auth_token, api_base=base)
            t0 = time.perf_counter()
            rep = import_twilio(settings, client, since=start, until=start + timedelta(days=1))
            elapsed = time.perf_counter() - t0
    finally:
        fake.stop()
    imported = len(rep.summary.added)
    requests = len(fake.log)
    print(
        f"calls imported: {imported} of {args.calls} ({args.sentences} sentences each, page size {args.page_size}, "
        f"concurrency {args.concurrency})"
    )
    print(f"HTTP requests: {requests} ({requests / elapsed:.0f}/s)")
    print(f"elapsed: {elapsed:.2f} s")
    print(f"calls/s: {imported / elapsed:.1f}")


if __name__ == "__main__":
    main()
