"""The tenant store: a real DuckDB file; versions, transactions, migrations, interrupted runs."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from shadowpilot import workflow
from shadowpilot.config import load_settings
from shadowpilot.errors import RunInterrupted, StoreError, UsageError
from shadowpilot.store import Store
from shadowpilot.store.schema import MIGRATIONS
from shadowpilot.types import Transcript
from tests.conftest import invoke, make_case, write_config, write_jsonl


def case(case_id: str, text: str = "hello") -> Transcript:
    return Transcript.model_validate(make_case(case_id, [text, "thanks"]))


def test_a_failed_transaction_leaves_the_store_as_it_was(tmp_path: Path):
    db = tmp_path / "t.duckdb"
    with Store.open(db) as store:
        store.add_cases([(case("a"), None)])
        with pytest.raises(RuntimeError), store.transaction() as con:
            con.execute("DELETE FROM cases")
            raise RuntimeError("power cut")
        assert [c.id for c in store.current_cases()] == ["a"]
    # and the file on disk agrees, seen from a fresh connection
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
    con.close()


def test_changed_case_is_a_new_version_and_runs_keep_the_version_they_used(tenant_dir: Path):
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    f = write_jsonl(tenant_dir / "v1.jsonl", [make_case("a", ["first wording"]), make_case("b", ["x"])])
    workflow.import_files(settings, [f])
    run1 = workflow.run(settings).run_id
    write_jsonl(tenant_dir / "v2.jsonl", [make_case("a", ["second wording"])])
    report = workflow.import_files(settings, [tenant_dir / "v2.jsonl"])
    assert report.summary.updated == ["a"] and report.summary.added == []
    with Store.open(settings.store_path) as store:
        assert len(store.case_versions("a")) == 2
        current = {c.id: c for c in store.current_cases()}
        assert current["a"].turns[0].text == "second wording"
        used = {c.id: c for c in store.run_cases(run1)}
        assert used["a"].turns[0].text == "first wording"  # the run is what it measured
        assert store.manifest(run1).cases["a"] == used["a"].fingerprint()


def test_migrations_apply_once_and_a_newer_store_is_refused(tmp_path: Path):
    db = tmp_path / "t.duckdb"
    with Store.open(db) as store:
        assert store.schema_version() == len(MIGRATIONS)
    with Store.open(db) as store:  # opening again applies nothing twice
        n = store.con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
        assert n == len(MIGRATIONS)
        store.con.execute("INSERT INTO schema_migrations VALUES (999, now())")
    with pytest.raises(StoreError, match="newer shadowpilot"), Store.open(db):
        pass


def test_an_interrupted_run_is_kept_but_not_gated(tenant_dir: Path, monkeypatch: pytest.MonkeyPatch):
    mod = tenant_dir / "interrupting_agent.py"
    # Ctrl-C as a user sends it: SIGINT to the process while case c3 is being replayed
    mod.write_text(
        "import asyncio, os, signal\n"
        "async def recommend(ctx):\n"
        "    if ctx.case_id == 'c3':\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        await asyncio.sleep(1)\n"
        "    return {'escalate': False}\n"
    )
    monkeypatch.syspath_prepend(str(tenant_dir))
    write_config(tenant_dir, '[agent]\nkind = "python"\ntarget = "interrupting_agent:recommend"\nconcurrency = 1\n')
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    f = write_jsonl(tenant_dir / "c.jsonl", [make_case(f"c{i}", ["hi"]) for i in range(6)])
    workflow.import_files(settings, [f])
    with pytest.raises(KeyboardInterrupt):
        workflow.run(settings)
    hist = workflow.history(settings)
    assert hist["status"].tolist() == ["interrupted"]
    assert 0 < hist["cases"].iloc[0] < 6  # what finished before the interrupt was kept
    with pytest.raises(UsageError, match="no finished run"):
        workflow.gate(settings)
    with pytest.raises(UsageError, match="interrupted"):
        workflow.gate(settings, hist["run_id"].iloc[0])


def test_resume_finishes_an_interrupted_run_without_redoing_finished_calls(
    tenant_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    mod = tenant_dir / "once_agent.py"
    # Ctrl-C once, at case c3; every call the agent answers is logged so the resume can be checked
    mod.write_text(
        "import asyncio, os, signal, pathlib\n"
        "async def recommend(ctx):\n"
        "    flag = pathlib.Path('interrupt.flag')\n"
        "    if ctx.case_id == 'c3' and flag.exists():\n"
        "        flag.unlink()\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        await asyncio.sleep(1)\n"
        "    with open('calls.log', 'a') as f:\n"
        "        f.write(ctx.case_id + '\\n')\n"
        "    return {'escalate': False}\n"
    )
    (tenant_dir / "interrupt.flag").touch()
    monkeypatch.syspath_prepend(str(tenant_dir))
    write_config(tenant_dir, '[agent]\nkind = "python"\ntarget = "once_agent:recommend"\nconcurrency = 1\n')
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    f = write_jsonl(tenant_dir / "c.jsonl", [make_case(f"c{i}", ["hi"]) for i in range(6)])
    workflow.import_files(settings, [f])
    with pytest.raises(RunInterrupted) as stopped:  # a KeyboardInterrupt, saying what was kept
        workflow.run(settings)
    before = (tenant_dir / "calls.log").read_text().split()
    assert before == ["c0", "c1", "c2"]
    assert (stopped.value.kept, stopped.value.total) == (3, 6)
    assert isinstance(stopped.value, KeyboardInterrupt)
    assert stopped.value.run_id == workflow.history(settings)["run_id"].iloc[0]

    out = invoke(CliRunner(), "run", "--resume", "--json")
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["status"] == "complete" and summary["resumed"] == 3
    calls = (tenant_dir / "calls.log").read_text().split()
    assert calls == ["c0", "c1", "c2", "c3", "c4", "c5"]  # each case asked once across both runs
    hist = workflow.history(settings)
    assert hist["status"].tolist() == ["complete"] and hist["cases"].tolist() == [6]
    assert workflow.gate(settings).cases == 6
    again = invoke(CliRunner(), "run", "--resume")
    assert again.exit_code == 2 and "no unfinished run" in again.output


def test_resume_refuses_a_changed_agent(tenant_dir: Path, monkeypatch: pytest.MonkeyPatch):
    write_config(tenant_dir, '[agent]\nkind = "python"\ntarget = "kill_agent:recommend"\nconcurrency = 1\n')
    (tenant_dir / "kill_agent.py").write_text(
        "import os, signal\ndef recommend(ctx):\n    os.kill(os.getpid(), signal.SIGINT)\n"
    )
    monkeypatch.syspath_prepend(str(tenant_dir))
    settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    workflow.import_files(settings, [write_jsonl(tenant_dir / "c.jsonl", [make_case("c0", ["hi"])])])
    with pytest.raises(KeyboardInterrupt):
        workflow.run(settings)
    write_config(tenant_dir, '[agent]\nkind = "baseline"\n')
    out = invoke(CliRunner(), "run", "--resume")
    assert out.exit_code == 2 and "changed since run" in out.output
