"""Review: a run's disagreements between the AI and the human, and the rulings made on them."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from datetime import UTC, datetime

from ..config import Settings
from ..errors import NotFoundError, UsageError
from ..evals import score_frame
from ..evals.derive import agent_decisions
from ..evals.missing import na_to_none
from ..evals.rulings import RULINGS, Disagreement, Ruling
from ..store import Store
from ..terms import Term
from ..types import NO_ESCALATION, GateConfig, RecordedRuling
from .gating import scoring_frame
from .workspace import Workspace


def reviewer(by: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Who rules: `by`, else $SHADOWPILOT_REVIEWER, else the OS user name."""
    if by and by.strip():
        return by.strip()
    env = os.environ if environ is None else environ
    if env.get("SHADOWPILOT_REVIEWER", "").strip():
        return env["SHADOWPILOT_REVIEWER"].strip()
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return "unknown"


def _disagreements(store: Store, run_id: str, config: GateConfig) -> list[Disagreement]:
    """Failed cases where the AI and the human differ, scored against the human's outcome
    (no ruling applied), each with its current ruling."""
    frame = scoring_frame(store, run_id, config.required_attributes)
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
    wanted = set(ids)
    escalations = {c: d for c, d in agent_decisions(store.steps(run_id)).items() if c in wanted}
    replies = store.replies_at(run_id, {cid: d.turn for cid, d in escalations.items() if d.turn is not None})
    current = store.current_rulings(run_id)
    out = []
    for row in s.to_dict("records"):
        cid = str(row["case_id"])
        d = Disagreement(
            run_id=run_id,
            case_id=cid,
            fingerprint=versions[cid],
            critical=bool(row["critical"]),
            decision=na_to_none(row["decision"]),
            timing=na_to_none(row["timing"]),
            why=na_to_none(row["why"]),
            transcript=transcripts[cid],
            ai=escalations.get(cid, NO_ESCALATION),
            ai_reply=replies.get(cid),
            ruling=current.get(cid),
        )
        out.append(d)
    return out


def disagreements(settings: Settings, run_id: str | None = None) -> tuple[str, list[Disagreement]]:
    """The run (default: the latest complete one) and its disagreements, in import order."""
    with Workspace.reading(settings) as ws:
        rid = ws.complete_run(run_id)
        return rid, _disagreements(ws.store, rid, settings.gate)


def ruling_history(settings: Settings, case_id: str | None = None) -> list[RecordedRuling]:
    """Every ruling ever made (of one case, or all), oldest first: the audit trail, superseded
    rulings and those of removed cases and runs (noted) included."""
    with Workspace.reading(settings) as ws:
        return ws.store.ruling_history(case_id)


def _save_ruling(store: Store, d: Disagreement, ruling: str, note: str | None, by: str) -> Ruling:
    if ruling not in RULINGS:
        raise UsageError(f"unknown ruling {ruling!r}; use one of: {', '.join(RULINGS)}")
    r = Ruling(
        case_id=d.case_id,
        fingerprint=d.fingerprint,
        run_id=d.run_id,
        ruling=ruling,  # type: ignore[arg-type]
        note=(note or "").strip() or None,
        ruled_by=by,
        ruled_at=datetime.now(UTC),
        ai=d.ai,
    )
    store.add_ruling(r)
    return r


def save_ruling(
    settings: Settings, d: Disagreement, ruling: str, note: str | None = None, *, by: str | None = None
) -> Ruling:
    """Store a ruling on a disagreement found by `disagreements` (the interactive review)."""
    with Workspace.writing(settings) as ws:
        return _save_ruling(ws.store, d, ruling, note, reviewer(by))


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
    with Workspace.writing(settings) as ws:
        rid = ws.complete_run(run_id)
        if case_id not in ws.store.run_case_versions(rid):
            raise NotFoundError.worded(
                f"case {case_id!r} is not in run {rid}; see ", Term("disagreements", "disagreements()")
            )
        found = [d for d in _disagreements(ws.store, rid, settings.gate) if d.case_id == case_id]
        if not found:
            raise UsageError(
                f"case {case_id!r} is not a disagreement in run {rid}: the AI and the human agree, "
                "or the agent failed on it; there is nothing to rule on"
            )
        return _save_ruling(ws.store, found[0], ruling, note, reviewer(by))
