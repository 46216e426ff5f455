"""Managing the store on real DuckDB files: case sets, archive and restore (`import --replace`),
removing cases and runs (rulings stay, noted), tenant isolation, and the migration of an old store."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from shadowpilot import workflow
from shadowpilot.config import Settings, load_settings
from shadowpilot.errors import NotFoundError, StoreOwnerError, UsageError
from shadowpilot.store import Store
from shadowpilot.store.schema import MIGRATIONS
from shadowpilot.types import Transcript
from tests.conftest import SAMPLE, make_case, write_config, write_jsonl

CLINIC = "harbourview-clinic"
DISAGREEMENT = "hv-005"  # the baseline agent and the human differ here (see tests/test_cli_workflow.py)


def settings_in(folder: Path, config: str = "shadowpilot.toml") -> Settings:
    return load_settings(folder / config, environ={})


@pytest.fixture
def acme(tenant_dir: Path) -> Settings:
    return settings_in(tenant_dir)


@pytest.fixture
def clinic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The sample clinic, its 20 transcripts imported."""
    shutil.copy(SAMPLE / "shadowpilot.toml", tmp_path / "shadowpilot.toml")
    monkeypatch.chdir(tmp_path)
    s = settings_in(tmp_path)
    workflow.import_files(s, [SAMPLE / "transcripts.jsonl"])
    return s


def add_shadow_case(s: Settings, case_id: str) -> None:
    """A case as the live shadow server stores it (source `shadow:<store>`)."""
    t = Transcript.model_validate(make_case(case_id, ["live call"], tenant=s.tenant.name))
    with Store.open(s.store_path) as store:
        store.add_cases([(t, f"shadow:{s.store_path.name}")])


def ids(s: Settings, *, archived: bool = False) -> list[str]:
    return [c.case_id for c in workflow.list_cases(s, archived=archived)]


# -- case sets: live shadow calls no longer join a replay silently ---------------------------


def test_run_replays_the_imported_cases_and_counts_the_shadow_ones_it_left_out(acme: Settings, tenant_dir: Path):
    f = write_jsonl(tenant_dir / "calls.jsonl", [make_case("a", ["hi"]), make_case("b", ["hello"])])
    workflow.import_files(acme, [f])
    add_shadow_case(acme, "live-1")

    rep = workflow.run(acme)
    assert rep.case_set == "imported" and rep.left_out == {"shadow": 1}
    with Store.open(acme.store_path) as store:
        assert sorted(store.manifest(rep.run_id).cases) == ["a", "b"]
        assert store.run_case_set(rep.run_id) == "imported"

    every = workflow.run(acme, cases="all")
    assert every.left_out == {} and every.cases == 3
    live = workflow.run(acme, cases="shadow")
    assert live.cases == 1 and live.left_out == {"file": 2}
    history = workflow.history(acme)
    assert list(history["case_set"]) == ["imported", "all", "shadow"]

    with pytest.raises(UsageError, match="'nope'"):
        workflow.run(acme, cases="nope")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"no twilio cases .* only 2 file-imported cases, 1 live shadow case"):
        workflow.run(acme, cases="twilio")


# -- import --replace: the archive -----------------------------------------------------------


def test_replace_archives_the_other_imported_cases_and_restore_brings_them_back(acme: Settings, tenant_dir: Path):
    first = write_jsonl(tenant_dir / "week1.jsonl", [make_case(c, [f"call {c}"]) for c in ("a", "b", "c")])
    workflow.import_files(acme, [first])
    add_shadow_case(acme, "live-1")
    second = write_jsonl(tenant_dir / "week2.jsonl", [make_case("a", ["call a"]), make_case("d", ["call d"])])

    rep = workflow.import_files(acme, [second], replace=True)
    assert rep.summary.archived == ["b", "c"] and rep.summary.stored == 2 and rep.stored_note is None
    assert ids(acme) == ["a", "live-1", "d"]  # live shadow cases are not the import's to replace
    assert ids(acme, archived=True) == ["b", "c"]
    run_id = workflow.run(acme).run_id
    with Store.open(acme.store_path) as store:
        assert sorted(store.manifest(run_id).cases) == ["a", "d"]  # archived cases are not replayed

    back = workflow.restore_cases(acme, ["b", "a"])
    assert back.restored == ["b"] and back.not_archived == ["a"]
    assert ids(acme, archived=True) == ["c"]
    with pytest.raises(NotFoundError, match="'zz'"):
        workflow.restore_cases(acme, ["c", "zz"])
    assert ids(acme, archived=True) == ["c"]  # nothing restored
    again = workflow.import_files(acme, [first])  # importing an archived case brings it back
    assert again.summary.restored == ["c"] and ids(acme, archived=True) == []


