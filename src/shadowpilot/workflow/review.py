"""Review: a run's disagreements between the AI and the human, and the rulings made on them."""


from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..config import Settings
from ..errors import NotFoundError, UsageError
from ..evals import score_frame
from ..evals.rulings import RULINGS, Disagreement, Ruling
from ..store import Store, open_store
from ..types import GateConfig

if TYPE_CHECKING:

    pass
from .gating import resolve_run_id, scoring_frame


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
    escalations = store.first_escalations(run_id, ids)
    rulings = store.rulings_for_run(run_id)
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

