"""Bad input (DESIGN.md "Bad input"): every reader names the file, line and field of each bad
record; by default one bad record imports nothing (exit 2); --skip-bad imports the good ones;
the store is never changed by a failed import, and the user never sees a traceback.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shadowpilot.config import load_settings
from shadowpilot.store import Store
from tests.conftest import invoke, make_case, write_jsonl


def store_path(folder: Path) -> Path:
    return load_settings(folder / "shadowpilot.toml").store_path


def snapshot(folder: Path) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
    """Every stored version (id, fingerprint, seq, source) and the current cases (id, fingerprint)."""
    with Store.open(store_path(folder), create=False) as store:
        rows = store.con.execute("SELECT case_id, fingerprint, seq, source FROM cases ORDER BY seq").fetchall()
        current = [(t.id, t.fingerprint()) for t in store.current_cases()]
    return rows, current


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert "bug in the harness" not in result.stderr


@pytest.fixture
def seeded(tenant_dir: Path, cli) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
    """A store that already holds two good cases; returns its snapshot."""
    good = write_jsonl(
        tenant_dir / "good.jsonl",
        [
            make_case("keep-1", ["hello"]),
            make_case("keep-2", ["hi", "a human please"], escalated=True, at_customer_turn=1, reason="requested_human"),
        ],
    )
    r = invoke(cli, "import", str(good))
    assert r.exit_code == 0, r.stderr
    snap = snapshot(tenant_dir)
    assert [cid for cid, _ in snap[1]] == ["keep-1", "keep-2"]
    return snap


def lines(*records: Any) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def with_outcome(case: dict[str, Any], **changes: Any) -> dict[str, Any]:
    case["outcome"].update(changes)
    return case


def write_csv_rows(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


# Each bad input: writes its files into the folder, returns (the import arguments, what stderr must say).
BadInput = Callable[[Path], tuple[list[str], list[str]]]


def broken_json_line_3(d: Path):
    p = d / "calls.jsonl"
    p.write_text(lines(make_case("a", ["x"]), make_case("b", ["y"]), '{"id": "c", "turns": [', make_case("d", ["z"])))
    return [str(p)], [f"{p}:3: invalid JSON"]


def unknown_speaker(d: Path):
    bad = make_case("b", ["hi", "there"])
    bad["turns"][2]["speaker"] = "robot"
    p = d / "calls.jsonl"
    p.write_text(lines(make_case("a", ["x"]), bad))
    return [str(p)], [f"{p}:2: field turns[2].speaker", "'robot'"]


def escalated_yes(d: Path):
    p = d / "calls.jsonl"
    p.write_text(lines(with_outcome(make_case("a", ["x"]), escalated="yes")))
    return [str(p)], [f"{p}:1: field outcome.escalated", "'yes'"]


def turns_is_a_string(d: Path):
    case = make_case("a", ["x"])
    case["turns"] = "hello"
    p = d / "calls.jsonl"
    p.write_text(lines(make_case("z", ["ok"]), case))
    return [str(p)], [f"{p}:2: field turns:", "'hello'"]


def at_turn_is_a_string(d: Path):
    p = d / "calls.jsonl"
    p.write_text(lines(with_outcome(make_case("a", ["x", "y"], escalated=True), at_turn="2")))
    return [str(p)], [f"{p}:1: field outcome.at_turn", "'2'"]


def nul_bytes(d: Path):
    p = d / "calls.jsonl"
    p.write_bytes(lines(make_case("a", ["x"])).encode() + b"\x00\x01\x02\xff\x00garbage\n")
    return [str(p)], [f"{p}:2:", "binary"]


def invalid_utf8(d: Path):
    p = d / "calls.jsonl"
    p.write_bytes(lines(make_case("a", ["x"]), make_case("b", ["y"])).encode() + b'{"id": "caf\xe9"}\n')
    return [str(p)], [f"{p}:3:", "UTF-8"]


def empty_file(d: Path):
    p = d / "calls.jsonl"
    p.write_text("")
    return [str(p)], [f"{p}: file is empty"]


def blank_file(d: Path):
    p = d / "calls.csv"
    p.write_text("\n   \n\n")
    return [str(p)], [f"{p}: file is empty"]


def missing_file(d: Path):
    p = d / "no-such-export.jsonl"
    return [str(p)], [f"{p}: no such file"]


def at_turn_on_agent_turn(d: Path):
    p = d / "calls.jsonl"
    case = with_outcome(make_case("a", ["x", "y"], escalated=True, at_customer_turn=1), at_turn=1)
    p.write_text(lines(make_case("z", ["ok"]), make_case("y", ["ok"]), case))
    return [str(p)], [f"{p}:3: field outcome.at_turn", "'agent'"]


def at_turn_out_of_range(d: Path):
    p = d / "calls.jsonl"
    p.write_text(lines(with_outcome(make_case("a", ["x"], escalated=True), at_turn=9)))
    return [str(p)], [f"{p}:1: field outcome.at_turn", "9"]


def at_turn_without_escalation(d: Path):
    p = d / "calls.jsonl"
    p.write_text(lines(make_case("z", ["ok"]), with_outcome(make_case("a", ["x", "y"]), at_turn=2)))
    return [str(p)], [f"{p}:2: field outcome.at_turn", "escalated is false"]


def duplicate_across_files(d: Path):
    first = write_jsonl(d / "monday.jsonl", [make_case("dup-1", ["x"]), make_case("m-2", ["y"])])
    second = write_jsonl(d / "tuesday.jsonl", [make_case("t-1", ["x"]), make_case("dup-1", ["other"])])
    return [str(first), str(second)], [f"{second}:2: field id", "dup-1", f"{first}:1"]


def other_tenant(d: Path):
    p = write_jsonl(d / "calls.jsonl", [make_case("a", ["x"]), make_case("b", ["y"], tenant="globex")])
    return [str(p)], [f"{p}:2: field tenant", "globex"]


def csv_unknown_speaker(d: Path):
    p = write_csv_rows(
        d / "calls.csv",
        ["case_id", "speaker", "text", "escalated"],
        [
            ["c-1", "customer", "hi", "false"],
            ["c-1", "agent", "hello", ""],
            ["c-2", "customer", "hey", "false"],
            ["c-2", "robot", "beep", ""],
        ],
    )
    return [str(p)], [f"{p}:5: field turns[1].speaker", "'robot'"]


def csv_bad_boolean(d: Path):
    p = write_csv_rows(
        d / "calls.csv",
        ["case_id", "speaker", "text", "escalated"],
        [["c-1", "customer", "hi", "false"], ["c-2", "customer", "hey", "maybe"], ["c-2", "agent", "ok", ""]],
    )
    return [str(p)], [f"{p}:3: field escalated", "'maybe'"]


def csv_missing_column(d: Path):
    p = write_csv_rows(d / "calls.csv", ["case_id", "text", "escalated"], [["c-1", "hi", "false"]])
    return [str(p)], [f"{p}:1: field speaker", "missing column"]


def csv_unknown_column(d: Path):
    p = write_csv_rows(d / "calls.csv", ["case_id", "speaker", "text", "escalted"], [["c-1", "customer", "hi", "no"]])
    return [str(p)], [f"{p}:1: field escalted", "unknown column"]


def text_bad_speaker(d: Path):
    p = d / "calls.txt"
    p.write_text(
        "id: t-1\nescalated: false\n\nCustomer: hello\nAgent: hi\n===\n"
        "id: t-2\nescalated: false\n\nCustomer: hello\nRobot: beep boop\nAgent: hi\n"
    )
    return [str(p)], [f"{p}:11: field speaker", "'Robot'"]


def text_missing_outcome(d: Path):
    p = d / "calls.txt"
    p.write_text("id: t-1\nescalated: false\n\nCustomer: hello\n===\nid: t-2\n\nCustomer: hello\n")
    return [str(p)], [f"{p}:6: field escalated", "missing"]


def text_dialogue_line_without_speaker(d: Path):
    p = d / "calls.txt"
    p.write_text("id: t-1\nescalated: false\n\nhello, is anyone there?\nCustomer: hello\n")
    return [str(p)], [f"{p}:4: field speaker", "'Speaker:'"]


BAD_INPUTS: list[BadInput] = [
    broken_json_line_3,
    unknown_speaker,
    escalated_yes,
    turns_is_a_string,
    at_turn_is_a_string,
    nul_bytes,
    invalid_utf8,
    empty_file,
    blank_file,
    missing_file,
    at_turn_on_agent_turn,
    at_turn_out_of_range,
    at_turn_without_escalation,
    duplicate_across_files,
    other_tenant,
    csv_unknown_speaker,
    csv_bad_boolean,
    csv_missing_column,
    csv_unknown_column,
    text_bad_speaker,
    text_missing_outcome,
    text_dialogue_line_without_speaker,
]


JSON_FLAG_INPUTS = [
    broken_json_line_3,
    unknown_speaker,
    nul_bytes,
    missing_file,
    duplicate_across_files,
    csv_unknown_speaker,
    text_bad_speaker,
]
CASES = [(f, ()) for f in BAD_INPUTS] + [(f, ("--json",)) for f in JSON_FLAG_INPUTS]


@pytest.mark.parametrize(("make", "flags"), CASES, ids=[f.__name__ + "".join(x) for f, x in CASES])
def test_bad_input_exits_2_names_file_line_field_and_leaves_store_alone(tenant_dir, cli, seeded, make, flags):
    d = tenant_dir / "incoming"
    d.mkdir()
    args, expected = make(d)
    r = invoke(cli, "import", *args, *flags)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    no_traceback(r)
    assert "nothing was imported" in r.stderr
    for fragment in expected:
        assert fragment in r.stderr, f"{fragment!r} not in stderr:\n{r.stderr}"
    assert snapshot(tenant_dir) == seeded


def test_every_bad_record_is_reported_not_just_the_first(tenant_dir, cli, seeded):
    bad_speaker = make_case("b", ["hi"])
    bad_speaker["turns"][1]["speaker"] = "robot"
    p = tenant_dir / "calls.jsonl"
    p.write_text(lines(make_case("a", ["x"]), bad_speaker, "not json", with_outcome(make_case("c", ["y"]), at_turn=0)))
    r = invoke(cli, "import", str(p))
    assert r.exit_code == 2
    assert "3 bad record(s)" in r.stderr
    for fragment in (f"{p}:2: field turns[1].speaker", f"{p}:3: invalid JSON", f"{p}:4: field outcome.at_turn"):
        assert fragment in r.stderr
    assert snapshot(tenant_dir) == seeded


# -- good and bad records mixed -----------------------------------------------------------


def mixed_file(folder: Path) -> Path:
    robot = make_case("bad-1", ["hi"])
    robot["turns"][1]["speaker"] = "robot"
    p = folder / "mixed.jsonl"  # a short relative name: see test_skip_bad_listing_is_not_wrapped
    p.write_text(
        lines(
            make_case("ok-1", ["x"]),
            robot,
            make_case("ok-2", ["y"]),
            with_outcome(make_case("bad-2", ["z"]), escalated="yes"),
            "{oops",
            make_case("ok-3", ["w"]),
        )
    )
    return p


def test_mixed_file_imports_nothing_by_default(tenant_dir, cli, seeded):
    mixed_file(tenant_dir)
    r = invoke(cli, "import", "mixed.jsonl")
    assert r.exit_code == 2
    no_traceback(r)
    assert "3 bad record(s); nothing was imported" in r.stderr
    assert "--skip-bad" in r.stderr
    assert snapshot(tenant_dir) == seeded


def test_mixed_file_with_skip_bad_imports_the_good_and_lists_the_bad(tenant_dir, cli, seeded):
    mixed_file(tenant_dir)
    r = invoke(cli, "import", "mixed.jsonl", "--skip-bad")
    assert r.exit_code == 0, r.stderr
    no_traceback(r)
    assert "3 new" in r.stdout
    assert "skipped 3 bad records" in r.stderr
    for fragment in (
        "mixed.jsonl:2: field turns[1].speaker",
        "mixed.jsonl:4: field outcome.escalated",
        "mixed.jsonl:5: invalid JSON",
    ):
        assert fragment in r.stderr
    rows, current = snapshot(tenant_dir)
    assert rows[: len(seeded[0])] == seeded[0]  # what was there is untouched
    assert [cid for cid, _ in current] == ["keep-1", "keep-2", "ok-1", "ok-2", "ok-3"]


def test_skip_bad_json_lists_skipped_records_with_file_line_field(tenant_dir, cli, seeded):
    mixed_file(tenant_dir)
    r = invoke(cli, "import", "mixed.jsonl", "--skip-bad", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert sorted(out["added"]) == ["ok-1", "ok-2", "ok-3"]
    skipped = sorted(out["skipped"], key=lambda s: s["line"])
    assert [(s["file"], s["line"], s["field"]) for s in skipped] == [
        ("mixed.jsonl", 2, "turns[1].speaker"),
        ("mixed.jsonl", 4, "outcome.escalated"),
        ("mixed.jsonl", 5, None),
    ]
    assert all(s["message"] for s in skipped)
    assert "robot" in skipped[0]["message"] and "invalid JSON" in skipped[2]["message"]


def test_skip_bad_with_a_bad_file_among_good_files(tenant_dir, cli, seeded):
    write_jsonl(tenant_dir / "a.jsonl", [make_case("a-1", ["x"])])
    (tenant_dir / "b.jsonl").write_bytes(b"\x00\x00\x00")
    r = invoke(cli, "import", "a.jsonl", "b.jsonl", "--skip-bad", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["added"] == ["a-1"]
    assert [(s["file"], s["line"]) for s in out["skipped"]] == [("b.jsonl", 1)]


def test_skip_bad_with_nothing_good_exits_2(tenant_dir, cli, seeded):
    robot = make_case("bad-1", ["hi"])
    robot["turns"][0]["speaker"] = "robot"
    write_jsonl(tenant_dir / "bad.jsonl", [robot])
    r = invoke(cli, "import", "bad.jsonl", "--skip-bad")
    assert r.exit_code == 2
    no_traceback(r)
    assert "bad.jsonl:1: field turns[0].speaker" in r.stderr
    assert snapshot(tenant_dir) == seeded


def test_skip_bad_keeps_the_first_of_a_duplicate_and_reports_the_second(tenant_dir, cli, seeded):
    write_jsonl(tenant_dir / "a.jsonl", [make_case("dup", ["first"]), make_case("a-2", ["x"])])
    write_jsonl(tenant_dir / "b.jsonl", [make_case("b-1", ["x"]), make_case("dup", ["second"])])
    r = invoke(cli, "import", "a.jsonl", "b.jsonl", "--skip-bad", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert sorted(out["added"]) == ["a-2", "b-1", "dup"]
    assert [(s["file"], s["line"], s["field"]) for s in out["skipped"]] == [("b.jsonl", 2, "id")]
    with Store.open(store_path(tenant_dir), create=False) as store:
        dup = next(t for t in store.current_cases() if t.id == "dup")
    assert dup.turns[0].text == "first"


# -- bugs found while writing these tests -------------------------------------------------


def test_skip_bad_duplicate_inside_a_json_array_drops_only_that_record(tenant_dir, cli, seeded):
    write_jsonl(tenant_dir / "a.jsonl", [make_case("dup", ["first"])])
    arr = [make_case("arr-1", ["x"]), make_case("dup", ["second"]), make_case("arr-3", ["y"])]
    (tenant_dir / "b.json").write_text(json.dumps(arr, indent=2))
    r = invoke(cli, "import", "a.jsonl", "b.json", "--skip-bad", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert len(out["skipped"]) == 1
    assert sorted(out["added"]) == ["arr-1", "arr-3", "dup"]


def test_deeply_nested_json_is_bad_input_not_a_crash(tenant_dir, cli, seeded):
    p = tenant_dir / "deep.jsonl"
    p.write_text(lines(make_case("a", ["x"]), '{"id": ' + "[" * 100_000))
    r = invoke(cli, "import", str(p))
    no_traceback(r)
    assert r.exit_code == 2
    assert f"{p}:2" in r.stderr
    assert snapshot(tenant_dir) == seeded


def test_skip_bad_listing_is_not_wrapped(tenant_dir, cli, seeded):
    folder = tenant_dir / "exports-from-the-contact-centre-platform" / "2026-11-week-47" / "tier-two-queue"
    folder.mkdir(parents=True)
    p = mixed_file(folder)
    r = invoke(cli, "import", str(p), "--skip-bad")
    assert r.exit_code == 0
    assert any(line.strip().startswith(f"{p}:2: field turns[1].speaker") for line in r.stderr.splitlines())


def test_csv_row_with_multiline_text_is_reported_at_its_first_line(tenant_dir, cli, seeded):
    p = tenant_dir / "calls.csv"
    p.write_text(
        'case_id,speaker,text,escalated\nc-1,customer,"first line\nsecond line",false\nc-1,robot,"beep\nboop",\n',
        encoding="utf-8",
    )
    r = invoke(cli, "import", str(p))
    assert r.exit_code == 2
    assert f"{p}:4: field turns[1].speaker" in r.stderr  # the robot row starts on line 4


def test_csv_sidecar_with_a_misspelt_column_is_bad_input(tenant_dir, cli, seeded):
    write_csv_rows(tenant_dir / "calls.csv", ["case_id", "speaker", "text"], [["c-1", "customer", "refund please"]])
    side = write_csv_rows(
        tenant_dir / "calls.outcomes.csv",
        ["case_id", "escalated", "at_turn", "reasn"],
        [["c-1", "true", "0", "billing"]],
    )
    r = invoke(cli, "import", "calls.csv")
    assert r.exit_code == 2
    assert str(side.name) in r.stderr and "reasn" in r.stderr
    assert snapshot(tenant_dir) == seeded
