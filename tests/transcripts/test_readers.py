"""Readers: every supported format becomes the same Transcript (DESIGN.md "Data contracts").

Real files in tmp_path, the real DuckDB store, the real CLI in-process.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from shadowpilot.config import load_settings
from shadowpilot.store import Store
from shadowpilot.transcripts import load_transcripts
from shadowpilot.types import Transcript
from tests.conftest import SAMPLE, invoke, make_case, write_config, write_jsonl

SAMPLE_FILE = SAMPLE / "transcripts.jsonl"

# One rich case in the canonical shape: every case-level field the flat formats carry.
BILLING: dict[str, Any] = {
    "id": "call-0007",
    "tenant": "acme",
    "channel": "voice",
    "started_at": "2026-11-20T14:03:00Z",
    "customer": {"vip": True, "plan": "gold"},
    "turns": [
        {"speaker": "customer", "text": "Hi, I was double charged", "start_s": 0.0, "end_s": 2.1},
        {"speaker": "agent", "text": "I'm sorry to hear that, let me look."},
        {"speaker": "customer", "text": 'I want a "supervisor" now'},
    ],
    "outcome": {
        "escalated": True,
        "at_turn": 2,
        "reason": "billing_dispute",
        "urgency": "high",
        "queue": "billing-tier2",
        "routing": {"skill": "billing", "priority": "high", "vip": True},
    },
    "critical": False,
    "tags": ["billing", "vip"],
}
RESOLVED: dict[str, Any] = {
    "id": "call-0008",
    "tenant": "acme",
    "channel": "chat",
    "customer": {"vip": False},
    "turns": [
        {"speaker": "customer", "text": "When are you open?"},
        {"speaker": "agent", "text": "Nine to five."},
    ],
    "outcome": {"escalated": False},
    "critical": True,
    "tags": [],
}

CSV_COLUMNS = [
    "case_id",
    "speaker",
    "text",
    "start_s",
    "end_s",
    "tenant",
    "channel",
    "started_at",
    "critical",
    "tags",
    "customer_vip",
    "customer_plan",
    "escalated",
    "at_turn",
    "reason",
    "urgency",
    "queue",
    "skill",
    "priority",
    "vip",
]


def write_csv(path: Path, header: list[str], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for row in rows:
            w.writerow(row)
    return path


def csv_turn_rows(case: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "case_id": case["id"],
            "speaker": t["speaker"],
            "text": t["text"],
            "start_s": t.get("start_s", ""),
            "end_s": t.get("end_s", ""),
        }
        for t in case["turns"]
    ]


def csv_case_fields(case: dict[str, Any]) -> dict[str, Any]:
    """The flat case-level columns of one case (what goes on its first row, or in the sidecar)."""
    o, r = case["outcome"], case["outcome"].get("routing", {})

    def b(v: Any) -> str:
        return "" if v is None else ("true" if v else "false")

    return {
        "tenant": case.get("tenant", ""),
        "channel": case.get("channel", ""),
        "started_at": case.get("started_at", ""),
        "critical": b(case.get("critical")),
        "tags": ";".join(case.get("tags", [])),
        "customer_vip": b(case["customer"].get("vip")),
        "customer_plan": case["customer"].get("plan", ""),
        "escalated": b(o["escalated"]),
        "at_turn": o.get("at_turn", ""),
        "reason": o.get("reason", ""),
        "urgency": o.get("urgency", ""),
        "queue": o.get("queue", ""),
        "skill": r.get("skill", ""),
        "priority": r.get("priority", ""),
        "vip": b(r.get("vip")),
    }


def only(result) -> dict[str, Transcript]:
    assert result.problems == []
    return {t.id: t for t in result.transcripts}


def assert_same(a: Transcript, b: Transcript) -> None:
    assert a.model_dump() == b.model_dump()
    assert a.fingerprint() == b.fingerprint()


def store_path(folder: Path) -> Path:
    return load_settings(folder / "shadowpilot.toml").store_path


def stored(folder: Path) -> list[Transcript]:
    with Store.open(store_path(folder), create=False) as store:
        return store.current_cases()


def import_json(cli, *args: str) -> dict[str, Any]:
    r = invoke(cli, "import", *args, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# -- the canonical JSONL --------------------------------------------------------------------


def test_bundled_sample_reads_20_cases_7_escalated_one_critical():
    result = load_transcripts([SAMPLE_FILE])
    cases = only(result)
    assert len(result.cases) == 20 and len(cases) == 20
    assert sum(t.outcome.escalated for t in cases.values()) == 7
    assert [t.id for t in cases.values() if t.critical] == ["hv-002"]
    hv2 = cases["hv-002"]
    assert hv2.outcome.escalated and hv2.outcome.reason == "clinical_emergency"
    assert hv2.turns[hv2.outcome.at_turn].speaker == "customer"
    # each case remembers the line it came from, so later problems can point back at it
    assert [c.line for c in result.cases] == list(range(1, 21))
    assert {c.file for c in result.cases} == {str(SAMPLE_FILE)}


def test_import_of_the_bundled_sample_stores_all_20(tenant_dir, cli):
    write_config(tenant_dir, tenant="harbourview-clinic")
    out = import_json(cli, str(SAMPLE_FILE))
    assert len(out["added"]) == 20 and out["skipped"] == []
    cases = stored(tenant_dir)
    assert len(cases) == 20
    assert sum(t.outcome.escalated for t in cases) == 7
    assert [t.id for t in cases if t.critical] == ["hv-002"]


def test_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    p = tmp_path / "calls.jsonl"
    p.write_text(json.dumps(BILLING) + "\n\n   \n" + json.dumps(RESOLVED) + "\n", encoding="utf-8")
    result = load_transcripts([p])
    assert result.problems == []
    assert [(c.transcript.id, c.line) for c in result.cases] == [("call-0007", 1), ("call-0008", 4)]


def test_json_array_file_reads_like_jsonl(tmp_path):
    arr = tmp_path / "calls.json"
    arr.write_text(json.dumps([BILLING, RESOLVED], indent=2), encoding="utf-8")
    lines = write_jsonl(tmp_path / "calls.jsonl", [BILLING, RESOLVED])
    from_array, from_lines = only(load_transcripts([arr])), only(load_transcripts([lines]))
    assert list(from_array) == ["call-0007", "call-0008"]
    for cid in from_lines:
        assert_same(from_array[cid], from_lines[cid])


def test_json_file_with_one_pretty_printed_object(tmp_path):
    p = tmp_path / "call.json"
    p.write_text(json.dumps(BILLING, indent=2), encoding="utf-8")
    cases = only(load_transcripts([p]))
    assert_same(cases["call-0007"], Transcript.model_validate(BILLING))


# -- CSV --------------------------------------------------------------------------------------


def test_csv_one_row_per_turn_equals_the_jsonl(tmp_path):
    rows = []
    for case in (BILLING, RESOLVED):
        turn_rows = csv_turn_rows(case)
        turn_rows[0].update(csv_case_fields(case))  # case-level columns on the first row only
        rows += turn_rows
    p = write_csv(tmp_path / "calls.csv", CSV_COLUMNS, rows)
    j = write_jsonl(tmp_path / "calls.jsonl", [BILLING, RESOLVED])
    result = load_transcripts([p])
    from_csv, from_jsonl = only(result), only(load_transcripts([j]))
    assert set(from_csv) == {"call-0007", "call-0008"}
    for cid in from_jsonl:
        assert_same(from_csv[cid], from_jsonl[cid])
    t = from_csv["call-0007"]
    assert t.tags == ["billing", "vip"]  # "billing;vip"
    assert t.customer == {"vip": True, "plan": "gold"}
    assert t.outcome.routing == {"skill": "billing", "priority": "high", "vip": True}
    assert t.outcome.at_turn == 2 and isinstance(t.outcome.at_turn, int)
    assert t.turns[0].start_s == 0.0 and t.turns[0].end_s == 2.1
    assert t.turns[2].text == 'I want a "supervisor" now'
    # a case points at its first row (the header is line 1)
    assert [(c.transcript.id, c.line) for c in result.cases] == [("call-0007", 2), ("call-0008", 5)]


def test_csv_case_columns_only_read_from_the_first_row(tmp_path):
    rows = csv_turn_rows(RESOLVED)
    rows[0].update(csv_case_fields(RESOLVED))
    rows[1].update({"escalated": "true", "reason": "ignored"})  # a later row does not override the case
    p = write_csv(tmp_path / "calls.csv", CSV_COLUMNS, rows)
    t = only(load_transcripts([p]))["call-0008"]
    assert t.outcome.escalated is False and t.outcome.reason is None


def test_csv_with_sidecar_outcomes_equals_the_jsonl(tmp_path):
    p = write_csv(
        tmp_path / "calls.csv",
        ["case_id", "speaker", "text", "start_s", "end_s"],
        csv_turn_rows(BILLING) + csv_turn_rows(RESOLVED),
    )
    side_cols = ["case_id", *CSV_COLUMNS[5:]]
    write_csv(
        tmp_path / "calls.outcomes.csv",
        side_cols,
        [{"case_id": c["id"], **csv_case_fields(c)} for c in (RESOLVED, BILLING)],
    )
    j = write_jsonl(tmp_path / "calls.jsonl", [BILLING, RESOLVED])
    from_csv, from_jsonl = only(load_transcripts([p])), only(load_transcripts([j]))
    assert set(from_csv) == set(from_jsonl)
    for cid in from_jsonl:
        assert_same(from_csv[cid], from_jsonl[cid])


def test_csv_sidecar_is_the_only_source_of_outcomes(tmp_path):
    rows = csv_turn_rows(BILLING)
    rows[0].update(csv_case_fields(RESOLVED))  # says "not escalated" in the main file...
    p = write_csv(tmp_path / "calls.csv", CSV_COLUMNS, rows)
    write_csv(
        tmp_path / "calls.outcomes.csv",
        ["case_id", "escalated", "at_turn", "reason"],
        [{"case_id": "call-0007", "escalated": "yes", "at_turn": 2, "reason": "billing_dispute"}],
    )
    t = only(load_transcripts([p]))["call-0007"]
    assert t.outcome.escalated is True and t.outcome.at_turn == 2  # ...the sidecar wins
    assert t.outcome.reason == "billing_dispute"


def test_csv_sidecar_without_a_row_for_a_case_is_reported(tmp_path):
    p = write_csv(
        tmp_path / "calls.csv",
        ["case_id", "speaker", "text"],
        [
            {"case_id": "a", "speaker": "customer", "text": "hi"},
            {"case_id": "b", "speaker": "customer", "text": "hello"},
        ],
    )
    side = write_csv(tmp_path / "calls.outcomes.csv", ["case_id", "escalated"], [{"case_id": "a", "escalated": "no"}])
    result = load_transcripts([p])
    assert [t.id for t in result.transcripts] == ["a"]
    assert len(result.problems) == 1
    prob = result.problems[0]
    assert prob.file == str(side) and prob.field == "case_id" and "'b'" in prob.message


# -- plain text -------------------------------------------------------------------------------

DIALOGUES = """\
id: call-0101
channel: voice
customer_vip: true
escalated: true
at_turn: 2
reason: billing_dispute
urgency: high
skill: billing
priority: high
vip: false
queue: billing-tier2
tags: billing;refund

