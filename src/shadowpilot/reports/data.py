"""ReportData: everything a report shows, read from the store once. Writers never query DuckDB."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from ..config import Settings
from ..evals import evaluate_gate
from ..store import Store
from ..types import GateResult, Outcome, RunManifest, Turn


class AgentDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    escalated: bool
    at_turn: int | None = None
    reason: str | None = None
    urgency: str | None = None
    queue: str | None = None
    routing: dict[str, Any] = {}
    reply: str | None = None


class CaseReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    channel: str
    critical: bool
    tags: list[str]
    started_at: datetime | None
    passed: bool
    why: str | None
    decision: str | None
    timing: str | None
    error: str | None
    human: Outcome
    agent: AgentDecision
    turns: list[Turn]
    steps: list[dict[str, Any]]


class ReportData(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    vertical: str
    generated_at: datetime
    manifest: RunManifest
    gate: GateResult
    cases: list[CaseReport]


def _clean(v: Any) -> Any:
    return None if v is None or (not isinstance(v, list | dict) and pd.isna(v)) else v


def build_report_data(settings: Settings, run_id: str | None = None, *, show_pii: bool = False) -> ReportData:
    """Score the run (default: latest complete) and gather every case for the writers.

    Personal data is redacted (`[redaction] kinds`) unless `show_pii`: a report is
    made to be shared; the store keeps the original.
    """
    from ..pilot import resolve_run_id, score_run

    with Store.open(settings.store_path, create=False) as store:
        rid = resolve_run_id(store, run_id)
        manifest = store.manifest(rid)
        scores = score_run(store, rid, settings.gate)
        gate = evaluate_gate(scores, settings.gate, rid)
        transcripts = {t.id: t for t in store.run_cases(rid)}
        steps = store.steps(rid)
        errors = store.case_errors(rid)

    steps = steps[steps["repeat"] == 0]
    by_case: dict[str, list[dict[str, Any]]] = {}
    for row in steps.to_dict("records"):
        rec = {k: _clean(v) for k, v in row.items() if k not in ("case_id", "repeat")}
        if rec.get("routing"):
            rec["routing"] = json.loads(rec["routing"])
        by_case.setdefault(row["case_id"], []).append(rec)

    redactor = None
    if not show_pii:
        from ..transcripts.redact import Redactor

        redactor = Redactor(settings.redaction.kinds)
    cases = []
    for s in scores[scores["repeat"] == 0].to_dict("records"):
        t = transcripts[s["case_id"]]
        case_steps = by_case.get(t.id, [])
        if redactor is not None:
            t, texts = redactor.redact_case(t, [x for st in case_steps for x in (st.get("reply"), st.get("summary"))])
            for i, st in enumerate(case_steps):
                st["reply"], st["summary"] = texts[2 * i], texts[2 * i + 1]
        first = next((st for st in case_steps if st.get("escalate")), None)
        last_reply = case_steps[-1].get("reply") if case_steps else None
        agent = (
            AgentDecision(
                escalated=True,
                at_turn=first["turn"],
                reason=first.get("reason"),
                urgency=first.get("urgency"),
                queue=first.get("queue"),
                routing=first.get("routing") or {},
                reply=first.get("reply"),
            )
            if first
            else AgentDecision(escalated=False, reply=last_reply)
        )
        cases.append(
            CaseReport(
                case_id=t.id,
                channel=t.channel,
                critical=t.critical,
                tags=t.tags,
                started_at=t.started_at,
                passed=bool(s["passed"]),
                why=_clean(s["why"]),
                decision=_clean(s["decision"]),
                timing=_clean(s["timing"]),
                error=_clean(errors.get(t.id)),
                human=t.outcome,
                agent=agent,
                turns=t.turns,
                steps=case_steps,
            )
        )
    # failing cases first (critical ones at the very top), then the rest in import order
    cases.sort(key=lambda c: (c.passed, not c.critical))
    return ReportData(
        tenant=settings.tenant.name,
        vertical=settings.tenant.vertical,
        generated_at=datetime.now(UTC),
        manifest=manifest,
        gate=gate,
        cases=cases,
    )
