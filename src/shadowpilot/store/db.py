"""The tenant store: one DuckDB file per tenant. The only module that talks to DuckDB.

Every write is one transaction: a failure leaves the store as it was.
Reads hand back DataFrames or core types; callers never see SQL. pandas loads only when a
DataFrame is made: what a listing reads (run_summaries) comes back as typed rows without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..case_sets import IMPORTED, Origin, origin_of
from ..errors import EnvironmentFailure, NotFoundError, StoreBusyError, StoreError, StoreOwnerError, UsageError
from ..private import private_dir, private_file
from ..types import CallRun, CaseAudio, GateResult, Judgement, RecordedRuling, Ruling, RunManifest, Transcript
from .records import CaseRemoval, Restored, RunRemoval, StoredCase
from .schema import MIGRATIONS

if TYPE_CHECKING:
    import pandas as pd

    from ..config import Settings

STEP_COLUMNS = [
    "run_id",
    "case_id",
    "repeat",
    "turn",
    "customer_turn",
    "escalate",
    "reply",
    "reason",
    "urgency",
    "routing",
    "queue",
    "summary",
    "sentiment",
    "latency_ms",
    "first_token_ms",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "error",
    "cached",
    "heard",
    "asr_ms",
    "audio_s",
    "asr_cost_usd",
]


LOCK_TIMEOUT_S = 10.0  # how long a command waits for another process (a run, the shadow server) to release the store

CASE_CASTS = {
    "tags": "from_json(tags, '[\"VARCHAR\"]')",
    "expected_routing": "CAST(expected_routing AS JSON)",
    "body": "CAST(body AS JSON)",
    "started_at": "CAST(started_at AS TIMESTAMPTZ)",
    "imported_at": "CAST(imported_at AS TIMESTAMPTZ)",
}


HEADER_BYTES = 3 * 4096  # DuckDB's file header and its two database headers, before the first block


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _writable(path: Path) -> bool:
    """Whether the store file can be written: its mode and flags (root passes a mode check, not an
    immutable flag), and the disk it is on (a read-only mount)."""
    try:
        return os.access(path, os.W_OK) and not os.statvfs(path).f_flag & os.ST_RDONLY
    except OSError:
        return False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _connect(path: Path, read_only: bool, lock_timeout_s: float) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, waiting out another process's lock for up to `lock_timeout_s`."""
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise StoreError(f"cannot open the store {path}: {_one_line(exc)}") from exc
            if time.monotonic() + delay > deadline:
                holder = lock_holder(str(exc)) or "another process"
                raise StoreBusyError(
                    f"the store {path} is held by {holder}, still locked after {lock_timeout_s:g} s; "
                    "try again when it has finished"
                ) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store {path}: {_one_line(exc)}") from exc


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


# DuckDB says who holds the file: 'Conflicting lock is held in /usr/bin/python3.11 (PID 7313)'.
_HOLDER = re.compile(r"lock is held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")


def lock_holder(message: str) -> str | None:
    """Who holds the store, from DuckDB's lock error: 'PID 7313 (shadowpilot run)', the command
    line read from /proc where there is one, else the executable DuckDB names. None when the
    message does not say."""
    m = _HOLDER.search(message)
    if m is None:
        return None
    pid, command = m["pid"], os.path.basename(m["exe"])
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        argv = []
    if len(argv) > 1 and os.path.basename(argv[0]).startswith("python") and not argv[1].startswith("-"):
        argv = argv[1:]  # `python .../shadowpilot run`: the script is what the user ran
    if argv:
        command = " ".join(" ".join([os.path.basename(argv[0]), *argv[1:]]).split())  # one line
    return f"PID {pid} ({command if len(command) <= 80 else command[:77] + '...'})"


@dataclass(frozen=True)
class ImportSummary:
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    archived: list[str] = field(default_factory=list)  # `replace`: the imported cases left out, archived
    restored: list[str] = field(default_factory=list)  # archived cases this import brought back
    stored: int = 0  # imported (file and Twilio) cases in the store after the import, archive aside


@dataclass(frozen=True)
class RunInfo:
    """A stored run as a reference names it: its id, when it started, its mode and status."""

    run_id: str
    created_at: datetime
    mode: str  # replay | shadow | selftest
    status: str  # running | complete | interrupted | failed | aborted


@dataclass(frozen=True)
class RunSummary:
    """One run as `history` lists it (a row of Store.history): its latest verdict, if gated."""

    run_id: str
    created_at: datetime
    mode: str
    status: str
    agent_kind: str
    case_set: str | None  # the cases a replay used (case_sets.py); None for a live shadow run
    cases: int
    verdict: str | None
    pass_rate: float | None
    passed_cases: int | None
    changed: list[str] | None = None  # what differs from the previous run of its mode (workflow/changes.py)


