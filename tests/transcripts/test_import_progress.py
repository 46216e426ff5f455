"""`import` shows its progress on large inputs (more than 1,000 records), as `run` does: on
stderr when it is a terminal, never in a pipe or with --json. The library reports progress
through a callback; the CLI draws.

The CLI runs in a real subprocess whose stderr is a pseudo-terminal (or a pipe).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from shadowpilot.config import load_settings
from shadowpilot.workflow import import_files
from tests.conftest import make_case, write_config, write_jsonl

SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT = 120


def many(folder: Path, n: int) -> Path:
    return write_jsonl(folder / "many.jsonl", [make_case(f"case-{i:05d}", ["hello"]) for i in range(n)])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}
    env.update(PYTHONPATH=str(SRC), COLUMNS="100", TERM="xterm")
    env.pop("TTY_COMPATIBLE", None)
    env.pop("FORCE_COLOR", None)
    return env


def import_on_a_terminal(folder: Path, *args: str) -> tuple[int, str, str]:
    """`shadowpilot import ARGS` with stderr on a pseudo-terminal: (exit code, stdout, the terminal's bytes)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shadowpilot.cli", "import", *args],
        cwd=folder,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=TIMEOUT), out, screen.decode(errors="replace")


def test_a_large_import_draws_its_progress_on_the_terminal(tmp_path):
    write_config(tmp_path)
    many(tmp_path, 1001)
    code, out, screen = import_on_a_terminal(tmp_path, "many.jsonl")
    assert code == 0, screen
    assert "1001 new" in out
    assert "reading" in screen and "storing" in screen and "1001/1001" in screen


def test_a_small_import_draws_no_bar(tmp_path):
    write_config(tmp_path)
    many(tmp_path, 50)
    code, out, screen = import_on_a_terminal(tmp_path, "many.jsonl")
    assert code == 0, screen
    assert "50 new" in out and "reading" not in screen and "storing" not in screen


def test_a_large_import_into_a_pipe_or_with_json_draws_nothing(tmp_path):
    write_config(tmp_path)
    many(tmp_path, 1001)
    piped = subprocess.run(
        [sys.executable, "-m", "shadowpilot.cli", "import", "many.jsonl"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    many(tmp_path, 1002)  # one more case, so the store changes
    code, out, screen = import_on_a_terminal(tmp_path, "many.jsonl", "--json")
    assert code == 0 and json.loads(out)["added"] == ["case-01001"]
    assert "reading" not in screen and "storing" not in screen


def test_the_library_reports_progress_by_stage(tenant_dir):
    src = many(tenant_dir, 30)
    seen: list[tuple[str, int, int | None]] = []
    rep = import_files(load_settings(tenant_dir / "shadowpilot.toml"), [src], progress=lambda *a: seen.append(a))
    assert len(rep.summary.added) == 30
    read = [s for s in seen if s[0] == "read"]
    store = [s for s in seen if s[0] == "store"]
    assert [d for _, d, _ in read] == list(range(1, 31)) and all(t is None for _, _, t in read)
    assert store[-1] == ("store", 30, 30) and all(t == 30 for _, _, t in store)
    assert seen.index(read[-1]) < seen.index(store[0])  # read, then stored
