"""Transcript labels and import validation (issue 14): a tenant's own speaker labels through
`[import] speakers`, any case, in every format; `;`-separated CSV; the documented channels and
case-id characters; bad records counted as records, listed by file and line.

Through the real CLI on a real store (typer's CliRunner), and the library where it says so.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from shadowpilot.config import load_settings
from shadowpilot.errors import ConfigError
from shadowpilot.store import Store
from shadowpilot.transcripts import load_transcripts
from shadowpilot.transcripts.labels import CHANNELS
from tests.conftest import invoke, make_case, write_config, write_jsonl

SALON = '[import]\nspeakers = { Caller = "customer", Receptionist = "agent", Stylist = "agent" }\n'


def stored(folder: Path) -> dict[str, list[str]]:
    """Each current case's speakers, by case id."""
    with Store.open(load_settings(folder / "shadowpilot.toml").store_path, create=False) as store:
        return {t.id: [turn.speaker for turn in t.turns] for t in store.current_cases()}


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


# -- [import] speakers ----------------------------------------------------------------------


def test_text_file_with_the_tenants_own_labels_imports_through_the_mapping(tenant_dir, cli):
    write_config(tenant_dir, SALON)
    (tenant_dir / "call.txt").write_text(
        "id: salon-1\nescalated: false\n\n"
        "RECEPTIONIST: Harbour Cuts, how can I help?\n"
        "caller: Can I move my appointment?\n"
        "Stylist: Thursday at 3 works.\n",
        encoding="utf-8",
    )
    r = invoke(cli, "import", "call.txt")
    assert r.exit_code == 0, r.stderr
    assert stored(tenant_dir) == {"salon-1": ["agent", "customer", "agent"]}


def test_csv_labels_map_case_insensitively(tenant_dir, cli):
    write_config(tenant_dir, SALON)
    write_csv(
        tenant_dir / "calls.csv",
        [
            ["case_id", "speaker", "text", "escalated"],
            ["c-1", "CALLER", "I need to cancel", "false"],
            ["c-1", "receptionist", "Of course", ""],
            ["c-1", "Customer", "thanks", ""],
        ],
    )
    r = invoke(cli, "import", "calls.csv")
    assert r.exit_code == 0, r.stderr
    assert stored(tenant_dir) == {"c-1": ["customer", "agent", "customer"]}


def test_jsonl_speakers_are_any_case_and_mapped_too(tenant_dir, cli):
    write_config(tenant_dir, SALON)
    case = make_case("j-1", ["hello", "bye"])
    case["turns"][0]["speaker"] = "Customer"
    case["turns"][1]["speaker"] = "AGENT"
    case["turns"][2]["speaker"] = "Caller"
    case["turns"][3]["speaker"] = "Stylist"
    write_jsonl(tenant_dir / "calls.jsonl", [case])
    r = invoke(cli, "import", "calls.jsonl")
    assert r.exit_code == 0, r.stderr
    assert stored(tenant_dir) == {"j-1": ["customer", "agent", "customer", "agent"]}


def test_a_mapped_label_of_two_words_is_a_speaker_in_text(tenant_dir, cli):
    write_config(tenant_dir, '[import]\nspeakers = { "Front Desk" = "agent" }\n')
    (tenant_dir / "call.txt").write_text(
        "id: fd-1\nescalated: false\n\nFront Desk: Good morning\nCustomer: hi\n", encoding="utf-8"
    )
    r = invoke(cli, "import", "call.txt")
    assert r.exit_code == 0, r.stderr
    assert stored(tenant_dir) == {"fd-1": ["agent", "customer"]}


