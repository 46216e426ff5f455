"""The user contract lives in the repository and agrees with the code.

docs/contract.md describes the formats, docs/schema/ holds JSON Schemas generated from the
models; these tests fail when the models, the schemas, the contract and the README's links
drift apart, or when an error message points somewhere that does not exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from shadowpilot.schemas import MODELS, json_schema, schema_text
from shadowpilot.transcripts.validate import FORMAT_HINT
from shadowpilot.types import GateResult, Outcome, Recommendation, Transcript, Turn
from tests.conftest import invoke, make_case, write_jsonl

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "docs" / "contract.md"
SCHEMA_DIR = REPO / "docs" / "schema"
# Markdown links and images: [text](target)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", md.read_text(encoding="utf-8"), re.M)}


def check_target(source: Path, target: str) -> str | None:
    """Why a link from `source` is broken, or None: it must stay inside the repository, the file
    must exist, and a #fragment into a Markdown file must name one of its headings."""
    if re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not files of the repo
        return None
    path_part, _, fragment = target.partition("#")
    dest = (source.parent / path_part).resolve() if path_part else source
    if not dest.is_relative_to(REPO):
        return f"{target}: outside the repository"
    if not dest.exists():
        return f"{target}: no such file"
    if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
        return f"{target}: {dest.name} has no heading #{fragment}"
    return None


def fields_of(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


# -- the JSON Schemas ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_checked_in_schema_matches_the_model(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    fix = f"regenerate it: shadowpilot schema {name} -o docs/schema/{name}.schema.json"
    assert path.is_file(), f"{path.relative_to(REPO)} is missing; {fix}"
    assert path.read_text(encoding="utf-8") == schema_text(name), (
        f"{path.relative_to(REPO)} no longer matches the pydantic model {MODELS[name].__name__}; {fix} "
        "(and update docs/contract.md for what changed)"
    )


def test_transcript_schema_says_what_the_reader_enforces() -> None:
    schema = json_schema("transcript")
    assert schema["$schema"].endswith("/2020-12/schema")
    assert set(schema["required"]) == {"id", "turns", "outcome"}
    assert schema["additionalProperties"] is False  # an unknown field is a bad record
    turn = schema["$defs"]["Turn"]
    assert turn["properties"]["speaker"]["enum"] == ["customer", "agent", "bot", "system"]
    assert schema["$defs"]["Outcome"]["required"] == ["escalated"]
    audio = schema["properties"]["audio"]["anyOf"]  # a file gives the recording's path, alone or with its channel
    assert audio[0]["type"] == "string" and audio[1]["required"] == ["path"]
    assert audio[1]["properties"]["customer_channel"]["enum"] == [1, 2]
    rec = json_schema("recommendation")
    assert set(rec["required"]) == {"case_id", "turn", "escalate"}


def test_schema_command_prints_and_writes_the_schema(cli, tmp_path: Path) -> None:
    printed = invoke(cli, "schema", "recommendation")
    assert printed.exit_code == 0, printed.stderr
    assert json.loads(printed.stdout) == json_schema("recommendation")

    out = tmp_path / "t.schema.json"
    written = invoke(cli, "schema", "transcript", "-o", str(out), "--json")
    assert written.exit_code == 0, written.stderr
    assert out.read_text(encoding="utf-8") == schema_text("transcript")
    assert json.loads(written.stdout) == {"schema": "transcript", "path": str(out), "bytes": out.stat().st_size}

    wrong = invoke(cli, "schema", "gate")
    assert wrong.exit_code == 2
    assert "transcript" in wrong.stderr and "recommendation" in wrong.stderr


# -- the written contract --------------------------------------------------------------------


def test_contract_documents_every_field_of_the_formats_and_the_gate_json() -> None:
    """Every field a user can write or read back has a line in docs/contract.md."""
    text = CONTRACT.read_text(encoding="utf-8")
    gate_keys = [k for k in fields_of(GateResult) if k != "config"]  # gate --json leaves config out
    wanted = {
        "Transcript": fields_of(Transcript),
        "Turn": fields_of(Turn),
        "Outcome": fields_of(Outcome),
        "Recommendation": fields_of(Recommendation),
        "gate JSON": gate_keys,
    }
    missing = [f"{where}.{name}" for where, names in wanted.items() for name in names if f"`{name}`" not in text]
    assert not missing, f"docs/contract.md does not describe: {', '.join(missing)}"
    for heading in ("transcript", "recommendation", "the-http-agent", "gate-json", "exit-codes"):
        assert heading in anchors(CONTRACT), heading


def test_gate_json_keys_are_those_the_contract_lists(sample_run_gate_json: dict) -> None:
    """The keys `gate --json` really prints are the ones in the contract's Gate JSON table."""
    text = CONTRACT.read_text(encoding="utf-8")
    section = text.split("## Gate JSON", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|", section, re.M))
    keys = {k for pair in documented for k in pair if k}
    assert set(sample_run_gate_json) == keys


@pytest.fixture
def sample_run_gate_json(tenant_dir: Path, cli) -> dict:
    write_jsonl(tenant_dir / "calls.jsonl", [make_case(f"c{i}", ["hello", "thanks"]) for i in range(3)])
    assert invoke(cli, "import", "calls.jsonl").exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    result = invoke(cli, "gate", "--json")
    assert result.exit_code == 3, result.stderr  # 3 cases: insufficient evidence
    return json.loads(result.stdout)


@pytest.mark.parametrize("doc", ["README.md", "docs/contract.md"])
def test_links_stay_inside_the_repository_and_resolve(doc: str) -> None:
    source = REPO / doc
    targets = LINK.findall(source.read_text(encoding="utf-8"))
    assert targets, f"no links found in {doc}"
    broken = [why for t in targets if (why := check_target(source, t))]
    assert not broken, f"{doc}: " + "; ".join(broken)
    assert "../shared" not in source.read_text(encoding="utf-8")


# -- error messages point at something that exists ------------------------------------------


def test_unknown_field_error_points_at_the_contract_and_the_schema_command(tenant_dir: Path, cli) -> None:
    case = make_case("c1", ["hello"])
    case["outcome"]["at_trun"] = 0  # a typo: must not be lost silently
    write_jsonl(tenant_dir / "calls.jsonl", [case])
    result = invoke(cli, "import", "calls.jsonl")
    assert result.exit_code == 2
    line = next(ln for ln in result.stderr.splitlines() if "outcome.at_trun" in ln)
    assert FORMAT_HINT in line

    doc = re.search(r"(docs/[\w./-]+\.md#[\w-]+)", line)
    assert doc, line
    assert check_target(REPO / "README.md", doc.group(1)) is None  # the file and its heading exist
    command = re.search(r"`shadowpilot (schema \w+)`", line)
    assert command, line
    shown = invoke(cli, *command.group(1).split())
    assert shown.exit_code == 0 and "at_turn" in shown.stdout
