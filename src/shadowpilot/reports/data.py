"""ReportData: everything a report shows, from a run's scores and verdict (the workflow computes
them) and its records (read from the store once). Writers never query DuckDB."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ..config import Settings
from ..evals import columns as col
from ..evals.compare import Comparison, DecisionFlip
from ..evals.derive import agent_decisions
from ..evals.missing import na_to_none
from ..store import Store
from ..types import (
    NO_ESCALATION,
    AgentDecision,
    AsrSummary,
    DecisionView,
    GateResult,
    Outcome,
    RunManifest,
    Transcript,
    Turn,
    UtcTime,
)
from ..wording import customer_turn_from_ordinal, customer_turn_number, noun, plural


class RulingNote(BaseModel):
    """The current ruling on a case's disagreement: who decided, when, and why."""

    model_config = ConfigDict(frozen=True)

    ruling: str  # human_right | ai_right | unclear
    label: str  # "AI was right"
    note: str | None = None
    ruled_by: str | None = None
    ruled_at: UtcTime | None = None


class CaseReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    channel: str
    critical: bool
    tags: list[str]
    started_at: UtcTime | None
    passed: bool
    why: str | None
    decision: str | None  # tp | fp | fn | tn (None on an agent error)
    timing: str | None  # on_time | early | late
    error: str | None
    human: Outcome  # its at_turn is the transcript index, as imported
    human_at_customer_turn: int | None  # the same point as people read it: customer turn N, from 1
    agent: DecisionView  # the AI's decision, with its reply there (or the last reply of a call it kept)
    turns: list[Turn]
    # the agent's steps; `transcript_index` is raw (from 0), `customer_turn` is counted from 1
    steps: list[dict[str, Any]]
    # what failed, as filter keys: missed, unnecessary, early, late, routing, error
    problems: list[str] = Field(default_factory=list)
    # per routing attribute (and queue): did the agent match the human? None when not scored
    attributes: dict[str, bool | None] = Field(default_factory=dict)
    ruling: RulingNote | None = None
    cost_usd: float | None = None
    first_token_ms_max: float | None = None
    latency_ms_max: float | None = None


class CaseWer(BaseModel):
    """One heard case's ASR word error rate, as the gate's scorer computed it (scores' `asr_wer`)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    turns: int  # customer turns heard and scored
    edits: int
    ref_words: int
    wer: float | None  # None: no reference word to measure against


class WorstTurn(BaseModel):
    """A heard customer turn among the worst heard, by the scorer's per-turn WER (turn_wer)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    customer_turn: int | None  # counted from 1, as people read it
    edits: int
    ref_words: int
    wer: float


class Hearing(BaseModel):
    """What the agent heard in an audio run (`run --audio`), every figure from the gate's ASR
    scorer (`asr` is the gate's own summary, unchanged), never recomputed here. A text run:
    `measured` false, `asr` null, and every writer says "not measured"."""

    model_config = ConfigDict(frozen=True)

    measured: bool
    asr: AsrSummary | None = None  # the gate's `asr`: corpus WER, audio minutes, ASR cost, latencies
    token_cost_per_call: float | None = None  # the agent's token cost (gate `cost.per_call_mean`), beside ASR's
    cases: list[CaseWer] = Field(default_factory=list)  # worst WER first
    worst_turns: list[WorstTurn] = Field(default_factory=list)  # at most WORST_TURNS, worst first
    # against a baseline of the other kind (text vs audio): the cases whose decision hearing changed
    # (evals.compare.decision_flips); None when there is no such baseline
    flipped: list[DecisionFlip] | None = None
    baseline_run: str | None = None  # that baseline
    baseline_audio: bool = False  # whether that baseline was the audio run (this one the text run)


WORST_TURNS = 5


