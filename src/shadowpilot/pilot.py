"""The pilot workflow as a library: import, run, gate. The CLI is a thin layer over this.

Each function takes resolved Settings and opens the tenant store only for as long
as it needs it, so other commands (and the shadow server) can use it in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .config import Settings
from .errors import InputError, NotFoundError, Problem, RunAborted, StoreBusyError, UsageError
from .evals import evaluate_gate, score_frame
from .evals.compare import Comparison, compare_scores
from .evals.judge import summarise as judge_summary
from .evals.regressions import regression_check, with_check
from .evals.rulings import RULINGS, Disagreement, Ruling, apply_rulings, show_rulings
from .evals.score import STORED_COLUMNS
from .runners import Agent, build_agent, replay
from .runners.agent import turn_deadline_s
from .runners.cache import CachedAgent, replay_keys
from .store import ImportSummary, Store, new_run_id, open_store
from .transcripts import Sourced, load_transcripts
from .transcripts.select import Pick, select_top
from .transcripts.twilio.records import Failure, SpeakerReport, Unjoined
from .transcripts.validate import check_duplicates
from .types import CallRun, GateCheck, GateConfig, GateResult, JudgeSummary, RunManifest, Transcript
from .wording import plural

if TYPE_CHECKING:
    import openai
    from twilio.rest import Client as TwilioClient

    from .transcripts.twilio.fetch import ProgressFn

WRITE_BATCH = 50  # finished calls per store transaction during a run


@dataclass
class ImportReport:
    summary: ImportSummary
    skipped: list[Problem] = field(default_factory=list)
    picks: list[Pick] | None = None
    pick_note: str | None = None  # --top N with more critical cases than N: what was done
    files: list[str] = field(default_factory=list)
    # Twilio imports: calls/chats that could not be fetched, and records that did not join.
    failed: list[Failure] = field(default_factory=list)
    unjoined: list[Unjoined] = field(default_factory=list)
    speakers: SpeakerReport | None = None  # Twilio imports: how calls' channels became speakers


def import_files(
    settings: Settings,
    paths: list[Path],
    *,
    format: str | None = None,
    skip_bad: bool = False,
    top: int | None = None,
    all_critical: bool = False,
) -> ImportReport:
    """Read transcripts into the tenant store: all or nothing unless `skip_bad`."""
    loaded = load_transcripts(paths, format=format)
    rep = store_cases(settings, loaded.cases, loaded.problems, skip_bad=skip_bad, top=top,
                      all_critical=all_critical)  # fmt: skip
    rep.files = loaded.files
    return rep


def store_cases(
    settings: Settings,
    cases: list[Sourced],
    problems: list[Problem],
    *,
    skip_bad: bool = False,
    top: int | None = None,
    all_critical: bool = False,
) -> ImportReport:
    """The import path every source shares: tenant check, all-or-nothing, top-N (at most N
    unless `all_critical`), one store write."""
    if all_critical and top is None:
        raise UsageError("--all-critical goes with --top N")
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
    picks = note = None
    if top is not None:
        sel = select_top([c.transcript for c in good], top, all_critical=all_critical)
        picks, note = sel.picks, sel.note
        keep = {p.case.id for p in picks}
        good = [c for c in good if c.transcript.id in keep]
    with open_store(settings) as store:
        summary = store.add_cases([(c.transcript, c.file) for c in good])
    return ImportReport(summary=summary, skipped=problems, picks=picks, pick_note=note)


def import_twilio(
    settings: Settings,
    client: TwilioClient,
    *,
    since: datetime,
    until: datetime | None = None,
    limit: int | None = None,
    top: int | None = None,
    all_critical: bool = False,
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
    rep = store_cases(settings, cases, problems, skip_bad=skip_bad, top=top, all_critical=all_critical)
    rep.failed = fetched.failures
    rep.unjoined = mapped.unjoined
    rep.speakers = mapped.speakers
    return rep


@dataclass
class RunReport:
    run_id: str
    cases: int  # calls in the run (cases x repeats)
    errors: int  # agent errors among the calls made now
    status: str
    cache: dict[str, Any] | None = None
    resumed: int = 0  # calls already stored before a resume
    elapsed_s: float = 0.0  # wall time of the replay itself (no start-up, no final write)


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("shadowpilot", "duckdb", "pandas", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # not installed as a distribution (e.g. running from a checkout)
            out[pkg] = "unknown"
    return out


# Agents whose answers come from elsewhere and cost time or money: their answers are cached.
CACHED_KINDS = frozenset({"openai", "http"})


def run(
    settings: Settings,
    *,
    agent: Agent | None = None,
    all_turns: bool = False,
    repeats: int = 1,
    use_cache: bool = True,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[CallRun], None] | None = None,
) -> RunReport:
    """Replay the stored cases through the agent and store the run (never scores it).

    Results are written in batches as calls finish, and the store is open only for those
    writes, so other commands can read it while a run runs. An interrupted run is kept,
    marked `interrupted`, and `run --resume` finishes it; a run whose agent was never reached
    is marked `aborted` and raises RunAborted (exit 2).
    """
    if repeats < 1:
        raise UsageError("--repeats must be at least 1")
    agent = agent or build_agent(settings)
    with open_store(settings) as store:
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
            versions=package_versions(),
            all_turns=all_turns,
            repeats=repeats,
        )
        cached = _cache(store, settings, agent, cases, repeats, set(), use_cache)
        store.create_run(manifest)
    return _replay_into(settings, manifest, cases, agent, cached, set(), on_start, on_result)


def resume(
    settings: Settings,
    run_id: str | None = None,
    *,
    agent: Agent | None = None,
    use_cache: bool = True,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[CallRun], None] | None = None,
) -> RunReport:
    """Finish an unfinished run (default: the newest) without redoing its finished calls.

    The agent must be the one the run started with (same config and prompt), or the
    run would measure two agents at once.
    """
    agent = agent or build_agent(settings)
    with open_store(settings, create=False) as store:
        rid = run_id or store.unfinished_run_id()
        status = store.run_status(rid)
        if status == "complete":
            raise UsageError(f"run {rid} is already complete; nothing to resume")
        manifest = store.manifest(rid)
        if manifest.mode != "replay":
            raise UsageError(f"run {rid} is a {manifest.mode} run; only replay runs can be resumed")
        if agent.describe() != manifest.agent or agent.prompt_hash() != manifest.prompt_hash:
            raise UsageError(
                f"the agent's config or prompt changed since run {rid} started; "
                "start a new run (`shadowpilot run`) instead of resuming this one"
            )
        cases = store.cases_at(manifest.cases)
        if len(cases) != len(manifest.cases):
            raise NotFoundError(f"run {rid} used case versions that are no longer in {settings.store_path}")
        done = store.finished_calls(rid)
        cached = _cache(store, settings, agent, cases, manifest.repeats, done, use_cache)
        store.reopen_run(rid)
    return _replay_into(settings, manifest, cases, agent, cached, done, on_start, on_result)


def _cache(
    store: Store,
    settings: Settings,
    agent: Agent,
    cases: list[Transcript],
    repeats: int,
    done: set[tuple[str, int]],
    use_cache: bool,
) -> CachedAgent | None:
    """The response cache in front of the agent, when it is on, with every answer the replay can
    use read now: the replay then needs the store only for its batch writes."""
    cache_on = settings.agent.cache if settings.agent.cache is not None else agent.kind == "openai"
    if not (use_cache and cache_on and agent.kind in CACHED_KINDS):
        return None
    answers = store.cached_responses(replay_keys(agent, cases, repeats, done))
    return CachedAgent(agent, answers.get)


RUN_WRITE_WAIT_S = 1.0  # a batch write waits this long for a reader to let go, then waits for the next batch
RUN_FINAL_WAIT_S = 60.0  # the last write (and the run's status) waits this long


def _replay_into(
    settings: Settings,
    manifest: RunManifest,
    cases: list[Transcript],
    agent: Agent,
    cached: CachedAgent | None,
    done: set[tuple[str, int]],
    on_start: Callable[[int], None] | None,
    on_result: Callable[[CallRun], None] | None,
) -> RunReport:
    """Replay and store, opening the store only to write: a batch every WRITE_BATCH calls (a batch
    that finds the store busy waits for the next one), then the rest and the run's status."""
    if cached is not None:
        agent = cached
    pending: list[CallRun] = []
    pending_cache: list[tuple[str, str, str]] = []
    errors = 0

    def flush(wait_s: float) -> None:
        pending_cache.extend(cached.take_pending() if cached else ())
        if not pending and not pending_cache:
            return
        with open_store(settings, create=False, lock_timeout_s=wait_s) as store:
            store.add_call_runs(manifest.run_id, pending, pending_cache)
        pending.clear()
        pending_cache.clear()

    def collect(result: CallRun) -> None:
        nonlocal errors
        errors += result.error is not None
        pending.append(result)
        if len(pending) >= WRITE_BATCH:
            with contextlib.suppress(StoreBusyError):  # kept, and written with the next batch
                flush(RUN_WRITE_WAIT_S)
        if on_result is not None:
            on_result(result)

    total = len(cases) * manifest.repeats
    if on_start is not None:
        on_start(total - len(done))
    status = "failed"
    started = time.perf_counter()
    try:
        asyncio.run(
            _replay_and_close(
                cases,
                agent,
                concurrency=settings.agent.concurrency,
                all_turns=manifest.all_turns,
                timeout_s=turn_deadline_s(agent, settings.agent.timeout_s),
                max_reply_chars=settings.agent.max_reply_chars,
                repeats=manifest.repeats,
                skip=done,
                fingerprints=manifest.cases,
                on_result=collect,
            )
        )
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except RunAborted as exc:
        status = "aborted"
        raise RunAborted(
            f"run {manifest.run_id} stopped and marked aborted (gate and report skip it; "
            f"`shadowpilot run --resume` finishes it once the agent answers): {exc}"
        ) from None
    finally:
        elapsed = time.perf_counter() - started
        flush(RUN_FINAL_WAIT_S)
        if cached is not None:
            previous = manifest.cache or {"hits": 0, "misses": 0}
            manifest = manifest.model_copy(
                update={
                    "cache": {
                        "enabled": True,
                        "hits": previous.get("hits", 0) + cached.hits,
                        "misses": previous.get("misses", 0) + cached.misses,
                    }
                }
            )
        elif manifest.cache is None:
            manifest = manifest.model_copy(update={"cache": {"enabled": False, "hits": 0, "misses": 0}})
        with open_store(settings, create=False, lock_timeout_s=RUN_FINAL_WAIT_S) as store:
            if status == "aborted":
                store.drop_failed_calls(manifest.run_id)
            store.finish_run(manifest.run_id, status, manifest)
    return RunReport(
        run_id=manifest.run_id,
        cases=total,
        errors=errors,
        status=status,
        cache=manifest.cache,
        resumed=len(done),
        elapsed_s=elapsed,
    )


