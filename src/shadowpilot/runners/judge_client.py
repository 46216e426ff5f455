"""Asking the LLM judge: its client from the settings, its endpoint, and the requests (at most
`concurrency` in flight, retried, cached in the store's response cache). What is asked and how an
answer is read are evals.judge's (the pure half); this half makes the network calls.

`openai` is imported only where a request is made: the gate reads stored judgements alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..evals.judge import CACHE_KIND, JudgeItem, JudgeOutputError, JudgeVerdict, normalised_score, parse_verdict
from ..types import Judgement

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from ..config import ModelPrice, Settings
    from .reach import Endpoint
    from .retry import Failure, RetryPolicy


def judge_endpoint(settings: Settings) -> str:
    from . import OPENAI_URL

    return settings.judge.base_url or OPENAI_URL


def endpoint_of(settings: Settings) -> Endpoint:
    """The judge as unreachable messages name it: model, URL, and what configures them."""
    from ..urls import safe_url
    from .reach import Endpoint

    who = f"the LLM judge ({settings.judge.model})"
    return Endpoint(who, safe_url(judge_endpoint(settings)), "judge.base_url", "OPENAI_API_KEY")


def client_from_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> openai.AsyncOpenAI:
    """The judge's client, made like the openai agent's."""
    from .openai_chat import make_client

    cfg = settings.judge
    return make_client(
        "the LLM judge", "judge", cfg.base_url, cfg.timeout_s, environ, max_answer_bytes=cfg.max_answer_bytes
    )


@dataclass
class JudgeTotals:
    requests: int = 0  # HTTP requests made, retries included
    retries: int = 0
    cache_hits: int = 0
    spent_usd: float = 0.0  # what this judging paid (cached answers cost nothing again)
    new_cache: list[tuple[str, str, str]] = field(default_factory=list)  # (key, kind, JSON) to store


def _classify(timeout_s: float) -> Callable[[BaseException], Failure | None]:
    from .openai_chat import classify_openai_error

    return lambda exc: classify_openai_error(exc, timeout_s)


def _from_cache(raw: str | None) -> tuple[JudgeVerdict, float | None] | None:
    """A cached answer and its first cost; None when absent or unreadable (then it is asked again)."""
    if raw is None:
        return None
    try:
        body = json.loads(raw)
        cost = body.get("cost_usd")
        return JudgeVerdict.model_validate(body["verdict"]), float(cost) if cost is not None else None
    except (ValueError, KeyError, TypeError, AttributeError):  # ValidationError is a ValueError
        return None


async def judge_items(
    items: list[JudgeItem],
    client: openai.AsyncOpenAI,
    model: str,
    rubric_sha: str,
    *,
    cached: Mapping[str, str],
    concurrency: int = 4,
    timeout_s: float = 60.0,
    retry_policy: RetryPolicy | None = None,
    prices: Mapping[str, ModelPrice] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    on_result: Callable[[Judgement], None] | None = None,
    endpoint: Endpoint | None = None,
) -> tuple[list[Judgement], JudgeTotals]:
    """Judge every item (answers in `cached` are reused, keyed by JudgeItem.key); at most
    `concurrency` requests in flight. Returns one Judgement per item (Store.save_judgements)
    and the totals, whose `new_cache` holds the answers to cache. A judge that is never reached
    (runners.reach: nothing listening, the key refused) raises RunAborted, as a replay does."""
    from ..errors import AgentError, AgentUnreachable
    from .masking import mask
    from .pricing import cost_usd
    from .reach import Endpoint, ReachCheck
    from .retry import RetryPolicy, retry

    policy = retry_policy or RetryPolicy()
    classify = _classify(timeout_s)
    where = endpoint or Endpoint("the LLM judge", str(client.base_url), "judge.base_url", "OPENAI_API_KEY")
    reach = ReachCheck()
    totals = JudgeTotals()
    slots = asyncio.Semaphore(concurrency)

    async def attempt(item: JudgeItem) -> Any:
        totals.requests += 1
        # the SDK's timeout bounds each read; this bounds the whole answer (a server that drips)
        async with asyncio.timeout(timeout_s):
            return await client.chat.completions.create(
                model=model,
                # the SDK types messages as TypedDicts; ours are the same shape as plain dicts
                messages=cast("list[ChatCompletionMessageParam]", item.messages),
                response_format={"type": "json_object"},
                timeout=timeout_s,
            )

    def note_retry(_f: Failure, _d: float) -> None:
        totals.retries += 1

    async def one(item: JudgeItem) -> Judgement:
        row = Judgement(case_id=item.case_id, repeat=item.repeat, turn=item.turn, model=model, rubric_hash=rubric_sha)
        hit = _from_cache(cached.get(item.key))
        if hit is not None:
            totals.cache_hits += 1
            verdict = hit[0]
            row = row.model_copy(update={"cached": True, "cost_usd": hit[1]})
        else:
            async with slots:
                try:
                    resp = await retry(
                        lambda: attempt(item),
                        classify,
                        policy,
                        sleep=sleep,
                        on_retry=note_retry,
                        deadline_s=policy.deadline_s(timeout_s),
                    )
                except AgentUnreachable as exc:
                    unreached = where.unreachable(exc)
                    reach.unreachable(unreached)
                    return row.model_copy(update={"error": f"judge request failed: {unreached}"})
                except AgentError as exc:
                    reach.answered()
                    return row.model_copy(update={"error": f"judge request failed: {exc}"})
                reach.answered()
            usage = resp.usage
            tin, tout = (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (None, None)
            cost = cost_usd(model, tin, tout, prices)
            row = row.model_copy(update={"cost_usd": cost})
            totals.spent_usd += cost or 0.0
            choice = resp.choices[0] if resp.choices else None
            try:
                if choice is not None and choice.finish_reason == "length":
                    raise JudgeOutputError("the judge's answer was cut off (finish_reason length)")
                verdict = parse_verdict(choice.message.content if choice is not None else None)
            except JudgeOutputError as exc:
                return row.model_copy(update={"error": str(exc)})
            body = {"verdict": verdict.model_dump(), "tokens_in": tin, "tokens_out": tout, "cost_usd": cost}
            totals.new_cache.append((item.key, CACHE_KIND, json.dumps(body)))
        c, p, t = verdict.scores()
        score = normalised_score(c, p, t)
        return row.model_copy(
            update={"correctness": c, "policy": p, "tone": t, "score": score, "reasons": verdict.reasons()}
        )

    async def tracked(item: JudgeItem) -> Judgement:
        row = await one(item)
        # an error body may echo the key (runners.masking)
        error = None if row.error is None else mask(row.error)
        row = row.model_copy(update={"error": error, "reasons": {k: mask(v) for k, v in row.reasons.items()}})
        if on_result is not None:
            on_result(row)
        return row

    rows = await asyncio.gather(*(tracked(i) for i in items))
    reach.finish()
    return list(rows), totals
