"""The Workspace: a step opens the tenant store (a real DuckDB file) as its rules say: only the steps
that bring cases in create it, and the run a step works on must be complete. (That the store is
free between steps, for other processes, is tests/test_working_while_running.py's.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shadowpilot.config import Settings, load_settings
from shadowpilot.errors import NotFoundError, UsageError
from shadowpilot.store import new_run_id
from shadowpilot.types import RunManifest
from shadowpilot.workflow import Workspace
from tests.conftest import write_config


@pytest.fixture
def settings(tenant_dir: Path) -> Settings:
    write_config(tenant_dir)
    return load_settings(tenant_dir / "shadowpilot.toml", environ={})


def test_a_step_that_reads_or_writes_never_creates_the_store(settings: Settings) -> None:
    for step in (Workspace.reading, Workspace.writing):
        with pytest.raises(NotFoundError, match="no store at"), step(settings):
            pass
    assert not settings.store_path.exists()


def test_a_step_that_brings_cases_in_creates_it_and_later_steps_open_it_in_turn(settings: Settings) -> None:
    with Workspace.creating(settings) as ws:
        assert ws.settings is settings and not ws.store.read_only
    assert settings.store_path.exists()
    with Workspace.writing(settings) as ws:
        assert ws.store.current_cases() == []
    with Workspace.reading(settings) as ws:
        assert not ws.store.read_only


def test_the_run_a_step_works_on_is_complete_or_named_plainly(settings: Settings) -> None:
    with Workspace.creating(settings) as ws:
        with pytest.raises(NotFoundError, match="no finished run"):
            ws.complete_run(None)
        manifest = RunManifest(
            run_id=new_run_id(),
            created_at=datetime.now(UTC),
            tenant="acme",
            mode="replay",
            agent={"kind": "baseline"},
            cases={},
            versions={},
        )
        ws.store.create_run(manifest)
        with pytest.raises(UsageError, match=f"run {manifest.run_id} is running, not complete"):
            ws.complete_run(manifest.run_id)
        ws.store.finish_run(manifest.run_id, "complete", manifest)
        assert ws.complete_run(None) == ws.complete_run(manifest.run_id) == manifest.run_id