def test_a_top_import_that_leaves_more_cases_stored_than_n_says_so(clinic: Settings):
    rep = workflow.import_files(clinic, [SAMPLE / "transcripts.jsonl"], top=5)
    assert rep.summary.stored == 20
    assert rep.stored_note is not None
    assert "20 imported cases, more than the 5 kept" in str(rep.stored_note)
    assert "replace=True" in str(rep.stored_note)  # said in the library's terms
    replaced = workflow.import_files(clinic, [SAMPLE / "transcripts.jsonl"], top=5, replace=True)
    assert replaced.stored_note is None and replaced.summary.stored == 5 and len(replaced.summary.archived) == 15
    assert len(ids(clinic)) == 5
    assert workflow.restore_cases(clinic).restored and len(ids(clinic)) == 20


# -- removal ---------------------------------------------------------------------------------


def test_removing_a_case_takes_its_versions_and_results_and_notes_its_rulings(clinic: Settings):
    run_id = workflow.run(clinic).run_id
    workflow.gate(clinic, run_id)
    workflow.record_ruling(clinic, DISAGREEMENT, "ai_right", "the AI was right", by="ana", run_id=run_id)
    with Store.open(clinic.store_path) as store:
        verdicts_before = store.con.execute("SELECT count(*) FROM gate_results").fetchone()

    plan = workflow.remove_cases(clinic, [DISAGREEMENT], dry_run=True)
    assert plan.runs == {DISAGREEMENT: [run_id]} and plan.rulings == 1 and plan.removed_at is None
    assert DISAGREEMENT in ids(clinic)  # a dry run removes nothing

    done = workflow.remove_cases(clinic, [DISAGREEMENT])
    assert done.removed_at is not None
    assert DISAGREEMENT not in ids(clinic) and len(ids(clinic)) == 19
    with Store.open(clinic.store_path) as store:
        assert store.case_versions(DISAGREEMENT).empty
        assert DISAGREEMENT not in store.run_case_versions(run_id)
        assert len(store.run_case_versions(run_id)) == 19  # the run keeps its other cases
        for table in ("steps", "scores"):
            assert store.con.execute(f"SELECT count(*) FROM {table} WHERE case_id = ?", [DISAGREEMENT]).fetchone() == (
                0,
            )
        assert store.con.execute("SELECT count(*) FROM gate_results").fetchone() == verdicts_before
        rulings = store.rulings(DISAGREEMENT)
    assert len(rulings) == 1 and rulings.loc[0, "note"] == "the AI was right"  # the reviewer's words, kept
    assert rulings.loc[0, "audit_note"].startswith("case removed 20")
    assert rulings.loc[0, "audit_note"].endswith("Z")
    regated = workflow.gate(clinic, run_id)  # the run is still scored, on what is left
    assert regated.cases == 19


def test_an_unknown_case_removes_nothing(clinic: Settings):
    with pytest.raises(NotFoundError, match="'nope'"):
        workflow.remove_cases(clinic, ["hv-001", "nope"])
    assert "hv-001" in ids(clinic)


def test_removing_a_run_takes_what_it_stored_and_its_rulings_stay_and_apply(clinic: Settings):
    first = workflow.run(clinic).run_id
    second = workflow.run(clinic).run_id
    workflow.gate(clinic, first)
    workflow.record_ruling(clinic, DISAGREEMENT, "ai_right", "ruled on the first run", by="ana", run_id=first)
    plan = workflow.remove_runs(clinic, [first], dry_run=True)
    assert plan.calls == 20 and plan.gate_results == 1 and plan.rulings == 1

    workflow.remove_runs(clinic, [first])
    assert list(workflow.history(clinic)["run_id"]) == [second]
    with Store.open(clinic.store_path) as store:
        for table in ("run_cases", "steps", "scores", "gate_results"):
            assert store.con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [first]).fetchone() == (0,)
        rulings = store.rulings(DISAGREEMENT)
        assert rulings.loc[0, "audit_note"].startswith("run removed ")
        assert DISAGREEMENT in store.current_rulings(second)  # the same case version: the ruling applies
    with pytest.raises(NotFoundError, match=first):
        workflow.remove_runs(clinic, [second, first])
    assert list(workflow.history(clinic)["run_id"]) == [second]  # all or nothing


