"""Managing the store through the real CLI (typer's CliRunner, and a pseudo-terminal for the
confirmation): `cases`, `cases rm`, `cases restore`, `runs rm`, `import --replace`, `run --cases`."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from shadowpilot.config import load_settings
from shadowpilot.store import Store
from shadowpilot.types import Transcript
from tests.conftest import invoke, make_case, write_jsonl


def as_json(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def stored(tenant_dir: Path, cli) -> Path:
    """Tenant acme with three imported cases (one critical and tagged) and one live shadow case."""
    cases = [
        make_case("a", ["my card was stolen"], escalated=True, at_customer_turn=0, reason="fraud", critical=True),
        make_case("b", ["opening hours?"], tags=["hours"]),
        make_case("c", ["change my address"]),
    ]
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "calls.jsonl", cases))).exit_code == 0
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    live = Transcript.model_validate(make_case("live-1", ["a live call"]))
    with Store.open(s.store_path) as store:
        store.add_cases([(live, f"shadow:{s.store_path.name}")])
    return tenant_dir


def wide(cli, *args: str):
    """The CLI on a wide terminal: tables show every column in full."""
    from shadowpilot.cli import app

    return cli.invoke(app, list(args), env={"COLUMNS": "200"}, catch_exceptions=False)


def case_ids(cli, *args: str) -> list[str]:
    return [c["case_id"] for c in as_json(invoke(cli, "cases", "--json", *args))["cases"]]


def test_cases_lists_what_is_stored(stored: Path, cli) -> None:
    run_id = as_json(invoke(cli, "run", "--json"))["run_id"]
    listed = {c["case_id"]: c for c in as_json(invoke(cli, "cases", "--json"))["cases"]}
    assert list(listed) == ["a", "b", "c", "live-1"]
    a = listed["a"]
    assert (a["version"], a["origin"], a["channel"], a["escalated"], a["reason"], a["critical"]) == (
        1,
        "file",
        "voice",
        True,
        "fraud",
        True,
    )
    assert a["source"].endswith("calls.jsonl") and a["runs"] == [run_id] and a["archived_at"] is None
    assert listed["b"]["tags"] == ["hours"]
    assert listed["live-1"]["origin"] == "shadow" and listed["live-1"]["runs"] == []  # left out of the run

    table = wide(cli, "cases")
    assert table.exit_code == 0, table.stderr
    for text in ("a", "calls.jsonl", "fraud", "shadow:acme.duckdb", run_id):
        assert text in table.stdout


def test_run_leaves_out_the_shadow_cases_and_says_so(stored: Path, cli) -> None:
    ran = invoke(cli, "run")
    assert ran.exit_code == 0, ran.stderr
    assert "left out: 1 live shadow case" in ran.stderr and "--cases all" in ran.stderr
    every = as_json(invoke(cli, "run", "--cases", "all", "--json"))
    assert every["cases"] == 4 and every["case_set"] == "all" and every["left_out"] == {}
    live = as_json(invoke(cli, "run", "--cases", "shadow", "--json"))
    assert live["cases"] == 1 and live["left_out"] == {"file": 3}

    runs = as_json(invoke(cli, "history", "--json"))["runs"]
    assert [r["case_set"] for r in runs] == ["imported", "all", "shadow"]
    table = wide(cli, "history")
    assert "4 all" in table.stdout and "1 shadow" in table.stdout

    bad = invoke(cli, "run", "--cases", "everything")
    assert bad.exit_code == 2 and "--cases 'everything'" in bad.stderr and "imported" in bad.stderr
    none = invoke(cli, "run", "--cases", "twilio")
    assert none.exit_code == 2 and "--cases chooses the set" in none.stderr


def test_reports_say_which_set_the_run_replayed(stored: Path, cli) -> None:
    invoke(cli, "run", "--cases", "all")
    md = invoke(cli, "report", "--format", "md")
    assert md.exit_code == 0, md.stderr
    assert "4 cases (the all set)" in md.stdout
    data = json.loads(invoke(cli, "report", "--format", "json").stdout)
    assert data["case_set"] == "all"
    html = invoke(cli, "report", "--format", "html", "-o", str(stored / "report.html"))
    assert html.exit_code == 0, html.stderr
    assert "replay · all cases" in (stored / "report.html").read_text(encoding="utf-8")


def test_cases_rm_asks_and_without_a_terminal_needs_yes(stored: Path, cli) -> None:
    refused = invoke(cli, "cases", "rm", "b")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "b" in case_ids(cli)  # nothing removed

    unknown = invoke(cli, "cases", "rm", "b", "nope", "--yes")
    assert unknown.exit_code == 2 and "'nope'" in unknown.stderr and "nothing was removed" in unknown.stderr
    assert "b" in case_ids(cli)

    done = as_json(invoke(cli, "cases", "rm", "b", "--yes", "--json"))
    assert done["removed"] == ["b"] and done["removed_at"]
    assert case_ids(cli) == ["a", "c", "live-1"]


def test_import_replace_archives_and_restore_brings_back(stored: Path, cli) -> None:
    newer = write_jsonl(stored / "newer.jsonl", [make_case("c", ["change my address"]), make_case("d", ["hi"])])
    kept = invoke(cli, "import", str(newer), "--top", "2")
    assert kept.exit_code == 0, kept.stderr
    assert "4 imported cases, more than the 2 kept here" in kept.stderr and "--replace" in kept.stderr

    replaced = as_json(invoke(cli, "import", str(newer), "--top", "2", "--replace", "--json"))
    assert replaced["archived"] == ["a", "b"] and replaced["stored"] == 2 and replaced["stored_note"] is None
    assert case_ids(cli) == ["c", "live-1", "d"]
    assert case_ids(cli, "--archived") == ["a", "b"]
    assert as_json(invoke(cli, "cases", "restore", "--all", "--json"))["restored"] == ["a", "b"]
    human = wide(cli, "import", str(newer), "--replace")
    assert human.exit_code == 0, human.stderr
    assert "archived 2 earlier imported cases" in human.stdout and "cases restore" in human.stdout

    neither = invoke(cli, "cases", "restore")
    assert neither.exit_code == 2 and "--all" in neither.stderr
    one = as_json(invoke(cli, "cases", "restore", "a", "--json"))
    assert one == {"restored": ["a"], "not_archived": []}
    assert as_json(invoke(cli, "cases", "restore", "--all", "--json"))["restored"] == ["b"]
    assert case_ids(cli, "--archived") == []


def test_runs_rm(stored: Path, cli) -> None:
    first = as_json(invoke(cli, "run", "--json"))["run_id"]
    second = as_json(invoke(cli, "run", "--json"))["run_id"]
    assert invoke(cli, "runs", "rm", first).exit_code == 2  # no terminal, no --yes
    removed = as_json(invoke(cli, "runs", "rm", first, "--yes", "--json"))
    assert removed["removed"] == [first] and removed["calls"] == 3
    assert [r["run_id"] for r in as_json(invoke(cli, "history", "--json"))["runs"]] == [second]
    gone = invoke(cli, "runs", "rm", first, "--yes")
    assert gone.exit_code == 2 and first in gone.stderr


def test_runs_rm_takes_run_references(stored: Path, cli) -> None:
    """`runs rm` reads a run as every other step does: `latest`, a unique suffix."""
    first = as_json(invoke(cli, "run", "--json"))["run_id"]
    second = as_json(invoke(cli, "run", "--json"))["run_id"]
    assert as_json(invoke(cli, "runs", "rm", "latest", "--yes", "--json"))["removed"] == [second]
    assert as_json(invoke(cli, "runs", "rm", first[-6:], "--yes", "--json"))["removed"] == [first]
    assert as_json(invoke(cli, "history", "--json"))["runs"] == []


def _answer_on_a_terminal(folder: Path, answer: str, *args: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its stdin and stderr, answer its question, and return
    its exit code and what the terminal showed."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shadowpilot.cli", *args],
        cwd=folder,
        env=env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while b"[y/N]" not in shown:
        ready, _, _ = select.select([leader], [], [], 30)
        assert ready, f"no question asked; the terminal showed {shown!r}"
        shown += os.read(leader, 4096)
    os.write(leader, answer.encode() + b"\n")
    code = proc.wait(timeout=60)
    try:
        while select.select([leader], [], [], 0.5)[0]:
            shown += os.read(leader, 4096)
    except OSError:  # the terminal closed with the process
        pass
    os.close(leader)
    assert proc.stdout is not None
    proc.stdout.close()
    return code, shown.decode(errors="replace")


def test_cases_rm_on_a_terminal_asks_first(stored: Path, cli) -> None:
    code, shown = _answer_on_a_terminal(stored, "n", "cases", "rm", "a")
    assert code == 0 and "remove 1 case (1 version)?" in shown and "nothing was removed" in shown
    assert "a" in case_ids(cli)
    code, shown = _answer_on_a_terminal(stored, "y", "cases", "rm", "a")
    assert code == 0, shown
    assert "a" not in case_ids(cli)


def test_review_history_keeps_every_ruling_with_what_happened_since(stored: Path, cli) -> None:
    """The rulings' audit: a superseded ruling stays, and a removed case's and run's rulings stay
    in `review --history`, noted, while scoring no longer sees them."""
    run = as_json(invoke(cli, "run", "--json"))["run_id"]
    assert invoke(cli, "review", "--case", "a", "--ruling", "unclear", "--by", "ana").exit_code == 0
    assert (
        invoke(cli, "review", "--case", "a", "--ruling", "ai_right", "--note", "test call", "--by", "bo").exit_code == 0
    )
    rulings = as_json(invoke(cli, "review", "--history", "--json"))["rulings"]
    assert [(r["case_id"], r["ruling"], r["current"], r["audit_note"]) for r in rulings] == [
        ("a", "unclear", False, None),
        ("a", "ai_right", True, None),
    ]
    assert invoke(cli, "runs", "rm", run, "--yes").exit_code == 0
    assert invoke(cli, "cases", "rm", "a", "--yes").exit_code == 0
    after = as_json(invoke(cli, "review", "--history", "--case", "a", "--json"))["rulings"]
    assert [r["ruling_id"] for r in after] == [r["ruling_id"] for r in rulings]  # none lost
    for r in after:
        assert "run removed" in r["audit_note"] and "case removed" in r["audit_note"], r["audit_note"]
        assert r["run_id"] == run and r["ruled_by"] in {"ana", "bo"}
    table = wide(cli, "review", "--history")
    assert table.exit_code == 0, table.stderr
    assert run in table.stdout and "superseded" in table.stdout and "case removed" in table.stdout
    assert as_json(invoke(cli, "review", "--history", "--case", "b", "--json")) == {"rulings": []}
