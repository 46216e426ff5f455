"""The pilot workflow as a library: import, run, gate. The CLI is a thin layer over this.

Each function takes resolved Settings and opens the tenant store only for as long
as it needs it, so other commands (and the shadow server) can use it in between.
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .config import Settings
from .errors import InputError, NotFoundError, Problem, UsageError
from .evals import evaluate_gate, score_frame
from .evals.score import STORED_COLUMNS
from .runners import Agent, build_agent, replay
from .store import ImportSummary, Store, new_run_id
from .transcripts import Sourced, load_transcripts
from .transcripts.select import Pick, select_top
from .transcripts.twilio.records import Failure, Unjoined
from .transcripts.validate import check_duplicates
from .types import CallRun, GateConfig, GateResult, RunManifest

if TYPE_CHECKING:
    from twilio.rest import Client as TwilioClient

    from .transcripts.twilio.fetch import ProgressFn

WRITE_BATCH = 50  # finished calls per store transaction during a run


@dataclass
class ImportReport:
    summary: ImportSummary
    skipped: list[Problem] = field(default_factory=list)
    picks: list[Pick] | None = None
    files: list[str] = field(default_factory=list)
    # Twilio imports: calls/chats that could not be fetched, and records that did not join.
    failed: list[Failure] = field(default_factory=list)
    unjoined: list[Unjoined] = field(default_factory=list)


def import_files(
    settings: Settings,
    paths: list[Path],
    *,
    format: str | None = None,
    skip_bad: bool = False,
    top: int | None = None,
) -> ImportReport:
    """Read transcripts into the tenant store: all or nothing unless `skip_bad`."""
    loaded = load_transcripts(paths, format=format)
    rep = store_cases(settings, loaded.cases, loaded.problems, skip_bad=skip_bad, top=top)
    rep.files = loaded.files
    return rep


def store_cases(
    settings: Settings,
    cases: list[Sourced],
    problems: list[Problem],
    *,
    skip_bad: bool = False,
    top: int | None = None,
) -> ImportReport:
    """The import path every source shares: tenant check, all-or-nothing, top-N, one store write."""
    problems = list(problems)
    tenant = settings.tenant.name
    good: list[Sourced] = []
    for c in cases:
        t = c.transcript
        if t.tenant is not None and t.tenant != tenant:
            problems.append(
                Problem(c.file, c.line, "tenant", f"belongs to tenant {t.tenant!r}; this store is {tenant!r}")
            )
            continue
        if t.tenant is None:
            t = t.model_copy(update={"tenant": tenant})
        good.append(Sourced(t, c.file, c.line))
    if problems and not skip_bad:
        raise InputError(
            problems, f"{len(problems)} bad record(s); nothing was imported (--skip-bad imports the good ones)"
        )
    if not good:
        raise InputError(problems, "no good records to import") if problems else UsageError("no cases found")
    picks = None
    if top is not None:
        picks = select_top([c.transcript for c in good], top)
        keep = {p.case.id for p in picks}
        good = [c for c in good if c.transcript.id in keep]
    with Store.open(settings.store_path) as store:
        summary = store.add_cases([(c.transcript, c.file) for c in good])
    return ImportReport(summary=summary, skipped=problems, picks=picks)


def import_twilio(
    settings: Settings,
    client: TwilioClient,
    *,
    since: datetime,
    until: datetime | None = None,
    limit: int | None = None,
    top: int | None = None,
    skip_bad: bool = False,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Pull finished calls and chats with their human outcomes from Twilio into the store.

    A call or chat that cannot be fetched is reported in `failed` and the others go on; one
    that maps to a bad case follows the file rule (none imported unless `skip_bad`); records
    that did not join (a call without a task, a task without a call) are in `unjoined`."""
    from .transcripts.twilio.fetch import fetch_all
    from .transcripts.twilio.mapping import map_fetched

    until = until or datetime.now(UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until <= since:
        raise UsageError(f"--until ({until:%Y-%m-%d %H:%M}) must be after --since ({since:%Y-%m-%d %H:%M})")
    fetched = fetch_all(client, settings.twilio, since, until, limit, progress)
    mapped = map_fetched(fetched, settings.twilio, since, until)
    dupes = check_duplicates([(src, None, t) for t, src in mapped.cases])
    problems = [*mapped.problems, *dupes.values()]
    cases = [Sourced(t, src, None) for i, (t, src) in enumerate(mapped.cases) if i not in dupes]
    if not cases and not problems:
        what = " and ".join(settings.twilio.sources)
        failed = f"; {len(fetched.failures)} could not be fetched" if fetched.failures else ""
        raise UsageError(f"no finished {what} between {since:%Y-%m-%d %H:%M} and {until:%Y-%m-%d %H:%M} UTC{failed}")
    rep = store_cases(settings, cases, problems, skip_bad=skip_bad, top=top)
    rep.failed = fetched.failures
    rep.unjoined = mapped.unjoined
    return rep


@dataclass
class RunReport:
    run_id: str
    cases: int
    errors: int
    status: str


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("shadowpilot", "duckdb", "pandas", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # not installed as a distribution (e.g. running from a checkout)
            out[pkg] = "unknown"
    return out


def run(
    settings: Settings,
    *,
    agent: Agent | None = None,
    all_turns: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[CallRun], None] | None = None,
) -> RunReport:
    """Replay the stored cases through the agent and store the run (never scores it).

    Results are written in batches as calls finish; an interrupted run is kept,
    marked `interrupted`, and is not what `gate` picks by default.
    """
    agent = agent or build_agent(settings)
    with Store.open(settings.store_path) as store:
        cases = store.current_cases()
        if not cases:
            raise UsageError(f"no cases in {settings.store_path}; run `shadowpilot import FILES` first")
        manifest = RunManifest(
            run_id=new_run_id(),
            created_at=datetime.now(UTC),
            tenant=settings.tenant.name,
            mode="replay",
            agent=agent.describe(),
            prompt_hash=agent.prompt_hash(),
            cases={c.id: c.fingerprint() for c in cases},
            versions=_versions(),
            all_turns=all_turns,
        )
        store.create_run(manifest)
        pending: list[CallRun] = []
        errors = 0

        def collect(result: CallRun) -> None:
            nonlocal errors
            errors += result.error is not None
            pending.append(result)
            if len(pending) >= WRITE_BATCH:
                store.add_call_runs(manifest.run_id, pending)
                pending.clear()
            if on_result is not None:
                on_result(result)

        if on_start is not None:
            on_start(len(cases))
        status = "failed"
        try:
            asyncio.run(
                replay(
                    cases,
                    agent,
                    concurrency=settings.agent.concurrency,
                    all_turns=all_turns,
                    timeout_s=settings.agent.timeout_s,
                    fingerprints=manifest.cases,
                    on_result=collect,
                )
            )
            status = "complete"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            store.add_call_runs(manifest.run_id, pending)
            store.finish_run(manifest.run_id, status)
    return RunReport(run_id=manifest.run_id, cases=len(cases), errors=errors, status=status)


def resolve_run_id(store: Store, run_id: str | None) -> str:
    if run_id is None:
        return store.latest_run_id()
    status = store.run_status(run_id)
    if status != "complete":
        raise UsageError(f"run {run_id} is {status}, not complete; it cannot be gated")
    return run_id


def score_run(store: Store, run_id: str, config: GateConfig) -> pd.DataFrame:
    """Score a stored run from stored data alone: no agent is called."""
    frame = store.scoring_frame(run_id, config.required_attributes)
    if frame.empty:
        raise NotFoundError(f"run {run_id} has no cases")
    return score_frame(frame, config)


def gate(settings: Settings, run_id: str | None = None, *, save: bool = True) -> GateResult:
    """Score a run (default: the latest complete one) and decide; store the scores and verdict."""
    with Store.open(settings.store_path, create=False) as store:
        rid = resolve_run_id(store, run_id)
        scores = score_run(store, rid, settings.gate)
        result = evaluate_gate(scores, settings.gate, rid)
        if save:
            store.save_scores(rid, scores[STORED_COLUMNS], result)
    return result


def history(settings: Settings) -> pd.DataFrame:
    with Store.open(settings.store_path, create=False) as store:
        return store.history()
