"""The pilot workflow as a library: import, run, gate, review, judge, report. The CLI is a thin layer over this.

Each function takes resolved Settings and works in a Workspace (the settings and the tenant store,
opened only for as long as the step needs it), so other commands (and the shadow server) can use
the store in between. Nothing below this layer imports it: it hands what it computed down.
"""

from ..versions import package_versions
from .cases import list_cases, remove_cases, remove_runs, restore_cases
from .gating import Gated, compare_runs, evaluate, gate, gated, history, score_run
from .imports import ImportReport, import_files, import_twilio, store_cases
from .judging import JudgeReport, judge
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
    "compare_runs",
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
    "save_ruling",
    "score_run",
    "store_cases",
]
