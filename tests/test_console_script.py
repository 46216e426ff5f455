"""The installed `shadowpilot` console script, in real subprocesses: what CI and users run.

Checks the startup cost promise (no pandas/duckdb/openai for --help), the offline demo,
and that exit codes reach the shell (0 go, 2 bad usage, 3 not ready) without tracebacks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# In the order `--help` lists them: a pilot's steps, then the reference `schema`; typer puts
# the groups (`shadow`, then the store's `cases` and `runs`) after the plain commands.
COMMANDS = (
    "demo",
    "init",
    "import",
    "run",
    "judge",
    "gate",
    "review",
    "compare",
    "report",
    "history",
    "schema",
    "shadow",
    "cases",
    "runs",
)
HEAVY = ("pandas", "duckdb", "openai", "numpy", "httpx", "twilio", "starlette", "uvicorn", "jiwer", "jinja2")
TIMEOUT = 60


def _script() -> str:
    beside = Path(sys.executable).parent / "shadowpilot"
    if beside.is_file():
        return str(beside)
    found = shutil.which("shadowpilot")
    assert found, "the `shadowpilot` console script is not installed (pip install -e .)"
    return found


SCRIPT = _script()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}
    env["COLUMNS"] = "120"
    return env


def sp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = sp("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^  ([a-z]+) ", result.stdout.split("Commands:", 1)[1], re.M)
    assert tuple(listed) == COMMANDS
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "marker"),
    [
        (["shadowpilot", "--help"], "gate"),
        (["shadowpilot", "gate", "--help"], "--pass-rate"),
        (["shadowpilot", "run", "--help"], "--resume"),
        (["shadowpilot", "shadow", "--help"], "serve"),
        (["shadowpilot", "schema", "--help"], "recommendation"),
    ],
    ids=["root", "gate", "run", "shadow", "schema"],
)
def test_help_does_not_import_heavy_modules(tmp_path: Path, argv: list[str], marker: str) -> None:
    code = (
        f"import sys; sys.argv={argv!r}; from shadowpilot.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit: pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout  # the help really was rendered
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _demo(folder: Path, cwd: Path) -> dict:
    result = sp("demo", "--json", "--dir", str(folder), cwd=cwd)
    assert "Traceback" not in result.stderr
    assert result.returncode == 3, result.stderr  # the sample baseline is deliberately no-go
    return json.loads(result.stdout)


def test_demo_runs_the_whole_loop_offline_and_accumulates_history(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = _demo(folder, tmp_path)
    assert first["verdict"] == "no-go" and first["passed"] is False
    assert first["pass_rate"] == pytest.approx(0.85)
    assert first["cases"] == 20 and first["passed_cases"] == 17
    assert [f["case_id"] for f in first["failures"]] == ["hv-005", "hv-008", "hv-018"]
    for name in ("pilot-report.md", "pilot-report.json", ".shadowpilot/harbourview-clinic.duckdb"):
        assert (folder / name).is_file(), name
    md = (folder / "pilot-report.md").read_text(encoding="utf-8")
    assert "NO-GO" in md and "85.0%" in md
    assert json.loads((folder / "pilot-report.json").read_text(encoding="utf-8"))["gate"]["run_id"] == first["run_id"]

    second = _demo(folder, tmp_path)
    assert second["run_id"] != first["run_id"]
    strip = ("run_id",)
    assert {k: v for k, v in second.items() if k not in strip} == {k: v for k, v in first.items() if k not in strip}

    history = sp("history", "--json", cwd=folder)
    assert history.returncode == 0, history.stderr
    runs = json.loads(history.stdout)["runs"]
    assert [r["run_id"] for r in runs] == [first["run_id"], second["run_id"]]
    assert [r["verdict"] for r in runs] == ["no-go", "no-go"]

    # the shell sees the gate's decision: 3 not ready, 0 go
    assert sp("gate", cwd=folder).returncode == 3
    lowered = sp("gate", "--pass-rate", "0.8", "--json", cwd=folder)
    assert lowered.returncode == 0, lowered.stderr
    assert json.loads(lowered.stdout)["verdict"] == "go"


def test_gate_in_empty_folder_exits_2_with_message_and_no_traceback(tmp_path: Path) -> None:
    result = sp("gate", cwd=tmp_path)
    assert result.returncode == 2
    assert "shadowpilot.toml" in result.stderr
    assert "shadowpilot init" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing was created in the user's folder