class TimelinePoint(BaseModel):
    """One gated run of the pilot: when, which kind (replay or shadow) and how it did."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    at: UtcTime
    day: date
    mode: str  # replay | shadow
    cases: int
    passed_cases: int
    pass_rate: float
    verdict: str
    current: bool  # the run this report is about


class ReportData(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    vertical: str
    generated_at: UtcTime
    manifest: RunManifest
    gate: GateResult
    cases: list[CaseReport]
    agent_model: str | None = None
    redacted: bool = True
    # the kinds of personal data actually found and replaced in this report (empty with --show-pii)
    redacted_kinds: list[str] = Field(default_factory=list)
    checked_kinds: list[str] = Field(default_factory=list)  # the kinds looked for ([redaction] kinds)
    first_call: UtcTime | None = None  # the span of the calls the run replayed
    last_call: UtcTime | None = None
    timeline: list[TimelinePoint] = Field(default_factory=list)
    to_go_live: list[str] = Field(default_factory=list)  # what must change to go live (empty: go)
    comparison: Comparison | None = None  # against --baseline RUN
    case_set: str | None = None  # which stored cases the run replayed (case_sets; None: a live shadow run)
    hearing: Hearing = Hearing(measured=False)  # an audio run's hearing; not measured for a text run

    @property
    def redaction_note(self) -> str:
        """The one sentence every format prints about personal data: exactly the kinds replaced
        in this report, then the kinds looked for; never a claim beyond what was done."""
        if not self.redacted:
            return "This report shows personal data as recorded: share it only with people allowed to see it."
        found = (
            f"Redacted in this report: {kind_list(self.redacted_kinds)}."
            if self.redacted_kinds
            else "No personal data of the kinds looked for was found to redact."
        )
        looked = kind_list(self.checked_kinds) if self.checked_kinds else "nothing ([redaction] kinds is empty)"
        return f"{found} Looked for: {looked}."


def kind_list(kinds: list[str]) -> str:
    """ "phone numbers, emails and names": the kinds of personal data, as the reports say them."""
    from ..transcripts.redact import KIND_LABEL

    words = [KIND_LABEL.get(k, k) for k in kinds]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _num(v: Any) -> float | None:
    v = na_to_none(v)
    return None if v is None else float(v)


@dataclass(frozen=True)
class RunRecords:
    """What a report reads from the store about a run, besides its scores and verdict."""

    manifest: RunManifest
    transcripts: dict[str, Transcript]
    decisions: dict[str, AgentDecision]  # the agent's first escalation per case (first repeat); absent: none
    steps: pd.DataFrame
    errors: dict[str, str | None]
    rulings: pd.DataFrame
    history: pd.DataFrame
    case_set: str | None = None


def read_records(store: Store, run_id: str) -> RunRecords:
    steps = store.steps(run_id)
    return RunRecords(
        manifest=store.manifest(run_id),
        transcripts={t.id: t for t in store.run_cases(run_id)},
        decisions=agent_decisions(steps),
        steps=steps,
        errors=store.case_errors(run_id),
        rulings=store.rulings_for_run(run_id),
        history=store.history(),
        case_set=store.run_case_set(run_id),
    )


def report_data(
    settings: Settings,
    records: RunRecords,
    scores: pd.DataFrame,
    gate: GateResult,
    *,
    comparison: Comparison | None = None,
    heard: pd.DataFrame | None = None,
    show_pii: bool = False,
) -> ReportData:
    """Gather every case, the pilot's timeline and its rulings for the writers, around the run's
    scores and verdict as the workflow made them (shadowpilot.workflow.build_report_data).

    Personal data is redacted (`[redaction] kinds`) unless `show_pii`: a report is made to be
    shared; the store keeps the original. `heard` is the run's heard turns as the gate's ASR
    scorer scored them (evals.scorers.asr.score_hearing; None for a text run).
    """
    manifest = records.manifest
    r = records
    cases = _cases(scores, r.transcripts, r.decisions, r.steps, r.errors, r.rulings, settings, show_pii)
    if not show_pii:
        gate = _redacted_judge_reasons(gate, settings)
    starts = [c.started_at for c in cases if c.started_at is not None]
    return ReportData(
        tenant=settings.tenant.name,
        vertical=settings.tenant.vertical,
        generated_at=datetime.now(UTC),
        manifest=manifest,
        gate=gate,
        cases=cases,
        agent_model=manifest.agent.get("model"),
        redacted=not show_pii,
        redacted_kinds=[] if show_pii else _kinds_replaced(cases, gate),
        checked_kinds=[] if show_pii else list(settings.redaction.kinds),
        first_call=min(starts, default=None),
        last_call=max(starts, default=None),
        timeline=_timeline(records.history, manifest, gate),
        to_go_live=to_go_live(gate, cases),
        comparison=comparison,
        case_set=records.case_set,
        hearing=hearing(gate, scores, heard, records.transcripts, comparison),
    )


def hearing(
    gate: GateResult,
    scores: pd.DataFrame,
    heard: pd.DataFrame | None,
    transcripts: dict[str, Transcript],
    comparison: Comparison | None,
) -> Hearing:
    """The run's hearing for the writers: the gate's ASR summary as it is, the per-case WER the
    scorer put in the scores, the worst turns by the scorer's turn_wer, and the cases flipped by
    hearing when the baseline is of the other kind (text against audio)."""
    from ..evals.scorers.asr import turn_wer

    flipped = None
    if comparison is not None and comparison.audio_a != comparison.audio_b:
        flipped = list(comparison.flipped)
    base = comparison.run_a if flipped is not None and comparison is not None else None
    base_audio = bool(flipped is not None and comparison is not None and comparison.audio_a)
    asr = gate.asr
    if asr is None:
        return Hearing(measured=False, flipped=flipped, baseline_run=base, baseline_audio=base_audio)
    s = col.first_repeat(scores)
    s = s[s["asr_turns"] > 0]
    cases = [
        CaseWer(
            case_id=r["case_id"],
            turns=int(r["asr_turns"]),
            edits=int(r["asr_edits"]),
            ref_words=int(r["asr_ref_words"]),
            wer=None if _num(r["asr_wer"]) is None else round(float(r["asr_wer"]), 4),
        )
        for r in col.records(s)
    ]
    cases.sort(key=lambda c: -1.0 if c.wer is None else -c.wer)
    worst: list[WorstTurn] = []
    if heard is not None and not heard.empty:
        turns = col.first_repeat(heard).assign(wer=lambda t: turn_wer(t))
        turns = turns.sort_values("wer", ascending=False, kind="stable").head(WORST_TURNS)
        for r in col.records(turns):
            t = transcripts.get(r["case_id"])
            worst.append(
                WorstTurn(
                    case_id=r["case_id"],
                    customer_turn=customer_turn_number(t.turns, int(r["turn"])) if t is not None else None,
                    edits=int(r["edits"]),
                    ref_words=int(r["ref_words"]),
                    wer=round(float(r["wer"]), 4),
                )
            )
    return Hearing(
        measured=True,
        asr=asr,
        token_cost_per_call=gate.cost.per_call_mean if gate.cost is not None else None,
        cases=cases,
        worst_turns=worst,
        flipped=flipped,
        baseline_run=base,
        baseline_audio=base_audio,
    )


def _steps_by_case(steps: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    steps = col.first_repeat(steps)
    by_case: dict[str, list[dict[str, Any]]] = {}
    for row in col.records(steps):
        rec: dict[str, Any] = {
            k: na_to_none(v) for k, v in row.items() if k not in ("case_id", "repeat", "turn", "customer_turn")
        }
        rec = {
            "transcript_index": int(row["turn"]),
            "customer_turn": customer_turn_from_ordinal(int(row["customer_turn"])),
            **rec,
        }
        if rec.get("routing"):
            rec["routing"] = json.loads(rec["routing"])
        by_case.setdefault(row["case_id"], []).append(rec)
    return by_case


def _rulings(rulings: pd.DataFrame) -> dict[str, RulingNote]:
    from ..evals.rulings import RULING_LABEL

    out = {}
    for r in rulings.to_dict("records"):
        at = na_to_none(r.get("ruled_at"))
        out[r["case_id"]] = RulingNote(
            ruling=r["ruling"],
            label=RULING_LABEL.get(r["ruling"], r["ruling"]),
            note=na_to_none(r.get("note")),
            ruled_by=na_to_none(r.get("ruled_by")),
            ruled_at=None if at is None else pd.Timestamp(at).to_pydatetime(),
        )
    return out


def _problems(s: dict[str, Any], attributes: dict[str, bool | None]) -> list[str]:
    if s["passed"]:
        return []
    if s["error"]:
        return ["error"]
    out = []
    if s["decision"] == "fn":
        out.append("missed")
    elif s["decision"] == "fp":
        out.append("unnecessary")
    if na_to_none(s.get("timing")) in ("early", "late"):
        out.append(s["timing"])
    if any(v is False for v in attributes.values()):
        out.append("routing")
    return out or ["other"]


def _cases(
    scores: pd.DataFrame,
    transcripts: dict[str, Any],
    decisions: dict[str, AgentDecision],
    steps: pd.DataFrame,
    errors: dict[str, str | None],
    rulings: pd.DataFrame,
    settings: Settings,
    show_pii: bool,
) -> list[CaseReport]:
    by_case = _steps_by_case(steps)
    ruling_by_case = _rulings(rulings)
    redactor = None
    if not show_pii:
        from ..transcripts.redact import Redactor

        redactor = Redactor(settings.redaction.kinds)
    matched = col.matched(col.routed(settings.gate.required_attributes), scores.columns)
    cases = []
    for s in col.records(col.first_repeat(scores)):
        t = transcripts[s["case_id"]]
        case_steps = by_case.get(t.id, [])
        ruling = ruling_by_case.get(t.id)
        why, error = na_to_none(s["why"]), na_to_none(errors.get(t.id))
        if redactor is not None:
            # every free text about the case shares the call's placeholders: the agent's replies,
            # summaries and errors, the failure reason, the reviewer's note
            texts = [x for st in case_steps for x in (st.get("reply"), st.get("summary"), st.get("error"))]
            t, out = redactor.redact_case(t, [*texts, why, error, ruling.note if ruling else None])
            for i, st in enumerate(case_steps):
                st["reply"], st["summary"], st["error"] = out[3 * i], out[3 * i + 1], out[3 * i + 2]
            why, error, note = out[-3:]
            if ruling is not None:
                ruling = ruling.model_copy(update={"note": note})
        decision = decisions.get(t.id, NO_ESCALATION)
        if decision.escalated:
            reply = next((st.get("reply") for st in case_steps if st["transcript_index"] == decision.turn), None)
        else:
            reply = case_steps[-1].get("reply") if case_steps else None
        agent = DecisionView.of(decision, reply)
        human_at = customer_turn_number(t.turns, t.outcome.at_turn) if t.outcome.escalated else None
        attributes = {a: na_to_none(s[col.match(a)]) for a in matched}
        attributes = {k: None if v is None else bool(v) for k, v in attributes.items()}
        cases.append(
            CaseReport(
                case_id=t.id,
                channel=t.channel,
                critical=t.critical,
                tags=t.tags,
                started_at=t.started_at,
                passed=bool(s["passed"]),
                why=why,
                decision=na_to_none(s["decision"]),
                timing=na_to_none(s["timing"]),
                error=error,
                human=t.outcome,
                human_at_customer_turn=human_at,
                agent=agent,
                turns=t.turns,
                steps=case_steps,
                problems=_problems(s, attributes),
                attributes=attributes,
                ruling=ruling,
                cost_usd=_num(s.get("cost_usd")),
                first_token_ms_max=_num(s.get("first_token_ms_max")),
                latency_ms_max=_num(s.get("latency_ms_max")),
            )
        )
    # failing cases first (critical ones at the very top), then the rest in import order
    cases.sort(key=lambda c: (c.passed, not c.critical))
    return cases


def _redacted_judge_reasons(gate: GateResult, settings: Settings) -> GateResult:
    """The judge's reasons can quote the call (a judge on loopback saw it unredacted)."""
    from ..transcripts.redact import Redactor

    j = gate.judge
    if j is None or not j.worst:
        return gate
    r = Redactor(settings.redaction.kinds)
    worst = [w.model_copy(update={"reasons": {k: r.redact_text(v) for k, v in w.reasons.items()}}) for w in j.worst]
    return gate.with_summary(j.model_copy(update={"worst": worst}))


