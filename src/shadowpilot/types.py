"""The core data contracts (DESIGN.md "Data contracts"), as frozen pydantic models.

Every layer speaks these types: readers produce Transcripts, agents produce
Recommendations, the turn loop produces CallRuns, the gate produces a GateResult.
Vendor formats never get past the readers.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

from .when import utc_text

SCHEMA_VERSION = 1

Speaker = Literal["customer", "agent", "bot", "system"]
Verdict = Literal["go", "no-go", "insufficient-evidence"]
# A gate check is core (min_cases, pass_rate, critical, errors: always run) or optional (a [gate] setting turns it on).
CheckKind = Literal["core", "optional"]
# A routing attribute value: skill and queue are strings, vip a boolean, others may be numbers.
AttrValue = str | bool | int | float | None
# Which clock placed an escalation turn: Twilio's event time, or when the shadow server received it.
Clock = Literal["twilio", "received"]
# The kinds of personal data redaction knows ([redaction] kinds; placeholders such as [PHONE_1]).
PiiKind = Literal["phone", "email", "card", "dob", "address", "postcode", "ssn", "member_id", "name"]
PII_KINDS: tuple[str, ...] = get_args(PiiKind)
# A time shadowpilot itself stamps (a run's creation, a ruling, a report), written in JSON as every
# output writes times: `2026-12-01T22:30:00.000Z` (when.utc_text). Times read from the tenant's
# data (a Transcript's started_at) keep their own serialisation: they are part of a case's hash.
UtcTime = Annotated[datetime, PlainSerializer(utc_text, return_type=str, when_used="json")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Turn(_Frozen):
    speaker: Speaker
    text: str
    start_s: float | None = None
    end_s: float | None = None


class Outcome(_Frozen):
    """What the human actually did: the ground truth of a case."""

    escalated: bool
    at_turn: int | None = None
    # How at_turn was placed (README "What the human did"); left out of dumps and fingerprints when unset.
    at_clock: Clock | None = Field(None, exclude_if=lambda v: v is None)
    reason: str | None = None
    urgency: str | None = None
    queue: str | None = None
    routing: dict[str, AttrValue] = Field(default_factory=dict)


AudioCodec = Literal["pcm_s16le", "pcm_u8", "pcm_s24le", "pcm_s32le", "float32", "mulaw"]


class CaseAudio(_Frozen):
    """A case's recording, as the case version holds it: the audio itself lives beside the store,
    content-addressed by `sha256` (of the file's bytes), so a changed recording is a new case version.

    Channels are numbered from 1 as Twilio numbers them: a dual-channel recording holds one party
    per channel and `customer_channel` says which is the customer's; a mono one holds both (1)."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    codec: AudioCodec
    sample_rate: int = Field(gt=0)
    channels: int = Field(ge=1, le=2)
    customer_channel: int = Field(ge=1, le=2)
    duration_s: float = Field(ge=0)
    # Where the bytes are until an import keeps them in the store (never dumped, never stored).
    _source: Path | None = PrivateAttr(None)

    def keep_source(self, path: Path) -> None:
        """Note the file this recording was read from, for the import that stores it."""
        self._source = path

    @property
    def source(self) -> Path | None:
        return self._source

    @model_validator(mode="after")
    def _channel_exists(self) -> CaseAudio:
        if self.customer_channel > self.channels:
            raise ValueError(
                f"customer_channel {self.customer_channel} is not a channel of {self.channels}-channel audio"
            )
        return self


# What a transcript file writes for `audio` (transcripts/audio.py reads it): the path of a WAV,
# relative to the file, alone or with the customer's channel.
AUDIO_INPUT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "properties": {"path": {"type": "string", "minLength": 1}, "customer_channel": {"enum": [1, 2]}},
            "required": ["path"],
            "additionalProperties": False,
        },
        {"type": "null"},
    ],
    "default": None,
    "description": "the call's recording: a WAV file's path, relative to this file (docs/contract.md, Audio)",
}


