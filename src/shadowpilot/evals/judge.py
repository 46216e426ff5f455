"""The optional LLM judge: a model scores each agent reply against the human's next reply.

For every reply pair of a run (the agent's reply at a customer turn, the human agent's next
reply, and the conversation up to that turn) one non-streamed chat completion is asked for a
JSON object (`response_format={"type": "json_object"}`): a 1-5 score and a short reason for
correctness, policy and tone, on a rubric the tenant can edit ([judge] rubric; the built-in
one is judge_rubric.md). The answer is validated with pydantic; an answer that does not fit,
or a request that fails after its retries, is a judge error for that turn: recorded, never a
crash and never a score.

A turn's score is (mean of its three scores - 1) / 4, in [0, 1]; the run's judge score is the
mean over judged turns. Answers are cached in the store's response cache, keyed by the judge
model, the rubric's hash and the exact messages sent (the pair and the conversation, redacted
or not), so judging an unchanged run again makes no requests; errors are not cached.

This module is the pure half (the rubric, the requests to make, reading an answer, the summary
the gate reads): it makes no request. Asking the judge (its client, retries, concurrency, the
cache) is runners.judge_client's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..types import JudgedTurn, JudgeSummary, Transcript, Turn
from ..wording import customer_turn_from_ordinal
from .columns import records
from .missing import na_to_none

if TYPE_CHECKING:
    from ..config import Settings
    from ..transcripts.redact import Redactor

RUBRIC_PATH = Path(__file__).resolve().parents[1] / "judge_rubric.md"
CRITERIA = ("correctness", "policy", "tone")
CACHE_KIND = "judge"  # response_cache.agent_kind of the judge's answers
SHOWN = 5  # worst and failed turns kept in the summary
REASON_CHARS = 500  # a longer reason is cut (the judge is asked for one sentence)

OUTPUT_FORMAT = (
    "Answer with one JSON object and nothing else, in exactly this shape:\n"
    '{"correctness": {"score": <integer 1-5>, "reason": "<one short sentence>"}, '
    '"policy": {"score": <integer 1-5>, "reason": "<one short sentence>"}, '
    '"tone": {"score": <integer 1-5>, "reason": "<one short sentence>"}}'
)
SPEAKERS = {"customer": "Customer", "agent": "Human agent", "bot": "Bot", "system": "System"}


class _Criterion(BaseModel):
    model_config = ConfigDict(extra="ignore")
    score: int = Field(ge=1, le=5)
    reason: str = Field(min_length=1)


class JudgeVerdict(BaseModel):
    """What the judge must answer; anything else is a judge error."""

    model_config = ConfigDict(extra="ignore")
    correctness: _Criterion
    policy: _Criterion
    tone: _Criterion

    def scores(self) -> tuple[int, int, int]:
        return self.correctness.score, self.policy.score, self.tone.score

    def reasons(self) -> dict[str, str]:
        return {c: getattr(self, c).reason.strip()[:REASON_CHARS] for c in CRITERIA}


class JudgeOutputError(ValueError):
    """The judge's answer is not the JSON object the rubric asks for."""


def parse_verdict(content: str | None) -> JudgeVerdict:
    """The judge's answer, validated; JudgeOutputError saying what is wrong with it."""
    if content is None or not content.strip():
        raise JudgeOutputError("the judge's answer is empty")
    shown = content if len(content) <= 120 else content[:120] + "..."
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise JudgeOutputError(f"the judge's answer is not JSON ({exc}): {shown}") from None
    if not isinstance(data, dict):
        raise JudgeOutputError(f"the judge's answer is not a JSON object: {shown}")
    try:
        return JudgeVerdict.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise JudgeOutputError(f"the judge's answer is malformed at {where}: {first['msg']}") from None


def normalised_score(correctness: int, policy: int, tone: int) -> float:
    """(mean of the three 1-5 scores - 1) / 4: 1-1-1 is 0, 5-5-5 is 1."""
    return ((correctness + policy + tone) / 3 - 1) / 4


def rubric_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _conversation(turns: list[Turn]) -> str:
    return "\n".join(f"{SPEAKERS[t.speaker]}: {t.text}" for t in turns)


