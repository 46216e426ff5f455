"""Startup cost of every command (issue 14, "Speed of every command"), as users feel it.

Builds a 20-case store with `shadowpilot demo` in a temporary folder, then times, as medians
of subprocess runs, the baseline `python -c 'import typer, rich.console'`, `--help`, every
`COMMAND --help` (the commands and shadow subcommands, enumerated from the typer app so new
ones are timed too), `history`, `review --list`, `shadow calls` and `gate` in that folder.
Prints each median, its ratio to the baseline, the target and whether it is met:

    .venv/bin/python bench/startup.py [--runs 9] [--src path/to/a/checkout/src ...]

With --src given twice (a tree before a change, then after), both are timed in the same rounds.

The runs go round-robin (one of each command per round), so a machine whose load changes
slows every command alike. Bytecode is cached in a temporary PYTHONPYCACHEPREFIX and warmed
once, as an installed package is (pip compiles it), even where PYTHONDONTWRITEBYTECODE is set.
Two reference rows, without targets, show typer's own floor: a two-command typer app with
rich help, `--help` and `COMMAND --help` (typer imports pydantic to invoke any subcommand).

Targets (ratios to the baseline): --help and every COMMAND --help <= 1.5x; history,
review --list, shadow calls <= 2.5x; gate <= 4x. Exit 0 always (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import json
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


TYPER_APP = """import typer
app = typer.Typer(rich_markup_mode="rich", add_completion=False)
@app.command()
def one(x: int = typer.Option(1, help="x")) -> None:
    \"\"\"One.\"\"\"
@app.command()
def two() -> None:
    \"\"\"Two.\"\"\"
app()
"""


def _env(src: Path, pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["PYTHONPATH"] = str(src)
    env["COLUMNS"] = "120"
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "shadowpilot.cli", *args]


_PATHS = """import json, typer
from shadowpilot.cli import app
paths = []
for name, cmd in getattr(typer.main.get_command(app), "commands", {}).items():
    paths.append([name])
    paths += [[name, sub] for sub in getattr(cmd, "commands", {})]  # a group's subcommands
print(json.dumps(paths))
"""


def command_paths(env: dict[str, str]) -> list[list[str]]:
    """Every command as argv words (`gate`, `shadow calls`...), from the typer app itself (in a
    subprocess, so each source tree lists its own)."""
    out = subprocess.run([sys.executable, "-c", _PATHS], env=env, capture_output=True, text=True, check=True)
    paths: list[list[str]] = json.loads(out.stdout)
    return paths


Run = tuple[list[str], tuple[int, ...], dict[str, str], Path]


def medians(runs: list[Run], n: int) -> list[float]:
    """The median wall time of each argv over n round-robin rounds; a wrong exit code stops the bench."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(n):
        for (argv, ok, env, cwd), got in zip(runs, times, strict=True):
            t0 = time.perf_counter()
            done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
            got.append(time.perf_counter() - t0)
            if done.returncode not in ok:
                raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="subprocess runs per command (median)")
    parser.add_argument(
        "--src", type=Path, action="append", help="a shadowpilot source tree to time (repeat: timed side by side)"
    )
    args = parser.parse_args()
    srcs = [p.resolve() for p in args.src or [SRC]]

    with tempfile.TemporaryDirectory(prefix="sp-startup-") as tmp:
        envs = [_env(src, Path(tmp) / f"pycache{n}") for n, src in enumerate(srcs)]
        # each tree times its own demo store: one written by a newer tree's schema is refused by an older
        folders = [Path(tmp) / f"demo{n}" for n in range(len(srcs))]
        for folder, env in zip(folders, envs, strict=True):
            made = subprocess.run(_cli("demo", "--dir", str(folder)), cwd=tmp, env=env, capture_output=True, text=True)
            if made.returncode not in (0, 3):
                raise SystemExit(f"shadowpilot demo failed ({made.returncode}):\n{made.stderr}")
        typer_app = Path(tmp) / "typer_app.py"
        typer_app.write_text(TYPER_APP, encoding="utf-8")

        shared: list[tuple[str, list[str], float, tuple[int, ...]]] = [
            ("python -c 'import typer, rich.console'", [sys.executable, "-c", "import typer, rich.console"], 0.0, (0,)),
            ("(typer app --help)", [sys.executable, str(typer_app), "--help"], 0.0, (0,)),
            ("(typer app COMMAND --help)", [sys.executable, str(typer_app), "one", "--help"], 0.0, (0,)),
        ]
        plans = []
        for env in envs:
            plan = [("--help", _cli("--help"), HELP_TARGET, (0,))]
            plan += [(f"{' '.join(p)} --help", _cli(*p, "--help"), HELP_TARGET, (0,)) for p in command_paths(env)]
            listing = (["history"], ["review", "--list"], ["shadow", "calls"])
            plan += [(" ".join(w), _cli(*w), LIST_TARGET, (0,)) for w in listing]
            plan.append(("gate", _cli("gate"), GATE_TARGET, (0, 3)))
            plans.append(plan)
        runs: list[Run] = [(argv, ok, envs[0], folders[0]) for _, argv, _, ok in shared]
        runs += [
            (argv, ok, env, folder)
            for plan, env, folder in zip(plans, envs, folders, strict=True)
            for _, argv, _, ok in plan
        ]
        medians(runs, 1)  # warm the bytecode caches and the disk
        got = medians(runs, args.runs)

    base, at = got[0], len(shared)
    for src, plan in zip(srcs, plans, strict=True):
        rows = [*shared, *plan]
        secs_of = got[: len(shared)] + got[at : at + len(plan)]
        at += len(plan)
        width = max(len(p[0]) for p in rows)
        print(f"src {src}")
        print(f"{'command':<{width}}  {'median s':>8}  {'ratio':>6}  {'target':>6}  met")
        for (name, _, target, _), secs in zip(rows, secs_of, strict=True):
            ratio = secs / base
            verdict = "" if not target else ("met" if ratio <= target else "NOT met")
            shown = f"{target:.1f}x" if target else ""
            print(f"{name:<{width}}  {secs:8.3f}  {ratio:5.2f}x  {shown:>6}  {verdict}")
        print()
    print(f"({args.runs} rounds, median; python {sys.version.split()[0]}; {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
