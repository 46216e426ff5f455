"""The typed models at the store's seam: the AI's decision and its JSON view, a ruling's flat
ai_* columns, the run manifest's cache stats (old manifests still load, the JSON unchanged), and
the cache decision a run takes. Pure, except the last, which opens a real store in tmp_path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shadowpilot.types import NO_ESCALATION, AgentDecision, CacheStats, DecisionView, Ruling, RunManifest

DECISION = AgentDecision(
    escalated=True,
    turn=4,
    customer_turn=2,
    reason="billing_dispute",
    urgency="high",
    queue="billing-tier2",
    routing={"skill": "billing", "vip": True},
)
VIEW_FIELDS = ["escalated", "at_transcript_index", "at_customer_turn", "reason", "urgency", "queue", "routing", "reply"]
ROW_FIELDS = [
    "case_id",
    "fingerprint",
    "run_id",
    "ruling",
    "note",
    "ruled_by",
    "ruled_at",
    "ai_escalated",
    "ai_at_turn",
    "ai_at_customer_turn",
    "ai_reason",
    "ai_urgency",
    "ai_queue",
    "ai_routing",
]


def test_the_json_view_counts_the_customer_turn_from_one_and_keeps_the_field_names() -> None:
    view = DecisionView.of(DECISION, "One moment").model_dump(mode="json")
    assert list(view) == VIEW_FIELDS
    assert (view["at_transcript_index"], view["at_customer_turn"], view["reply"]) == (4, 3, "One moment")
    kept = DecisionView.of(NO_ESCALATION, None).model_dump(mode="json")
    assert kept == {**dict.fromkeys(VIEW_FIELDS), "escalated": False, "routing": {}}


def test_a_ruling_flattens_its_decision_into_the_stored_columns_and_back() -> None:
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    r = Ruling(case_id="c1", fingerprint="f1", run_id="r1", ruling="ai_right", ruled_by="ana", ruled_at=at, ai=DECISION)
    row = r.columns()
    assert list(row) == ROW_FIELDS
    assert (row["ai_at_turn"], row["ai_at_customer_turn"], row["ai_routing"]) == (4, 2, DECISION.routing)
    assert Ruling.from_columns({"ruling_id": 3, **row}) == r


def test_the_manifest_cache_stats_keep_their_json_and_old_manifests_load() -> None:
    old = {
        "run_id": "run-1",
        "created_at": "2026-11-24T14:47:43Z",
        "tenant": "acme",
        "agent": {"kind": "openai"},
        "cases": {},
        "versions": {},
        "cache": {"enabled": True, "hits": 6, "misses": 0},
    }
    m = RunManifest.model_validate(old)
    assert m.cache == CacheStats(enabled=True, hits=6, misses=0)
    assert json.loads(m.model_dump_json())["cache"] == {"enabled": True, "hits": 6, "misses": 0}
    assert RunManifest.model_validate({**old, "cache": None}).cache is None  # a run that never finished
    assert m.cache.plus(2, 3) == CacheStats(enabled=True, hits=8, misses=3)  # a resumed part's added


def test_a_run_caches_only_what_the_agent_and_the_config_allow(tmp_path: Path) -> None:
    import openai

    from shadowpilot.config import AgentSettings, Settings
    from shadowpilot.runners.baseline import BaselineAgent
    from shadowpilot.runners.openai_chat import OpenAIAgent
    from shadowpilot.store import Store
    from shadowpilot.workflow.runs import _cache

    client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)
    agent = OpenAIAgent(client, AgentSettings(kind="openai", model="m"), "Be helpful.")
    base = Settings()
    with Store.open(tmp_path / "s.duckdb") as store:

        def cached(a: object, cache: bool | None, use_cache: bool = True) -> bool:
            s = base.model_copy(update={"agent": base.agent.model_copy(update={"cache": cache})})
            return _cache(store, s, a, [], 1, set(), use_cache) is not None  # type: ignore[arg-type]

        assert cached(agent, None) and cached(agent, True)
        assert not cached(agent, False)  # [agent] cache = false
        assert not cached(agent, None, use_cache=False)  # run --no-cache
        assert not any(cached(BaselineAgent(base.baseline), c) for c in (None, True, False))  # never cached