class Transcript(_Frozen):
    """One case: a real call with the human's outcome."""

    id: str = Field(min_length=1)
    tenant: str | None = None
    channel: str = "voice"
    started_at: datetime | None = None
    customer: dict[str, Any] = Field(default_factory=dict)
    turns: list[Turn]
    outcome: Outcome
    critical: bool = False
    tags: list[str] = Field(default_factory=list)
    # The call's recording (file imports' `audio`, `import twilio --audio`); left out of dumps and
    # fingerprints when unset, so a case without audio keeps the version it always had.
    # Its JSON Schema is the form a file gives (the recording's path); the reader turns that into CaseAudio.
    audio: Annotated[CaseAudio | None, WithJsonSchema(AUDIO_INPUT_SCHEMA, mode="validation")] = Field(
        None, exclude_if=lambda v: v is None
    )
    schema_version: int = SCHEMA_VERSION

    def fingerprint(self) -> str:
        """A content hash: re-importing a changed case makes a new version."""
        body = self.model_dump(mode="json", exclude={"schema_version"})
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def customer_turns(self) -> list[int]:
        """Indices in `turns` of the customer's turns, in order."""
        return [i for i, t in enumerate(self.turns) if t.speaker == "customer"]


class Recommendation(BaseModel):
    """What the agent under test recommends at one customer turn."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    case_id: str
    turn: int
    escalate: bool
    reply: str | None = None
    reason: str | None = None
    urgency: str | None = None
    routing: dict[str, AttrValue] = Field(default_factory=dict)
    queue: str | None = None
    summary: str | None = None
    sentiment: str | None = None
    latency_ms: float | None = None
    first_token_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    # Served from the response cache: latency, tokens and cost are those first measured, not spent again.
    cached: bool = False


class AgentDecision(_Frozen):
    """The AI's decision on a case: its first escalation (when, why, where to), or keeping the call.

    One shape wherever the decision travels: the store's first escalations, a ruling's
    `ai_*` columns, a review's disagreement and a report's case. The reply the agent gave at
    that turn is not part of it: a ruling is on the decision, not its wording, and the reply
    an output shows beside it is not always that turn's (a report shows the last reply of a
    call the agent kept), so it travels beside the decision (DecisionView)."""

    escalated: bool
    turn: int | None = None  # the transcript index of the customer turn it escalated at (from 0)
    customer_turn: int | None = None  # the same turn as an ordinal among customer turns (from 0)
    reason: str | None = None
    urgency: str | None = None
    queue: str | None = None
    routing: dict[str, AttrValue] = Field(default_factory=dict)


NO_ESCALATION = AgentDecision.model_construct(escalated=False)  # an agent that kept the call (built
# without validation, so importing the types builds no validator: startup)


class DecisionView(_Frozen):
    """An AgentDecision as the JSON outputs show it (review --json, report JSON): the turn both raw
    (`at_transcript_index`, from 0) and as people count it (`at_customer_turn`, from 1), and the
    reply shown beside it."""

    escalated: bool
    at_transcript_index: int | None = None
    at_customer_turn: int | None = None
    reason: str | None = None
    urgency: str | None = None
    queue: str | None = None
    routing: dict[str, AttrValue] = Field(default_factory=dict)
    reply: str | None = None

    @classmethod
    def of(cls, decision: AgentDecision, reply: str | None) -> DecisionView:
        ct = decision.customer_turn
        return cls(
            escalated=decision.escalated,
            at_transcript_index=decision.turn,
            at_customer_turn=None if ct is None else ct + 1,
            reason=decision.reason,
            urgency=decision.urgency,
            queue=decision.queue,
            routing=decision.routing,
            reply=reply,
        )


class AgentInput(_Frozen):
    """What an agent sees at one customer turn: the conversation so far."""

    case_id: str
    turn: int
    channel: str
    customer: dict[str, Any]
    turns: list[Turn]
    repeat: int = 0  # which of `run --repeats K` this is: each repeat is its own sample (and cache entry)


class HeardTurn(_Frozen):
    """What the ASR engine heard of one customer turn's audio in an audio run (`run --audio`): the
    text the agent was given in place of the transcript's, and what hearing it took."""

    text: str
    asr_ms: float = Field(ge=0)  # end of the customer's speech to the transcript: the engine's time
    audio_s: float = Field(ge=0)  # the turn's audio heard, in seconds
    cost_usd: float | None = None  # [asr] cost_per_minute x audio_s; None when no price is set


