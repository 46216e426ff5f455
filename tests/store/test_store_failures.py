"""The store under a damaged file, a read-only or full disk, other accounts and other tenants
(issue 15): exit 2 with one line, never "a bug in the harness"; reads keep working on a store
that cannot be written; the files are this account's alone; one store per tenant name.

Real DuckDB files through the real CLI. The read-only and full-disk cases need root (chattr, a
small tmpfs, a read-only remount) and are skipped without it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shadowpilot.config import slug
from shadowpilot.runners.shadow.eventlog import EventLog
from tests.conftest import SAMPLE, invoke, make_case, write_config, write_jsonl

ROOT = os.geteuid() == 0
STORE = Path(".shadowpilot") / "acme.duckdb"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _one_line_error(result) -> str:
    """The failure is one `error:` line on stderr, exit 2, and not the harness's."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "bug in the harness" not in result.stderr and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("note:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def imported(tenant_dir: Path, cli) -> Path:
    """Tenant acme with the sample's cases imported, replayed and gated."""
    cases = [{**c, "tenant": None} for c in _sample_cases()]
    write_jsonl(tenant_dir / "cases.jsonl", cases)
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    return tenant_dir


def _sample_cases() -> list[dict]:
    import json

    return [json.loads(line) for line in (SAMPLE / "transcripts.jsonl").read_text().splitlines() if line.strip()]


# -- permissions --------------------------------------------------------------------------------


def test_store_and_its_folder_are_private_whatever_the_umask(tenant_dir: Path, cli) -> None:
    old = os.umask(0o022)
    try:
        write_jsonl(tenant_dir / "c.jsonl", [make_case("c1", ["hello"], tenant=None)])
        assert invoke(cli, "import", "c.jsonl").exit_code == 0
    finally:
        os.umask(old)
    assert _mode(tenant_dir / ".shadowpilot") == 0o700
    assert _mode(tenant_dir / STORE) == 0o600
    wal = tenant_dir / ".shadowpilot" / "acme.duckdb.wal"
    assert not wal.exists() or _mode(wal) == 0o600


def test_a_folder_made_open_earlier_is_tightened_with_a_note(imported: Path, cli) -> None:
    os.chmod(imported / ".shadowpilot", 0o755)
    os.chmod(imported / STORE, 0o644)
    result = invoke(cli, "history")
    assert result.exit_code == 0, result.stderr
    assert _mode(imported / ".shadowpilot") == 0o700 and _mode(imported / STORE) == 0o600
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and ".shadowpilot" in notes[0] and "755" in notes[0]
    assert "note:" not in invoke(cli, "history").stderr  # said once: it is tight now


def test_shadow_event_log_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        log = EventLog(tmp_path / "acme.shadow" / "events.jsonl")
        log.open()
        log.close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "acme.shadow") == 0o700
    assert _mode(tmp_path / "acme.shadow" / "events.jsonl") == 0o600


# -- one store per tenant -----------------------------------------------------------------------


def test_slugs_are_one_per_name() -> None:
    assert slug("harbourview-clinic") == "harbourview-clinic"  # existing stores keep their paths
    names = ["東京クリニック", "大阪クリニック", "Zoë Café", "Zoe Cafe", "zoe-cafe", "Acme", "acme", "", "-"]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names), dict(zip(names, slugs, strict=True))
    assert slug("Zoë Café").startswith("zoe-cafe-") and slug("東京クリニック").startswith("tenant-")
    assert all(s.isascii() and s == s.lower() and "/" not in s for s in slugs)


def test_two_non_latin_tenants_in_one_folder_get_two_stores(tenant_dir: Path, cli) -> None:
    write_jsonl(tenant_dir / "c.jsonl", [make_case("c1", ["hello"], tenant=None)])
    for name in ("東京クリニック", "大阪クリニック"):
        write_config(tenant_dir, tenant=name)
        assert invoke(cli, "import", "c.jsonl").exit_code == 0
    assert len(list((tenant_dir / ".shadowpilot").glob("*.duckdb"))) == 2


