"""Startup cost of every command (issue 14, "Speed of every command"), as users feel it.

Builds a 20-case store with `shadowpilot demo` in a temporary folder, then times, as medians
of subprocess runs, the baseline `python -c 'import typer, rich.console'`, `--help`, every
`COMMAND --help` (the commands and shadow subcommands, enumerated from the typer app so new
ones are timed too), `history`, `review --list`, `shadow calls` and `gate` in that folder.
Prints each median, its ratio to the baseline, the target and whether it is met:

    PYTHONPATH=src .venv/bin/python bench/startup.py [--runs 9]

Targets (ratios to the baseline): --help and every COMMAND --help <= 1.5x; history,
review --list, shadow calls <= 2.5x; gate <= 4x. Exit 0 always (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
HELP_TARGET, LIST_TARGET, GATE_TARGET = 1.5, 2.5, 4.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    env["COLUMNS"] = "120"
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "shadowpilot.cli", *args]


def command_paths() -> list[list[str]]:
    """Every command as argv words (`gate`, `shadow calls`...), from the typer app itself."""
    import typer

    sys.path.insert(0, str(SRC))
    from shadowpilot.cli import app

    paths: list[list[str]] = []
    for name, cmd in getattr(typer.main.get_command(app), "commands", {}).items():
        paths.append([name])
        paths += [[name, sub] for sub in getattr(cmd, "commands", {})]  # a group's subcommands
    return paths


def median_s(argv: list[str], cwd: Path, runs: int, ok: tuple[int, ...] = (0,)) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="subprocess runs per command (median)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sp-startup-") as tmp:
        folder = Path(tmp) / "demo"
        made = subprocess.run(
            _cli("demo", "--dir", str(folder)), cwd=tmp, env=_env(), capture_output=True, text=True, check=False
        )
        if made.returncode not in (0, 3):
            raise SystemExit(f"shadowpilot demo failed ({made.returncode}):\n{made.stderr}")

        base = median_s([sys.executable, "-c", "import typer, rich.console"], folder, args.runs)
        rows: list[tuple[str, float, float]] = [("python -c 'import typer, rich.console'", base, 0.0)]
        rows.append(("--help", median_s(_cli("--help"), folder, args.runs), HELP_TARGET))
        for path in command_paths():
            rows.append((f"{' '.join(path)} --help", median_s(_cli(*path, "--help"), folder, args.runs), HELP_TARGET))
        for words in (["history"], ["review", "--list"], ["shadow", "calls"]):
            rows.append((" ".join(words), median_s(_cli(*words), folder, args.runs), LIST_TARGET))
        rows.append(("gate", median_s(_cli("gate"), folder, args.runs, ok=(0, 3)), GATE_TARGET))

    width = max(len(r[0]) for r in rows)
    print(f"{'command':<{width}}  {'median s':>8}  {'ratio':>6}  {'target':>6}  met")
    for name, secs, target in rows:
        ratio = secs / base
        verdict = "" if not target else ("met" if ratio <= target else "NOT met")
        shown = f"{target:.1f}x" if target else ""
        print(f"{name:<{width}}  {secs:8.3f}  {ratio:5.2f}x  {shown:>6}  {verdict}")
    print(f"({args.runs} runs each, median; python {sys.version.split()[0]}; {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
