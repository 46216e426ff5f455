"""Top-N selection: the N cases that best cover a tenant's calls, each with why it was kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..terms import Term, Worded
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


CRITICAL_WHY = "critical: the tenant says it must never be missed"


@dataclass(frozen=True)
class Selection:
    """The kept cases, and one line when the critical cases alone did not fit in N."""

    picks: list[Pick]
    note: Worded | None = None


def select_top(cases: list[Transcript], n: int, *, all_critical: bool = False) -> Selection:
    """At most `n` cases: critical cases first, then greedy coverage of reasons, outcomes, queues,
    channels, tags; then, once everything is covered, the reasons most under-represented against
    their share. When there are more critical cases than `n`, the `n` of them that cover the most
    are kept and the note says so; `all_critical` keeps every critical case instead, even past `n`."""
    if n <= 0:
        return Selection([])
    pool_reasons = Counter(_reason(t) for t in cases)
    picked_reasons: Counter[str] = Counter()
    covered: set[tuple[str, str]] = set()
    picks: list[Pick] = []

    def gain(t: Transcript) -> tuple[int, int, float, int]:
        # a new outcome (reason, escalated or not) outranks any number of new tags or channels
        new = features(t) - covered
        outcome = sum(WEIGHTS[k] for k, _ in new if k in OUTCOME_FEATURES)
        other = sum(WEIGHTS[k] for k, _ in new if k not in OUTCOME_FEATURES)
        share = pool_reasons[_reason(t)] / (1 + picked_reasons[_reason(t)])
        return (outcome, other, share, len(t.customer_turns()))

    def take(t: Transcript, why: str) -> None:
        nonlocal covered
        picks.append(Pick(t, why))
        covered |= features(t)
        picked_reasons[_reason(t)] += 1

    def greedy(rest: list[Transcript], limit: int, prefix: str = "") -> None:
        rest = list(rest)
        while len(picks) < limit and rest:
            best = max(rest, key=gain)
            new = sorted(features(best) - covered)
            if new:
                why = "covers " + ", ".join(describe(f) for f in new)
            else:
                why = (
                    f"fills: {_reason(best)} is {pool_reasons[_reason(best)]} of {len(cases)} calls "
                    f"({picked_reasons[_reason(best)]} kept so far)"
                )
            take(best, prefix + why)
            rest.remove(best)

    critical = [t for t in cases if t.critical]
    note = None
    if len(critical) <= n or all_critical:
        for t in critical:
            take(t, CRITICAL_WHY)
        if len(critical) > n:
            note = Worded(
                Term("all_critical", "all_critical=True"),
                f": kept all {len(critical)} critical cases, more than ",
                Term("top"),
                f" {n}",
            )
    else:
        greedy(critical, n, prefix="critical; ")
        note = Worded(
            f"{len(critical)} cases are critical, more than ",
            Term("top"),
            f" {n}: kept the {n} of them that cover the most outcomes, queues and tags (",
            Term("all_critical", "all_critical=True"),
            " keeps them all)",
        )
    chosen = {p.case.id for p in picks}
    greedy([t for t in cases if t.id not in chosen], n)
    return Selection(picks, note)


def _reason(t: Transcript) -> str:
    return t.outcome.reason or ("escalated" if t.outcome.escalated else "resolved")