@pytest.mark.parametrize("fmt", ["text", "csv", "jsonl"])
def test_an_unknown_label_names_file_line_field_and_the_mapping_setting(tenant_dir, cli, fmt):
    if fmt == "text":
        path = tenant_dir / "call.txt"
        path.write_text("id: t-1\nescalated: false\n\nCustomer: hi\nReceptionist: hello\n", encoding="utf-8")
        where = f"{path}:5: field speaker"
    elif fmt == "csv":
        path = write_csv(
            tenant_dir / "calls.csv",
            [
                ["case_id", "speaker", "text", "escalated"],
                ["c-1", "customer", "hi", "false"],
                ["c-1", "Receptionist", "hello", ""],
            ],
        )
        where = f"{path}:3: field turns[1].speaker"
    else:
        case = make_case("j-1", ["hi"])
        case["turns"][1]["speaker"] = "Receptionist"
        path = write_jsonl(tenant_dir / "calls.jsonl", [case])
        where = f"{path}:1: field turns[1].speaker"
    r = invoke(cli, "import", str(path))
    assert r.exit_code == 2
    assert where in r.stderr and "'Receptionist'" in r.stderr
    assert "[import] speakers" in r.stderr  # where to map it


def test_the_mapping_is_validated_with_the_config_line(tenant_dir):
    cfg = write_config(tenant_dir, '[import]\nspeakers = { Caller = "human" }\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert f"{cfg}:5" in str(err.value) and "import.speakers" in str(err.value)
    assert 'expected "customer", "agent", "bot" or "system", got "human"' in str(err.value)


def test_one_label_spelt_twice_for_two_speakers_is_a_config_error(tenant_dir):
    cfg = write_config(tenant_dir, '[import]\nspeakers = { Caller = "customer", CALLER = "agent" }\n')
    with pytest.raises(ConfigError, match="mapped twice"):
        load_settings(cfg)


def test_the_mapping_from_the_environment_and_for_the_library(tenant_dir):
    env = {"SHADOWPILOT_IMPORT_SPEAKERS": '{ Caller = "customer" }'}
    assert load_settings(tenant_dir / "shadowpilot.toml", environ=env).import_.speakers == {"caller": "customer"}
    (tenant_dir / "call.txt").write_text("id: t-1\nescalated: false\n\nCALLER: hi\nAgent: hello\n", encoding="utf-8")
    loaded = load_transcripts([tenant_dir / "call.txt"], speakers={"Caller": "customer"})
    assert not loaded.problems and [t.speaker for t in loaded.transcripts[0].turns] == ["customer", "agent"]


# -- ;-separated CSV ------------------------------------------------------------------------


def test_a_semicolon_separated_csv_is_read_as_such(tenant_dir, cli):
    write_csv(
        tenant_dir / "export.csv",
        [
            ["case_id", "speaker", "text", "escalated", "tags"],
            ["eu-1", "customer", "Hallo, ich möchte kündigen, bitte", "true", "billing"],
            ["eu-1", "agent", "Einen Moment", "", ""],
        ],
        delimiter=";",
    )
    side_rows = [["case_id", "escalated", "reason"], ["eu-2", "false", ""]]
    write_csv(tenant_dir / "second.csv", [["case_id", "speaker", "text"], ["eu-2", "customer", "hi; there"]], ";")
    write_csv(tenant_dir / "second.outcomes.csv", side_rows, ";")
    r = invoke(cli, "import", "export.csv", "second.csv", "--json")
    assert r.exit_code == 0, r.stderr
    assert sorted(json.loads(r.stdout)["added"]) == ["eu-1", "eu-2"]
    with Store.open(load_settings(tenant_dir / "shadowpilot.toml").store_path, create=False) as store:
        cases = {t.id: t for t in store.current_cases()}
    assert cases["eu-1"].turns[0].text == "Hallo, ich möchte kündigen, bitte" and cases["eu-1"].outcome.escalated
    assert cases["eu-2"].turns[0].text == "hi; there"


def test_a_semicolon_header_without_the_columns_says_it_looks_semicolon_separated(tenant_dir, cli):
    p = write_csv(tenant_dir / "export.csv", [["Fall", "Sprecher", "Text"], ["1", "Kunde", "Hallo"]], ";")
    r = invoke(cli, "import", str(p))
    assert r.exit_code == 2
    assert f"{p}:1: field case_id, speaker, text" in r.stderr and "looks ;-separated" in r.stderr


def test_a_semicolon_csv_without_an_extension_is_detected(tenant_dir, cli):
    write_csv(
        tenant_dir / "export", [["case_id", "speaker", "text", "escalated"], ["x-1", "customer", "hi", "no"]], ";"
    )
    r = invoke(cli, "import", "export")
    assert r.exit_code == 0, r.stderr
    assert stored(tenant_dir) == {"x-1": ["customer"]}


# -- channels and case ids ------------------------------------------------------------------


def test_every_documented_channel_imports(tenant_dir, cli):
    cases = [{**make_case(f"ch-{c}", ["hi"]), "channel": c} for c in CHANNELS]
    write_jsonl(tenant_dir / "calls.jsonl", cases)
    r = invoke(cli, "import", "calls.jsonl")
    assert r.exit_code == 0, r.stderr
    assert len(stored(tenant_dir)) == len(CHANNELS)
    for name in ("voice", "sms", "whatsapp", "chat", "email", "web"):  # the list the README documents
        assert name in CHANNELS


def test_an_unknown_channel_names_file_line_and_field(tenant_dir, cli):
    write_jsonl(
        tenant_dir / "calls.jsonl",
        [
            make_case("a", ["hi"]),
            {**make_case("b", ["hi"]), "channel": "phone"},
            {**make_case("c", ["x"]), "channel": "SMS"},
        ],
    )
    (tenant_dir / "call.txt").write_text("id: t-1\nchannel: fax\nescalated: false\n\nCustomer: hi\n", encoding="utf-8")
    r = invoke(cli, "import", "calls.jsonl", "call.txt")
    assert r.exit_code == 2
    assert "calls.jsonl:2: field channel: unknown channel 'phone'; expected one of voice, sms" in r.stderr
    assert "calls.jsonl:3: field channel: unknown channel 'SMS' (channels are lower-case)" in r.stderr
    assert "call.txt:1: field channel: unknown channel 'fax'" in r.stderr


@pytest.mark.parametrize(
    ("case_id", "said"),
    [("call 0001", "characters outside"), ("caf\u00e9-1", "characters outside"), ("x" * 129, "129 characters")],
)
def test_a_case_id_outside_the_character_set_names_file_line_and_field(tenant_dir, cli, case_id, said):
    write_jsonl(tenant_dir / "calls.jsonl", [make_case("ok-1", ["hi"]), make_case(case_id, ["hi"])])
    r = invoke(cli, "import", "calls.jsonl")
    assert r.exit_code == 2
    assert "calls.jsonl:2: field id:" in r.stderr and said in r.stderr


def test_an_id_with_terminal_escapes_is_refused(tenant_dir, cli):
    write_jsonl(tenant_dir / "calls.jsonl", [make_case("case-\x1b]8;;http://evil\x07click", ["hi"])])
    r = invoke(cli, "import", "calls.jsonl")
    assert r.exit_code == 2 and "calls.jsonl:1: field id:" in r.stderr
    assert "\x1b" not in r.stderr


def test_ids_of_every_kind_the_project_makes_are_admitted(tenant_dir, cli):
    ids = [
        "hv-001",
        "CA0123456789abcdef0123456789abcdef",
        "CH0123456789abcdef0123456789abcdef",
        "2026/11/02#7",
        "x" * 128,
    ]
    write_jsonl(tenant_dir / "calls.jsonl", [make_case(i, ["hi"]) for i in ids])
    (tenant_dir / "front desk.txt").write_text("escalated: false\n\nCustomer: hi\n", encoding="utf-8")
    r = invoke(cli, "import", "calls.jsonl", "front desk.txt")
    assert r.exit_code == 0, r.stderr
    assert sorted(stored(tenant_dir)) == sorted([*ids, "front-desk"])  # a file name's space becomes '-'


def test_the_bundled_sample_still_imports(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sample = Path(__file__).resolve().parents[2] / "src" / "shadowpilot" / "sample"
    write_config(tmp_path, tenant="harbourview-clinic")
    r = invoke(cli, "import", str(sample / "transcripts.jsonl"), "--json")
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)["added"]) == 20


