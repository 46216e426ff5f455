"""Each command imports only what it needs (issue 14, "Speed of every command"): `--help` and every
`COMMAND --help` none of the heavy modules, the listing commands (`history`, `review --list`,
`shadow calls`) none they do not use, `gate` none of the agents' or the servers' clients.

Each command runs in a fresh interpreter (the CLI called in-process there, as the console script
does) that then prints which heavy modules it loaded. The commands are enumerated from the typer
app, so a command added later is held to the rule without editing this file. bench/startup.py
times the same commands; no timing is asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import shadowpilot
from shadowpilot.cli import app

TIMEOUT = 120

# What no command needs for its help or to list what is stored.
CLIENTS = ("openai", "twilio", "httpx", "starlette", "uvicorn", "jinja2", "scipy", "jiwer", "rapidfuzz")
SCORING = ("pandas", "numpy")
STORE = ("duckdb",)
# What the live server runs on (the agents, the turn loop, the event loop) and the transcript file
# readers of `import`: listing the shadow calls reads the log with neither.
ENGINE = ("asyncio", "shadowpilot.runners.agent", "shadowpilot.runners.turn_loop", "shadowpilot.transcripts.loading")

_PROBE = """
import json, sys
args = json.loads(sys.argv[1])
from shadowpilot.cli import app
code = app(args=args, prog_name="shadowpilot", standalone_mode=False)
print()
print(json.dumps({"exit": code or 0, "modules": sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)}))
"""


def command_paths() -> list[list[str]]:
    """Every command and subcommand of the app as argv words (`gate`, `shadow calls`...)."""
    paths: list[list[str]] = []
    for name, cmd in getattr(typer.main.get_command(app), "commands", {}).items():
        paths.append([name])
        paths += [[name, sub] for sub in getattr(cmd, "commands", {})]
    return paths


def _env() -> dict[str, str]:
    """The environment, with the shadowpilot this test imported first on the path (the
    subprocesses run in other folders, where a relative PYTHONPATH would find another copy)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}
    here = str(Path(shadowpilot.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    env["COLUMNS"] = "120"
    return env


def loaded(args: list[str], watched: tuple[str, ...], cwd: Path) -> tuple[int, str, list[str]]:
    """Run the CLI with `args` in a new interpreter: its exit code, its output, and which of
    `watched` it imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(watched)],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out, _, last = done.stdout.rstrip("\n").rpartition("\n")
    probe = json.loads(last)
    return probe["exit"], out, probe["modules"]


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-case store with one gated run, made by `shadowpilot demo` (the baseline agent, offline)."""
    folder = tmp_path_factory.mktemp("startup") / "demo"
    made = subprocess.run(
        [sys.executable, "-m", "shadowpilot.cli", "demo", "--json", "--dir", str(folder)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert made.returncode == 3, made.stderr  # the sample baseline is deliberately no-go
    return folder


def test_the_enumeration_sees_every_command_and_the_shadow_subcommands() -> None:
    paths = command_paths()
    assert ["gate"] in paths and ["history"] in paths
    assert ["shadow", "calls"] in paths and ["shadow", "serve"] in paths


@pytest.mark.parametrize("path", [[], *command_paths()], ids=lambda p: " ".join(p) or "root")
def test_help_imports_no_heavy_module(tmp_path: Path, path: list[str]) -> None:
    code, out, modules = loaded([*path, "--help"], CLIENTS + SCORING + STORE, tmp_path)
    assert code == 0
    assert "Usage" in out  # the help really was rendered
    assert modules == []


@pytest.mark.parametrize(
    ("args", "marker", "watched"),
    [
        # history reads its rows from the store (duckdb) and scores nothing
        (["history"], "run-", CLIENTS + SCORING),
        (["history", "--json"], '"runs"', CLIENTS + SCORING),
        # shadow calls reads the event log only: neither the store, the scoring nor the engine
        (["shadow", "calls"], "no shadow calls yet", CLIENTS + SCORING + STORE + ENGINE),
        # review scores the run against the humans (pandas), never its replies (jiwer)
        (["review", "--list"], "hv-", CLIENTS),
    ],
    ids=["history", "history-json", "shadow-calls", "review-list"],
)
def test_listing_imports_only_what_it_reads(
    demo_folder: Path, args: list[str], marker: str, watched: tuple[str, ...]
) -> None:
    code, out, modules = loaded(args, watched, demo_folder)
    assert code == 0, out
    assert marker in out
    assert modules == []


def test_gate_loads_no_client_of_an_agent_or_a_server(demo_folder: Path) -> None:
    # the demo's run has replies, so gate does score them (jiwer, rapidfuzz): only the clients are out
    clients = tuple(m for m in CLIENTS if m not in ("jiwer", "rapidfuzz"))
    code, out, modules = loaded(["gate"], clients, demo_folder)
    assert code == 3  # the demo's baseline is no-go
    assert "NO-GO" in out
    assert modules == []


def test_run_replays_and_stores_without_the_scoring(demo_folder: Path) -> None:
    # run writes its calls to the store (duckdb) and scores nothing: no pandas, and the baseline
    # agent needs no client
    code, out, modules = loaded(["run", "--no-cache"], ("pandas", *CLIENTS), demo_folder)
    assert code == 0, out
    assert out.strip().startswith("run-")  # the run id, on stdout for scripts
    assert modules == []