def build_messages(rubric: str, turns: list[Turn], reply: str, human_reply: str) -> list[dict[str, str]]:
    """The rubric (with the fixed answer format) as the system message; the conversation up to the
    customer turn answered, the human's reply and the AI's reply as the user message."""
    system = f"{rubric.rstrip()}\n\n---\n{OUTPUT_FORMAT}"
    user = (
        "Conversation so far (the last line is the customer turn being answered):\n"
        f"{_conversation(turns)}\n\n"
        f"Human agent's reply (the reference):\n{human_reply}\n\n"
        f"AI agent's reply (to judge):\n{reply}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def cache_key(model: str, rubric_sha: str, messages: list[dict[str, str]]) -> str:
    body = {"judge": model, "rubric_hash": rubric_sha, "messages": messages}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class JudgeItem:
    """One reply to judge, with the request that judges it."""

    case_id: str
    repeat: int
    turn: int
    messages: list[dict[str, str]]
    key: str


def make_items(
    pairs: pd.DataFrame,
    transcripts: Mapping[str, Transcript],
    model: str,
    rubric: str,
    redactor: Redactor | None = None,
) -> list[JudgeItem]:
    """A request per reply pair (evals.derive.human_replies) with a non-blank human reply to
    compare with.
    With a redactor, the conversation and both replies share one set of placeholders."""
    sha = rubric_hash(rubric)
    items = []
    for row in records(pairs):
        human, reply = row["human_reply"], row["reply"]
        if not isinstance(human, str) or not human.strip() or not isinstance(reply, str):
            continue
        case_id, turn, repeat = str(row["case_id"]), int(row["turn"]), int(row["repeat"])
        t = transcripts[case_id]
        prefix = t.model_copy(update={"turns": t.turns[: turn + 1]})
        if redactor is not None:
            prefix, (reply, human) = redactor.redact_case(prefix, [reply, human])  # type: ignore[assignment]
        messages = build_messages(rubric, list(prefix.turns), reply or "", human or "")
        items.append(JudgeItem(case_id, repeat, turn, messages, cache_key(model, sha, messages)))
    items.sort(key=lambda i: (i.case_id, i.repeat, i.turn))
    return items


def load_rubric(settings: Settings) -> tuple[str, str | None]:
    """The rubric's text and the file it came from ([judge] rubric, relative to the config; None:
    the built-in rubric). ConfigError naming the field when it cannot be used."""
    rubric = settings.judge.rubric
    if not rubric:
        return RUBRIC_PATH.read_text(encoding="utf-8"), None
    from ..errors import ConfigError

    path = settings.resolve(rubric)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"field judge.rubric: no such rubric file {path}", settings.source) from None
    except UnicodeDecodeError:
        raise ConfigError(f"field judge.rubric: rubric file {path} is not UTF-8 text", settings.source) from None
    except OSError as exc:
        raise ConfigError(f"field judge.rubric: cannot read {path}: {exc.strerror}", settings.source) from None
    if not text.strip():
        raise ConfigError(f"field judge.rubric: rubric file {path} is empty", settings.source)
    return text, str(path)


# -- the summary the gate reads (a pure function of stored judgements) ----------------------------------------


def _turn(row: Mapping[str, Any]) -> JudgedTurn:
    raw = na_to_none(row.get("reasons"))
    reasons = json.loads(raw) if isinstance(raw, str) else (raw or {})
    ints = {c: None if na_to_none(row.get(c)) is None else int(row[c]) for c in CRITERIA}
    score = na_to_none(row.get("score"))
    ordinal = na_to_none(row.get("customer_turn"))
    return JudgedTurn(
        case_id=row["case_id"],
        repeat=int(row["repeat"]),
        turn=int(row["turn"]),
        score=None if score is None else round(float(score), 4),
        reasons=reasons,
        error=na_to_none(row.get("error")),
        customer_turn=None if ordinal is None else customer_turn_from_ordinal(int(ordinal)),
        **ints,
    )


def summarise(judgements: pd.DataFrame, shown: int = SHOWN) -> JudgeSummary | None:
    """Per-criterion means, the mean score, the worst turns and the failed ones; None when the
    run was never judged (or the judge had nothing to compare)."""
    if judgements.empty:
        return None
    failed = judgements["error"].notna()
    ok = judgements[~failed]

    def mean(col: str, nd: int = 3) -> float | None:
        return round(float(ok[col].mean()), nd) if len(ok) else None

    worst = ok.sort_values(["score", "case_id", "repeat", "turn"], kind="stable").head(shown)
    return JudgeSummary(
        model=str(judgements["model"].iloc[0]),
        rubric_hash=str(judgements["rubric_hash"].iloc[0]),
        turns=len(ok),
        cases=int(ok["case_id"].nunique()),
        errors=int(failed.sum()),
        correctness=mean("correctness"),
        policy=mean("policy"),
        tone=mean("tone"),
        score=mean("score", 4),
        worst=[_turn(r) for r in records(worst)],
        failed=[_turn(r) for r in records(judgements[failed].head(shown))],
    )
