"""What `--json` prints, through the real CLI (typer's CliRunner) on real stores: a failing command's
error object (docs/contract.md "Errors as JSON"), `report --format json --json` as an object, and
one timestamp format in every JSON the CLI and the report write."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer

from shadowpilot.cli import app
from tests.conftest import SAMPLE, invoke, make_case, write_config, write_jsonl

# The one format (when.utc_text): ISO 8601, UTC, milliseconds, Z.
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
# Anything that reads as a date and a time, in any of the shapes Python and pandas print.
LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
TIME_KEYS = re.compile(r"(^|_)at$|^(first|last)_call$")


def parsed(result: Any) -> Any:
    assert result.stdout.strip(), f"nothing on stdout; stderr: {result.stderr}"
    return json.loads(result.stdout)


def error_of(result: Any, code: int) -> dict[str, Any]:
    """The error object of a failed --json command; its exit code and stderr as without --json."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    doc = parsed(result)
    assert list(doc) == ["error"] and list(doc["error"]) == ["code", "message", "problems"]
    assert doc["error"]["code"] == code
    assert result.stderr.strip(), "the human text still goes to stderr"
    return doc["error"]


def times(doc: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (path, value) of `doc` that is a time: under a time key (`*_at`, `at`, `first_call`,
    `last_call`), or any string that reads as a date with a time."""
    found: list[tuple[str, Any]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if TIME_KEYS.search(str(key)) and not isinstance(value, dict | list):
                found.append((f"{path}.{key}", value))
            else:
                found += times(value, f"{path}.{key}")
    elif isinstance(doc, list):
        for n, value in enumerate(doc):
            found += times(value, f"{path}[{n}]")
    elif isinstance(doc, str) and LOOKS_LIKE_A_TIME.match(doc):
        found.append((path, doc))
    return found


def assert_one_time_format(doc: Any, *required: str) -> None:
    """Every time in `doc` is ISO 8601 with Z (or null), and the `required` keys are among them."""
    found = times(doc)
    bad = [(p, v) for p, v in found if v is not None and not (isinstance(v, str) and ISO_Z.fullmatch(v))]
    assert bad == []
    keys = {p.rsplit(".", 1)[-1].split("[")[0] for p, v in found if v is not None}
    assert set(required) <= keys, f"expected times under {required}, found {sorted(keys)}"


# -- errors as JSON ----------------------------------------------------------------------------


def json_commands() -> list[list[str]]:
    """Every command that has --json, by its words (`["shadow", "calls"]`), from the typer app."""
    out: list[list[str]] = []

    def walk(command: Any, words: list[str]) -> None:
        if any("--json" in p.opts for p in command.params):
            out.append(words)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return out


def test_every_json_command_is_found() -> None:
    found = {" ".join(w) for w in json_commands()}
    assert {"gate", "import", "history", "report", "shadow calls", "review", "compare", "run", "cases"} <= found


@pytest.mark.parametrize("words", json_commands(), ids=" ".join)
def test_a_bad_flag_with_json_is_an_error_object_on_stdout(tenant_dir: Path, cli, words: list[str]) -> None:
    error = error_of(invoke(cli, *words, "--json", "--no-such-flag"), 2)
    assert "--no-such-flag" in error["message"] and error["problems"] == []


@pytest.mark.parametrize("words", json_commands(), ids=" ".join)
def test_every_json_command_reports_its_failure_as_json(tmp_path: Path, cli, words: list[str]) -> None:
    """A config that does not exist: the command's own error (guarded), as an error object. The
    commands that make their config fail otherwise: init on one already there, demo on a broken
    one in its folder, schema on a directory for -o. Every one exits 2 with the object."""
    (tmp_path / "demo").mkdir()
    write_config(tmp_path / "demo", "[gat]\n")
    write_config(tmp_path)
    args = {
        "import": ["nowhere.jsonl"],
        "compare": ["run-a", "run-b"],
        "schema": ["transcript", "-o", str(tmp_path)],
        "demo": ["--dir", str(tmp_path / "demo")],
    }
    cfg = ["-c", str(tmp_path / ("shadowpilot.toml" if words == ["init"] else "missing.toml"))]
    result = invoke(cli, *cfg, *words, *args.get(" ".join(words), []), "--json")
    error = error_of(result, 2)
    assert error["message"] and "Traceback" not in result.stderr


def test_bad_records_are_the_problems_with_file_line_and_field(tenant_dir: Path, cli) -> None:
    good = make_case("ok-1", ["hello"])
    path = write_jsonl(tenant_dir / "calls.jsonl", [good, {**good, "id": "bad-1", "turns": "hello"}])
    with path.open("a", encoding="utf-8") as fh:
        fh.write("not json\n")
    result = invoke(cli, "import", str(path), "--json")
    error = error_of(result, 2)
    assert error["message"].startswith("2 bad record(s); nothing was imported")
    assert error["problems"][0] == {
        "file": str(path),
        "line": 2,
        "field": "turns",
        "message": "Input should be a valid array (got 'hello')",
    }
    assert error["problems"][1]["line"] == 3 and error["problems"][1]["field"] is None
    assert f"{path}:2: field turns" in result.stderr  # and the same said for people, on stderr


def test_a_config_error_names_the_key_and_line_in_the_problems(tenant_dir: Path, cli) -> None:
    write_config(tenant_dir, "[gate]\npass_rat = 0.8\n")
    error = error_of(invoke(cli, "gate", "--json"), 2)
    where = tenant_dir / "shadowpilot.toml"
    assert error["problems"] == [
        {
            "file": str(where),
            "line": 5,
            "field": "gate.pass_rat",
            "message": '[gate] unknown key "pass_rat" (did you mean "pass_rate"?)',
        }
    ]
    assert error["message"] == f'{where}:5: [gate] unknown key "pass_rat" (did you mean "pass_rate"?)'


def test_a_flag_value_typer_refuses_is_an_error_object(tenant_dir: Path, cli) -> None:
    result = invoke(cli, "gate", "--pass-rate", "2", "--json")
    error = error_of(result, 2)
    assert "--pass-rate" in error["message"] and "--pass-rate" in result.stderr


def test_a_harness_bug_is_an_error_object_with_code_1(tenant_dir: Path, cli, monkeypatch) -> None:
    from shadowpilot import workflow

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(workflow, "run_summaries", broken)  # a fault planted where `history` calls the library
    result = invoke(cli, "history", "--json")
    error = error_of(result, 1)
    assert error["message"].startswith("shadowpilot failed (this is a bug in the harness")
    assert "ZeroDivisionError: division by zero" in error["message"]
    assert "Traceback" in result.stderr


def test_without_json_a_failure_prints_nothing_on_stdout(tenant_dir: Path, cli) -> None:
    write_config(tenant_dir, "[gate]\npass_rat = 0.8\n")
    result = invoke(cli, "gate")
    assert result.exit_code == 2 and result.stdout == "" and "pass_rat" in result.stderr


def test_a_secret_in_an_error_is_masked_in_the_error_object_too(tenant_dir: Path, cli, monkeypatch) -> None:
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    result = invoke(cli, "-c", f"{secret}.toml", "gate", "--json")  # an error that quotes what was typed
    error = error_of(result, 2)
    assert secret not in result.stdout and secret not in result.stderr
    assert "[OPENAI_API_KEY]" in error["message"]


# -- report --format json --json, and one timestamp format everywhere ---------------------------


@pytest.fixture
def pilot(tenant_dir: Path, cli) -> tuple[str, str]:
    """The sample clinic, imported and run twice through the CLI, with one ruling; the run ids."""
    shutil.copy(SAMPLE / "shadowpilot.toml", tenant_dir / "shadowpilot.toml")
    assert invoke(cli, "import", str(SAMPLE / "transcripts.jsonl")).exit_code == 0
    first = parsed(invoke(cli, "run", "--json"))["run_id"]
    second = parsed(invoke(cli, "run", "--json"))["run_id"]
    return first, second


def test_every_json_output_writes_times_one_way(pilot: tuple[str, str], cli) -> None:
    first, second = pilot
    gate = invoke(cli, "gate", "--run", second, "--json")
    assert gate.exit_code == 3
    assert_one_time_format(parsed(gate))
    assert_one_time_format(parsed(invoke(cli, "history", "--json")), "created_at")
    assert_one_time_format(parsed(invoke(cli, "cases", "--json")), "imported_at")
    ruled = invoke(cli, "review", "--run", second, "--case", "hv-005", "--ruling", "unclear", "--json")
    assert ruled.exit_code == 0, ruled.stderr
    assert_one_time_format(parsed(ruled), "ruled_at")
    assert_one_time_format(parsed(invoke(cli, "review", "--run", second, "--list", "--json")), "ruled_at")
    compared = invoke(cli, "compare", first, second, "--json")
    assert compared.exit_code == 0, compared.stderr
    assert_one_time_format(parsed(compared))
    report = parsed(invoke(cli, "report", "--run", second, "--format", "json"))
    assert_one_time_format(report, "generated_at", "created_at", "started_at", "ruled_at", "first_call", "at")


def test_report_json_with_json_is_the_report_object_not_a_string(pilot: tuple[str, str], cli) -> None:
    _first, second = pilot
    wrapped = parsed(invoke(cli, "report", "--run", second, "--format", "json", "--json"))
    assert (wrapped["run_id"], wrapped["format"]) == (second, "json")
    report = wrapped["report"]
    plain = parsed(invoke(cli, "report", "--run", second, "--format", "json"))
    assert isinstance(report, dict)
    assert {k: v for k, v in report.items() if k != "generated_at"} == {
        k: v for k, v in plain.items() if k != "generated_at"
    }
    md = parsed(invoke(cli, "report", "--run", second, "--format", "md", "--json"))
    assert isinstance(md["report"], str) and md["report"].startswith("#")  # other formats stay their text


def test_the_written_report_json_writes_times_one_way(pilot: tuple[str, str], cli, tenant_dir: Path) -> None:
    out = tenant_dir / "r.json"
    assert invoke(cli, "report", "--format", "json", "-o", str(out)).exit_code == 0
    assert_one_time_format(json.loads(out.read_text(encoding="utf-8")), "generated_at", "created_at")


SHADOW = """
[agent]
kind = "baseline"

[shadow]
public_url = "https://shadow.example.test"
reorder_window_s = 0
outcome_wait_s = 0
"""


def test_shadow_calls_json_writes_times_one_way(tenant_dir: Path, cli) -> None:
    from shadowpilot.config import load_settings
    from shadowpilot.runners import build_agent
    from shadowpilot.runners.shadow.service import ShadowService
    from shadowpilot.runners.shadow.wire import ROUTES
    from tests.runners.shadow.twilio_sim import Call

    settings = load_settings(write_config(tenant_dir, SHADOW), environ={})
    call = Call(1)

    async def main() -> None:  # the live server's service in-process, on the real event log
        service = ShadowService(settings, build_agent(settings))
        await service.start()
        try:
            for route, params in [call.started(), call.said("customer", "my bill is wrong")]:
                await service.accept(ROUTES[route], params)
        finally:
            await service.stop()

    asyncio.run(main())
    listing = parsed(invoke(cli, "shadow", "calls", "--json"))
    assert [c["call_id"] for c in listing["calls"]] == [call.call_sid]
    assert_one_time_format(listing, "started_at")


def test_a_call_kept_by_an_earlier_version_is_listed_with_the_one_format(tenant_dir: Path, cli) -> None:
    from shadowpilot.config import load_settings
    from shadowpilot.runners.shadow.checkpoint import summaries_path
    from shadowpilot.runners.shadow.reading import log_path

    settings = load_settings(write_config(tenant_dir, SHADOW), environ={})
    kept = summaries_path(log_path(settings))
    kept.parent.mkdir(parents=True, exist_ok=True)
    view = {"call_id": "CA1", "state": "scored", "started_at": "2026-11-30T09:15:02.123456+00:00", "utterances": []}
    kept.write_text(json.dumps({"call": "CA1", "first_rx": 1.0, "view": view}) + "\n", encoding="utf-8")
    listing = parsed(invoke(cli, "shadow", "calls", "--json"))
    assert [c["started_at"] for c in listing["calls"]] == ["2026-11-30T09:15:02.123Z"]
