"""The public API is pinned (as httpx pins its own): `shadowpilot.__all__` changes only on purpose,
every name in it resolves, and importing the package stays light (names load on first use)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import shadowpilot
from tests.test_console_script import HEAVY

PUBLIC = [
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


def test_the_public_names_are_exactly_these_and_sorted() -> None:
    assert shadowpilot.__all__ == PUBLIC
    assert sorted(PUBLIC) == PUBLIC


def test_every_public_name_resolves_to_what_its_module_defines() -> None:
    for name in PUBLIC:
        value = getattr(shadowpilot, name)
        assert value is not None, name
        assert getattr(value, "__name__", name) == name  # the object itself, not a module or an alias


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(shadowpilot, "no_such_name")  # noqa: B009


def test_importing_shadowpilot_loads_no_heavy_module() -> None:
    code = f"import sys, shadowpilot; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