# -- bad records: counted as records, listed by file and line -------------------------------


def test_a_record_with_three_errors_counts_once(tenant_dir, cli):
    bad = make_case("b", ["hi", "there"])
    bad["turns"][1]["speaker"] = "robot"
    bad["outcome"]["escalated"] = "yes"
    bad["critical"] = "no"
    write_jsonl(tenant_dir / "calls.jsonl", [make_case("a", ["x"]), bad])
    r = invoke(cli, "import", "calls.jsonl")
    assert r.exit_code == 2
    assert "1 bad record(s); nothing was imported" in r.stderr
    assert r.stderr.count("calls.jsonl:2: field") == 3  # every error is still listed


def test_a_csv_case_wrong_on_two_rows_is_one_bad_record(tenant_dir, cli):
    write_csv(
        tenant_dir / "calls.csv",
        [
            ["case_id", "speaker", "text", "escalated"],
            ["c-1", "customer", "hi", "false"],
            ["c-1", "robot", "beep", ""],
            ["c-1", "droid", "boop", ""],
            ["c-2", "customer", "fine", "false"],
        ],
    )
    r = invoke(cli, "import", "calls.csv", "--skip-bad", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["added"] == ["c-2"] and out["bad_records"] == 1 and len(out["skipped"]) == 2
    r = invoke(cli, "import", "calls.csv", "--skip-bad")
    assert "skipped 1 bad record:" in r.stderr


def test_two_bad_items_of_a_json_array_are_two_bad_records(tenant_dir, cli):
    one, two = make_case("a-1", ["x"]), make_case("a-2", ["y"])
    one["outcome"]["escalated"] = "yes"
    two["outcome"]["escalated"] = "no"
    (tenant_dir / "calls.json").write_text(json.dumps([one, two, make_case("a-3", ["z"])], indent=2))
    r = invoke(cli, "import", "calls.json")
    assert r.exit_code == 2 and "2 bad record(s)" in r.stderr


def test_errors_are_listed_by_file_then_line(tenant_dir, cli):
    robot = make_case("b-2", ["hi"])
    robot["turns"][1]["speaker"] = "robot"
    write_jsonl(tenant_dir / "b.jsonl", [make_case("dup", ["x"]), robot, make_case("b-3", ["x"], tenant="globex")])
    write_jsonl(
        tenant_dir / "a.jsonl",
        [make_case("a-1", ["x"]), make_case("dup", ["y"]), {**make_case("a-3", ["x"]), "channel": "fax"}],
    )
    r = invoke(cli, "import", "b.jsonl", "a.jsonl", "--skip-bad", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    where = [(s["file"], s["line"], s["field"]) for s in out["skipped"]]
    # found in another order (duplicates and tenants are checked after every file is read)
    assert where == [
        ("a.jsonl", 2, "id"),
        ("a.jsonl", 3, "channel"),
        ("b.jsonl", 2, "turns[1].speaker"),
        ("b.jsonl", 3, "tenant"),
    ]
    assert out["bad_records"] == 4


def test_repeats_and_other_tenants_in_a_json_array_count_one_each(tenant_dir, cli):
    items = [make_case("dup", ["x"]), make_case("dup", ["y"]), make_case("dup", ["z"])]
    items += [make_case("g-1", ["x"], tenant="globex"), make_case("g-2", ["x"], tenant="globex")]
    (tenant_dir / "calls.json").write_text(json.dumps(items, indent=2))
    r = invoke(cli, "import", "calls.json")
    assert r.exit_code == 2 and "4 bad record(s)" in r.stderr
