"""A real full disk under the event log: `shadow serve` under uvicorn with its log on a 256 KiB
tmpfs, filled while webhooks are posted concurrently. Every event answered 2xx is in the log
after a restart, the log holds no half record, the server answers 503 while the disk is full,
and once space is freed the next post succeeds without a restart.

Needs root (to mount a tmpfs); skipped with the reason otherwise."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.runners.shadow.conftest import make_tenant, shadow_client
from tests.runners.shadow.twilio_sim import TASKS, Call, ServerProcess, signed_form

PAD = "x" * 900  # each event is then about 1.3 KB in the log


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(path: Path, leave: int) -> None:
    """Take every free byte of the filesystem, then give back `leave` of them."""
    with path.open("wb", buffering=0) as fh:
        chunk = b"\0" * 4096
        while True:
            try:
                if fh.write(chunk) < len(chunk):
                    break
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        fh.truncate(max(0, fh.tell() - leave))


def task_event(n: int) -> dict[str, str]:
    _, params = Call(n).task_event("task.created", "support", attributes={"pad": PAD})
    return params


def test_a_full_disk_acknowledges_only_what_it_stored_and_recovers_without_a_restart(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "acme")
    shadow = folder / ".shadowpilot" / "acme.shadow"
    with tmpfs(shadow, "256k"):
        server = ServerProcess(folder).start()
        try:
            with shadow_client(server.base, timeout=30) as http:

                def post(params: dict[str, str]) -> int:
                    return http.post(TASKS, **signed_form(params, TASKS)).status_code

                assert post(task_event(1)) == 204  # the log exists before the disk fills
                fill(shadow / "filler", leave=16 * 1024)
                burst = [task_event(100 + i) for i in range(60)]
                with ThreadPoolExecutor(16) as pool:
                    statuses = list(pool.map(post, burst))
                assert set(statuses) <= {204, 503}, statuses
                acked = [p for p, s in zip(burst, statuses, strict=True) if s == 204]
                refused = [p for p, s in zip(burst, statuses, strict=True) if s == 503]
                assert acked and refused, statuses  # some fitted, the rest were refused
                assert post(task_event(2)) == 503  # still full: still refused

                (shadow / "filler").unlink()
                assert post(task_event(3)) == 204  # space again: accepted, no restart
                assert [post(p) for p in refused] == [204] * len(refused)  # Twilio's retries land
        finally:
            server.kill()  # SIGKILL: only what was fsync'd counts

        raw = (shadow / "events.jsonl").read_bytes()
        assert raw.endswith(b"\n")
        records = [json.loads(line) for line in raw.splitlines()]  # every line whole: no half record
        stored = [r["p"]["TaskSid"] for r in records if r["k"] == "ev"]
        want = [p["TaskSid"] for p in [task_event(1), *acked, task_event(3), *refused]]
        assert set(want) <= set(stored)  # everything acknowledged is in the log
        assert Call(2).task not in stored  # the one refused while full and never retried is not
        assert len(stored) == len(set(stored))  # and nothing twice

        again = ServerProcess(folder).start()  # a restart replays it all, skipping nothing
        try:
            health = httpx.get(again.base + "/healthz", timeout=10).json()
        finally:
            again.stop()
        assert health["events"] == len(stored)
        assert not any("skipped" in line for line in again.stderr)