Customer: Hi, I was double charged
  on my card last week
Agent: I'm sorry to hear that...
Customer: I want a supervisor now
===
id: call-0102
escalated: false
critical: yes

customer: When do you open?
AGENT: At nine.
===

escalated: false

Customer: no id in this one
"""


def test_text_dialogues_with_headers_continuations_and_separators(tmp_path):
    p = tmp_path / "dialogues.txt"
    p.write_text(DIALOGUES, encoding="utf-8")
    result = load_transcripts([p])
    cases = only(result)
    assert list(cases) == ["call-0101", "call-0102", "dialogues-3"]
    expected = Transcript.model_validate(
        {
            "id": "call-0101",
            "channel": "voice",
            "customer": {"vip": True},
            "turns": [
                {"speaker": "customer", "text": "Hi, I was double charged on my card last week"},
                {"speaker": "agent", "text": "I'm sorry to hear that..."},
                {"speaker": "customer", "text": "I want a supervisor now"},
            ],
            "outcome": {
                "escalated": True,
                "at_turn": 2,
                "reason": "billing_dispute",
                "urgency": "high",
                "queue": "billing-tier2",
                "routing": {"skill": "billing", "priority": "high", "vip": False},
            },
            "tags": ["billing", "refund"],
        }
    )
    assert_same(cases["call-0101"], expected)
    second = cases["call-0102"]
    assert [(t.speaker, t.text) for t in second.turns] == [("customer", "When do you open?"), ("agent", "At nine.")]
    assert second.critical is True and second.outcome.escalated is False
    assert [t.text for t in cases["dialogues-3"].turns] == ["no id in this one"]
    # each case points at the first non-blank line of its block
    assert [c.line for c in result.cases] == [1, 19, 27]


def test_text_single_case_takes_the_file_name_as_id(tmp_path):
    p = tmp_path / "call-77.txt"
    p.write_text("escalated: no\n\nCustomer: hello\nAgent: hi there\n", encoding="utf-8")
    assert list(only(load_transcripts([p]))) == ["call-77"]


# -- format detection ----------------------------------------------------------------------


def test_format_detected_from_content_for_unknown_extensions(tenant_dir, cli):
    write_jsonl(tenant_dir / "export.log", [make_case("j-1", ["hello"])])
    rows = [{"case_id": "c-1", "speaker": "customer", "text": "hi, there", "escalated": "false"}]
    write_csv(tenant_dir / "export.dat", ["case_id", "speaker", "text", "escalated"], rows)
    (tenant_dir / "export.chat").write_text("id: t-1\nescalated: false\n\nCustomer: hi\nAgent: hello\n")
    out = import_json(cli, "export.log", "export.dat", "export.chat")
    assert sorted(out["added"]) == ["c-1", "j-1", "t-1"]
    assert sorted(t.id for t in stored(tenant_dir)) == ["c-1", "j-1", "t-1"]


def test_unrecognisable_content_asks_for_format(tenant_dir, cli):
    (tenant_dir / "notes.bin").write_text("just some words\nwithout any structure\n")
    r = invoke(cli, "import", "notes.bin")
    assert r.exit_code == 2
    assert "notes.bin" in r.stderr and "--format" in r.stderr


def test_format_flag_overrides_the_extension(tenant_dir, cli):
    p = write_jsonl(tenant_dir / "calls.txt", [make_case("j-1", ["hello"]), make_case("j-2", ["bye"])])
    # by its extension it is a text dialogue, which this is not
    assert invoke(cli, "import", str(p)).exit_code == 2
    out = import_json(cli, str(p), "--format", "jsonl")
    assert sorted(out["added"]) == ["j-1", "j-2"]


def test_format_flag_overrides_content_detection(tenant_dir, cli):
    # a CSV export with a quoted header: content detection cannot tell what it is
    (tenant_dir / "export.out").write_text(
        '"case_id","speaker","text","escalated"\n"q-1","customer","hi there","false"\n', encoding="utf-8"
    )
    r = invoke(cli, "import", "export.out")
    assert r.exit_code == 2 and "--format" in r.stderr
    out = import_json(cli, "export.out", "--format", "csv")
    assert out["added"] == ["q-1"]
    assert [t.turns[0].text for t in stored(tenant_dir)] == ["hi there"]


def test_unknown_format_name_is_a_usage_error(tenant_dir, cli):
    p = write_jsonl(tenant_dir / "calls.jsonl", [make_case("j-1", ["hello"])])
    r = invoke(cli, "import", str(p), "--format", "xml")
    assert r.exit_code == 2
    assert "xml" in r.stderr and "Traceback" not in r.stderr


# -- folders ----------------------------------------------------------------------------------


def test_folder_import_reads_every_format_but_not_sidecars(tenant_dir, cli):
    folder = tenant_dir / "exports"
    (folder / "nested").mkdir(parents=True)
    write_jsonl(folder / "a.jsonl", [make_case("a-1", ["hi"]), make_case("a-2", ["yo"])])
    (folder / "nested" / "b.json").write_text(json.dumps([make_case("b-1", ["hey"])]))
    write_csv(
        folder / "c.csv", ["case_id", "speaker", "text"], [{"case_id": "c-1", "speaker": "customer", "text": "x"}]
    )
    write_csv(folder / "c.outcomes.csv", ["case_id", "escalated"], [{"case_id": "c-1", "escalated": "false"}])
    (folder / "d.txt").write_text("id: d-1\nescalated: false\n\nCustomer: hello\n")
    (folder / "README.md").write_text("# not a transcript\n")
    out = import_json(cli, str(folder))
    # a sidecar read as transcripts would be a bad file (no speaker/text columns): exit 2
    assert sorted(out["added"]) == ["a-1", "a-2", "b-1", "c-1", "d-1"]
    assert out["skipped"] == []
    assert sorted(t.id for t in stored(tenant_dir)) == ["a-1", "a-2", "b-1", "c-1", "d-1"]


# -- re-import and versions --------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(tenant_dir, cli):
    p = write_jsonl(tenant_dir / "calls.jsonl", [make_case("x-1", ["hi"]), make_case("x-2", ["hello"])])
    first = import_json(cli, str(p))
    assert sorted(first["added"]) == ["x-1", "x-2"]
    again = import_json(cli, str(p))
    assert again["added"] == [] and again["updated"] == []
    assert sorted(again["unchanged"]) == ["x-1", "x-2"]
    with Store.open(store_path(tenant_dir), create=False) as store:
        assert len(store.case_versions("x-1")) == 1
        assert store.con.execute("SELECT count(*) FROM cases").fetchone()[0] == 2


def test_reimporting_a_changed_case_keeps_both_versions(tenant_dir, cli):
    p = write_jsonl(tenant_dir / "calls.jsonl", [make_case("x-1", ["hi"]), make_case("x-2", ["hello"])])
    import_json(cli, str(p))
    old = {t.id: t for t in stored(tenant_dir)}
    changed = make_case("x-1", ["hi", "I need a person"], escalated=True, at_customer_turn=1, reason="requested_human")
    write_jsonl(p, [changed, make_case("x-2", ["hello"])])
    out = import_json(cli, str(p))
    assert out["updated"] == ["x-1"] and out["unchanged"] == ["x-2"] and out["added"] == []
    with Store.open(store_path(tenant_dir), create=False) as store:
        versions = store.case_versions("x-1")
        current = {t.id: t for t in store.current_cases()}
        assert len(store.case_versions("x-2")) == 1
    assert len(versions) == 2
    new = current["x-1"]
    assert list(versions["fingerprint"]) == [old["x-1"].fingerprint(), new.fingerprint()]
    assert versions["seq"].is_monotonic_increasing
    assert new.outcome.escalated and new.outcome.reason == "requested_human" and len(new.turns) == 4
    assert set(current) == {"x-1", "x-2"}
    assert current["x-2"].fingerprint() == old["x-2"].fingerprint()


def test_records_without_a_tenant_take_the_stores_tenant(tenant_dir, cli):
    p = write_jsonl(tenant_dir / "calls.jsonl", [make_case("x-1", ["hi"], tenant=None)])
    import_json(cli, str(p))
    assert [t.tenant for t in stored(tenant_dir)] == ["acme"]
    assert import_json(cli, str(p))["unchanged"] == ["x-1"]
