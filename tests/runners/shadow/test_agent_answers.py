"""What the agent answers in shadow mode stays small in the fsync'd log and the store: the same
reply cap as `run` (turn_loop.ask), under the real `shadow serve`."""

from __future__ import annotations

import os
from pathlib import Path

from tests.runners.shadow.conftest import call_of, log_records, make_tenant, shadow_client, wait_until
from tests.runners.shadow.twilio_sim import Call, ServerProcess, signed_form

VERBOSE_AGENT = """
def recommend(ctx):
    return {"escalate": False, "reply": "v" * 3_000_000}
"""


def test_three_huge_replies_are_kept_cut_in_the_shadow_log(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "acme")
    (folder / "shadow_agent.py").write_text(VERBOSE_AGENT, encoding="utf-8")
    c = Call(901)
    events = [c.started()]
    for i in range(3):
        events += [c.said("customer", f"question {i}"), c.said("agent", f"answer {i}")]
    events.append(c.stopped())
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    server = ServerProcess(folder, env={"PYTHONPATH": os.pathsep.join(paths)}).start()
    try:
        with shadow_client(server.base) as http:
            for route, params in events:
                assert http.post(route, **signed_form(params, route)).status_code == 204
        wait_until(lambda: len([r for r in log_records(folder) if r.get("k") == "rec"]) == 3)
        wait_until(lambda: (call_of(folder, c.call_sid) or {}).get("state") == "scored")
    finally:
        server.stop()
    replies = [r["rec"]["reply"] for r in log_records(folder) if r.get("k") == "rec"]
    assert len(replies) == 3
    for reply in replies:
        assert reply == "v" * 20_000 + " [reply cut: 3,000,000 characters]"
    log = folder / ".shadowpilot" / "acme.shadow" / "events.jsonl"
    assert log.stat().st_size < 200_000  # three cut replies and the call's events, not 9 MB
