"""Run references (workflow/refs.py) on a real DuckDB store holding several runs whose ids share prefixes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shadowpilot.errors import NotFoundError, UsageError
from shadowpilot.store import Store
from shadowpilot.types import RunManifest
from shadowpilot.workflow.refs import resolve_ref
from shadowpilot.workflow.workspace import find_run, resolve_run_id

# (id, start time, mode, status), not in the order they started: the store orders them.
RUNS = [
    ("run-20261201-120000-0d97", datetime(2026, 12, 1, 12, 0, tzinfo=UTC), "replay", "interrupted"),
    ("run-20261201-100000-0d96", datetime(2026, 12, 1, 10, 0, tzinfo=UTC), "replay", "complete"),
    ("shadow-20261201", datetime(2026, 12, 1, 11, 30, tzinfo=UTC), "shadow", "complete"),
    ("run-20261201-110000-ab12", datetime(2026, 12, 1, 11, 0, tzinfo=UTC), "replay", "complete"),
    ("selftest-20261201", datetime(2026, 12, 1, 12, 30, tzinfo=UTC), "selftest", "complete"),
    ("shadow-20261202", datetime(2026, 12, 2, 9, 0, tzinfo=UTC), "shadow", "complete"),
]


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "t.duckdb") as s:
        for run_id, created, mode, status in RUNS:
            m = RunManifest(
                run_id=run_id,
                created_at=created,
                tenant="acme",
                mode=mode,  # type: ignore[arg-type]
                agent={"kind": "baseline"},
                cases={},
                versions={},
            )
            s.create_run(m)
            if status != "running":
                s.finish_run(run_id, status, m)
        yield s


def ref(store: Store, text: str) -> str:
    return find_run(store, text).run_id


def test_runs_are_listed_as_history_lists_them(store: Store) -> None:
    assert [r.run_id for r in store.runs()] == list(store.history()["run_id"])
    assert store.runs()[0].created_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_full_id_a_unique_prefix_or_a_unique_suffix_names_one_run(store: Store) -> None:
    for run_id, *_ in RUNS:
        assert ref(store, run_id) == run_id
    assert ref(store, "0d96") == "run-20261201-100000-0d96"  # suffix
    assert ref(store, "ab12") == "run-20261201-110000-ab12"
    assert ref(store, "run-20261201-11") == "run-20261201-110000-ab12"  # prefix
    assert ref(store, "20261201-11") == "run-20261201-110000-ab12"  # the prefix without its `run-`
    assert ref(store, "shadow-20261202") == ref(store, "20261202") == "shadow-20261202"
    assert ref(store, "  0d97 ") == "run-20261201-120000-0d97"  # pasted with spaces


def test_latest_is_the_newest_replay_run_and_latest_tilde_counts_back(store: Store) -> None:
    assert ref(store, "latest") == "run-20261201-120000-0d97"  # whatever its status, as history shows it
    assert ref(store, "latest~0") == "run-20261201-120000-0d97"
    assert ref(store, "latest~1") == "run-20261201-110000-ab12"
    assert ref(store, "latest~2") == "run-20261201-100000-0d96"
    assert ref(store, "latest-shadow") == "shadow-20261202"  # not the selftest run, not a replay
    assert ref(store, "latest-shadow~1") == "shadow-20261201"
    with pytest.raises(NotFoundError, match=r"no run 'latest~3': .* holds 3 replay run\(s\); see `?history"):
        ref(store, "latest~3")


def test_an_ambiguous_reference_lists_the_candidates_with_their_times(store: Store) -> None:
    with pytest.raises(UsageError) as caught:
        ref(store, "run-20261201-1")
    message = str(caught.value)
    assert caught.value.exit_code == 2 and "\n" not in message
    assert "'run-20261201-1' is ambiguous: 3 runs match" in message
    # newest first, each with its start time
    assert (
        "run-20261201-120000-0d97 (2026-12-01 12:00:00Z), run-20261201-110000-ab12 (2026-12-01 11:00:00Z), "
        "run-20261201-100000-0d96 (2026-12-01 10:00:00Z)"
    ) in message
    with pytest.raises(UsageError, match=r"'1201' is ambiguous: 2 runs match: selftest-20261201 .*, shadow-20261201"):
        ref(store, "1201")  # a suffix of two
    with pytest.raises(UsageError, match="'20261201' is ambiguous: 5 runs match"):  # every kind of run
        ref(store, "20261201")


def test_an_unknown_or_empty_reference_is_exit_2_naming_it(store: Store) -> None:
    with pytest.raises(NotFoundError) as caught:
        ref(store, "zz99")
    assert caught.value.exit_code == 2
    assert "no run 'zz99' in" in str(caught.value) and str(store.path) in str(caught.value)
    assert caught.value.say({"history": "`shadowpilot history`"}).endswith("see `shadowpilot history`")
    with pytest.raises(UsageError, match="empty run reference"):
        ref(store, " ")


def test_a_step_needs_the_run_it_names_complete_and_the_default_is_unchanged(store: Store) -> None:
    # no reference: the newest complete run that is not a selftest, replay or shadow (as before)
    assert resolve_run_id(store, None) == "shadow-20261202"
    assert resolve_run_id(store, "latest~1") == "run-20261201-110000-ab12"
    with pytest.raises(UsageError, match=r"run run-20261201-120000-0d97 \(latest\) is interrupted, not complete"):
        resolve_run_id(store, "latest")


def test_the_resolver_reads_only_what_it_is_given() -> None:
    with pytest.raises(NotFoundError, match="holds no replay run"):
        resolve_ref([], "latest", "nowhere")
