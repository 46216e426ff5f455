"""Judging: have the LLM judge score a run's replies and store the judgements."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import RunAborted, UsageError
from ..evals.judge import summarise as judge_summary
from ..types import Judgement, JudgeSummary
from ..wording import plural
from .gating import reply_pairs
from .workspace import Workspace

if TYPE_CHECKING:
    import openai

    from ..runners.judge_client import JudgeTotals


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
    on_result: Callable[[Judgement], None] | None = None,
) -> JudgeReport:
    """Have the LLM judge score every agent reply of a run (default: the latest complete one)
    against the human's next reply, and store the judgements (replacing the run's earlier ones).
    Cached answers are reused unless `use_cache` is off (fresh answers are cached either way).
    The store is closed while the judge is asked."""
    from ..errors import ConfigError
    from ..evals.judge import load_rubric, make_items, rubric_hash
    from ..runners.judge_client import client_from_settings, endpoint_of, judge_endpoint, judge_items
    from ..runners.retry import RetryPolicy
    from ..transcripts.redact import Redactor, should_redact

    cfg = settings.judge
    if not cfg.enabled:
        raise UsageError(
            "the LLM judge is off: set `enabled = true` and a `model` in the [judge] section of "
            "shadowpilot.toml (conversations are sent to the judge model)"
        )
    if not cfg.model:
        raise ConfigError("field judge.model: the judge needs a model name (for example gpt-4o-mini)", settings.source)
    model = cfg.model
    rubric, rubric_file = load_rubric(settings)
    sha = rubric_hash(rubric)
    redacted = should_redact(settings.redaction.mode, judge_endpoint(settings))
    redactor = Redactor(settings.redaction.kinds) if redacted else None
    with Workspace.writing(settings) as ws:
        rid = ws.complete_run(run_id)
        transcripts = {t.id: t for t in ws.store.run_cases(rid)}
        items = make_items(reply_pairs(ws.store, rid), transcripts, model, rubric, redactor)
        cached = ws.store.cached_responses([i.key for i in items]) if use_cache else {}
    client = client or client_from_settings(settings, environ)
    if on_start is not None:
        on_start(len(items))

    where = endpoint_of(settings)

    async def ask() -> tuple[list[Judgement], JudgeTotals]:
        try:
            return await judge_items(
                items,
                client,
                model,
                sha,
                cached=cached,
                concurrency=cfg.concurrency,
                timeout_s=cfg.timeout_s,
                retry_policy=RetryPolicy(max_retries=cfg.max_retries),
                prices=settings.prices,
                on_result=on_result,
                endpoint=where,
            )
        finally:
            await client.close()

    try:
        rows, totals = asyncio.run(ask())
    except RunAborted as exc:
        raise RunAborted(f"judging run {rid} stopped, nothing stored: {exc}") from None
    failed = [r.error for r in rows if r.error is not None]
    if rows and len(failed) == len(rows):  # no verdict came back: the judge's setup, not the replies
        raise RunAborted(
            f"judging run {rid} stored nothing: all {plural(len(rows), 'judgement')} failed; "
            f"{where.who} at {where.url}, first error: {failed[0]}; check judge.base_url, judge.model and "
            "OPENAI_API_KEY"
        )
    with Workspace.writing(settings) as ws:
        ws.store.save_judgements(rid, rows, totals.new_cache)
        summary = judge_summary(ws.store.judgements(rid))
    return JudgeReport(
        run_id=rid,
        model=model,
        rubric=rubric_file,
        rubric_hash=sha,
        replies=len(items),
        requests=totals.requests,
        retries=totals.retries,
        cache_hits=totals.cache_hits,
        spent_usd=totals.spent_usd,
        redacted=redacted,
        summary=summary,
    )