async def _replay_and_close(cases: list[Transcript], agent: Agent, **kwargs: Any) -> list[CallRun]:
    """Replay, then release the agent's connections on the same event loop."""
    try:
        return await replay(cases, agent, **kwargs)
    finally:
        close = getattr(agent, "aclose", None)
        if close is not None:
            await close()


def resolve_run_id(store: Store, run_id: str | None) -> str:
    if run_id is None:
        return store.latest_run_id()
    status = store.run_status(run_id)
    if status != "complete":
        raise UsageError(f"run {run_id} is {status}, not complete; it cannot be gated")
    return run_id


def score_run(store: Store, run_id: str, config: GateConfig) -> pd.DataFrame:
    """Score a stored run from stored data alone: no agent is called."""
    from .evals.reply import score_replies

    frame = store.scoring_frame(run_id, config.required_attributes)
    if frame.empty:
        raise NotFoundError(f"run {run_id} has no cases")
    frame = apply_rulings(frame, store.rulings_for_run(run_id, config.required_attributes))
    return show_rulings(score_frame(frame, config, score_replies(store.reply_pairs(run_id))), frame)


def evaluate(store: Store, run_id: str, settings: Settings) -> tuple[pd.DataFrame, GateResult]:
    """Score a stored run and decide, with the run's latencies and the [budgets]: what `gate`
    stores and what reports should show."""
    scores = score_run(store, run_id, settings.gate)
    timings = store.step_timings(run_id)
    judged = judge_summary(store.judgements(run_id))
    result = evaluate_gate(scores, settings.gate, run_id, budgets=settings.budgets, timings=timings,
                           judge=judged, judge_min_score=settings.judge.min_score)  # fmt: skip
    return scores, result