def _kinds_replaced(cases: list[CaseReport], gate: GateResult) -> list[str]:
    """What the redaction replaced in this report, read from the placeholders it left."""
    from ..transcripts.redact import kinds_in

    texts: list[str | None] = []
    for c in cases:
        texts += [t.text for t in c.turns] + [c.why, c.error, c.ruling.note if c.ruling else None]
        texts += [st.get(k) for st in c.steps for k in ("reply", "summary", "error")]
    if gate.judge is not None:
        texts += [v for w in gate.judge.worst for v in w.reasons.values()]
    return kinds_in(texts)


def _timeline(history: pd.DataFrame, manifest: RunManifest, gate: GateResult) -> list[TimelinePoint]:
    """The pilot's gated runs, oldest first; this run with the verdict just computed."""
    points = []
    verdict: str
    for r in col.records(history):
        current = r["run_id"] == manifest.run_id
        if not current and (r["status"] != "complete" or na_to_none(r["verdict"]) is None):
            continue  # never gated: no verdict to plot
        at = pd.Timestamp(r["created_at"]).to_pydatetime()
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        at = at.astimezone(UTC)
        if current:
            cases, passed, rate, verdict = gate.cases, gate.passed_cases, gate.pass_rate, gate.verdict
        else:
            cases, passed = int(r["cases"]), int(na_to_none(r["passed_cases"]) or 0)
            rate, verdict = float(r["pass_rate"]), str(r["verdict"])
        points.append(
            TimelinePoint(
                run_id=r["run_id"],
                at=at,
                day=at.date(),
                mode=str(r["mode"]),
                cases=cases,
                passed_cases=passed,
                pass_rate=rate,
                verdict=verdict,
                current=current,
            )
        )
    return points


