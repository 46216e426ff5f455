"""Shared fixtures: a tenant folder with a real config and DuckDB store in tmp_path."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shadowpilot.cli import app


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_is_a_keyboard_interrupt():
    """The Ctrl-C tests send a real SIGINT. A suite started in the background (`nohup pytest &`,
    a shell job) inherits SIGINT ignored, so Python never turns it into a KeyboardInterrupt and
    the subprocesses it starts ignore it too: give the suite Python's own handler, as a terminal's
    pytest has (a caught signal is reset to the default in a child, so children get theirs)."""
    before = signal.getsignal(signal.SIGINT)
    if before == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


SAMPLE = Path(__file__).resolve().parents[1] / "src" / "shadowpilot" / "sample"


def make_case(
    case_id: str,
    customer_lines: list[str],
    *,
    escalated: bool = False,
    at_customer_turn: int | None = None,
    routing: dict[str, Any] | None = None,
    queue: str | None = None,
    reason: str | None = None,
    critical: bool = False,
    vip: bool = False,
    tags: list[str] | None = None,
    tenant: str | None = "acme",
) -> dict[str, Any]:
    """A canonical transcript dict: customer and agent turns alternate, customer first.

    `at_customer_turn` counts customer turns (0 = the first); it becomes the
    transcript index `at_turn` the contract uses (customer turn k is at index 2k).
    """
    turns = []
    for i, text in enumerate(customer_lines):
        turns.append({"speaker": "customer", "text": text})
        turns.append({"speaker": "agent", "text": f"agent reply {i}"})
    outcome: dict[str, Any] = {"escalated": escalated}
    if escalated:
        if at_customer_turn is not None:
            outcome["at_turn"] = 2 * at_customer_turn
        outcome.update(
            {k: v for k, v in {"routing": routing, "queue": queue, "reason": reason}.items() if v is not None}
        )
    case: dict[str, Any] = {
        "id": case_id,
        "channel": "voice",
        "customer": {"vip": vip},
        "turns": turns,
        "outcome": outcome,
        "critical": critical,
        "tags": tags or [],
    }
    if tenant:
        case["tenant"] = tenant
    return case


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_config(folder: Path, text: str = "", tenant: str = "acme") -> Path:
    cfg = folder / "shadowpilot.toml"
    cfg.write_text(f'[tenant]\nname = "{tenant}"\n\n' + text, encoding="utf-8")
    return cfg


@pytest.fixture
def tenant_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty tenant folder (tenant "acme") as the working directory, with no SHADOWPILOT_* env."""
    for key in list(__import__("os").environ):
        if key.startswith("SHADOWPILOT_"):
            monkeypatch.delenv(key)
    write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interactive review's answers typed through CliRunner's input: its stdin stands in for a
    terminal (a real one is tested on a pty in tests/test_review_compare_cli.py)."""
    monkeypatch.setattr("shadowpilot.commands.review.stdin_is_terminal", lambda: True)


def invoke(runner: CliRunner, *args: str):
    """Run the real CLI in-process; returns the click Result (exit_code, stdout, stderr)."""
    return runner.invoke(app, list(args), catch_exceptions=False)


# The keys every gate JSON carries (DESIGN's gate contract), checked by the CLI and the library tests.
GATE_KEYS = {
    "verdict",
    "passed",
    "pass_rate",
    "pass_rate_ci",
    "bar",
    "cases",
    "passed_cases",
    "errors",
    "critical_failed",
    "escalation",
    "routing",
    "failures",
}
