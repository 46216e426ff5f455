"""What changed from one run to the next: `history`'s "changed" column, read from the stored manifests.

A run is compared with the previous run of the same mode (replay with replay, shadow with shadow):
a shadow day always holds other calls than a replay, which is not a change to the pilot. The
fields, in this order:

- `agent`: the agent's kind (the other agent fields are then not compared)
- `model`: the model it calls
- `prompt`: what it is told (the prompt and tools; a recording's content), by its hash
- `rules`: the baseline agent's rules and replies, by their hash
- `config`: anything else in the agent's stored configuration (its URL, timeouts, tool settings)
- `cases`: the case set (a case added, dropped, or a new version of one)
- `asr`: what the agent heard through: text (the transcript) against audio (`run --audio`), or
  another `[asr]` engine, model or setting

An agent that keeps what it is told out of sight (http, python: no prompt hash) shows no `prompt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..types import RunManifest

FIELDS = ("agent", "model", "prompt", "rules", "config", "cases", "asr")
_COMPARED = {"kind", "model", "prompt", "rules"}  # agent keys a field of their own covers (prompt: its path)


def changed(before: RunManifest | None, after: RunManifest) -> list[str] | None:
    """The fields (FIELDS, in order) that differ from `before` to `after`; None without a `before`."""
    if before is None:
        return None
    a, b = before.agent, after.agent
    out: list[str] = []
    if a.get("kind") != b.get("kind"):
        out.append("agent")
    else:
        if a.get("model") != b.get("model"):
            out.append("model")
        if before.prompt_hash != after.prompt_hash:
            out.append("rules" if b.get("kind") == "baseline" else "prompt")
        if _rest(a) != _rest(b):
            out.append("config")
    if before.cases != after.cases:
        out.append("cases")
    if before.asr != after.asr:
        out.append("asr")
    return out


def _rest(agent: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in agent.items() if k not in _COMPARED}


def run_changes(manifests: Sequence[RunManifest]) -> dict[str, list[str] | None]:
    """run_id -> what changed since the previous run of its mode (None: the first of its mode),
    for manifests oldest first (Store.manifests)."""
    previous: dict[str, RunManifest] = {}
    out: dict[str, list[str] | None] = {}
    for m in manifests:
        out[m.run_id] = changed(previous.get(m.mode), m)
        previous[m.mode] = m
    return out