class AgentStep(_Frozen):
    """One agent call in a run: a recommendation, or the error that replaced it. `heard`: in an
    audio run, what the ASR made of this customer turn (None in a text run, or when the turn had no
    times and its transcript text was used)."""

    turn: int
    customer_turn: int  # ordinal among the case's customer turns (0-based)
    recommendation: Recommendation | None = None
    error: str | None = None
    heard: HeardTurn | None = None


class CallRun(_Frozen):
    """The agent's steps through one case, as a runner writes it (never scored here)."""

    case_id: str
    fingerprint: str
    repeat: int = 0
    steps: list[AgentStep]
    error: str | None = None

    @property
    def escalation(self) -> AgentStep | None:
        """The first step at which the agent recommended escalation."""
        for step in self.steps:
            if step.recommendation is not None and step.recommendation.escalate:
                return step
        return None


class CacheStats(_Frozen):
    """What the response cache saved in a run: answers reused (hits) and requests made (misses)."""

    enabled: bool
    hits: int = 0
    misses: int = 0

    def plus(self, hits: int, misses: int) -> CacheStats:
        """These figures with a resumed part's added (the cache on for the run from then on)."""
        return CacheStats(enabled=True, hits=self.hits + hits, misses=self.misses + misses)


class RunManifest(_Frozen):
    """Everything needed to know what a run measured and to reproduce it."""

    run_id: str
    created_at: UtcTime
    tenant: str
    mode: Literal["replay", "shadow", "selftest"] = "replay"  # selftest: `shadow selftest` calls, never a default run
    agent: dict[str, Any]
    prompt_hash: str | None = None
    cases: dict[str, str]  # case_id -> fingerprint
    versions: dict[str, str]
    all_turns: bool = False
    repeats: int = 1
    # What the response cache saved ({"enabled": bool, "hits": n, "misses": n}); filled in when the run ends.
    cache: CacheStats | None = None
    # An audio run (`run --audio`): the ASR engine's settings (its `describe()`: kind, model, ...)
    # that turned each customer turn's audio into the text the agent was given; None: a text run.
    asr: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION


class Weights(_Frozen):
    """What each kind of failure costs the tenant, for the weighted score (relative units).

    A case's penalty is the sum of its failures' weights (an agent error, a missed or an
    unnecessary escalation are one failure each; a late or early escalation and a wrong routing
    can add up). weighted_score = 1 - sum(penalties) / (worst possible penalty x cases).
    """

    missed: float = Field(5.0, ge=0)
    unnecessary: float = Field(1.0, ge=0)
    late: float = Field(2.0, ge=0)
    early: float = Field(1.0, ge=0)
    routing: float = Field(1.0, ge=0)
    error: float = Field(5.0, ge=0)

    def worst(self) -> float:
        return max(self.missed, self.unnecessary, self.error, max(self.late, self.early) + self.routing)