def gate(
    settings: Settings, run_id: str | None = None, *, save: bool = True, baseline: str | None = None
) -> GateResult:
    """Score a run (default: the latest complete one) and decide; store the scores and verdict.
    With `baseline`, a case that passed on that run and fails now makes it no-go, unless the AI
    was ruled right on it. A store that cannot be written is scored all the same; the verdict is
    then not stored, and one note line says so."""
    with open_store(settings, create=False, writes=False) as store:
        rid = resolve_run_id(store, run_id)
        scores, result = evaluate(store, rid, settings)
        if baseline is not None:
            result = with_check(result, _baseline_check(store, baseline, rid, scores, settings.gate))
        if save and store.read_only:
            sys.stderr.write(f"note: {store.path} is read-only: the verdict is printed, not stored\n")
        elif save:
            store.save_scores(rid, scores[STORED_COLUMNS], result)
    return result


def history(settings: Settings) -> pd.DataFrame:
    with open_store(settings, create=False, writes=False) as store:
        return store.history()


# -- gate --baseline, review (adjudication) and compare ---------------------------------------


def _baseline_check(store: Store, baseline: str, run_id: str, scores: pd.DataFrame, config: GateConfig) -> GateCheck:
    """No case may pass on the baseline and fail now, unless the AI was ruled right on it from this run."""
    base_id = resolve_run_id(store, baseline)
    base = score_run(store, base_id, config)
    return regression_check(base, scores, base_id, run_id, store.rulings_for_run(run_id, []))


