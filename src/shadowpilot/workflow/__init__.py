"""The pilot workflow as a library: import, run, gate, review, judge, report. The CLI is a thin layer over this.

Each function takes resolved Settings and works in a Workspace (the settings and the tenant store,
opened only for as long as the step needs it), so other commands (and the shadow server) can use
the store in between. Nothing below this layer imports it: it hands what it computed down.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Each name loads its module on first use (PEP 562): `history` reads the store without
# importing the scoring (pandas), `gate` scores without the agents' clients (openai).
_EXPORTS = {
    "package_versions": "..versions",
    "case_audio_path": ".case_audio",
    "customer_audio": ".case_audio",
    "turn_audio": ".case_audio",
    "list_cases": ".cases",
    "remove_cases": ".cases",
    "remove_runs": ".cases",
    "restore_cases": ".cases",
    "Gated": ".gating",
    "compare_runs": ".gating",
    "evaluate": ".gating",
    "gate": ".gating",
    "gated": ".gating",
    "history": ".listing",
    "run_summaries": ".listing",
    "score_run": ".gating",
    "ImportReport": ".imports",
    "import_files": ".imports",
    "import_twilio": ".imports",
    "store_cases": ".imports",
    "JudgeReport": ".judging",
    "judge": ".judging",
    "build_report_data": ".reporting",
    "disagreements": ".review",
    "record_ruling": ".review",
    "reviewer": ".review",
    "ruling_history": ".review",
    "save_ruling": ".review",
    "RunReport": ".runs",
    "resume": ".runs",
    "run": ".runs",
    "Workspace": ".workspace",
    "resolve_run_id": ".workspace",
}

if TYPE_CHECKING:
    from ..versions import package_versions
    from .case_audio import case_audio_path, customer_audio, turn_audio
    from .cases import list_cases, remove_cases, remove_runs, restore_cases
    from .gating import Gated, compare_runs, evaluate, gate, gated, score_run
    from .imports import ImportReport, import_files, import_twilio, store_cases
    from .judging import JudgeReport, judge
    from .listing import history, run_summaries
    from .reporting import build_report_data
    from .review import disagreements, record_ruling, reviewer, ruling_history, save_ruling
    from .runs import RunReport, resume, run
    from .workspace import Workspace, resolve_run_id

__all__ = [
    "Gated",
    "ImportReport",
    "JudgeReport",
    "RunReport",
    "Workspace",
    "build_report_data",
    "case_audio_path",
    "compare_runs",
    "customer_audio",
    "disagreements",
    "evaluate",
    "gate",
    "gated",
    "history",
    "import_files",
    "import_twilio",
    "judge",
    "list_cases",
    "package_versions",
    "record_ruling",
    "remove_cases",
    "remove_runs",
    "resolve_run_id",
    "restore_cases",
    "resume",
    "reviewer",
    "ruling_history",
    "run",
    "run_summaries",
    "save_ruling",
    "score_run",
    "store_cases",
    "turn_audio",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