def test_a_running_run_and_its_cases_are_not_removed(acme: Settings, tenant_dir: Path):
    workflow.import_files(acme, [write_jsonl(tenant_dir / "c.jsonl", [make_case("a", ["hi"])])])
    run_id = workflow.run(acme).run_id
    with Store.open(acme.store_path) as store:
        store.reopen_run(run_id)  # as a run in progress in another process leaves it
    with pytest.raises(UsageError, match="running"):
        workflow.remove_runs(acme, [run_id])
    assert run_id in list(workflow.history(acme)["run_id"])
    with pytest.raises(UsageError, match=f"run {run_id} is replaying these cases"):
        workflow.remove_cases(acme, ["a"])  # its process would go on writing results for it
    assert ids(acme) == ["a"]


# -- tenants ---------------------------------------------------------------------------------


def test_removal_never_touches_another_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Two tenants side by side in one folder, the same case id in both."""
    monkeypatch.chdir(tmp_path)
    for tenant in ("acme", "globex"):
        (tmp_path / tenant).mkdir()
        write_config(tmp_path / tenant, tenant=tenant)
    acme, globex = settings_in(tmp_path / "acme"), settings_in(tmp_path / "globex")
    for s in (acme, globex):
        f = write_jsonl(tmp_path / f"{s.tenant.name}.jsonl", [make_case("shared-id", ["hi"], tenant=s.tenant.name)])
        workflow.import_files(s, [f])
    workflow.remove_cases(acme, ["shared-id"])
    assert ids(acme) == [] and ids(globex) == ["shared-id"]

    # a config naming another tenant cannot reach this tenant's store
    shutil.copy(globex.store_path, acme.store_path)
    with pytest.raises(StoreOwnerError, match="globex"):
        workflow.remove_cases(acme, ["shared-id"])
    assert ids(globex) == ["shared-id"]


# -- migration -------------------------------------------------------------------------------


def drop_schema_8(con: duckdb.DuckDBPyConnection) -> None:
    """Take away what migration 8 (audio runs) added."""
    for column in ("heard", "asr_ms", "audio_s", "asr_cost_usd"):
        con.execute(f"ALTER TABLE steps DROP COLUMN {column}")
    for column in ("asr_turns", "asr_wer"):
        con.execute(f"ALTER TABLE scores DROP COLUMN {column}")


def test_a_store_from_before_the_case_sets_opens_migrated(clinic: Settings):
    """A store as schema 6 left it (written through this code, then the columns taken away): it
    opens, its runs are marked as having replayed every case, and nothing is archived."""
    run_id = workflow.run(clinic).run_id
    con = duckdb.connect(str(clinic.store_path))
    con.execute("ALTER TABLE cases DROP COLUMN archived_at")
    con.execute("ALTER TABLE runs DROP COLUMN case_set")
    con.execute("ALTER TABLE rulings DROP COLUMN audit_note")
    drop_schema_8(con)
    con.execute("DELETE FROM schema_migrations WHERE version >= 7")
    con.close()

    with Store.open(clinic.store_path) as store:
        assert store.schema_version() == len(MIGRATIONS) == 8
        assert store.run_case_set(run_id) == "all"
    assert len(ids(clinic)) == 20 and ids(clinic, archived=True) == []
    assert workflow.run(clinic).case_set == "imported"


def test_a_store_from_before_audio_runs_opens_migrated(clinic: Settings):
    """A store as schema 7 left it (no heard-text columns on steps, no ASR scores): it opens migrated,
    its steps read as heard nothing (a text run), it gates, and a new run writes beside them."""
    first = workflow.run(clinic).run_id
    workflow.gate(clinic, first)
    con = duckdb.connect(str(clinic.store_path))
    drop_schema_8(con)
    con.execute("DELETE FROM schema_migrations WHERE version = 8")
    con.close()

    with Store.open(clinic.store_path) as store:
        assert store.schema_version() == len(MIGRATIONS) == 8
        old = store.scoring_steps(first)
        assert len(old) > 0 and old["heard"].isna().all() and old["asr_ms"].isna().all()
    assert workflow.gate(clinic, first).asr is None  # scored again, into the new columns: not measured
    second = workflow.run(clinic).run_id
    with Store.open(clinic.store_path) as store:
        assert len(store.scoring_steps(second)) == len(old)
        assert store.manifest(second).asr is None
