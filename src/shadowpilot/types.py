"""The core data contracts (DESIGN.md "Data contracts"), as frozen pydantic models.

Every layer speaks these types: readers produce Transcripts, agents produce
Recommendations, the turn loop produces CallRuns, the gate produces a GateResult.
Vendor formats never get past the readers.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Speaker = Literal["customer", "agent", "bot", "system"]
Verdict = Literal["go", "no-go", "insufficient-evidence"]
# A routing attribute value: skill and queue are strings, vip a boolean, others may be numbers.
AttrValue = str | bool | int | float | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Turn(_Frozen):
    speaker: Speaker
    text: str
    start_s: float | None = None
    end_s: float | None = None


class Outcome(_Frozen):
    """What the human actually did: the ground truth of a case."""

    escalated: bool
    at_turn: int | None = None
    reason: str | None = None
    urgency: str | None = None
    queue: str | None = None
    routing: dict[str, AttrValue] = Field(default_factory=dict)


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

    model_config = ConfigDict(frozen=True, extra="ignore")

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


class AgentInput(_Frozen):
    """What an agent sees at one customer turn: the conversation so far."""

    case_id: str
    turn: int
    channel: str
    customer: dict[str, Any]
    turns: list[Turn]
    repeat: int = 0  # which of `run --repeats K` this is: each repeat is its own sample (and cache entry)


class AgentStep(_Frozen):
    """One agent call in a run: a recommendation, or the error that replaced it."""

    turn: int
    customer_turn: int  # ordinal among the case's customer turns (0-based)
    recommendation: Recommendation | None = None
    error: str | None = None


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


class RunManifest(_Frozen):
    """Everything needed to know what a run measured and to reproduce it."""

    run_id: str
    created_at: datetime
    tenant: str
    mode: Literal["replay", "shadow"] = "replay"
    agent: dict[str, Any]
    prompt_hash: str | None = None
    cases: dict[str, str]  # case_id -> fingerprint
    versions: dict[str, str]
    all_turns: bool = False
    repeats: int = 1
    # What the response cache saved: {"enabled": bool, "hits": n, "misses": n}; filled in when the run ends.
    cache: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION


class GateConfig(_Frozen):
    pass_rate: float = Field(0.90, ge=0, le=1)
    use_lower_bound: bool = False
    min_cases: int = Field(10, ge=0)
    max_errors: int = Field(0, ge=0)
    escalation_turn_tolerance: int = Field(1, ge=0)
    required_attributes: list[str] = Field(default_factory=lambda: ["skill", "priority", "vip"])


class Failure(_Frozen):
    case_id: str
    why: str


class EscalationSummary(_Frozen):
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    f1: float | None
    early: int
    late: int


class RoutingSummary(_Frozen):
    cases: int
    accuracy: float | None
    per_attribute: dict[str, float | None]


class GateCheck(_Frozen):
    name: str
    passed: bool
    detail: str


class GateResult(_Frozen):
    """The gate's decision; DESIGN.md "The gate" fixes the JSON shape."""

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
    escalation: EscalationSummary
    routing: RoutingSummary
    failures: list[Failure]
    checks: list[GateCheck]
    explanation: str
    config: GateConfig