class GateConfig(_Frozen):
    pass_rate: float = Field(0.90, ge=0, le=1)
    use_lower_bound: bool = False
    min_cases: int = Field(10, ge=0)
    max_errors: int = Field(0, ge=0)
    escalation_turn_tolerance: int = Field(1, ge=0)
    required_attributes: list[str] = Field(default_factory=lambda: ["skill", "priority", "vip"])
    # Optional checks: informative figures become gate checks when set.
    min_reply_similarity: float | None = Field(None, ge=0, le=1)  # 1 - MER over all scored turns
    check_latency: bool = False  # p95 first-token and full-reply times within [budgets]
    check_cost: bool = False  # mean cost per call within [budgets] cost_per_call_usd
    check_handoff: bool = False  # every escalation the agent made carries a good handoff
    max_hops: int = Field(2, ge=1)  # escalations to distinct destinations in one call
    require_pass_k: bool = False  # with run --repeats K: gate on pass^k, not the first repeat
    weights: Weights = Field(default_factory=Weights)
    min_weighted_score: float | None = Field(None, ge=0, le=1)
    max_asr_wer: float | None = Field(None, ge=0)  # audio runs: corpus WER of the heard customer turns


class Budgets(_Frozen):
    """[budgets]: latency at p95, cost per conversation, and what a human-handled call costs."""

    first_token_ms: float = Field(800.0, gt=0)
    full_reply_ms: float = Field(1400.0, gt=0)
    # audio runs: p95 from the end of the customer's speech to the agent's first token (the ASR's
    # time plus the agent's), the voice agent's budget
    asr_to_first_token_ms: float = Field(800.0, gt=0)
    cost_per_call_usd: float | None = Field(None, ge=0)
    human_cost_per_call_usd: float | None = Field(None, ge=0)


class Failure(_Frozen):
    case_id: str
    why: str


class ScorerSummary(_Frozen):
    """What one scorer says about a run; `key` names it in the gate JSON (`escalation`, `reply`, ...)."""

    key: ClassVar[str]


class EscalationSummary(ScorerSummary):
    key: ClassVar[str] = "escalation"

    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    f1: float | None
    early: int
    late: int


class RoutingSummary(ScorerSummary):
    key: ClassVar[str] = "routing"

    cases: int
    accuracy: float | None
    per_attribute: dict[str, float | None]


class ReplySummary(ScorerSummary):
    """The agent's replies against the human's next replies (corpus-level: edits summed over
    turns, then divided). None when no turn could be scored."""

    key: ClassVar[str] = "reply"

    turns: int
    cases: int
    wer: float | None
    mer: float | None
    cer: float | None
    similarity: float | None  # 1 - MER, in [0, 1]: the only reply measure the gate uses


class AsrSummary(ScorerSummary):
    """An audio run's hearing: the ASR's word error rate on the customer turns heard, against their
    text in the cases (corpus-level: edits summed over turns, then divided). Absent (null in the
    gate JSON) for a text run: not measured."""

    key: ClassVar[str] = "asr"

    turns: int
    cases: int
    edits: int  # substitutions + deletions + insertions, after the reply normalisation
    ref_words: int
    wer: float | None
    worst_case_wer: float | None
    # per conversation heard: the customer audio the ASR heard and what it cost ([asr] cost_per_minute;
    # None without a price), beside the agent's token cost in `cost`
    audio_minutes: float | None = None
    audio_minutes_per_call: float | None = None
    asr_cost_total: float | None = None
    asr_cost_per_call: float | None = None
    # per heard turn, in ms from the end of the customer's speech: to the transcript (the ASR's
    # time), to the agent's first token and to its full reply (the ASR's time plus the agent's);
    # None where the agent reported no times
    to_transcript_p50: float | None = None
    to_transcript_p95: float | None = None
    to_first_token_p50: float | None = None
    to_first_token_p95: float | None = None
    to_full_reply_p50: float | None = None
    to_full_reply_p95: float | None = None
    to_first_token_budget: float | None = None


class LatencySummary(ScorerSummary):
    """Per turn, in ms; None means not measured (the agent reported no times)."""

    key: ClassVar[str] = "latency"

    turns: int
    cached_turns: int
    first_token_p50: float | None
    first_token_p95: float | None
    full_reply_p50: float | None
    full_reply_p95: float | None
    first_token_budget: float
    full_reply_budget: float
    within_budget: bool | None