def _ids(ids: list[str], limit: int = 8) -> str:
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def to_go_live(gate: GateResult, cases: list[CaseReport]) -> list[str]:
    """What must change before the gate says go: the failing checks and the kinds of failure,
    most costly first, then the evidence still needed. Empty when the verdict is go."""
    if gate.verdict == "go":
        return []
    out: list[str] = []
    failed_checks = {c.name: c for c in gate.checks if not c.passed}
    if "min_cases" in failed_checks and gate.evidence is not None:
        short = gate.evidence.min_cases_short
        at_least = f"the gate needs at least {gate.config.min_cases} for a verdict"
        out.append(f"Score {plural(short, 'more case')}: {at_least}.")
    if gate.critical_failed:
        out.append(
            f"Pass the {noun(len(gate.critical_failed), 'critical case')} {_ids(gate.critical_failed)}: "
            "a critical case that fails blocks go-live whatever the pass rate."
        )
    failing = [c for c in cases if not c.passed]

    def with_problem(kind: str) -> list[str]:
        return [c.case_id for c in failing if kind in c.problems]

    kinds = [
        ("error", "Fix the agent errors (timeouts, bad answers) in {n}: {ids}.", "case"),
        ("missed", "Escalate when the human did: {n} ({ids}).", "missed escalation"),
        ("late", "Escalate sooner: {n} escalated later than the human ({ids}).", "case"),
        ("unnecessary", "Stop escalating calls a person did not need: {n} ({ids}).", "unnecessary escalation"),
        ("early", "Wait for the reason to escalate: {n} escalated earlier than the human ({ids}).", "case"),
    ]
    for kind, text, word in kinds:
        ids = with_problem(kind)
        if ids:
            out.append(text.format(n=plural(len(ids), word), ids=_ids(ids)))
    routed = with_problem("routing")
    if routed:
        wrong: dict[str, int] = {}
        for c in failing:
            for attr, ok in c.attributes.items():
                if ok is False:
                    wrong[attr] = wrong.get(attr, 0) + 1
        what = ", ".join(f"{a} {n}x" for a, n in sorted(wrong.items(), key=lambda kv: -kv[1]))
        out.append(
            f"Route escalations where the humans sent them: {plural(len(routed), 'case')} went to the "
            f"wrong place ({_ids(routed)}; wrong {what})."
        )
    out += [
        f"{c.name.replace('_', ' ').capitalize()}: {c.detail}."
        for c in gate.checks
        if not c.passed and c.kind == "optional"
    ]
    ev = gate.evidence
    if ev is not None and "pass_rate" in failed_checks:
        k = gate.pass_k if gate.config.require_pass_k and gate.pass_k is not None else None
        rate = k.pass_k_rate if k else gate.pass_rate
        what = f"pass^{k.k}" if k else "the pass rate"
        if gate.config.use_lower_bound:
            what, rate = f"the 95% lower bound of {what}", (k.pass_k_ci[0] if k else gate.pass_rate_ci[0])
            need = ev.passes_needed_lower_bound
        else:
            need = ev.passes_needed_point
        head = f"{what[0].upper()}{what[1:]} is {rate:.1%} against the {gate.bar:.0%} bar"
        if need is None:
            out.append(f"{head}: more passing cases alone cannot clear it; fix the failures above and replay.")
        elif need > 0:
            out.append(f"{head}: it would take {plural(need, 'more passing case')} in a row to clear it.")
    return out


