"""A shadow day's manifest is written once: its calls are read back from run_cases.

The server stores a pilot day's calls batch after batch (Store.add_shadow_calls). Rewriting a
map of every call so far into the day's manifest row made each batch cost O(calls) and grew the
server's memory as the day went on; the row now stays the size it was written at, and every
reader (gate/report's `manifest`, history's `manifests` and its changed column) gets the map
it got before, in the same order, from a store written either way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from shadowpilot.store import Store
from shadowpilot.types import AgentStep, CallRun, Recommendation, RunManifest, Transcript
from shadowpilot.workflow.changes import run_changes
from tests.conftest import make_case


def _call(case_id: str, text: str) -> tuple[Transcript, CallRun]:
    case = Transcript.model_validate(make_case(case_id, [text]))
    rec = Recommendation(case_id=case.id, turn=0, escalate=False, reply="hi")
    steps = [AgentStep(turn=0, customer_turn=0, recommendation=rec)]
    return case, CallRun(case_id=case.id, fingerprint=case.fingerprint(), steps=steps)


def _manifest(day: int) -> RunManifest:
    return RunManifest(
        run_id=f"shadow-2030010{day}",
        created_at=datetime(2030, 1, day, tzinfo=UTC),
        tenant="acme",
        mode="shadow",
        agent={"kind": "baseline"},
        cases={},
        versions={},
    )


# Two days, stored in batches as the server stores them; ids out of sorted order, so the
# order the calls were stored in is what the map must keep. Day 2 repeats a call of its own
# (a server killed before its `scored` line redoes the batch) with nothing changed.
BATCHES = [
    (1, ["CA09", "CA03", "CA07"]),
    (1, ["CA01", "CA08"]),
    (1, ["CA05"]),
    (2, ["CA20", "CA11"]),
    (2, ["CA11", "CA15"]),
]


def _store_day(path: Path, *, old_manifest: bool) -> list[int]:
    """Store BATCHES; with `old_manifest`, rewrite each run's row as the server before this
    change did (every call so far in the map). Returns the manifest row's size after each batch."""
    sizes = []
    with Store.open(path) as store:
        for day, ids in BATCHES:
            calls = [(*_call(cid, f"{cid} on day {day}"), _manifest(day)) for cid in ids]
            store.add_shadow_calls(calls, source="twilio")
            run_id = _manifest(day).run_id
            if old_manifest:
                row = store.con.execute("SELECT manifest FROM runs WHERE run_id = ?", [run_id]).fetchall()
                body = RunManifest.model_validate_json(row[0][0])
                fps = {cr.case_id: cr.fingerprint for _, cr, _ in calls}
                body = body.model_copy(update={"cases": {**body.cases, **fps}})
                store.con.execute("UPDATE runs SET manifest = ? WHERE run_id = ?", [body.model_dump_json(), run_id])
            row = store.con.execute("SELECT length(manifest::VARCHAR) FROM runs WHERE run_id = ?", [run_id])
            sizes.append(int(row.fetchall()[0][0]))
    return sizes


def test_the_days_manifest_row_does_not_grow_with_its_calls(tmp_path: Path) -> None:
    sizes = _store_day(tmp_path / "s.duckdb", old_manifest=False)
    assert sizes[0] == sizes[1] == sizes[2]  # day 1: 3, then 5, then 6 calls
    assert sizes[3] == sizes[4]


def test_every_reader_gets_the_map_it_got_from_a_store_written_before(tmp_path: Path) -> None:
    _store_day(tmp_path / "new.duckdb", old_manifest=False)
    _store_day(tmp_path / "old.duckdb", old_manifest=True)
    with Store.open(tmp_path / "new.duckdb") as new, Store.open(tmp_path / "old.duckdb") as old:
        for run_id, ids in (
            ("shadow-20300101", ["CA09", "CA03", "CA07", "CA01", "CA08", "CA05"]),
            ("shadow-20300102", ["CA20", "CA11", "CA15"]),
        ):
            got, before = new.manifest(run_id), old.manifest(run_id)
            assert list(got.cases) == list(before.cases) == ids  # in the order stored, not sorted
            assert got == before
            assert got.model_dump_json() == before.model_dump_json()  # what `report --format json` embeds
            fingerprints = {c.id: c.fingerprint() for c in new.run_cases(run_id)}
            assert got.cases == fingerprints
        assert new.manifests() == old.manifests()
        changes = run_changes(new.manifests())
        assert changes == run_changes(old.manifests())
        assert changes == {"shadow-20300101": None, "shadow-20300102": ["cases"]}
