"""The pilot workflow as a library: import, run, gate, review, judge. The CLI is a thin layer over this.

Each function takes resolved Settings and opens the tenant store only for as long as it needs it,
so other commands (and the shadow server) can use it in between.
"""

from ..versions import package_versions
from .gating import compare_runs, evaluate, gate, history, resolve_run_id, score_run
from .imports import ImportReport, import_files, import_twilio, store_cases
from .judging import JudgeReport, judge
from .review import disagreements, record_ruling, reviewer, save_ruling
from .runs import RunReport, resume, run

__all__ = [
    "ImportReport",
    "JudgeReport",
    "RunReport",
    "compare_runs",
    "disagreements",
    "evaluate",
    "gate",
    "history",
    "import_files",
    "import_twilio",
    "judge",
    "package_versions",
    "record_ruling",
    "resolve_run_id",
    "resume",
    "reviewer",
    "run",
    "save_ruling",
    "score_run",
    "store_cases",
]
