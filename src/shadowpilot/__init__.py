"""shadowpilot: shadow-mode evaluation and a go-live gate for AI contact-centre agents.

The public API. Names load on first use, so `shadowpilot --help` (which imports
this package) stays fast and never pulls in pandas or duckdb.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    # the workflow
    "load_transcripts": "shadowpilot.transcripts",
    "import_files": "shadowpilot.workflow",
    "run": "shadowpilot.workflow",
    "gate": "shadowpilot.workflow",
    "replay": "shadowpilot.runners",
    "score_run": "shadowpilot.workflow",
    "evaluate_gate": "shadowpilot.evals",
    "build_report_data": "shadowpilot.workflow",
    "render_report": "shadowpilot.reports",
    "load_settings": "shadowpilot.config",
    "Store": "shadowpilot.store",
    # core types
    "Transcript": "shadowpilot.types",
    "Turn": "shadowpilot.types",
    "Outcome": "shadowpilot.types",
    "Recommendation": "shadowpilot.types",
    "AgentInput": "shadowpilot.types",
    "AgentStep": "shadowpilot.types",
    "CallRun": "shadowpilot.types",
    "RunManifest": "shadowpilot.types",
    "GateConfig": "shadowpilot.types",
    "GateResult": "shadowpilot.types",
}

__all__ = [
    "AgentInput",
    "AgentStep",
    "CallRun",
    "GateConfig",
    "GateResult",
    "Outcome",
    "Recommendation",
    "RunManifest",
    "Store",
    "Transcript",
    "Turn",
    "build_report_data",
    "evaluate_gate",
    "gate",
    "import_files",
    "load_settings",
    "load_transcripts",
    "render_report",
    "replay",
    "run",
    "score_run",
]

if TYPE_CHECKING:
    from .config import load_settings
    from .evals import evaluate_gate
    from .reports import render_report
    from .runners import replay
    from .store import Store
    from .transcripts import load_transcripts
    from .types import (
        AgentInput,
        AgentStep,
        CallRun,
        GateConfig,
        GateResult,
        Outcome,
        Recommendation,
        RunManifest,
        Transcript,
        Turn,
    )
    from .workflow import build_report_data, gate, import_files, run, score_run


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shadowpilot' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
