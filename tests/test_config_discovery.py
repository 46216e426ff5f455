"""Finding shadowpilot.toml: searched upward from the working directory (not out of a git
repository, not above home), the CLI saying which file once when it is not here, `-c` winning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowpilot.config import find_config, load_settings
from tests.conftest import invoke, make_case, write_config, write_jsonl


@pytest.fixture
def imported(tenant_dir: Path, cli) -> Path:
    """The tenant folder with two cases imported and a recorded agent whose file the config
    names relative to itself."""
    write_jsonl(tenant_dir / "recs.jsonl", [{"case_id": "c1", "turn": 0, "escalate": False, "reply": "hello"}])
    write_config(tenant_dir, '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 1\n')
    cases = write_jsonl(tenant_dir / "cases.jsonl", [make_case("c1", ["hi"])])
    assert invoke(cli, "import", str(cases)).exit_code == 0
    return tenant_dir


def test_a_command_run_in_a_subfolder_uses_the_tenants_config_and_says_so_once(
    imported: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    deeper = imported / "notes" / "day2"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    ran = invoke(cli, "run", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr.count("using ") == 1
    assert "using ../../shadowpilot.toml\n" in ran.stderr
    # the agent's file and the store are the config's, relative to its folder, not to here
    run_id = json.loads(ran.stdout)["run_id"]
    assert not (deeper / ".shadowpilot").exists()
    gate = invoke(cli, "gate", "--json")
    assert gate.exit_code == 0, gate.stderr
    assert json.loads(gate.stdout)["run_id"] == run_id and gate.stderr.count("using ../../shadowpilot.toml") == 1

    monkeypatch.chdir(imported)  # in the tenant folder itself: nothing to say
    here = invoke(cli, "history", "--json")
    assert here.exit_code == 0 and here.stderr == ""
    assert [r["run_id"] for r in json.loads(here.stdout)["runs"]] == [run_id]


def test_the_nearest_config_wins_and_c_wins_over_both(imported: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    other = imported / "other"
    other.mkdir()
    write_config(other, tenant="globex")
    monkeypatch.chdir(other)
    cases = write_jsonl(other / "cases.jsonl", [make_case("g1", ["hi"], tenant=None)])
    assert invoke(cli, "import", str(cases)).exit_code == 0
    nearest = invoke(cli, "history", "--json")
    assert nearest.exit_code == 0 and json.loads(nearest.stdout)["tenant"] == "globex" and nearest.stderr == ""
    chosen = invoke(cli, "-c", "../shadowpilot.toml", "history", "--json")
    assert chosen.exit_code == 0 and json.loads(chosen.stdout)["tenant"] == "acme"
    assert "using" not in chosen.stderr  # the user named it: nothing to tell them


def test_the_search_stops_at_the_top_of_a_git_repository(tenant_dir: Path, cli, monkeypatch) -> None:
    repo = tenant_dir / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    assert find_config(repo / "src") is None
    monkeypatch.chdir(repo / "src")
    result = invoke(cli, "history")
    assert result.exit_code == 2
    assert f"no shadowpilot.toml in {repo / 'src'} or above it" in " ".join(result.stderr.split())
    write_config(repo, tenant="in-repo")  # at the repository's top it is found
    assert find_config(repo / "src") == repo / "shadowpilot.toml"


def test_the_search_stops_at_the_home_folder(tenant_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tenant_dir / "home"
    (home / "work").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    assert find_config(home / "work") is None  # the tenant's file above home is not picked up
    write_config(home)
    assert find_config(home / "work") == home / "shadowpilot.toml"


def test_the_library_loads_the_config_it_finds_above(tenant_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tenant_dir / "sub").mkdir()
    monkeypatch.chdir(tenant_dir / "sub")
    s = load_settings(environ={})
    assert s.source == str(tenant_dir / "shadowpilot.toml") and s.root == tenant_dir.resolve()
    assert s.store_path == tenant_dir.resolve() / ".shadowpilot" / "acme.duckdb"


def test_init_still_writes_here_inside_a_tenant_folder(tenant_dir: Path, cli, monkeypatch) -> None:
    (tenant_dir / "second").mkdir()
    monkeypatch.chdir(tenant_dir / "second")
    result = invoke(cli, "init", "--tenant", "second", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["config"] == str(tenant_dir / "second" / "shadowpilot.toml")
    assert (tenant_dir / "shadowpilot.toml").read_text(encoding="utf-8").startswith('[tenant]\nname = "acme"')
