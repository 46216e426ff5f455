"""`[asr]` in shadowpilot.toml: typed, documented in the template, errors naming the field and line,
environment overrides like every section; and nothing of shadowpilot.asr (nor faster-whisper) loaded
when the CLI starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shadowpilot.config import AsrSettings, Settings, load_settings, template_path
from shadowpilot.errors import ConfigError


def test_asr_is_none_by_default_and_read_from_the_file_and_the_environment(tmp_path: Path) -> None:
    assert Settings().asr.kind == "none"
    config = tmp_path / "shadowpilot.toml"
    config.write_text(
        '[asr]\nkind = "openai"\nmodel = "whisper-1"\nbase_url = "http://127.0.0.1:8000/v1"\n'
        'language = "en"\ncost_per_minute = 0.006\n',
        encoding="utf-8",
    )
    asr = load_settings(config, environ={"SHADOWPILOT_ASR_TIMEOUT_S": "5"}).asr
    assert asr == AsrSettings(
        kind="openai",
        model="whisper-1",
        base_url="http://127.0.0.1:8000/v1",
        language="en",
        cost_per_minute=0.006,
        timeout_s=5.0,
    )


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('kind = "whisper"', "asr.kind"),
        ("timeout_s = 0", "asr.timeout_s"),
        ('api_key_env = "my key"', "asr.api_key_env"),
    ],
)
def test_a_bad_asr_value_names_the_file_line_and_field(tmp_path: Path, line: str, field: str) -> None:
    config = tmp_path / "shadowpilot.toml"
    config.write_text(f'[tenant]\nname = "acme"\n\n[asr]\n{line}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"shadowpilot\.toml:5: field {re.escape(field)}:"):
        load_settings(config, environ={})


def test_the_config_template_documents_every_asr_key() -> None:
    template = template_path().read_text(encoding="utf-8")
    section = template.split("[asr]\n", 1)[1].split("\n[", 1)[0]
    for key in AsrSettings.model_fields:
        assert re.search(rf"^#? ?{key} = ", section, re.M), f"config_template.toml does not document [asr] {key}"


def test_the_cli_starts_without_loading_asr_or_faster_whisper(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom shadowpilot.cli import main\nsys.argv = ['shadowpilot', '--help']\n"
        "try:\n    main()\nexcept SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('shadowpilot.asr', 'faster_whisper', 'ctranslate2'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
