"""A live shadow call becomes a case, and `run` no longer replays it unless asked (issue 14).

The ShadowService runs in-process (the baseline agent, a real DuckDB store), as in test_growth.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shadowpilot import workflow
from shadowpilot.config import load_settings
from shadowpilot.runners import build_agent
from shadowpilot.runners.shadow.service import ShadowService
from tests.conftest import make_case, write_jsonl
from tests.runners.shadow.test_growth import CONFIG, send, until, whole_call
from tests.runners.shadow.twilio_sim import Call


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    (tmp_path / "shadowpilot.toml").write_text(CONFIG, encoding="utf-8")
    return load_settings(tmp_path / "shadowpilot.toml", environ={})


def test_a_live_call_is_a_shadow_case_left_out_of_the_default_replay(settings: Any, tmp_path: Path) -> None:
    async def main() -> None:
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        try:
            await send(service, whole_call(Call(4001)))
            await until(lambda: len(service.book.finished) == 1)
        finally:
            await service.stop()

    asyncio.run(main())
    imported = write_jsonl(tmp_path / "calls.jsonl", [make_case("from-a-file", ["hi"], tenant="grow")])
    workflow.import_files(settings, [imported])

    origins = {c.case_id: c.origin for c in workflow.list_cases(settings)}
    assert sorted(origins.values()) == ["file", "shadow"]
    rep = workflow.run(settings)
    assert rep.cases == 1 and rep.left_out == {"shadow": 1}
    live = workflow.run(settings, cases="shadow")
    assert live.cases == 1 and live.left_out == {"file": 1}
