"""A tenant folder for the live shadow server: config, a python agent with scripted behaviour, helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runners.shadow.twilio_sim import PUBLIC_URL, ServerProcess

# The agent under test, in the tenant's folder: it logs every call it gets, and its behaviour
# is chosen by what the customer says ("slow", "boom", "supervisor").
AGENT = """
import json, os, time

def recommend(ctx):
    text = ctx.turns[-1].text
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent_calls.jsonl"), "a") as fh:
        fh.write(json.dumps({"case": ctx.case_id, "turn": ctx.turn, "text": text, "seen": len(ctx.turns)}) + "\\n")
    if "slow" in text:
        time.sleep(2.0)
    if "boom" in text:
        raise RuntimeError("agent exploded")
    if "supervisor" in text:
        return {"escalate": True, "reason": "requested_human", "queue": "tier2",
                "routing": {"skill": "billing", "priority": "high", "vip": False}}
    return {"escalate": False, "reply": "ok"}
"""

CONFIG = f"""[tenant]
name = "acme"

[agent]
kind = "python"
target = "shadow_agent:recommend"
timeout_s = 10

[shadow]
public_url = "{PUBLIC_URL}"
reorder_window_s = 0.5
outcome_wait_s = 1
"""


def make_tenant(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shadowpilot.toml").write_text(CONFIG, encoding="utf-8")
    (folder / "shadow_agent.py").write_text(AGENT, encoding="utf-8")
    return folder


def sp(
    folder: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it beside a running server."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}, **(env or {})}
    script = Path(sys.executable).parent / "shadowpilot"
    return subprocess.run([str(script), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def shadow_calls(folder: Path) -> dict[str, Any]:
    result = sp(folder, "shadow", "calls", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def call_of(folder: Path, call_id: str) -> dict[str, Any] | None:
    return next((c for c in shadow_calls(folder)["calls"] if c["call_id"] == call_id), None)


def wait_until(check: Callable[[], Any], timeout: float = 30, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {check}")
        time.sleep(every)


def agent_calls(folder: Path, case: str | None = None) -> list[dict[str, Any]]:
    path = folder / "agent_calls.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if case is None or r["case"] == case]


def log_records(folder: Path) -> list[dict[str, Any]]:
    path = folder / ".shadowpilot" / "acme.shadow" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def tenant(tmp_path: Path) -> Path:
    return make_tenant(tmp_path / "acme")


# uvicorn closes a keep-alive connection idle for 5 s (its timeout_keep_alive): a pooled connection
# reused at that moment races the close ("Server disconnected without sending a response", seen in
# CI), so the tests' clients drop idle connections well before. Twilio opens its own per webhook.
KEEPALIVE = httpx.Limits(keepalive_expiry=1.0)


def shadow_client(base: str, timeout: float = 10) -> httpx.Client:
    """An HTTP client of a shadow server started by a test (see KEEPALIVE)."""
    return httpx.Client(base_url=base, timeout=timeout, limits=KEEPALIVE)


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    """A client of the module's `server` fixture (modules that start a shadow server define it)."""
    with shadow_client(server.base) as client:
        yield client
