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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..errors import EnvironmentFailure, NotFoundError, StoreBusyError, StoreError, StoreOwnerError
from ..private import private_dir, private_file
from ..types import CallRun, GateResult, Judgement, Ruling, RunManifest, Transcript
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


@dataclass(frozen=True)
class RunSummary:
    """One run as `history` lists it (a row of Store.history): its latest verdict, if gated."""

    run_id: str
    created_at: datetime
    mode: str
    status: str
    agent_kind: str
    cases: int
    verdict: str | None
    pass_rate: float | None
    passed_cases: int | None


# Every run with its case count and latest verdict, oldest first: Store.history and run_summaries.
HISTORY_SQL = """
    SELECT r.run_id, r.created_at, r.mode, r.status, r.agent_kind,
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
        row = self._one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
            if self._has_table("schema_migrations")
            else "SELECT 0"
        )
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

    def _has_table(self, name: str) -> bool:
        return self._one("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]) != (0,)

    def _one(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        """The first row of a query, with the result drained: DuckDB refuses other work on the
        connection (registering a frame, say) while a result is left unfinished."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def schema_version(self) -> int:
        row = self._one("SELECT max(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0

    def _insert_df(self, table: str, df: pd.DataFrame, casts: dict[str, str] | None = None) -> None:
        casts = casts or {}
        cols = ", ".join(df.columns)
        select = ", ".join(casts.get(c, c) for c in df.columns)
        self.con.register("_incoming", df)
        try:
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {select} FROM _incoming")
        finally:
            self.con.unregister("_incoming")

    # -- cases ----------------------------------------------------------------------------

    def add_cases(self, cases: Sequence[tuple[Transcript, str | None]]) -> ImportSummary:
        """Store cases (with their source file). A changed case becomes a new version;
        an identical one is left alone. All or nothing."""
        latest = self._latest_fingerprints()
        rows: list[dict[str, Any]] = []
        added: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        seq = self._next_seq()
        now = _now()
        for t, source in cases:
            fp = t.fingerprint()
            if latest.get(t.id) == fp:
                unchanged.append(t.id)
                continue
            (updated if t.id in latest else added).append(t.id)
            latest[t.id] = fp
            rows.append(_case_row(t, fp, seq, now, source))
            seq += 1
        if rows:
            import pandas as pd

            df = pd.DataFrame(rows)
            try:
                with self.transaction():
                    self._insert_df("cases", df, CASE_CASTS)
            except duckdb.Error as exc:
                raise StoreError(f"could not store the cases; the store is unchanged: {exc}") from exc
        return ImportSummary(added, updated, unchanged)

    def _latest_fingerprints(self) -> dict[str, str]:
        rows = self.con.execute("SELECT case_id, arg_max(fingerprint, seq) FROM cases GROUP BY case_id").fetchall()
        return dict(rows)

    def _next_seq(self) -> int:
        row = self._one("SELECT coalesce(max(seq), 0) + 1 FROM cases")
        return int(row[0]) if row else 1

    def current_cases(self) -> list[Transcript]:
        """The newest version of every case, in import order."""
        rows = self.con.execute(
            "SELECT body FROM cases QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY seq DESC) = 1 ORDER BY seq"
        ).fetchall()
        return [Transcript.model_validate_json(r[0]) for r in rows]

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

    def create_run(self, manifest: RunManifest) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, NULL, ?, 'running', ?, ?)",
                [
                    manifest.run_id,
                    manifest.created_at,
                    manifest.mode,
                    str(manifest.agent.get("kind", "?")),
                    manifest.model_dump_json(),
                ],
            )

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
        import pandas as pd

        self._insert_df("run_cases", pd.DataFrame(case_rows))
        if step_rows:
            steps = pd.DataFrame(step_rows, columns=STEP_COLUMNS)
            self._insert_df("steps", steps, {"routing": "CAST(routing AS JSON)"})

    def add_shadow_call(self, case: Transcript, call_run: CallRun, manifest: RunManifest, source: str) -> bool:
        """One finished live call (add_shadow_calls of one); returns whether its run was created."""
        return bool(self.add_shadow_calls([(case, call_run, manifest)], source))

    def add_shadow_calls(self, calls: Sequence[tuple[Transcript, CallRun, RunManifest]], source: str) -> list[str]:
        """Finished live calls in one transaction: their cases (a new version if changed), each
        day's shadow run (created from its manifest on first use, status complete so `gate` can
        score it) and the calls' steps. Idempotent: writing a call again replaces its steps, so a
        server killed between this commit and its own log line can safely redo it. One statement
        per table and one manifest update per run for the whole batch: a busy day stays linear.
        Returns the runs created."""
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
                    import pandas as pd

                    self._insert_df("cases", pd.DataFrame(rows), CASE_CASTS)
                runs: dict[str, list[tuple[CallRun, RunManifest]]] = {}
                for _, call_run, manifest in by_case.values():
                    runs.setdefault(manifest.run_id, []).append((call_run, manifest))
                for run_id, members in runs.items():
                    fps = {cr.case_id: cr.fingerprint for cr, _ in members}
                    found = con.execute("SELECT manifest FROM runs WHERE run_id = ?", [run_id]).fetchall()
                    if not found:
                        body = members[0][1].model_copy(update={"cases": fps})
                        con.execute(
                            "INSERT INTO runs VALUES (?, ?, ?, ?, 'complete', ?, ?)",
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
                        body = RunManifest.model_validate_json(found[0][0])
                        body = body.model_copy(update={"cases": {**body.cases, **fps}})
                        con.execute(
                            "UPDATE runs SET manifest = ?, finished_at = ? WHERE run_id = ?",
                            [body.model_dump_json(), _now(), run_id],
                        )
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
        return RunManifest.model_validate_json(row[0])

    def run_status(self, run_id: str) -> str:
        row = self._one("SELECT status FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise NotFoundError(f"no run {run_id!r} in {self.path}; see `shadowpilot history`")
        return str(row[0])

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
            "sentiment, latency_ms, first_token_ms, cost_usd, cached FROM steps WHERE run_id = ?",
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
        """Per step that reported a time: time to first token and to the full reply (ms), and
        whether it came from the response cache (which keeps the times first measured)."""
        return self.con.execute(
            "SELECT case_id, repeat, turn, first_token_ms, latency_ms, coalesce(cached, false) AS cached "
            "FROM steps WHERE run_id = ? AND (first_token_ms IS NOT NULL OR latency_ms IS NOT NULL)",
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
        """Every run with its case count and latest verdict, oldest first."""
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
        AI's decision in its ai_* columns; ai_routing as JSON text)."""
        where, params = ("WHERE case_id = ?", [case_id]) if case_id is not None else ("", [])
        return self.con.execute(
            f"SELECT ruling_id, {', '.join(self.RULING_COLUMNS)} FROM rulings {where} ORDER BY ruling_id", params
        ).df()

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
