"""A go on thin evidence says so beside the verdict in every output (CLI gate, gate JSON, HTML and
so the PDF it prints, Markdown, JUnit), with how many more passing cases would lift the 95% lower
bound over the bar, whether or not use_lower_bound is set; and says nothing when the bound clears.

10 cases, all passing, through the real store, recorded agent and CLI. Wilson's lower bound for
10/10 is 10 / (10 + z^2) = 72.2%; against a 90% bar it takes 25 more passing cases in a row:
(10 + m) / (10 + m + z^2) >= 0.9 first holds at 10 + m = 35 >= 9 z^2 = 34.57.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.reports.test_html import parse, text_of

THIN = (
    "Thin evidence: on 10 cases the 95% lower bound of the pass rate is 72.2%, under the 90% bar; "
    "25 more passing cases in a row would lift it over"
)


def flat(text: str) -> str:
    """Terminal output without the panel's borders and line wraps."""
    return " ".join(text.replace("│", " ").split())


def configure(folder: Path, gate: str) -> None:
    write_config(folder, f'[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 10\n{gate}\n')


@pytest.fixture
def ten_passing(tenant_dir: Path, cli) -> Path:
    configure(tenant_dir, "pass_rate = 0.9")
    write_jsonl(tenant_dir / "cases.jsonl", [make_case(f"c{i}", ["a"]) for i in range(10)])
    write_jsonl(tenant_dir / "recs.jsonl", [{"case_id": f"c{i}", "turn": 0, "escalate": False} for i in range(10)])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    return tenant_dir


def outputs(cli) -> dict[str, str]:
    out = {"gate": flat(invoke(cli, "gate").stdout), "gate_json": invoke(cli, "gate", "--json").stdout}
    for fmt in ("html", "md", "junit"):
        r = invoke(cli, "report", "--format", fmt)
        assert r.exit_code == 0, r.stderr
        out[fmt] = r.stdout
    return out


@pytest.mark.parametrize("use_lower_bound", [False, True])
def test_a_go_on_ten_cases_says_its_lower_bound_is_under_the_bar(ten_passing: Path, cli, use_lower_bound: bool):
    configure(ten_passing, f"pass_rate = 0.9\nuse_lower_bound = {str(use_lower_bound).lower()}")
    out = outputs(cli)
    verdict = "insufficient-evidence" if use_lower_bound else "go"

    # gate, in the terminal: right under the verdict and its explanation
    assert THIN in out["gate"]
    assert out["gate"].index(THIN) < out["gate"].index("Escalation")
    # gate --json
    g = json.loads(out["gate_json"])
    assert g["verdict"] == verdict
    ev = g["evidence"]
    assert ev["lower_bound_clears_bar"] is False and ev["passes_needed_lower_bound"] == 25
    assert ev["lower_bound"] == pytest.approx(0.7225, abs=1e-4) and ev["caution"].startswith(THIN)
    # HTML (and the PDF, which is this HTML printed): beside the big verdict, and no "Nothing" to change
    page = text_of(parse(out["html"]))
    label = "Go" if verdict == "go" else "Insufficient evidence"
    assert re.search(re.escape(label) + r"\s+" + re.escape(THIN), page), page[:600]
    assert "Nothing: every check of the gate passes." not in page
    if verdict == "go":
        assert f"No check of the gate fails. {THIN}" in page
    # Markdown: the line after the verdict
    md = out["md"].splitlines()
    at = next(i for i, line in enumerate(md) if line.startswith("**Verdict:"))
    assert md[at + 2].startswith(f"> ⚠️ {THIN}")
    # JUnit: the gate suite's properties
    props = {p.get("name"): p.get("value") for p in ET.fromstring(out["junit"].encode()).iter("property")}
    assert props["verdict"] == verdict
    assert (props["lower_bound_clears_bar"], props["passes_needed_lower_bound"]) == ("false", "25")
    assert props["lower_bound"] == "0.7225" and props["evidence"].startswith(THIN)


def test_nothing_is_said_when_the_lower_bound_clears(ten_passing: Path, cli):
    configure(ten_passing, "pass_rate = 0.7")
    out = outputs(cli)
    for name, text in out.items():
        assert "Thin evidence" not in text, name
    g = json.loads(out["gate_json"])
    assert g["verdict"] == "go" and g["evidence"]["lower_bound_clears_bar"] is True
    assert g["evidence"]["passes_needed_lower_bound"] == 0 and g["evidence"]["caution"] is None
    assert "Nothing: every check of the gate passes." in text_of(parse(out["html"]))
    props = {p.get("name"): p.get("value") for p in ET.fromstring(out["junit"].encode()).iter("property")}
    assert props["lower_bound_clears_bar"] == "true" and "evidence" not in props


@pytest.mark.parametrize("use_lower_bound", [False, True])
def test_one_lower_bound_reads_the_same_in_every_sentence(tenant_dir: Path, cli, use_lower_bound: bool):
    """1/1 passing: Wilson's lower bound is 0.20654, stored as 0.2065. Formatted from two sources it
    once read 20.6% in the interval and 20.7% in the caution of the same output; one figure now."""
    write_config(
        tenant_dir,
        '[agent]\nkind = "recorded"\npath = "recs.jsonl"\n\n[gate]\nmin_cases = 1\n'
        f"use_lower_bound = {str(use_lower_bound).lower()}\n",
    )
    write_jsonl(tenant_dir / "cases.jsonl", [make_case("c0", ["a"])])
    write_jsonl(tenant_dir / "recs.jsonl", [{"case_id": "c0", "turn": 0, "escalate": False}])
    assert invoke(cli, "import", "cases.jsonl").exit_code == 0
    assert invoke(cli, "run").exit_code == 0
    g = json.loads(invoke(cli, "gate", "--json").stdout)
    shown = f"{g['pass_rate_ci'][0]:.1%}"
    sentences = [g["explanation"], g["evidence"]["caution"], g["evidence"]["note"], *(c["detail"] for c in g["checks"])]
    bounds = {m for s in sentences if s for m in re.findall(r"lower bound (?:of the pass rate )?is (\d+\.\d)%", s)}
    bounds |= {m for s in sentences if s for m in re.findall(r"95% interval (\d+\.\d)%-", s)}
    assert bounds == {shown.rstrip("%")}, sentences
