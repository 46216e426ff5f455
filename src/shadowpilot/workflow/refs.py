"""Run references: the one reader of what names a run, for every step that takes a run id.

A reference is a run's full id; a unique prefix of it (the `run-`, `shadow-` or `selftest-` at
its start may be left out) or a unique suffix (`0d96`); `latest`, the newest replay run;
`latest-shadow`, the newest shadow-mode run; `latest~N` (`latest-shadow~N`), the Nth run of that
kind before it. Runs are counted in the order `history` lists them, whatever their status, so a
reference names a row the user can see there; whether the step can use that run (a gate needs a
complete one) is the step's to say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import NotFoundError, UsageError
from ..store import RunInfo
from ..terms import Term

LATEST = "latest"
LATEST_SHADOW = "latest-shadow"
_LATEST = re.compile(r"latest(?P<shadow>-shadow)?(?:~(?P<back>\d+))?")
_LABELS = ("run-", "shadow-", "selftest-")  # what a run id starts with, by mode
SHOWN = 10  # candidates an ambiguous reference lists


def _when(r: RunInfo) -> str:
    return f"{r.created_at:%Y-%m-%d %H:%M:%S}Z"


def _matches(run_id: str, ref: str) -> bool:
    if run_id.startswith(ref) or run_id.endswith(ref):
        return True
    return any(run_id.startswith(label) and run_id[len(label) :].startswith(ref) for label in _LABELS)


def resolve_ref(runs: Sequence[RunInfo], ref: str, where: Path | str) -> RunInfo:
    """The run `ref` names among `runs` (oldest first, as Store.runs gives them). Unknown: a
    NotFoundError naming the reference; ambiguous: a UsageError listing the candidates with
    their start times (both exit 2). `where` (the store) is named in the messages."""
    ref = ref.strip()
    if not ref:
        raise UsageError("an empty run reference; give a run id, a unique part of one, or latest")
    exact = [r for r in runs if r.run_id == ref]
    if exact:
        return exact[0]
    latest = _LATEST.fullmatch(ref)
    if latest is not None:
        mode = "shadow" if latest["shadow"] else "replay"
        line = [r for r in runs if r.mode == mode]
        back = int(latest["back"] or 0)
        if back < len(line):
            return line[-1 - back]
        have = f"{len(line)} {mode} run(s)" if line else f"no {mode} run"
        raise NotFoundError.worded(f"no run {ref!r}: {where} holds {have}; see ", Term("history", "history()"))
    found = [r for r in runs if _matches(r.run_id, ref)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError.worded(
            f"no run {ref!r} in {where} (a run id, a unique prefix or suffix of one, {LATEST}, "
            f"{LATEST}~N or {LATEST_SHADOW}); see ",
            Term("history", "history()"),
        )
    listed = ", ".join(f"{r.run_id} ({_when(r)})" for r in found[-SHOWN:][::-1])
    more = f" and {len(found) - SHOWN} older" if len(found) > SHOWN else ""
    raise UsageError(
        f"run reference {ref!r} is ambiguous: {len(found)} runs match: {listed}{more}; give more of the id"
    )
