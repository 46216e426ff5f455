"""The signature check runs off the event loop: while one is still working, the server goes on
answering (here /healthz), so forged bodies being checked never hold genuine webhooks back."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from shadowpilot.config import load_settings
from shadowpilot.runners import build_agent
from shadowpilot.runners.shadow import app as app_module
from shadowpilot.runners.shadow.service import ShadowService
from tests.runners.shadow.twilio_sim import PUBLIC_URL, TOKEN, Call, signed_form


def test_the_server_answers_while_a_signature_check_is_still_running(
    tenant: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release, left = threading.Event(), threading.Event(), threading.Event()
    real = app_module.check

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(5)  # on the event loop, this would hold every other request for 5 s
        left.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "check", held)
    settings = load_settings(tenant / "shadowpilot.toml", environ={})
    service = ShadowService(settings, build_agent(settings))
    app = app_module.create_app(service, auth_token=TOKEN, public_url=PUBLIC_URL)

    async def scenario() -> tuple[bool, int, int]:
        await service.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
                route, params = Call(1).started()
                webhook = asyncio.create_task(client.post(route, **signed_form(params, route)))
                assert await asyncio.to_thread(entered.wait, 10)
                health = await client.get("/healthz")
                still_checking = not left.is_set()
                release.set()
                return still_checking, health.status_code, (await webhook).status_code
        finally:
            release.set()
            await service.stop()

    still_checking, health, acked = asyncio.run(scenario())
    assert health == 200 and still_checking  # answered while the check was held
    assert acked == 204  # and the held webhook, once checked, acknowledged
