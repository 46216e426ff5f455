"""Flat case-level fields shared by the CSV and plain-text readers.

Both formats carry a case's metadata and human outcome as flat `key: value`
pairs; this turns them into the nested Transcript shape, so the two readers
agree on every key's meaning.
"""

from __future__ import annotations

from typing import Any

CASE_KEYS = ("tenant", "channel", "started_at")
OUTCOME_KEYS = ("escalated", "at_turn", "reason", "urgency", "queue")
ROUTING_KEYS = ("skill", "priority", "vip")
BOOL_KEYS = {"escalated", "critical", "vip", "customer_vip"}
TRUE = {"true", "yes", "y", "1"}
FALSE = {"false", "no", "n", "0"}


def parse_bool(value: str) -> bool | None:
    v = value.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    return None


def known_key(key: str) -> bool:
    return (
        key in CASE_KEYS
        or key in OUTCOME_KEYS
        or key in ROUTING_KEYS
        or key in ("id", "case_id", "critical", "tags", "audio", "audio_customer_channel")
        or key.startswith(("customer_", "routing_"))
    )


def build_case(fields: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Flat string fields -> the nested case dict (without turns), and (key, message) errors.

    Keys: id, tenant, channel, started_at, critical, tags (separated by ; or ,),
    customer_<name>, escalated, at_turn, reason, urgency, queue, skill, priority,
    vip, routing_<attribute>. Blank values count as absent. The recording's keys (audio,
    audio_customer_channel) are taken out first by transcripts/audio.ref_from_fields.
    """
    errors: list[tuple[str, str]] = []
    case: dict[str, Any] = {}
    customer: dict[str, Any] = {}
    outcome: dict[str, Any] = {}
    routing: dict[str, Any] = {}
    for key, raw in fields.items():
        text = raw.strip()
        if not text:
            continue
        value: str | bool = text  # a bool for BOOL_KEYS; the text itself for the rest
        if key in BOOL_KEYS:
            parsed = parse_bool(text)
            if parsed is None:
                errors.append((key, f"expected true or false, got {text!r}"))
                continue
            value = parsed
        if key in ("id", "case_id"):
            case["id"] = value
        elif key in CASE_KEYS or key == "critical":
            case[key] = value
        elif key == "tags":
            case["tags"] = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
        elif key.startswith("customer_"):
            customer[key.removeprefix("customer_")] = value
        elif key == "at_turn":
            try:
                outcome["at_turn"] = int(text)
            except ValueError:
                errors.append((key, f"expected a turn index (a whole number), got {text!r}"))
        elif key in OUTCOME_KEYS:
            outcome[key] = value
        elif key in ROUTING_KEYS:
            routing[key] = value
        elif key.startswith("routing_"):
            b = parse_bool(text)
            routing[key.removeprefix("routing_")] = text if b is None else b
    if "escalated" not in outcome:
        errors.append(("escalated", "missing: every case needs the human outcome (escalated true or false)"))
    if routing:
        outcome["routing"] = routing
    if customer:
        case["customer"] = customer
    case["outcome"] = outcome
    return case, errors
