"""Report fixtures: the sample clinic's pilot in a real tenant store, built through the library."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shadowpilot import workflow
from shadowpilot.config import Settings, load_settings
from shadowpilot.reports.pdf import find_chromium
from tests.conftest import SAMPLE
from tests.reports.browser import Browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
SAMPLE_FAILURES = ["hv-005", "hv-008", "hv-018"]
SAMPLE_IDS = [f"hv-{i:03d}" for i in range(1, 21)]

# A rule that catches the feverish child of hv-018 at the turn the nurse line took it, and one
# that escalates every call about an appointment (wrongly): a second run that fixes one case and
# breaks others, for comparisons with a baseline run.
SECOND_RUN_RULES = """
[[baseline.rules]]
reason = "symptom_triage"
phrases = ["pretty sleepy"]
urgency = "high"
queue = "nurse-triage"
skill = "clinical"
priority = "high"

[[baseline.rules]]
reason = "scheduling_help"
phrases = ["appointment"]
urgency = "low"
queue = "front-desk"
skill = "scheduling"
priority = "normal"
"""

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)",
)


@dataclass
class Pilot:
    folder: Path
    settings: Settings
    run_id: str


def tenant(folder: Path, extra: str = "") -> Settings:
    """A tenant folder with the sample clinic's config (plus `extra` TOML) and a fresh store."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "shadowpilot.toml"
    cfg.write_text((SAMPLE / "shadowpilot.toml").read_text(encoding="utf-8") + extra, encoding="utf-8")
    return load_settings(cfg, environ={})


def sample_pilot(folder: Path) -> Pilot:
    settings = tenant(folder)
    workflow.import_files(settings, [SAMPLE / "transcripts.jsonl"])
    run = workflow.run(settings)
    workflow.gate(settings, run.run_id)
    return Pilot(folder, settings, run.run_id)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Pilot:
    """The sample clinic: 20 calls, one baseline run, gated (17/20, no-go). Read-only."""
    return sample_pilot(tmp_path_factory.mktemp("clinic"))


@pytest.fixture
def own_sample(tmp_path: Path) -> Pilot:
    """A sample pilot of the test's own, for tests that add runs or rulings."""
    return sample_pilot(tmp_path / "clinic")


def second_run(p: Pilot) -> Pilot:
    """Re-run the pilot's cases with SECOND_RUN_RULES added to its config; gate it."""
    cfg = p.folder / "shadowpilot.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + SECOND_RUN_RULES, encoding="utf-8")
    settings = load_settings(cfg, environ={})
    run = workflow.run(settings)
    workflow.gate(settings, run.run_id)
    return Pilot(p.folder, settings, run.run_id)


def many_cases(folder: Path, n: int) -> Pilot:
    """`n` cases made from the sample's 20 real-looking calls (new ids), one baseline run, gated."""
    rows = [json.loads(line) for line in (SAMPLE / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    for i in range(n):
        case = json.loads(json.dumps(rows[i % len(rows)]))
        case["id"] = f"case-{i + 1:04d}"
        out.append(json.dumps(case))
    src = folder / "many.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    src.write_text("\n".join(out) + "\n", encoding="utf-8")
    settings = tenant(folder)
    workflow.import_files(settings, [src])
    run = workflow.run(settings)
    workflow.gate(settings, run.run_id)
    return Pilot(folder, settings, run.run_id)


def artifact(name: str) -> Path:
    """A stable path under test-artifacts/ (gitignored) for files a person may want to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if path.exists():
        path.unlink() if path.is_file() else shutil.rmtree(path)
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A headless Chromium driven over CDP, closed after the test."""
    b = Browser(tmp_path / "chromium-profile")
    try:
        yield b
    finally:
        b.close()