def _wer(x: float | None) -> str:
    from ..formatting import NOT_MEASURED

    return NOT_MEASURED if x is None else f"{x:.3f}"


def hearing_figures(h: Hearing) -> list[tuple[str, str, str]]:
    """(key, label, text) of each hearing figure, the one wording every writer prints (JUnit
    keeps the key as a property): the gate's numbers at the gate's precision; "not measured"
    for each of them when nothing was heard, never 0 or blank."""
    from ..formatting import NOT_MEASURED, ms_as_kept, usd

    a = h.asr
    labels = [
        ("asr_wer", "ASR word error rate"),
        ("asr_worst_case_wer", "Worst case WER"),
        ("asr_turns_heard", "Heard turns the agent was asked at"),
        ("audio_minutes_per_call", "Audio minutes per call"),
        ("asr_cost_per_call", "ASR cost per call"),
        ("token_cost_per_call", "Token cost per call"),
        ("to_transcript", "End of speech to transcript (p50 / p95)"),
        ("to_first_token", "End of speech to first token (p50 / p95)"),
        ("to_full_reply", "End of speech to full reply (p50 / p95)"),
    ]
    if a is None:
        return [(k, label, NOT_MEASURED) for k, label in labels]

    def minutes(x: float | None) -> str:
        return NOT_MEASURED if x is None else f"{x:.2f} min"

    def pair(p50: float | None, p95: float | None, budget: float | None = None) -> str:
        within = f" (budget {budget:g} ms at p95)" if budget is not None else ""
        return f"{ms_as_kept(p50)} / {ms_as_kept(p95)}{within}"

    values = [
        f"{_wer(a.wer)} ({a.edits} edits / {a.ref_words} words)" if a.wer is not None else NOT_MEASURED,
        _wer(a.worst_case_wer),
        f"{plural(a.turns, 'customer turn')} in {plural(a.cases, 'case')}",
        minutes(a.audio_minutes_per_call),
        usd(a.asr_cost_per_call, 6),
        usd(h.token_cost_per_call, 6),
        pair(a.to_transcript_p50, a.to_transcript_p95),
        pair(a.to_first_token_p50, a.to_first_token_p95, a.to_first_token_budget),
        pair(a.to_full_reply_p50, a.to_full_reply_p95),
    ]
    return [(k, label, v) for (k, label), v in zip(labels, values, strict=True)]


def flip_text(h: Hearing, f: DecisionFlip) -> str:
    """What hearing changed in a flipped case, naming the text and the audio side."""
    a, b = ("audio", "text") if h.baseline_audio else ("text", "audio")
    if f.what == "escalation":
        return f"escalated on the {a if f.escalated_a else b} run only"
    return f"routing right on the {a if f.routing_ok_a else b} run only"


def case_wer_text(c: CaseWer) -> str:
    return f"{_wer(c.wer)} ({c.edits} / {c.ref_words} words, {plural(c.turns, 'turn')})"
