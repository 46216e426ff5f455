"""shadowpilot.toml's mistakes in our words (config_errors.py): the file, the line, the section.key,
and for an unknown key or section the closest real one; never pydantic's own sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowpilot.config import load_settings
from shadowpilot.errors import ConfigError, Problem

PYDANTIC_WORDS = ("Extra inputs are not permitted", "Input should be", "Field required", "validation error")


def refused(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    cfg = tmp_path / "shadowpilot.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ=environ or {})
    message = str(err.value)
    assert not any(words in message for words in PYDANTIC_WORDS), message
    assert err.value.exit_code == 2
    return err.value


def test_an_unknown_key_names_the_line_and_the_key_it_was_meant_to_be(tmp_path: Path) -> None:
    err = refused(tmp_path, '[tenant]\nname = "acme"\n\n[gate]\npass_rat = 0.8\n')
    cfg = tmp_path / "shadowpilot.toml"
    assert str(err) == f'{cfg}:5: [gate] unknown key "pass_rat" (did you mean "pass_rate"?)'
    assert err.problems == [
        Problem(str(cfg), 5, "gate.pass_rat", '[gate] unknown key "pass_rat" (did you mean "pass_rate"?)')
    ]


def test_an_unknown_key_far_from_every_real_one_suggests_nothing(tmp_path: Path) -> None:
    err = refused(tmp_path, "[gate]\nzzz = 1\n")
    assert str(err).endswith(':2: [gate] unknown key "zzz"')


def test_a_key_in_the_wrong_case_is_matched(tmp_path: Path) -> None:
    assert '(did you mean "pass_rate"?)' in str(refused(tmp_path, "[gate]\nPass_Rate = 0.8\n"))


def test_an_unknown_section_names_its_header_and_the_section_meant(tmp_path: Path) -> None:
    err = refused(tmp_path, '[tenant]\nname = "acme"\n\n[gat]\npass_rate = 0.8\n')
    assert str(err) == f"{tmp_path / 'shadowpilot.toml'}:4: unknown section [gat] (did you mean [gate]?)"
    assert err.problems[0].field == "gat" and err.problems[0].line == 4


def test_a_key_at_the_top_of_the_file_is_not_a_section(tmp_path: Path) -> None:
    err = refused(tmp_path, 'pass_rate = 0.8\n[tenant]\nname = "acme"\n')
    assert ':1: unknown key "pass_rate" at the top of the file (every key belongs in a [section])' in str(err)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[gate]\npass_rate = "high"\n', 2, 'field gate.pass_rate: expected a number, got "high"'),
        ("[gate]\nmin_cases = 2.5\n", 2, "field gate.min_cases: expected a whole number, got 2.5"),
        ('[gate]\nuse_lower_bound = "maybe"\n', 2, 'field gate.use_lower_bound: expected true or false, got "maybe"'),
        ("[gate]\npass_rate = 2\n", 2, "field gate.pass_rate: must be at most 1, got 2"),
        ("[agent]\ntimeout_s = 0\n", 2, "field agent.timeout_s: must be more than 0"),
        ('[gate]\nrequired_attributes = "skill"\n', 2, "field gate.required_attributes: expected a list, such as"),
        ("[tenant]\nname = 5\n", 2, "field tenant.name: expected a string (in quotes), got 5"),
        ('\n[report]\npaper = "B5"\n', 3, 'field report.paper: expected "A4" or "Letter", got "B5"'),
        ('[agent]\nkind = "opnai"\n', 2, 'got "opnai" (did you mean "openai"?)'),
        ('[redaction]\nkinds = ["phone", "passport"]\n', 2, 'field redaction.kinds[1]: expected "phone", "email"'),
        ("gate = 5\n", 1, "field gate: expected a table ([section] or {key = value}), got 5"),
    ],
    ids=["number", "whole", "bool", "bound", "positive", "list", "string", "literal", "did-you-mean", "item", "table"],
)
def test_a_wrong_value_is_said_in_our_words_with_its_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    err = refused(tmp_path, text)
    assert str(err).startswith(f"{tmp_path / 'shadowpilot.toml'}:{line}: ")
    assert words in str(err)


def test_the_nth_array_table_is_named_and_its_own_line_found(tmp_path: Path) -> None:
    text = '[[baseline.rules]]\nreason = "a"\nphrases = ["x"]\n\n[[baseline.rules]]\nphrases = ["y"]\nurgncy = "high"\n'
    err = refused(tmp_path, text)
    by_field = {p.field: p for p in err.problems}
    assert by_field["baseline.rules[1].urgncy"].line == 7
    assert by_field["baseline.rules[1].urgncy"].message == (
        '[[baseline.rules]] #2 unknown key "urgncy" (did you mean "urgency"?)'
    )
    assert by_field["baseline.rules[1].reason"].line == 5  # missing: the header of its table
    assert by_field["baseline.rules[1].reason"].message == "field baseline.rules[1].reason: required, but not set"


def test_a_quoted_table_name_is_quoted_back(tmp_path: Path) -> None:
    err = refused(tmp_path, '[prices."gpt-4.1"]\ninput = 1\noutput = 2\noutptu = 3\n')
    assert str(err).endswith(':4: [prices."gpt-4.1"] unknown key "outptu" (did you mean "output"?)')
    assert err.problems[0].field == 'prices."gpt-4.1".outptu'


def test_every_problem_is_listed_in_the_order_of_the_file(tmp_path: Path) -> None:
    err = refused(tmp_path, '[tenant]\nname = "acme"\n[report]\npaper = "B5"\n[gate]\npass_rat = 1\nmin_cases = "x"\n')
    cfg = tmp_path / "shadowpilot.toml"
    assert [(p.line, p.field) for p in err.problems] == [
        (4, "report.paper"),
        (6, "gate.pass_rat"),
        (7, "gate.min_cases"),
    ]
    lines = str(err).splitlines()
    assert lines[0] == f"3 problems in {cfg}"
    assert [line.split(": ", 1)[0] for line in lines[1:]] == [f"  {cfg}:4", f"  {cfg}:6", f"  {cfg}:7"]


def test_an_environment_variable_is_named_with_the_variable_meant(tmp_path: Path) -> None:
    err = refused(tmp_path, '[tenant]\nname = "acme"\n', environ={"SHADOWPILOT_GATE_PASS_RAT": "0.8"})
    assert str(err) == (
        'environment variable SHADOWPILOT_GATE_PASS_RAT: [gate] has no key "pass_rat" '
        "(did you mean SHADOWPILOT_GATE_PASS_RATE?)"
    )
    assert err.problems[0].file == "SHADOWPILOT_GATE_PASS_RAT" and err.problems[0].line is None
    bad = refused(tmp_path, '[tenant]\nname = "acme"\n', environ={"SHADOWPILOT_GATE_PASS_RATE": "high"})
    assert str(bad) == (
        'environment variable SHADOWPILOT_GATE_PASS_RATE (field gate.pass_rate): expected a number, got "high"'
    )


def test_a_command_line_value_is_named_as_such(tmp_path: Path) -> None:
    cfg = tmp_path / "shadowpilot.toml"
    cfg.write_text('[tenant]\nname = "acme"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, overrides={"gate": {"pass_rate": "high"}}, environ={})
    assert str(err.value) == 'command-line option for gate.pass_rate: expected a number, got "high"'
