"""Top-N selection: the N cases that best cover a tenant's calls, each with why it was kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..types import Transcript

# How much covering one more value of a feature is worth: outcome reasons and the
# escalate/resolve split matter most, because they are what the gate scores.
WEIGHTS = {"reason": 3, "escalated": 3, "queue": 2, "channel": 1, "tag": 1, "vip": 1}
OUTCOME_FEATURES = {"reason", "escalated"}


@dataclass(frozen=True)
class Pick:
    case: Transcript
    why: str


def features(t: Transcript) -> set[tuple[str, str]]:
    o = t.outcome
    out = {("escalated", "escalated" if o.escalated else "resolved"), ("channel", t.channel)}
    if o.escalated:
        out.add(("reason", o.reason or "unlabelled"))
    if o.queue:
        out.add(("queue", o.queue))
    out.update(("tag", tag) for tag in t.tags)
    if t.customer.get("vip") is True:
        out.add(("vip", "yes"))
    return out


def describe(feature: tuple[str, str]) -> str:
    kind, value = feature
    if kind == "escalated":
        return "an escalated call" if value == "escalated" else "a resolved call"
    if kind == "vip":
        return "a VIP caller"
    return f"{kind} {value}"


def select_top(cases: list[Transcript], n: int) -> list[Pick]:
    """Critical cases always; then greedy coverage of reasons, outcomes, queues, channels, tags;
    then, once everything is covered, the reasons most under-represented against their share."""
    if n <= 0:
        return []
    picks = [Pick(t, "critical: the tenant says it must never be missed") for t in cases if t.critical]
    chosen = {t.id for t in cases if t.critical}
    covered: set[tuple[str, str]] = set().union(*(features(p.case) for p in picks)) if picks else set()
    pool_reasons = Counter(_reason(t) for t in cases)
    picked_reasons = Counter(_reason(p.case) for p in picks)
    rest = [t for t in cases if t.id not in chosen]

    def gain(t: Transcript, covered: set[tuple[str, str]]) -> tuple[int, int, float, int]:
        # a new outcome (reason, escalated or not) outranks any number of new tags or channels
        new = features(t) - covered
        outcome = sum(WEIGHTS[k] for k, _ in new if k in OUTCOME_FEATURES)
        other = sum(WEIGHTS[k] for k, _ in new if k not in OUTCOME_FEATURES)
        share = pool_reasons[_reason(t)] / (1 + picked_reasons[_reason(t)])
        return (outcome, other, share, len(t.customer_turns()))

    while len(picks) < n and rest:
        best = max(rest, key=lambda t: gain(t, covered))
        new = sorted(features(best) - covered)
        if new:
            why = "covers " + ", ".join(describe(f) for f in new)
        else:
            why = (
                f"fills: {_reason(best)} is {pool_reasons[_reason(best)]} of {len(cases)} calls "
                f"({picked_reasons[_reason(best)]} kept so far)"
            )
        picks.append(Pick(best, why))
        covered |= features(best)
        picked_reasons[_reason(best)] += 1
        rest.remove(best)
    return picks


def _reason(t: Transcript) -> str:
    return t.outcome.reason or ("escalated" if t.outcome.escalated else "resolved")