class CostSummary(ScorerSummary):
    """Per conversation (a call's steps summed), in USD; None means not measured."""

    key: ClassVar[str] = "cost"

    calls: int
    per_call_mean: float | None
    per_call_p95: float | None
    per_call_max: float | None
    total: float | None
    spent: float | None  # what this run paid (cached answers cost nothing again)
    budget: float | None
    over_budget_calls: int | None
    within_budget: bool | None
    human_cost_per_call: float | None
    escalation_share: float  # calls the agent would hand to a human anyway
    saving_per_call: float | None  # human cost - (AI cost + escalation share x human cost)
    saving_total: float | None


class HandoffSummary(ScorerSummary):
    """Escalations the agent made: is the handoff usable by the human who takes the call?"""

    key: ClassVar[str] = "handoff"

    escalations: int
    with_summary: int
    with_sentiment: int
    with_attributes: int  # every required routing attribute present
    max_hops: int
    over_hops: list[str]  # cases with more hops than allowed
    ok: int
    failed: list[str]


class PassKSummary(_Frozen):
    """With run --repeats K: a case passes^k when it passed in all K repeats."""

    k: int
    cases: int
    pass_k: int  # cases that passed in all k repeats
    pass_k_rate: float
    pass_k_ci: tuple[float, float]
    flips: list[str]  # cases whose result differs between repeats


class BreakdownRow(_Frozen):
    key: str
    cases: int
    passed: int
    pass_rate: float
    ci: tuple[float, float]


class EvidenceSummary(_Frozen):
    """What it would take to clear the bar: more cases, or more passing ones. Computed once by
    the gate; every output (CLI, JSON, HTML/PDF, Markdown, JUnit) shows `caution` beside the
    verdict, so a go on thin evidence never reads as a plain go."""

    min_cases_short: int  # cases still missing before a verdict is possible
    passes_needed_point: int | None  # consecutive passing cases for the pass rate to clear the bar
    passes_needed_lower_bound: int | None  # ... for the Wilson lower bound to clear it (None: never)
    note: str
    lower_bound: float | None = None  # the Wilson 95% lower bound of the gated rate
    lower_bound_clears_bar: bool = True  # whether or not use_lower_bound is set
    caution: str | None = None  # the sentence to show beside the verdict when it does not clear


RulingKind = Literal["human_right", "ai_right", "unclear"]
# Ruling's AI decision as the store's rulings table holds it: AgentDecision field -> ai_* column.
RULING_AI_COLUMNS = {
    "escalated": "ai_escalated",
    "turn": "ai_at_turn",
    "customer_turn": "ai_at_customer_turn",
    "reason": "ai_reason",
    "urgency": "ai_urgency",
    "queue": "ai_queue",
    "routing": "ai_routing",
}


