"""`history`'s "changed" column: what differs from the previous run of the same mode, from the stored manifests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shadowpilot.types import RunManifest
from shadowpilot.workflow.changes import changed, run_changes
from tests.conftest import invoke, make_case, write_config, write_jsonl


def manifest(run_id: str, mode: str = "replay", prompt: str | None = "p1", cases: dict | None = None, **agent: Any):
    return RunManifest(
        run_id=run_id,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        tenant="acme",
        mode=mode,  # type: ignore[arg-type]
        agent={"kind": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:1/v1", **agent},
        prompt_hash=prompt,
        cases={"c1": "f1"} if cases is None else cases,
        versions={},
    )


def test_each_field_is_named_when_it_alone_changes() -> None:
    base = manifest("a")
    assert changed(None, base) is None
    assert changed(base, manifest("b")) == []
    assert changed(base, manifest("b", model="gpt-4o")) == ["model"]
    assert changed(base, manifest("b", prompt="p2")) == ["prompt"]
    assert changed(base, manifest("b", base_url="http://127.0.0.1:2/v1")) == ["config"]
    assert changed(base, manifest("b", cases={"c1": "f2"})) == ["cases"]  # a new version of a case
    assert changed(base, manifest("b", cases={"c1": "f1", "c2": "f1"})) == ["cases"]
    assert changed(base, manifest("b", model="gpt-4o", prompt="p2", cases={})) == ["model", "prompt", "cases"]
    # what the agent heard through: the transcript, or audio through an [asr] engine
    heard = manifest("b").model_copy(update={"asr": {"kind": "local", "model": "tiny.en"}})
    assert changed(base, heard) == ["asr"] and changed(heard, base) == ["asr"]
    other = heard.model_copy(update={"asr": {"kind": "local", "model": "small.en"}})
    assert changed(heard, other) == ["asr"] and changed(heard, heard) == []
    # another kind of agent: the agent changed, its other fields are not compared
    assert changed(base, manifest("b", kind="http", prompt=None)) == ["agent"]
    # the baseline agent's hash is of its rules
    rules = manifest("r", kind="baseline", model=None, prompt="h1")
    assert changed(rules, manifest("s", kind="baseline", model=None, prompt="h2")) == ["rules"]
    # an agent that keeps its prompt out of sight shows no prompt change
    http = manifest("h", kind="http", model=None, prompt=None)
    assert changed(http, manifest("i", kind="http", model=None, prompt=None)) == []


def test_a_run_is_compared_with_the_previous_run_of_its_mode() -> None:
    runs = [
        manifest("r1"),
        manifest("shadow-1", mode="shadow", cases={"live-1": "x"}),
        manifest("r2"),
        manifest("shadow-2", mode="shadow", cases={"live-2": "y"}),
        manifest("r3", model="gpt-4o"),
    ]
    assert run_changes(runs) == {"r1": None, "shadow-1": None, "r2": [], "shadow-2": ["cases"], "r3": ["model"]}


def history(cli) -> tuple[list[Any], str]:
    data = invoke(cli, "history", "--json")
    assert data.exit_code == 0, data.stderr
    table = invoke(cli, "history")
    assert table.exit_code == 0, table.stderr
    return [r["changed"] for r in json.loads(data.stdout)["runs"]], table.stdout


def run(cli) -> None:
    ran = invoke(cli, "run", "--json")
    assert ran.exit_code == 0, ran.stderr


def test_history_shows_what_changed_between_runs(tenant_dir: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # room for every column
    cases = tenant_dir / "cases.jsonl"
    assert invoke(cli, "import", str(write_jsonl(cases, [make_case("c1", ["hello"])]))).exit_code == 0
    run(cli)
    run(cli)  # nothing changed
    write_config(tenant_dir, '[baseline]\nreply = "Hi, how can I help?"\n')
    run(cli)  # the baseline's replies and rules: its rules hash
    assert (
        invoke(cli, "import", str(write_jsonl(cases, [make_case("c1", ["hello"]), make_case("c2", ["hi"])]))).exit_code
        == 0
    )
    run(cli)  # one more case
    write_jsonl(tenant_dir / "recs.jsonl", [{"case_id": c, "turn": 0, "escalate": False} for c in ("c1", "c2")])
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n')
    run(cli)  # another agent
    write_jsonl(tenant_dir / "recs.jsonl", [{"case_id": c, "turn": 0, "escalate": True} for c in ("c1", "c2")])
    run(cli)  # the same agent told something else: the recording's hash

    fields, table = history(cli)
    assert fields == [None, [], ["rules"], ["cases"], ["agent"], ["prompt"]]
    column = [line.split()[-1] for line in table.splitlines() if line.strip().startswith("run-")]
    assert column == ["first", "—", "rules", "cases", "agent", "prompt"]