def test_a_store_at_the_older_name_is_pointed_out(tenant_dir: Path, cli) -> None:
    """'Acme Health' used to live at acme-health.duckdb; it now has its own name, and a command
    that finds the old file there says how to keep using it."""
    write_config(tenant_dir, tenant="Acme Health")
    older = tenant_dir / ".shadowpilot" / "acme-health.duckdb"
    older.parent.mkdir()
    older.write_bytes(b"")  # its content does not matter: it is only named
    result = invoke(cli, "history")
    new = tenant_dir / ".shadowpilot" / f"{slug('Acme Health')}.duckdb"
    assert f"note: {older} was named by an older shadowpilot" in result.stderr
    assert f"mv {older} {new}" in result.stderr


def test_a_store_refuses_a_config_naming_another_tenant(imported: Path, cli) -> None:
    # a store copied or renamed to where another tenant's config looks for its own
    (imported / STORE).rename(imported / ".shadowpilot" / "other.duckdb")
    write_config(imported, tenant="other")
    for args in (("history",), ("gate",), ("import", "cases.jsonl")):
        line = _one_line_error(invoke(cli, *args))
        assert "'acme'" in line and "'other'" in line


# -- damaged, read-only and full ----------------------------------------------------------------


def test_a_truncated_store_is_exit_2_for_import_and_gate(imported: Path, cli) -> None:
    store = imported / STORE
    with store.open("r+b") as fh:
        fh.truncate(store.stat().st_size // 2)
    for args in (("import", "cases.jsonl"), ("gate",), ("history",)):
        line = _one_line_error(invoke(cli, *args))
        assert "damaged" in line and str(store.name) in line


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """chattr +i: not writable even by root (a mode of 0444 would not stop root)."""
    if not ROOT or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("needs root and chattr to make a file read-only for root")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_reads_work_on_a_read_only_store_and_writes_say_so(imported: Path, cli) -> None:
    before = (imported / STORE).read_bytes()
    with _immutable(imported / STORE):
        gated = invoke(cli, "gate")
        assert gated.exit_code == 3, gated.stderr  # scored and decided (the sample is no-go)
        assert "NO-GO" in gated.stdout
        assert [line for line in gated.stderr.splitlines() if line.strip()] == [
            f"note: {imported / STORE} is read-only: the verdict is printed, not stored"
        ]
        assert invoke(cli, "history").exit_code == 0
        reported = invoke(cli, "report", "--format", "md", "-o", str(imported / "r.md"))
        assert reported.exit_code == 0, reported.stderr
        line = _one_line_error(invoke(cli, "import", "cases.jsonl"))
        assert "read-only" in line
    assert (imported / STORE).read_bytes() == before


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    if (
        not ROOT
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_store_on_a_read_only_disk_still_reads(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with _tmpfs(tmp_path / "disk", "16m") as disk:
        monkeypatch.chdir(disk)
        write_config(disk)
        write_jsonl(tmp_path / "cases.jsonl", [{**c, "tenant": None} for c in _sample_cases()])
        assert invoke(cli, "import", str(tmp_path / "cases.jsonl")).exit_code == 0
        assert invoke(cli, "run").exit_code == 0
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        gated = invoke(cli, "gate")
        assert gated.exit_code == 3 and "is read-only: the verdict is printed, not stored" in gated.stderr
        assert invoke(cli, "history").exit_code == 0
        assert "read-only" in _one_line_error(invoke(cli, "import", str(tmp_path / "cases.jsonl")))
        monkeypatch.chdir(tmp_path)


def test_a_full_disk_is_exit_2_with_one_line(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [make_case(f"c{i}", [f"{i} " + "words " * 4000], tenant=None) for i in range(200)]  # ~5 MB of text
    write_jsonl(tmp_path / "big.jsonl", cases)
    with _tmpfs(tmp_path / "disk", "3m") as disk:
        monkeypatch.chdir(disk)
        write_config(disk)
        line = _one_line_error(invoke(cli, "import", str(tmp_path / "big.jsonl")))
        assert "space" in line.lower(), line
        monkeypatch.chdir(tmp_path)