# Every run with its case count and latest verdict, oldest first: Store.history and run_summaries.
HISTORY_SQL = """
    SELECT r.run_id, r.created_at, r.mode, r.status, r.agent_kind, r.case_set,
           (SELECT count(*) FROM run_cases rc WHERE rc.run_id = r.run_id AND rc.repeat = 0) AS cases,
           g.verdict, g.pass_rate, g.passed_cases
    FROM runs r
    LEFT JOIN (
        SELECT * FROM gate_results
        QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY evaluated_at DESC) = 1
    ) g USING (run_id)
    ORDER BY r.created_at, r.run_id
"""


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"run-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(when: datetime) -> str:
    """A time as the audit notes say it: ISO 8601, UTC, to the second."""
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _unique(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


class Store:
    """A tenant's DuckDB file. Open it with `Store.open(path)` as a context manager."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool = False):
        self.con = con
        self.path = path
        self.read_only = read_only  # opened read-only because the file or its disk cannot be written

    @classmethod
    @contextmanager
    def open(
        cls,
        path: Path,
        create: bool = True,
        lock_timeout_s: float | None = None,
        *,
        tenant: str | None = None,
        writes: bool = True,
    ) -> Iterator[Store]:
        """Open (and migrate) the store. DuckDB lets one process at a time hold the file, and
        runs and the shadow server hold it only for short writes, so a held lock is retried with
        backoff for up to `lock_timeout_s` (default LOCK_TIMEOUT_S) before StoreBusyError (exit 2)
        naming the process that holds it.

        `tenant`: the config's tenant name; the store remembers the first and refuses another
        (StoreOwnerError). `writes=False`: the caller can do without writing, so a store that
        cannot be written (a read-only disk or file) opens read-only (`store.read_only`) instead
        of failing. A damaged store, a full disk or any other DuckDB failure is StoreError (exit 2)."""
        if not path.exists() and not create:
            raise NotFoundError(f"no store at {path}; run `shadowpilot import` first")
        lock_timeout_s = LOCK_TIMEOUT_S if lock_timeout_s is None else lock_timeout_s
        try:
            private_dir(path.parent)
        except OSError as exc:
            raise EnvironmentFailure(f"cannot create the store's folder {path.parent}: {exc.strerror}") from None
        read_only = path.exists() and not _writable(path)
        if read_only and writes:
            raise StoreError(f"the store {path} is read-only; this command writes to it")
        con = _connect(path, read_only, lock_timeout_s)
        store = cls(con, path, read_only=read_only)
        try:
            if not read_only:
                private_file(path)
                private_file(_wal(path))
            store._check_whole()
            store._migrate()
            if tenant is not None:
                store._claim(tenant)
            yield store
        except duckdb.Error as exc:
            raise StoreError(f"the store {path} failed: {_one_line(exc)}") from exc
        finally:
            with contextlib.suppress(duckdb.Error):  # a close that cannot checkpoint leaves the WAL, replayed next open
                con.close()
            if not read_only:
                private_file(_wal(path))

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.begin()
        try:
            yield self.con
        except BaseException:
            self.con.rollback()
            raise
        else:
            self.con.commit()

    def _migrate(self) -> None:
        if not self.read_only:
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)"
            )
        try:  # asked directly: a lookup in duckdb_tables() first cost as much again on every open
            row = self._one("SELECT coalesce(max(version), 0) FROM schema_migrations")
        except duckdb.CatalogException:  # only a read-only store can lack it (created above otherwise)
            row = (0,)
        current = int(row[0]) if row else 0
        if current > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer shadowpilot (schema {current}); upgrade shadowpilot")
        if current < len(MIGRATIONS) and self.read_only:
            raise StoreError(
                f"the store {self.path} is read-only and was made by an older shadowpilot (schema {current}, "
                f"now {len(MIGRATIONS)}); open it once where it can be written"
            )
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction() as con:
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, _now()])

    def _check_whole(self) -> None:
        """A store too short to hold the blocks its header says are in use was cut off (a copy
        that stopped, a disk that filled): refuse it on open, before a query happens to miss the
        lost part or, worse, finds nothing there and says so. (Free blocks at the end may be cut
        by DuckDB itself, so only used blocks count; a cut smaller than the free space is caught
        when a query reads the missing block, and is the same exit 2.)"""
        row = self._one("SELECT block_size, used_blocks FROM pragma_database_size()")
        if row is None:
            return
        need = HEADER_BYTES + int(row[0]) * int(row[1])
        size = self.path.stat().st_size
        if size < need:
            raise StoreError(
                f"the store {self.path} is damaged: {size:,} bytes, too short for the {need:,} its blocks "
                "in use take (truncated?); restore it from a backup"
            )

    def _claim(self, tenant: str) -> None:
        """The store is one tenant's: record the first tenant name that opens it, refuse any other.
        A store made before the name was recorded is known by its cases' tenant when they agree."""
        row = self._one("SELECT value FROM store_meta WHERE key = 'tenant'")
        owner = str(row[0]) if row else None
        if owner is None:
            names = self.con.execute("SELECT DISTINCT tenant FROM cases WHERE tenant IS NOT NULL LIMIT 2").fetchall()
            owner = str(names[0][0]) if len(names) == 1 else None
            if not self.read_only and owner in (None, tenant):
                with self.transaction() as con:
                    con.execute("INSERT INTO store_meta VALUES ('tenant', ?)", [tenant])
        if owner is not None and owner != tenant:
            raise StoreOwnerError(
                f"the store {self.path} belongs to tenant {owner!r}, but the config names tenant {tenant!r}; "
                "use that tenant's config, or another folder for this one"
            )

    def _one(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        """The first row of a query, with the result drained: DuckDB refuses other work on the
        connection (registering a frame, say) while a result is left unfinished."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def schema_version(self) -> int:
        row = self._one("SELECT max(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0

    def _insert_df(self, table: str, df: pd.DataFrame, casts: dict[str, str] | None = None) -> None:
        self._insert_frame(table, df, list(df.columns), casts)

    def _insert_rows(
        self,
        table: str,
        rows: Sequence[dict[str, Any]],
        columns: Sequence[str] | None = None,
        casts: dict[str, str] | None = None,
    ) -> None:
        """Rows (dicts of plain values) into `table`, without pandas: each column an object array
        that DuckDB scans as it scans a frame's (None is NULL). The write paths of `run` and the
        shadow server then never import pandas (about 0.5 s of every `run`'s start)."""
        import numpy as np

        names = list(columns if columns is not None else rows[0])
        scanned: dict[str, Any] = {}
        for name in names:
            column = np.empty(len(rows), dtype=object)  # filled one by one: a list value stays one cell
            for i, row in enumerate(rows):
                column[i] = row[name]
            scanned[name] = column
        self._insert_frame(table, scanned, names, casts)

    def _insert_frame(self, table: str, frame: Any, names: Sequence[str], casts: dict[str, str] | None) -> None:
        casts = casts or {}
        cols = ", ".join(names)
        select = ", ".join(casts.get(c, c) for c in names)
        self.con.register("_incoming", frame)
        try:
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {select} FROM _incoming")
        finally:
            self.con.unregister("_incoming")

    # -- cases ----------------------------------------------------------------------------

    def add_cases(
        self,
        cases: Sequence[tuple[Transcript, str | None]],
        progress: Callable[[int, int], None] | None = None,
        *,
        replace: bool = False,
    ) -> ImportSummary:
        """Store cases (with their source file). A changed case becomes a new version;
        an identical one is left alone; an archived one is brought back. `replace`: every other
        imported (file or Twilio) case is archived, so the imported set is exactly these cases.
        All or nothing, in one transaction. `progress(done, total)` as each is ready."""
        latest = self._latest_fingerprints()
        rows: list[dict[str, Any]] = []
        added: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        seq = self._next_seq()
        now = _now()
        for done, (t, source) in enumerate(cases):
            if progress is not None:
                progress(done, len(cases))
            fp = t.fingerprint()
            if latest.get(t.id) == fp:
                unchanged.append(t.id)
                continue
            (updated if t.id in latest else added).append(t.id)
            latest[t.id] = fp
            rows.append(_case_row(t, fp, seq, now, source))
            seq += 1
        ids = _unique([t.id for t, _ in cases])
        newest = self._newest()
        restored = [i for i in ids if i in newest and newest[i][1] is not None]
        wanted = set(ids)
        archived = (
            [i for i, (origin, at) in newest.items() if at is None and origin in IMPORTED and i not in wanted]
            if replace
            else []
        )
        if rows or restored or archived:
            try:
                with self.transaction() as con:
                    if rows:
                        self._insert_rows("cases", rows, casts=CASE_CASTS)
                    if restored:
                        con.execute(
                            "UPDATE cases SET archived_at = NULL WHERE list_contains(?::VARCHAR[], case_id)", [restored]
                        )
                    if archived:
                        con.execute(
                            "UPDATE cases SET archived_at = ? WHERE list_contains(?::VARCHAR[], case_id)",
                            [now, archived],
                        )
            except duckdb.Error as exc:
                raise StoreError(f"could not store the cases; the store is unchanged: {exc}") from exc
        if progress is not None:
            progress(len(cases), len(cases))
        stored = sum(1 for origin, at in self._newest().values() if at is None and origin in IMPORTED)
        return ImportSummary(added, updated, unchanged, archived=archived, restored=restored, stored=stored)

    def _newest(self) -> dict[str, tuple[Origin, datetime | None]]:
        """case_id -> the origin of its newest version and when it was archived (None: it is not)."""
        rows = self.con.execute(
            "SELECT case_id, source, archived_at FROM cases "
            "QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY seq DESC) = 1"
        ).fetchall()
        return {str(c): (origin_of(src), at) for c, src, at in rows}

    def case_tally(self) -> dict[Origin, int]:
        """How many stored cases (archive aside) came from each origin."""
        tally: dict[Origin, int] = {"file": 0, "twilio": 0, "shadow": 0}
        for origin, at in self._newest().values():
            if at is None:
                tally[origin] += 1
        return tally

    def _latest_fingerprints(self) -> dict[str, str]:
        rows = self.con.execute("SELECT case_id, arg_max(fingerprint, seq) FROM cases GROUP BY case_id").fetchall()
        return dict(rows)

    def _next_seq(self) -> int:
        row = self._one("SELECT coalesce(max(seq), 0) + 1 FROM cases")
        return int(row[0]) if row else 1

    def current_cases(self, origins: Collection[Origin] | None = None) -> list[Transcript]:
        """The newest version of every case not archived, in import order; only the cases whose
        newest version came from `origins` when given (see case_sets)."""
        rows = self.con.execute(
            "SELECT source, body FROM (SELECT seq, source, archived_at, body FROM cases "
            "QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY seq DESC) = 1) "
            "WHERE archived_at IS NULL ORDER BY seq"
        ).fetchall()
        return [
            Transcript.model_validate_json(body)
            for source, body in rows
            if origins is None or origin_of(source) in origins
        ]

    def stored_cases(self, *, archived: bool = False) -> list[StoredCase]:
        """The stored cases (`archived`: the archive instead), newest version each, in import
        order, with the runs that replayed any version of them."""
        rows = self.con.execute(
            """
            WITH newest AS (
                SELECT *, count(*) OVER (PARTITION BY case_id) AS versions FROM cases
                QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY seq DESC) = 1
            )
            SELECT n.case_id, n.versions, n.source, n.channel, n.expected_escalated, n.expected_reason,
                   n.tags, n.critical, n.imported_at, n.archived_at, json_extract(n.body, '$.audio') AS audio,
                   (SELECT list(DISTINCT rc.run_id) FROM run_cases rc WHERE rc.case_id = n.case_id) AS runs
            FROM newest n
            WHERE (n.archived_at IS NOT NULL) = ?
            ORDER BY n.seq
            """,
            [archived],
        ).fetchall()
        cases = []
        for (
            case_id,
            versions,
            source,
            channel,
            escalated,
            reason,
            tags,
            critical,
            imported,
            archived_at,
            audio,
            runs,
        ) in rows:
            cases.append(
                StoredCase(
                    case_id=str(case_id),
                    version=int(versions),
                    source=source,
                    origin=origin_of(source),
                    channel=channel,
                    escalated=bool(escalated),
                    reason=reason,
                    tags=list(tags or []),
                    critical=bool(critical),
                    imported_at=imported,
                    archived_at=archived_at,
                    runs=sorted(runs or []),
                    audio=None if audio is None else CaseAudio.model_validate_json(audio),
                )
            )
        return cases

    def _missing_cases(self, ids: Sequence[str]) -> list[str]:
        known = {
            str(r[0])
            for r in self.con.execute(
                "SELECT DISTINCT case_id FROM cases WHERE list_contains(?::VARCHAR[], case_id)", [list(ids)]
            ).fetchall()
        }
        return [i for i in ids if i not in known]

    def remove_cases(self, case_ids: Sequence[str], *, dry_run: bool = False) -> CaseRemoval:
        """Remove cases for good: every version, and their results (calls, steps, scores,
        judgements) in every run that replayed them; the runs' recorded verdicts stay as they were
        given. Their rulings stay in the history, noted `case removed <time>`. One transaction;
        an unknown id removes nothing (NotFoundError), nor does a case a run still `running` is
        replaying (UsageError). `dry_run`: only say what it would take."""
        ids = _unique(case_ids)
        missing = self._missing_cases(ids)
        if missing:
            raise NotFoundError(f"no case {', '.join(map(repr, missing))} in {self.path}; nothing was removed")
        running = [
            str(r[0])
            for r in self.con.execute(
                "SELECT DISTINCT r.run_id FROM runs r JOIN run_cases rc USING (run_id) "
                "WHERE r.status = 'running' AND list_contains(?::VARCHAR[], rc.case_id) ORDER BY r.run_id",
                [ids],
            ).fetchall()
        ]
        if running:
            raise UsageError(
                f"run {', '.join(running)} is replaying these cases (or was killed while running); nothing was "
                "removed: let it finish or stop it first"
            )
        now = _now()
        try:
            with self.transaction() as con:
                (versions,) = con.execute(
                    "SELECT count(*) FROM cases WHERE list_contains(?::VARCHAR[], case_id)", [ids]
                ).fetchall()[0]
                runs: dict[str, list[str]] = {}
                for case_id, run_id in con.execute(
                    "SELECT DISTINCT case_id, run_id FROM run_cases WHERE list_contains(?::VARCHAR[], case_id) "
                    "ORDER BY run_id",
                    [ids],
                ).fetchall():
                    runs.setdefault(str(case_id), []).append(str(run_id))
                (rulings,) = con.execute(
                    "SELECT count(*) FROM rulings WHERE list_contains(?::VARCHAR[], case_id)", [ids]
                ).fetchall()[0]
                if not dry_run:
                    for table in ("cases", "run_cases", "steps", "scores", "judgements"):
                        con.execute(f"DELETE FROM {table} WHERE list_contains(?::VARCHAR[], case_id)", [ids])
                    self._note_rulings("case_id", ids, f"case removed {_stamp(now)}")
        except duckdb.Error as exc:
            raise StoreError(f"could not remove the cases; the store is unchanged: {_one_line(exc)}") from exc
        return CaseRemoval(ids, int(versions), runs, int(rulings), None if dry_run else now)

    def _note_rulings(self, column: str, ids: list[str], note: str) -> None:
        """Append an audit note to the rulings on these cases or from these runs."""
        self.con.execute(
            f"UPDATE rulings SET audit_note = CASE WHEN audit_note IS NULL THEN ? ELSE audit_note || '; ' || ? END "
            f"WHERE list_contains(?::VARCHAR[], {column})",
            [note, note, ids],
        )

    def restore_cases(self, case_ids: Sequence[str] | None = None) -> Restored:
        """Bring archived cases back into the stored selection (None: every archived case)."""
        newest = self._newest()
        if case_ids is None:
            ids = [i for i, (_, at) in newest.items() if at is not None]
        else:
            ids = _unique(case_ids)
            missing = [i for i in ids if i not in newest]
            if missing:
                raise NotFoundError(f"no case {', '.join(map(repr, missing))} in {self.path}; nothing was restored")
        restored = [i for i in ids if newest[i][1] is not None]
        if restored:
            with self.transaction() as con:
                con.execute(
                    "UPDATE cases SET archived_at = NULL WHERE list_contains(?::VARCHAR[], case_id)", [restored]
                )
        return Restored(restored, [i for i in ids if i not in set(restored)])

    def case_versions(self, case_id: str) -> pd.DataFrame:
        return self.con.execute(
            "SELECT case_id, fingerprint, seq, imported_at, source FROM cases WHERE case_id = ? ORDER BY seq",
            [case_id],
        ).df()

    def run_cases(self, run_id: str) -> list[Transcript]:
        """The case versions a run used (not today's versions: a run is what it measured)."""
        rows = self.con.execute(
            "SELECT c.body FROM run_cases rc JOIN cases c USING (case_id, fingerprint) "
            "WHERE rc.run_id = ? AND rc.repeat = 0 ORDER BY c.seq",
            [run_id],
        ).fetchall()
        return [Transcript.model_validate_json(r[0]) for r in rows]

    # -- runs -----------------------------------------------------------------------------

    def create_run(self, manifest: RunManifest, case_set: str | None = None) -> None:
        """Record a new run, `running`, with the case set it replays (see case_sets)."""
        with self.transaction() as con:
            con.execute(
                "INSERT INTO runs (run_id, created_at, finished_at, mode, status, agent_kind, manifest, case_set) "
                "VALUES (?, ?, NULL, ?, 'running', ?, ?, ?)",
                [
                    manifest.run_id,
                    manifest.created_at,
                    manifest.mode,
                    str(manifest.agent.get("kind", "?")),
                    manifest.model_dump_json(),
                    case_set,
                ],
            )

    def run_case_set(self, run_id: str) -> str | None:
        """The case set a replay run was given (None: a live shadow run, or no such run)."""
        row = self._one("SELECT case_set FROM runs WHERE run_id = ?", [run_id])
        return None if row is None or row[0] is None else str(row[0])

    def remove_runs(self, run_ids: Sequence[str], *, dry_run: bool = False) -> RunRemoval:
        """Remove runs with everything they stored (calls, steps, scores, judgements, gate results).
        The rulings made from them stay in the history, noted `run removed <time>`, and keep
        applying to the case versions they ruled on. A run still `running` is refused: its process
        may still be writing it. One transaction; an unknown id removes nothing (NotFoundError)."""
        ids = _unique(run_ids)
        status = dict(
            self.con.execute(
                "SELECT run_id, status FROM runs WHERE list_contains(?::VARCHAR[], run_id)", [ids]
            ).fetchall()
        )
        missing = [i for i in ids if i not in status]
        if missing:
            raise NotFoundError(
                f"no run {', '.join(map(repr, missing))} in {self.path}; nothing was removed "
                "(see `shadowpilot history`)"
            )
        running = [i for i in ids if status[i] == "running"]
        if running:
            raise UsageError(
                f"run {', '.join(running)} is running (or was killed while running); nothing was removed: "
                "let it finish or stop it, then remove it"
            )
        now = _now()
        try:
            with self.transaction() as con:

                def count(table: str, column: str = "run_id") -> int:
                    sql = f"SELECT count(*) FROM {table} WHERE list_contains(?::VARCHAR[], {column})"
                    return int(con.execute(sql, [ids]).fetchall()[0][0])

                removal = RunRemoval(
                    ids, count("run_cases"), count("gate_results"), count("rulings"), None if dry_run else now
                )
                if not dry_run:
                    for table in ("runs", "run_cases", "steps", "scores", "judgements", "gate_results"):
                        con.execute(f"DELETE FROM {table} WHERE list_contains(?::VARCHAR[], run_id)", [ids])
                    self._note_rulings("run_id", ids, f"run removed {_stamp(now)}")
        except duckdb.Error as exc:
            raise StoreError(f"could not remove the runs; the store is unchanged: {_one_line(exc)}") from exc
        return removal

    def add_call_runs(
        self, run_id: str, call_runs: Sequence[CallRun], cache_entries: Sequence[tuple[str, str, str]] = ()
    ) -> None:
        """Write a batch of finished calls (their steps and errors), and the responses they
        added to the cache (key, agent kind, Recommendation JSON), in one transaction."""
        if not call_runs and not cache_entries:
            return
        try:
            with self.transaction() as con:
                if cache_entries:
                    now = _now()
                    con.executemany(
                        "INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?)",
                        [(key, kind, now, rec) for key, kind, rec in cache_entries],
                    )
                if call_runs:
                    self._insert_call_runs(run_id, call_runs)
        except duckdb.Error as exc:
            raise StoreError(f"could not store the run's results: {exc}") from exc

    def _insert_call_runs(self, run_id: str, call_runs: Sequence[CallRun]) -> None:
        case_rows = [
            {
                "run_id": run_id,
                "case_id": cr.case_id,
                "fingerprint": cr.fingerprint,
                "repeat": cr.repeat,
                "error": cr.error,
                "n_steps": len(cr.steps),
            }
            for cr in call_runs
        ]
        step_rows = [_step_row(run_id, cr, step) for cr in call_runs for step in cr.steps]
        if case_rows:
            self._insert_rows("run_cases", case_rows)
        if step_rows:
            self._insert_rows("steps", step_rows, STEP_COLUMNS, {"routing": "CAST(routing AS JSON)"})

    def add_shadow_call(self, case: Transcript, call_run: CallRun, manifest: RunManifest, source: str) -> bool:
        """One finished live call (add_shadow_calls of one); returns whether its run was created."""
        return bool(self.add_shadow_calls([(case, call_run, manifest)], source))

    def add_shadow_calls(self, calls: Sequence[tuple[Transcript, CallRun, RunManifest]], source: str) -> list[str]:
        """Finished live calls in one transaction: their cases (a new version if changed), each
        day's shadow run (created from its manifest on first use, status complete so `gate` can
        score it) and the calls' steps. Idempotent: writing a call again replaces its steps, so a
        server killed between this commit and its own log line can safely redo it. One statement
        per table for the whole batch, and the run's manifest is written once, without the calls:
        its `cases` are read back from run_cases (`manifest`), so a batch costs the same at the
        day's 20,000th call as at its first (rewriting a map of every call so far made each batch
        O(calls) and grew the server's memory). Returns the runs created."""
        by_case = {case.id: (case, call_run, manifest) for case, call_run, manifest in calls}
        ids = list(by_case)
        created: list[str] = []
        try:
            with self.transaction() as con:
                latest = dict(
                    con.execute(
                        "SELECT case_id, arg_max(fingerprint, seq) FROM cases "
                        "WHERE list_contains(?::VARCHAR[], case_id) GROUP BY case_id",
                        [ids],
                    ).fetchall()
                )
                seq = int(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM cases").fetchall()[0][0])
                now, rows = _now(), []
                for case, call_run, _ in by_case.values():
                    if latest.get(case.id) != call_run.fingerprint:
                        rows.append(_case_row(case, call_run.fingerprint, seq, now, source))
                        seq += 1
                if rows:
                    self._insert_rows("cases", rows, casts=CASE_CASTS)
                runs: dict[str, list[tuple[CallRun, RunManifest]]] = {}
                for _, call_run, manifest in by_case.values():
                    runs.setdefault(manifest.run_id, []).append((call_run, manifest))
                for run_id, members in runs.items():
                    fps = {cr.case_id: cr.fingerprint for cr, _ in members}
                    found = con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall()
                    if not found:
                        body = members[0][1].model_copy(update={"cases": {}})  # its calls: run_cases (_with_calls)
                        con.execute(
                            "INSERT INTO runs (run_id, created_at, finished_at, mode, status, agent_kind, manifest) "
                            "VALUES (?, ?, ?, ?, 'complete', ?, ?)",
                            [
                                body.run_id,
                                body.created_at,
                                _now(),
                                body.mode,
                                str(body.agent.get("kind", "?")),
                                body.model_dump_json(),
                            ],
                        )
                        created.append(run_id)
                    else:
                        con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [_now(), run_id])
                    for table in ("run_cases", "steps"):
                        con.execute(
                            f"DELETE FROM {table} WHERE run_id = ? AND list_contains(?::VARCHAR[], case_id)",
                            [run_id, list(fps)],
                        )
                    self._insert_call_runs(run_id, [cr for cr, _ in members])
        except duckdb.Error as exc:
            raise StoreError(f"could not store {len(ids)} shadow call(s); the store is unchanged: {exc}") from exc
        return created

    def finish_run(self, run_id: str, status: str, manifest: RunManifest | None = None) -> None:
        """Mark a run finished (or interrupted), with its final manifest when given."""
        with self.transaction() as con:
            con.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?", [status, _now(), run_id])
            if manifest is not None:
                con.execute("UPDATE runs SET manifest = ? WHERE run_id = ?", [manifest.model_dump_json(), run_id])

    def drop_failed_calls(self, run_id: str) -> None:
        """Forget a run's failed calls (an aborted run's measured the environment, not the agent), so
        `run --resume` makes them again once the agent can be reached."""
        with self.transaction() as con:
            con.execute(
                "DELETE FROM steps s WHERE s.run_id = ? AND EXISTS (SELECT 1 FROM run_cases rc WHERE rc.run_id = "
                "s.run_id AND rc.case_id = s.case_id AND rc.repeat = s.repeat AND rc.error IS NOT NULL)",
                [run_id],
            )
            con.execute("DELETE FROM run_cases WHERE run_id = ? AND error IS NOT NULL", [run_id])

    def reopen_run(self, run_id: str) -> None:
        with self.transaction() as con:
            con.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?", [run_id])

    def finished_calls(self, run_id: str) -> set[tuple[str, int]]:
        """(case_id, repeat) of the calls a run has stored: what `run --resume` skips."""
        rows = self.con.execute("SELECT case_id, repeat FROM run_cases WHERE run_id = ?", [run_id]).fetchall()
        return {(str(c), int(r)) for c, r in rows}

    def unfinished_run_id(self) -> str:
        """The newest run that did not complete (interrupted, failed, or killed while running)."""
        row = self._one(
            "SELECT run_id FROM runs WHERE status <> 'complete' AND mode = 'replay' "
            "ORDER BY created_at DESC, run_id DESC LIMIT 1"
        )
        if row is None:
            raise NotFoundError(f"no unfinished run in {self.path} to resume")
        return str(row[0])

    def cases_at(self, fingerprints: dict[str, str]) -> list[Transcript]:
        """The given case versions (case_id -> fingerprint), in import order."""
        if not fingerprints:
            return []
        rows = self.con.execute(
            "SELECT c.body FROM cases c JOIN (SELECT unnest(?::VARCHAR[]) AS case_id, "
            "unnest(?::VARCHAR[]) AS fingerprint) w USING (case_id, fingerprint) ORDER BY c.seq",
            [list(fingerprints), list(fingerprints.values())],
        ).fetchall()
        return [Transcript.model_validate_json(r[0]) for r in rows]

    # -- response cache -------------------------------------------------------------------

    def cached_response(self, key: str) -> str | None:
        """A cached Recommendation's JSON, or None."""
        row = self._one("SELECT recommendation FROM response_cache WHERE key = ?", [key])
        return str(row[0]) if row else None

    def manifest(self, run_id: str) -> RunManifest:
        row = self._one("SELECT manifest FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise NotFoundError(f"no run {run_id!r} in {self.path}; see `shadowpilot history`")
        return self._with_calls([RunManifest.model_validate_json(row[0])])[0]

    def run_status(self, run_id: str) -> str:
        row = self._one("SELECT status FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise NotFoundError(f"no run {run_id!r} in {self.path}; see `shadowpilot history`")
        return str(row[0])

    def runs(self) -> list[RunInfo]:
        """Every run, oldest first in the order `history` lists them: what a run reference names."""
        rows = self.con.execute(
            "SELECT run_id, created_at, mode, status FROM runs ORDER BY created_at, run_id"
        ).fetchall()
        return [RunInfo(str(i), t.astimezone(UTC), str(m), str(s)) for i, t, m, s in rows]

    def manifests(self) -> list[RunManifest]:
        """Every run's manifest, in the order of `runs` (what `history`'s changes compare)."""
        rows = self.con.execute("SELECT manifest FROM runs ORDER BY created_at, run_id").fetchall()
        return self._with_calls([RunManifest.model_validate_json(r[0]) for r in rows])

    def _with_calls(self, manifests: list[RunManifest]) -> list[RunManifest]:
        """Live (shadow, selftest) manifests with their `cases` as run_cases holds them: the
        server writes a day's manifest once, without the calls (add_shadow_calls). In the order
        the calls were first stored (their case's first version), as the map once written was;
        for a day stored by an older shadowpilot, with its map, run_cases holds the same calls."""
        live = [m.run_id for m in manifests if m.mode != "replay"]
        if not live:
            return manifests
        rows = self.con.execute(
            "SELECT rc.run_id, rc.case_id, rc.fingerprint FROM run_cases rc "
            "LEFT JOIN (SELECT case_id, min(seq) AS first FROM cases GROUP BY case_id) c USING (case_id) "
            "WHERE rc.repeat = 0 AND list_contains(?::VARCHAR[], rc.run_id) ORDER BY rc.run_id, c.first, rc.case_id",
            [live],
        ).fetchall()
        calls: dict[str, dict[str, str]] = {rid: {} for rid in live}
        for run_id, case_id, fingerprint in rows:
            calls[run_id][case_id] = fingerprint
        return [m.model_copy(update={"cases": calls[m.run_id]}) if m.run_id in calls else m for m in manifests]

    def latest_run_id(self) -> str:
        row = self._one(
            "SELECT run_id FROM runs WHERE status = 'complete' AND mode <> 'selftest' "
            "ORDER BY created_at DESC, run_id DESC LIMIT 1"
        )
        if row is None:
            raise NotFoundError(f"no finished run in {self.path}; run `shadowpilot run` first")
        return str(row[0])

    def case_errors(self, run_id: str) -> dict[str, str | None]:
        """case_id -> the agent error that failed it (None when it ran), first repeat."""
        rows = self.con.execute(
            "SELECT case_id, error FROM run_cases WHERE run_id = ? AND repeat = 0", [run_id]
        ).fetchall()
        return dict(rows)

    def steps(self, run_id: str) -> pd.DataFrame:
        return self.con.execute(
            f"SELECT {', '.join(STEP_COLUMNS[1:])} FROM steps WHERE run_id = ? ORDER BY case_id, repeat, turn",
            [run_id],
        ).df()

    # -- scoring --------------------------------------------------------------------------

    def scoring_cases(self, run_id: str) -> pd.DataFrame:
        """One row per call (case, repeat) of a run, in import order then repeat: the call's
        run_cases row, the columns of the case version it used (`seq` names the version;
        `expected_routing` is JSON text) and the run's `mode` and `created_at`. evals.frame
        builds the scoring frame from these."""
        return self.con.execute(
            """
            SELECT rc.case_id, rc.repeat, rc.error, rc.n_steps,
                   c.critical, c.tags, c.channel, c.n_customer_turns,
                   c.expected_escalated, c.expected_at_turn, c.expected_at_customer_turn,
                   c.expected_reason, c.expected_queue, c.expected_routing, c.started_at,
                   rc.fingerprint, c.seq, r.mode, r.created_at
            FROM run_cases rc
            JOIN runs r USING (run_id)
            JOIN cases c USING (case_id, fingerprint)
            WHERE rc.run_id = ?
            ORDER BY c.seq, rc.repeat
            """,
            [run_id],
        ).df()

    def scoring_steps(self, run_id: str) -> pd.DataFrame:
        """A run's steps, the columns scoring reads (`routing` as its JSON text), as stored."""
        return self.con.execute(
            "SELECT case_id, repeat, turn, customer_turn, escalate, reply, reason, queue, routing, summary, "
            "sentiment, latency_ms, first_token_ms, cost_usd, cached, heard, asr_ms, audio_s, asr_cost_usd "
            "FROM steps WHERE run_id = ?",
            [run_id],
        ).df()

    def scoring_turns(self, run_id: str, speakers: Sequence[str] | None = None) -> pd.DataFrame:
        """The turns of the case versions a run used: `seq` (the version, as in scoring_cases),
        `turn` (the index in the transcript's turns), `speaker` and `text`; only the turns of
        `speakers` when given."""
        where, params = ("WHERE speaker IN (SELECT unnest(?::VARCHAR[]))", [list(speakers)]) if speakers else ("", [])
        return self.con.execute(
            f"""
            WITH used AS (SELECT DISTINCT case_id, fingerprint FROM run_cases WHERE run_id = ?),
            t AS (
                SELECT c.seq, json_extract_string(c.body, '$.turns[*].speaker') AS speakers,
                       json_extract_string(c.body, '$.turns[*].text') AS texts
                FROM cases c JOIN used USING (case_id, fingerprint)
            ),
            u AS (
                SELECT seq, unnest(generate_series(0, len(speakers) - 1)) AS turn, unnest(speakers) AS speaker,
                       unnest(texts) AS text
                FROM t
            )
            SELECT seq, CAST(turn AS INTEGER) AS turn, speaker, text FROM u {where}
            """,
            [run_id, *params],
        ).df()

    def step_timings(self, run_id: str) -> pd.DataFrame:
        """Per step that reported a time: time to first token and to the full reply (ms), whether
        it came from the response cache (which keeps the times first measured), and in an audio
        run the ASR's time for the turn heard (`asr_ms`)."""
        return self.con.execute(
            "SELECT case_id, repeat, turn, first_token_ms, latency_ms, coalesce(cached, false) AS cached, asr_ms "
            "FROM steps WHERE run_id = ? "
            "AND (first_token_ms IS NOT NULL OR latency_ms IS NOT NULL OR asr_ms IS NOT NULL)",
            [run_id],
        ).df()

    def save_scores(self, run_id: str, scores: pd.DataFrame, result: GateResult) -> None:
        """Replace a run's scores and append the gate result to its history, atomically."""
        now = _now()
        df = scores.copy()
        df.insert(0, "run_id", run_id)
        df.insert(3, "scored_at", now)
        with self.transaction() as con:
            con.execute("DELETE FROM scores WHERE run_id = ?", [run_id])
            self._insert_df("scores", df, {"attributes": "CAST(attributes AS JSON)"})
            con.execute(
                "INSERT INTO gate_results VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    now,
                    result.verdict,
                    result.pass_rate,
                    result.cases,
                    result.passed_cases,
                    result.model_dump_json(),
                ],
            )

    def history(self) -> pd.DataFrame:
        """Every run with its case count, the case set it replayed (`case_set`; None for live
        shadow runs) and its latest verdict, oldest first."""
        return self.con.execute(HISTORY_SQL).df()

    def run_summaries(self) -> list[RunSummary]:
        """history() as typed rows, read without pandas (for a command that only lists)."""
        cur = self.con.execute(HISTORY_SQL)
        names = [d[0] for d in cur.description or ()]
        return [RunSummary(**dict(zip(names, row, strict=True))) for row in cur.fetchall()]

    # -- rulings (adjudication) -----------------------------------------------------------

    RULING_COLUMNS = (
        "case_id",
        "fingerprint",
        "run_id",
        "ruling",
        "note",
        "ruled_by",
        "ruled_at",
        "ai_escalated",
        "ai_at_turn",
        "ai_at_customer_turn",
        "ai_reason",
        "ai_urgency",
        "ai_queue",
        "ai_routing",
    )

    def run_case_versions(self, run_id: str) -> dict[str, str]:
        """case_id -> the case version (fingerprint) a run used."""
        rows = self.con.execute(
            "SELECT case_id, fingerprint FROM run_cases WHERE run_id = ? AND repeat = 0", [run_id]
        ).fetchall()
        return dict(rows)

    def replies_at(self, run_id: str, turns: Mapping[str, int]) -> dict[str, str | None]:
        """case_id -> the agent's reply at the given transcript index (first repeat)."""
        if not turns:
            return {}
        rows = self.con.execute(
            "SELECT s.case_id, s.reply FROM steps s JOIN (SELECT unnest(?::VARCHAR[]) AS case_id, "
            "unnest(?::INTEGER[]) AS turn) w USING (case_id, turn) WHERE s.run_id = ? AND s.repeat = 0",
            [list(turns), list(turns.values()), run_id],
        ).fetchall()
        return {str(case_id): reply for case_id, reply in rows}

    def add_ruling(self, ruling: Ruling) -> int:
        """Append a ruling, its AI decision in the ai_* columns. Older rulings on the same case
        version stay, superseded. Returns the ruling's id."""
        columns = ruling.columns()
        columns["ai_routing"] = json.dumps(columns["ai_routing"] or {})
        row = [columns[c] for c in self.RULING_COLUMNS]
        with self.transaction() as con:
            (next_id,) = con.execute("SELECT coalesce(max(ruling_id), 0) + 1 FROM rulings").fetchone() or (1,)
            con.execute(
                f"INSERT INTO rulings (ruling_id, {', '.join(self.RULING_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' for _ in self.RULING_COLUMNS)})",
                [next_id, *row],
            )
        return int(next_id)

    def current_rulings(self, run_id: str) -> dict[str, Ruling]:
        """case_id -> the current ruling on the case version a run used (a ruling on another
        version of the case does not apply), typed; rulings_for_run is the frame scoring reads."""
        cur = self.con.execute(self._current_rulings_sql(), [run_id])
        out: dict[str, Ruling] = {}
        for values in cur.fetchall():
            row = dict(zip(self.RULING_COLUMNS, values, strict=True))
            row["ai_routing"] = json.loads(row["ai_routing"]) if row["ai_routing"] else {}
            out[str(row["case_id"])] = Ruling.from_columns(row)
        return out

    def rulings(self, case_id: str | None = None) -> pd.DataFrame:
        """Every ruling ever recorded (superseded ones included), oldest first, as a frame (the
        AI's decision in its ai_* columns; ai_routing as JSON text; `audit_note`: its case or run
        removed since, and when)."""
        where, params = ("WHERE case_id = ?", [case_id]) if case_id is not None else ("", [])
        return self.con.execute(
            f"SELECT ruling_id, {', '.join(self.RULING_COLUMNS)}, audit_note FROM rulings {where} ORDER BY ruling_id",
            params,
        ).df()

    def ruling_history(self, case_id: str | None = None) -> list[RecordedRuling]:
        """Every ruling ever recorded (of one case, or all), oldest first, typed: superseded ones,
        and those whose case or run was removed since (with their audit note), included."""
        where, params = ("WHERE case_id = ?", [case_id]) if case_id is not None else ("", [])
        cur = self.con.execute(
            f"""SELECT ruling_id, audit_note,
                       row_number() OVER (PARTITION BY case_id, fingerprint ORDER BY ruling_id DESC) = 1,
                       {", ".join(self.RULING_COLUMNS)}
                FROM rulings {where} ORDER BY ruling_id""",
            params,
        )
        out = []
        for ruling_id, audit_note, current, *values in cur.fetchall():
            row = dict(zip(self.RULING_COLUMNS, values, strict=True))
            row["ai_routing"] = json.loads(row["ai_routing"]) if row["ai_routing"] else {}
            out.append(
                RecordedRuling(
                    ruling_id=int(ruling_id),
                    ruling=Ruling.from_columns(row),
                    current=bool(current),
                    audit_note=audit_note,
                )
            )
        return out

    def rulings_for_run(self, run_id: str) -> pd.DataFrame:
        """The current ruling on each case version a run used (a ruling on another version of
        the case does not apply), in case order."""
        return self.con.execute(self._current_rulings_sql(), [run_id]).df()

    def _current_rulings_sql(self) -> str:
        """The newest ruling on each case version one run (the parameter) used: one query for the
        typed reader and the frame, so both see the same rulings."""
        cols = ", ".join(f"r.{c}" for c in self.RULING_COLUMNS)
        return f"""
            WITH r AS (
                SELECT * FROM rulings
                QUALIFY row_number() OVER (PARTITION BY case_id, fingerprint ORDER BY ruling_id DESC) = 1
            )
            SELECT {cols}
            FROM r JOIN (SELECT case_id, fingerprint FROM run_cases WHERE run_id = ? AND repeat = 0) rc
                 USING (case_id, fingerprint)
            ORDER BY r.case_id
            """

    # -- the LLM judge --------------------------------------------------------------------

    JUDGEMENT_COLUMNS = (
        "case_id",
        "repeat",
        "turn",
        "model",
        "rubric_hash",
        "correctness",
        "policy",
        "tone",
        "score",
        "reasons",
        "error",
        "cost_usd",
        "cached",
    )

    def save_judgements(
        self, run_id: str, judgements: Sequence[Judgement], cache_entries: Sequence[tuple[str, str, str]] = ()
    ) -> None:
        """Replace a run's judgements and keep the judge's new answers in the response cache
        (key, kind, JSON), in one transaction."""
        now = _now()
        cols = ("run_id", *self.JUDGEMENT_COLUMNS, "judged_at")
        values: list[list[Any]] = []
        for j in judgements:
            row = j.model_dump()
            row["reasons"] = json.dumps(row["reasons"] or {})
            values.append([run_id, *(row[c] for c in self.JUDGEMENT_COLUMNS), now])
        try:
            with self.transaction() as con:
                if cache_entries:
                    con.executemany(
                        "INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?)",
                        [(key, kind, now, body) for key, kind, body in cache_entries],
                    )
                con.execute("DELETE FROM judgements WHERE run_id = ?", [run_id])
                if values:
                    con.executemany(
                        f"INSERT INTO judgements ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", values
                    )
        except duckdb.Error as exc:
            raise StoreError(f"could not store the judgements; the store is unchanged: {exc}") from exc

    def judgements(self, run_id: str) -> pd.DataFrame:
        """A run's judgements, one row per judged turn (reasons as JSON text), in case order: a frame,
        which the judge's summary reads column-wise."""
        cols = ", ".join(f"j.{c}" for c in self.JUDGEMENT_COLUMNS)
        return self.con.execute(
            f"SELECT {cols}, j.judged_at, s.customer_turn FROM judgements j LEFT JOIN steps s "
            "ON s.run_id = j.run_id AND s.case_id = j.case_id AND s.repeat = j.repeat AND s.turn = j.turn "
            "WHERE j.run_id = ? ORDER BY j.case_id, j.repeat, j.turn",
            [run_id],
        ).df()

    def cached_responses(self, keys: Sequence[str]) -> dict[str, str]:
        """key -> cached JSON for the keys the response cache holds (one query for many keys)."""
        if not keys:
            return {}
        rows = self.con.execute(
            "SELECT key, recommendation FROM response_cache WHERE key IN (SELECT unnest(?::VARCHAR[]))", [list(keys)]
        ).fetchall()
        return {str(k): str(v) for k, v in rows}


def _case_row(t: Transcript, fp: str, seq: int, now: datetime, source: str | None) -> dict[str, Any]:
    o = t.outcome
    customer_turns = t.customer_turns()
    at_ct = customer_turns.index(o.at_turn) if o.at_turn is not None and o.at_turn in customer_turns else None
    return {
        "case_id": t.id,
        "fingerprint": fp,
        "seq": seq,
        "imported_at": now.isoformat(),
        "source": source,
        "tenant": t.tenant,
        "channel": t.channel,
        "started_at": t.started_at.isoformat() if t.started_at else None,
        "critical": t.critical,
        "tags": json.dumps(t.tags),
        "n_turns": len(t.turns),
        "n_customer_turns": len(customer_turns),
        "expected_escalated": o.escalated,
        "expected_at_turn": o.at_turn,
        "expected_at_customer_turn": at_ct,
        "expected_reason": o.reason,
        "expected_urgency": o.urgency,
        "expected_queue": o.queue,
        "expected_routing": json.dumps(o.routing),
        "body": t.model_dump_json(),
    }


def _step_row(run_id: str, cr: CallRun, step: Any) -> dict[str, Any]:
    rec = step.recommendation
    row: dict[str, Any] = dict.fromkeys(STEP_COLUMNS)
    row.update(
        cached=False,
        run_id=run_id,
        case_id=cr.case_id,
        repeat=cr.repeat,
        turn=step.turn,
        customer_turn=step.customer_turn,
        error=step.error,
    )
    if step.heard is not None:
        h = step.heard
        row.update(heard=h.text, asr_ms=h.asr_ms, audio_s=h.audio_s, asr_cost_usd=h.cost_usd)
    if rec is not None:
        row.update(
            escalate=rec.escalate,
            reply=rec.reply,
            reason=rec.reason,
            urgency=rec.urgency,
            routing=json.dumps(rec.routing),
            queue=rec.queue,
            summary=rec.summary,
            sentiment=rec.sentiment,
            latency_ms=rec.latency_ms,
            first_token_ms=rec.first_token_ms,
            tokens_in=rec.tokens_in,
            tokens_out=rec.tokens_out,
            cost_usd=rec.cost_usd,
            cached=rec.cached,
        )
    return row


def open_store(
    settings: Settings, create: bool = True, lock_timeout_s: float | None = None, *, writes: bool = True
) -> AbstractContextManager[Store]:
    """The config's tenant store, checked to be that tenant's (see Store.open)."""
    from ..config import plain_slug

    path = settings.store_path
    older = path.with_name(f"{plain_slug(settings.tenant.name) or 'tenant'}.duckdb")  # before slugs were one per name
    if older != path and older.exists() and not path.exists():
        sys.stderr.write(
            f"note: {older} was named by an older shadowpilot and may be this tenant's store; "
            f"if it is, move it: mv {older} {path}\n"
        )
    return Store.open(settings.store_path, create, lock_timeout_s, tenant=settings.tenant.name, writes=writes)