class Ruling(BaseModel):
    """An engineer's ruling on one case version (its fingerprint) from one run, with the AI's
    decision it was made on (evals/rulings.py applies it)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    case_id: str
    fingerprint: str
    run_id: str
    ruling: RulingKind
    note: str | None = None
    ruled_by: str
    ruled_at: UtcTime
    ai: AgentDecision

    def columns(self, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """The ruling as a row of the rulings table: the decision flattened into its ai_* columns."""
        row = self.model_dump(mode=mode, exclude={"ai"})
        row.update((RULING_AI_COLUMNS[k], v) for k, v in self.ai.model_dump(mode=mode).items())
        return row

    @classmethod
    def from_columns(cls, row: dict[str, Any]) -> Ruling:
        """A rulings-table row (ai_routing already a dict) as a Ruling."""
        fields = {k: v for k, v in row.items() if k not in RULING_AI_COLUMNS.values()}
        decided = {k: row.get(c) for k, c in RULING_AI_COLUMNS.items() if c != "ai_routing"}
        ai = AgentDecision(**decided, routing=row.get("ai_routing") or {})
        return cls.model_validate({**fields, "ai": ai})


class RecordedRuling(_Frozen):
    """One ruling as the history keeps it: superseded or current, and what happened since it was
    made (its case or run removed: `audit_note`). Rulings are never deleted, so this is the audit."""

    ruling_id: int
    ruling: Ruling
    current: bool  # the newest ruling on its case version (the one scoring applies)
    audit_note: str | None = None


class Judgement(_Frozen):
    """One reply the LLM judge was asked about, as the judgements table stores it: its three 1-5
    scores and the normalised score, or the error that replaced them (never both)."""

    case_id: str
    repeat: int
    turn: int  # the transcript index of the judged reply's customer turn
    model: str
    rubric_hash: str
    correctness: int | None = None
    policy: int | None = None
    tone: int | None = None
    score: float | None = None
    reasons: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    cost_usd: float | None = None
    cached: bool = False  # the answer came from the response cache: it cost nothing now


class JudgedTurn(_Frozen):
    """One reply the LLM judge scored (scores 1-5; score normalised to [0, 1]), or could not."""

    case_id: str
    repeat: int
    turn: int  # the transcript index of the judged reply's customer turn
    score: float | None
    correctness: int | None
    policy: int | None
    tone: int | None
    reasons: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    customer_turn: int | None = None  # the same turn as people read it: "customer turn N", from 1


class JudgeSummary(ScorerSummary):
    """The stored judgements of a run. Means are over judged turns; a turn the judge could not
    score (bad output, failed request) is an error, never a score."""

    key: ClassVar[str] = "judge"

    model: str
    rubric_hash: str
    turns: int  # turns the judge scored
    cases: int
    errors: int  # turns it could not score
    correctness: float | None  # mean, 1-5
    policy: float | None
    tone: float | None
    score: float | None  # mean of the per-turn normalised scores, in [0, 1]
    worst: list[JudgedTurn] = Field(default_factory=list)  # the lowest-scored turns, with reasons
    failed: list[JudgedTurn] = Field(default_factory=list)  # the first turns it could not score


class WeightedScore(ScorerSummary):
    """The weighted score, in [0, 1] (Weights): a bare number in the gate JSON."""

    key: ClassVar[str] = "weighted_score"

    score: float | None

    @model_validator(mode="before")
    @classmethod
    def _from_bare(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {"score": data}

    @model_serializer(mode="plain")
    def _bare(self) -> float | None:
        return self.score


# The summaries a stored gate result can carry, by their JSON key (how stored JSON is read back).
SUMMARY_MODELS: dict[str, type[ScorerSummary]] = {
    m.key: m
    for m in (
        EscalationSummary,
        RoutingSummary,
        ReplySummary,
        LatencySummary,
        CostSummary,
        HandoffSummary,
        WeightedScore,
        JudgeSummary,
        AsrSummary,
    )
}
# The core checks, for a GateCheck read back from JSON (which does not carry the kind); the gate
# itself declares each check's kind when it makes it.
CORE_CHECKS = ("min_cases", "pass_rate", "critical", "errors")

S = TypeVar("S", bound=ScorerSummary)


class GateCheck(_Frozen):
    name: str
    passed: bool
    detail: str
    # Not in the JSON, whose layout is fixed; read back, a check is core when its name is.
    kind: CheckKind = Field("optional", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _kind_from_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" not in data and data.get("name") in CORE_CHECKS:
            return {**data, "kind": "core"}
        return data


# The gate JSON's keys in order: GateResult's fields with each scorer summary at its place (a
# summary not listed, such as a new scorer's, follows them). A summary absent from a result is null.
GATE_JSON_LAYOUT = (
    "run_id",
    "verdict",
    "passed",
    "pass_rate",
    "pass_rate_ci",
    "bar",
    "cases",
    "passed_cases",
    "errors",
    "critical_failed",
    "escalation",
    "routing",
    "failures",
    "checks",
    "explanation",
    "config",
    "reply",
    "latency",
    "cost",
    "handoff",
    "pass_k",
    "breakdowns",
    "weighted_score",
    "evidence",
    "judge",
    "asr",
)


class GateResult(_Frozen):
    """The gate's decision; DESIGN.md "The gate" fixes the JSON shape.

    The scorers' summaries are one list (`summaries`, in the order the scorers ran); the JSON
    spreads them under their keys (GATE_JSON_LAYOUT), so the stored and printed shape stays that
    of one field per summary, and stored JSON of that shape reads back.
    """

    run_id: str
    verdict: Verdict
    passed: bool
    pass_rate: float
    pass_rate_ci: tuple[float, float]
    bar: float
    cases: int
    passed_cases: int
    errors: int
    critical_failed: list[str]
    failures: list[Failure]
    checks: list[GateCheck]
    explanation: str
    config: GateConfig
    summaries: tuple[SerializeAsAny[ScorerSummary], ...] = ()
    pass_k: PassKSummary | None = None
    breakdowns: dict[str, list[BreakdownRow]] = Field(default_factory=dict)
    evidence: EvidenceSummary | None = None

    @model_validator(mode="before")
    @classmethod
    def _gather_summaries(cls, data: Any) -> Any:
        """Stored JSON (one key per summary) -> the list; a missing or null summary is absent."""
        if not isinstance(data, dict) or "summaries" in data:
            return data
        body = {k: v for k, v in data.items() if k not in SUMMARY_MODELS}
        found = [(m, data[k]) for k, m in SUMMARY_MODELS.items() if data.get(k) is not None]
        body["summaries"] = tuple(v if isinstance(v, m) else m.model_validate(v) for m, v in found)
        return body

    @model_serializer(mode="wrap")
    def _spread_summaries(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        spread = dict(zip((s.key for s in self.summaries), data.pop("summaries", ()), strict=True))
        out = {}
        for key in GATE_JSON_LAYOUT:
            if key in data:
                out[key] = data.pop(key)
            elif key in SUMMARY_MODELS:
                out[key] = spread.pop(key, None)
        return {**out, **data, **spread}

    def summary(self, kind: type[S]) -> S | None:
        """The summary of one scorer, by its model (None: that scorer said nothing about this run)."""
        return next((s for s in self.summaries if isinstance(s, kind)), None)

    def with_summary(self, summary: ScorerSummary) -> GateResult:
        """A copy with one scorer's summary replaced (or added)."""
        kept = tuple(s for s in self.summaries if s.key != summary.key)
        at = next((i for i, s in enumerate(self.summaries) if s.key == summary.key), len(kept))
        return self.model_copy(update={"summaries": (*kept[:at], summary, *kept[at:])})

    @property
    def escalation(self) -> EscalationSummary:
        return _required(self.summary(EscalationSummary), "escalation")

    @property
    def routing(self) -> RoutingSummary:
        return _required(self.summary(RoutingSummary), "routing")

    @property
    def reply(self) -> ReplySummary | None:
        return self.summary(ReplySummary)

    @property
    def latency(self) -> LatencySummary | None:
        return self.summary(LatencySummary)

    @property
    def cost(self) -> CostSummary | None:
        return self.summary(CostSummary)

    @property
    def handoff(self) -> HandoffSummary | None:
        return self.summary(HandoffSummary)

    @property
    def weighted_score(self) -> float | None:
        w = self.summary(WeightedScore)
        return None if w is None else w.score

    @property
    def judge(self) -> JudgeSummary | None:
        return self.summary(JudgeSummary)

    @property
    def asr(self) -> AsrSummary | None:
        """An audio run's hearing (None: a text run, not measured)."""
        return self.summary(AsrSummary)


def _required(summary: S | None, key: str) -> S:
    if summary is None:
        raise LookupError(f"this gate result has no {key} summary")
    return summary