def reviewer(by: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Who rules: --by, else $SHADOWPILOT_REVIEWER, else the OS user name."""
    if by and by.strip():
        return by.strip()
    env = os.environ if environ is None else environ
    if env.get("SHADOWPILOT_REVIEWER", "").strip():
        return env["SHADOWPILOT_REVIEWER"].strip()
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return "unknown"


def _none(v: Any) -> Any:
    return None if v is None or (not isinstance(v, list | dict) and pd.isna(v)) else v


def _ruling_from_row(row: Mapping[str, Any]) -> Ruling:
    fields = {k: _none(row.get(k)) for k in Ruling.model_fields}
    fields["ai_routing"] = json.loads(row["ai_routing"]) if _none(row.get("ai_routing")) else {}
    return Ruling.model_validate(fields)


def _disagreements(store: Store, run_id: str, config: GateConfig) -> list[Disagreement]:
    """Failed cases where the AI and the human differ, scored against the human's outcome
    (no ruling applied), each with its current ruling."""
    frame = store.scoring_frame(run_id, config.required_attributes)
    raw = score_frame(frame, config)
    s = raw[raw["repeat"] == 0]
    differ = s["decision"].isin(["fp", "fn"]) | s["timing"].isin(["early", "late"])
    differ |= s["routing_ok"].eq(False).fillna(False).astype(bool)
    s = s[~s["passed"] & ~s["error"] & differ]
    ids = s["case_id"].tolist()
    if not ids:
        return []
    versions = store.run_case_versions(run_id)
    transcripts = {t.id: t for t in store.cases_at({i: versions[i] for i in ids})}
    escalations = store.first_escalations(run_id, ids)
    rulings = store.rulings_for_run(run_id, [])
    current = {r["case_id"]: _ruling_from_row(r) for r in rulings.to_dict("records")}
    out = []
    for row in s.to_dict("records"):
        cid = row["case_id"]
        esc = escalations.get(cid)
        ai: dict[str, Any] = {"escalated": esc is not None, "at_turn": None, "customer_turn": None,
                              "reason": None, "urgency": None, "queue": None, "routing": {}, "reply": None}  # fmt: skip
        if esc is not None:
            ai.update({k: _none(v) for k, v in esc.items()}, at_turn=esc["turn"])
            ai.pop("turn", None)
        d = Disagreement(
            run_id=run_id, case_id=cid, fingerprint=versions[cid], critical=bool(row["critical"]),
            decision=_none(row["decision"]), timing=_none(row["timing"]), why=_none(row["why"]),
            transcript=transcripts[cid], ai=ai, ruling=current.get(cid),
        )  # fmt: skip
        out.append(d)
    return out


def disagreements(settings: Settings, run_id: str | None = None) -> tuple[str, list[Disagreement]]:
    """The run (default: the latest complete one) and its disagreements, in import order."""
    with open_store(settings, create=False, writes=False) as store:
        rid = resolve_run_id(store, run_id)
        return rid, _disagreements(store, rid, settings.gate)


def _save_ruling(store: Store, d: Disagreement, ruling: str, note: str | None, by: str) -> Ruling:
    if ruling not in RULINGS:
        raise UsageError(f"unknown ruling {ruling!r}; use one of: {', '.join(RULINGS)}")
    ai = d.ai
    r = Ruling(
        case_id=d.case_id, fingerprint=d.fingerprint, run_id=d.run_id, ruling=ruling,  # type: ignore[arg-type]
        note=(note or "").strip() or None, ruled_by=by, ruled_at=datetime.now(UTC),
        ai_escalated=bool(ai["escalated"]), ai_at_turn=ai["at_turn"], ai_at_customer_turn=ai["customer_turn"],
        ai_reason=ai["reason"], ai_urgency=ai["urgency"], ai_queue=ai["queue"], ai_routing=ai["routing"] or {},
    )  # fmt: skip
    store.add_ruling(r.model_dump())
    return r


def save_ruling(settings: Settings, d: Disagreement, ruling: str, note: str | None = None, *,
                by: str | None = None) -> Ruling:  # fmt: skip
    """Store a ruling on a disagreement found by `disagreements` (the interactive review)."""
    with open_store(settings, create=False) as store:
        return _save_ruling(store, d, ruling, note, reviewer(by))


def record_ruling(
    settings: Settings,
    case_id: str,
    ruling: str,
    note: str | None = None,
    *,
    by: str | None = None,
    run_id: str | None = None,
) -> Ruling:
    """Rule on one disagreement of a run (default: the latest complete one)."""
    if ruling not in RULINGS:
        raise UsageError(f"unknown ruling {ruling!r}; use one of: {', '.join(RULINGS)}")
    with open_store(settings, create=False) as store:
        rid = resolve_run_id(store, run_id)
        if case_id not in store.run_case_versions(rid):
            raise NotFoundError(f"case {case_id!r} is not in run {rid}; see `shadowpilot review --list`")
        found = [d for d in _disagreements(store, rid, settings.gate) if d.case_id == case_id]
        if not found:
            raise UsageError(
                f"case {case_id!r} is not a disagreement in run {rid}: the AI and the human agree, "
                "or the agent failed on it; there is nothing to rule on"
            )
        return _save_ruling(store, found[0], ruling, note, reviewer(by))


def compare_runs(settings: Settings, run_a: str, run_b: str, *, alpha: float = 0.05) -> Comparison:
    """Score two stored runs (rulings applied) and compare B against A."""
    with open_store(settings, create=False, writes=False) as store:
        a, b = resolve_run_id(store, run_a), resolve_run_id(store, run_b)
        return compare_scores(score_run(store, a, settings.gate), score_run(store, b, settings.gate), a, b, alpha)


# -- the LLM judge -------------------------------------------------------------------------------


@dataclass
class JudgeReport:
    run_id: str
    model: str
    rubric: str | None  # the rubric file; None: the built-in rubric
    rubric_hash: str
    replies: int  # agent replies with a human reply to compare with
    requests: int  # HTTP requests made now, retries included
    retries: int
    cache_hits: int
    spent_usd: float  # what this judging paid
    redacted: bool  # personal data was replaced before the judge saw the conversations
    summary: JudgeSummary | None


def judge(
    settings: Settings,
    run_id: str | None = None,
    *,
    use_cache: bool = True,
    client: openai.AsyncOpenAI | None = None,
    environ: Mapping[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> JudgeReport:
    """Have the LLM judge score every agent reply of a run (default: the latest complete one)
    against the human's next reply, and store the judgements (replacing the run's earlier ones).
    Cached answers are reused unless `use_cache` is off (fresh answers are cached either way).
    The store is closed while the judge is asked."""
    from .errors import ConfigError
    from .evals.judge import (
        client_from_settings,
        endpoint_of,
        judge_endpoint,
        judge_items,
        load_rubric,
        make_items,
        rubric_hash,
    )
    from .runners.retry import RetryPolicy
    from .transcripts.redact import Redactor, should_redact

    cfg = settings.judge
    if not cfg.enabled:
        raise UsageError("the LLM judge is off: set `enabled = true` and a `model` in the [judge] section of "
                         "shadowpilot.toml (conversations are sent to the judge model)")  # fmt: skip
    if not cfg.model:
        raise ConfigError("field judge.model: the judge needs a model name (for example gpt-4o-mini)", settings.source)
    model = cfg.model
    rubric, rubric_file = load_rubric(settings)
    sha = rubric_hash(rubric)
    redacted = should_redact(settings.redaction.mode, judge_endpoint(settings))
    redactor = Redactor(settings.redaction.kinds) if redacted else None
    with open_store(settings, create=False) as store:
        rid = resolve_run_id(store, run_id)
        transcripts = {t.id: t for t in store.run_cases(rid)}
        items = make_items(store.reply_pairs(rid), transcripts, model, rubric, redactor)
        cached = store.cached_responses([i.key for i in items]) if use_cache else {}
    client = client or client_from_settings(settings, environ)
    if on_start is not None:
        on_start(len(items))

    where = endpoint_of(settings)

    async def ask() -> tuple[list[dict[str, Any]], Any]:
        try:
            return await judge_items(items, client, model, sha, cached=cached, concurrency=cfg.concurrency,
                                     timeout_s=cfg.timeout_s, retry_policy=RetryPolicy(max_retries=cfg.max_retries),
                                     prices=settings.prices, on_result=on_result, endpoint=where)  # fmt: skip
        finally:
            await client.close()

    try:
        rows, totals = asyncio.run(ask())
    except RunAborted as exc:
        raise RunAborted(f"judging run {rid} stopped, nothing stored: {exc}") from None
    failed = [r["error"] for r in rows if r["error"] is not None]
    if rows and len(failed) == len(rows):  # no verdict came back: the judge's setup, not the replies
        raise RunAborted(f"judging run {rid} stored nothing: all {plural(len(rows), 'judgement')} failed; "
                         f"{where.who} at {where.url}, first error: {failed[0]}; check judge.base_url, judge.model and "
                         "OPENAI_API_KEY")  # fmt: skip
    with open_store(settings, create=False) as store:
        store.save_judgements(rid, rows, totals.new_cache)
        summary = judge_summary(store.judgements(rid))
    return JudgeReport(run_id=rid, model=model, rubric=rubric_file, rubric_hash=sha, replies=len(items),
                       requests=totals.requests, retries=totals.retries, cache_hits=totals.cache_hits,
                       spent_usd=totals.spent_usd, redacted=redacted, summary=summary)  # fmt: skip
