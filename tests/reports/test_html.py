"""The HTML pilot report as a file: self-contained, escaped, and holding what the tenant is promised.

(What a browser makes of it is in test_browser.py.)
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

from shadowpilot import workflow
from shadowpilot.config import load_settings
from shadowpilot.reports import render_report
from shadowpilot.runners import build_agent, replay
from shadowpilot.store import Store, new_run_id
from shadowpilot.types import RunManifest
from shadowpilot.workflow import build_report_data
from tests.conftest import SAMPLE
from tests.reports.conftest import SAMPLE_FAILURES, SAMPLE_IDS, Pilot, second_run, tenant


class Page(HTMLParser):
    """Every tag with its attributes, the text, and each case article's id and data attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.cases: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "article" and "case" in (a.get("class") or "").split():
            self.cases.append(a)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    p.close()
    return p


def text_of(page: Page) -> str:
    return re.sub(r"\s+", " ", " ".join(page.text))


def html_for(p: Pilot, **kwargs) -> str:
    return render_report(build_report_data(p.settings, p.run_id, **kwargs), "html")


def test_report_is_one_self_contained_file(sample: Pilot) -> None:
    html = html_for(sample)
    page = parse(html)
    # nothing to fetch: no external scripts, styles, fonts, images or frames
    for tag, a in page.tags:
        for attr in ("src", "href", "action", "data", "poster"):
            value = a.get(attr)
            assert value is None or value.startswith("#"), f"<{tag} {attr}={value!r}> would load something"
        assert tag not in ("link", "iframe", "img", "object", "embed", "base")
    assert "@import" not in html and "url(" not in html
    # and the browser is told to refuse any request, should something slip in
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    # the charts are inline SVG
    assert sum(1 for t, _ in page.tags if t == "svg") >= 4


def test_report_holds_the_verdict_the_figures_and_what_must_change(sample: Pilot) -> None:
    page = parse(html_for(sample))
    text = text_of(page)
    verdict = next(a for t, a in page.tags if a.get("data-verdict"))
    assert verdict["data-verdict"] == "no-go"
    assert "No-go" in text
    assert "85.0%" in text and "64.0%\N{EN DASH}94.8%" in text and "90%" in text
    assert "What must change to go live" in text
    # each failure kind, with its case, in what must change
    assert "Escalate when the human did: 1 missed escalation (hv-018)" in text
    assert "escalated earlier than the human (hv-005)" in text
    assert "wrong place (hv-008; wrong skill 1x, queue 1x)" in text
    # the tenant, the agent, its prompt hash, the dates
    assert "harbourview-clinic" in text
    data = build_report_data(sample.settings, sample.run_id)
    assert data.manifest.prompt_hash and data.manifest.prompt_hash in text
    assert "2026-11-02 to 2026-11-13" in text
    # the baseline agent reports no times or costs: said so, never 0 ms or $0
    assert "Not measured: the agent reported no times" in text
    assert "Not measured: the agent reported no cost" in text
    assert not re.search(r"(?<![\d,.])0 ms", text) and "$0.0000" not in text
    # what the evaluation adds beside the pass rate: replies against the human's, handoff quality
    assert "Similarity (1 \N{MINUS SIGN} MER)" in text and "6.4%" in text and "0.983" in text
    assert "Usable handoffs" in text and "0/6" in text and "Weighted score 0.930" in text


def test_every_case_failing_first_with_the_conversation_side_by_side(sample: Pilot) -> None:
    page = parse(html_for(sample))
    ids = [a["id"].removeprefix("case-") for a in page.cases]
    assert sorted(ids) == SAMPLE_IDS
    assert ids[:3] == SAMPLE_FAILURES
    outcomes = {a["id"].removeprefix("case-"): (a["data-outcome"] or "").split() for a in page.cases}
    assert outcomes["hv-018"][:2] == ["failed", "missed"]
    assert outcomes["hv-005"][:2] == ["failed", "early"]
    assert outcomes["hv-008"][:2] == ["failed", "routing"]
    assert all(outcomes[i] == ["passed"] or outcomes[i] == ["passed", "critical"] for i in ids[3:])
    tags = {a["id"].removeprefix("case-"): a["data-tags"] for a in page.cases}
    assert tags["hv-008"] == "|billing|complaint|vip|"
    text = text_of(page)
    # hv-005: the AI escalated at customer turn 1, the human at customer turn 3
    assert "Escalated at customer turn 3 · billing_dispute" in text
    assert "Escalate at customer turn 1 · billing_dispute · normal urgency (early)" in text
    # hv-008: the routing side by side, the mismatch marked
    assert re.search(r"skill billing patient_relations ✗ differs", text)
    assert re.search(r"priority high high ✓ match", text)
    # a customer's line, the human's reply and the AI's recommendation are in the same row
    html = html_for(sample)
    row = re.search(r"<tr[^>]*>\s*<td class=\"num\">1</td>(.*?)</tr>", html[html.index('id="case-hv-005"') :], re.S)
    assert row is not None
    assert "charged twice" in row.group(1)  # the customer
    assert "let me take a look" in row.group(1)  # the human agent
    assert "Escalate here" in row.group(1) and "billing-tier2" in row.group(1)  # the AI


def test_transcript_text_is_escaped_never_markup(tmp_path: Path) -> None:
    settings = tenant(tmp_path / "t")
    case = {
        "id": "xss-1",
        "turns": [
            {"speaker": "customer", "text": '<script>alert("x")</script> <img src=x onerror=alert(1)>'},
            {"speaker": "agent", "text": "</td></tr><b>bold</b>"},
        ],
        "outcome": {"escalated": False},
        "tags": ['"><svg onload=alert(1)>'],
    }
    src = tmp_path / "x.jsonl"
    src.write_text(json.dumps(case) + "\n", encoding="utf-8")
    workflow.import_files(settings, [src])
    run = workflow.run(settings)
    html = render_report(build_report_data(settings, run.run_id), "html")
    page = parse(html)
    assert [t for t, _ in page.tags if t == "script"] == ["script"]  # only the report's own filter script
    assert not [t for t, _ in page.tags if t in ("img", "b")]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert 'data-tags="|&#34;&gt;&lt;svg onload=alert(1)&gt;|"' in html


def test_personal_data_is_redacted_unless_show_pii(sample: Pilot) -> None:
    redacted = text_of(parse(html_for(sample)))
    assert "lena.fm@example.com" not in redacted
    assert "[EMAIL_1]" in redacted
    # exactly the kinds the sample's calls hold (no card, address, postcode or SSN in them)
    kinds = "phone numbers, emails, dates of birth, member and account ids and names"
    assert f"Redacted in this report: {kinds}." in redacted
    shown = text_of(parse(html_for(sample, show_pii=True)))
    assert "lena.fm@example.com" in shown
    assert "This report shows personal data" in shown


def test_timeline_marks_replays_and_shadow_runs_by_day(own_sample: Pilot) -> None:
    p = own_sample
    later = second_run(p)
    # a shadow run of the same calls, as the shadow server stores one (mode "shadow")
    with Store.open(p.settings.store_path) as store:
        cases = store.current_cases()
        after = store.manifest(later.run_id).created_at + timedelta(seconds=1)  # runs order by creation
        manifest = RunManifest(
            run_id=new_run_id(),
            created_at=after,
            tenant="harbourview-clinic",
            mode="shadow",
            agent={"kind": "baseline"},
            cases={c.id: c.fingerprint() for c in cases},
            versions={},
        )
        store.create_run(manifest)
        runs = asyncio.run(replay(cases, build_agent(later.settings)))
        store.add_call_runs(manifest.run_id, runs, ())
        store.finish_run(manifest.run_id, "complete", manifest)
    workflow.gate(later.settings, manifest.run_id)
    # a run never gated is not plotted
    workflow.run(later.settings)

    data = build_report_data(later.settings, later.run_id)
    assert [(t.run_id, t.mode, t.current) for t in data.timeline] == [
        (p.run_id, "replay", False),
        (later.run_id, "replay", True),
        (manifest.run_id, "shadow", False),
    ]
    assert data.timeline[0].pass_rate == 0.85
    html = render_report(data, "html")
    chart = html[html.index('<svg class="chart timeline"') : html.index("</svg>", html.index("chart timeline"))]
    assert chart.count("<circle") == 2  # the replays
    assert chart.count("<polygon") == 1  # the shadow run
    assert "mark bad current" in chart or "mark ok current" in chart  # this run is singled out
    assert f"{p.run_id} (replay" in chart and f"{manifest.run_id} (shadow" in chart


def test_a_ruling_is_shown_on_its_case(own_sample: Pilot) -> None:
    p = own_sample
    workflow.record_ruling(p.settings, "hv-018", "ai_right", "the child was seen the same day anyway", by="ana")
    data = build_report_data(p.settings, p.run_id)
    case = next(c for c in data.cases if c.case_id == "hv-018")
    assert case.passed and case.ruling is not None and case.ruling.ruled_by == "ana"
    text = text_of(parse(render_report(data, "html")))
    assert "Ruling: AI was right · by ana on" in text
    assert "the child was seen the same day anyway" in text
    assert "with a ruling" in text


def test_latency_and_cost_against_budgets_and_the_human_baseline(tmp_path: Path) -> None:
    base = (SAMPLE / "shadowpilot.toml").read_text(encoding="utf-8")
    text = base.replace('kind = "baseline"', 'kind = "python"\ntarget = "tests.reports.timed_agent:recommend"', 1)
    text = text.replace("[budgets]\n", "[budgets]\nhuman_cost_per_call_usd = 0.9\ncost_per_call_usd = 0.01\n", 1)
    folder = tmp_path / "timed"
    folder.mkdir()
    (folder / "shadowpilot.toml").write_text(text, encoding="utf-8")
    settings = load_settings(folder / "shadowpilot.toml", environ={})
    assert settings.agent.kind == "python" and settings.budgets.human_cost_per_call_usd == 0.9
    workflow.import_files(settings, [SAMPLE / "transcripts.jsonl"])
    run = workflow.run(settings)
    data = build_report_data(settings, run.run_id)
    lat, cost = data.gate.latency, data.gate.cost
    assert lat is not None and lat.turns > 0 and lat.first_token_p95 is not None and lat.full_reply_p95 is not None
    assert cost is not None and cost.per_call_mean is not None and cost.saving_per_call is not None
    html = render_report(data, "html")
    text = text_of(parse(html))
    assert f"p95 {lat.first_token_p95:,.0f} ms" in text and "budget 800 ms" in text
    assert f"p95 {lat.full_reply_p95:,.0f} ms" in text and "budget 1,400 ms" in text
    # latency and cost measured: the one "Not measured" left is the hearing of this text run
    assert text.count("Not measured") == 1 and "Not measured: no customer turn was heard" in text
    assert f"${cost.per_call_mean:.4f}" in text and "$0.9000" in text and "budget $0.0100" in text
    assert f"${cost.saving_per_call:,.4f}" in text
    # the slowest turns blow the full-reply budget: its bar is drawn as failing
    assert lat.full_reply_p95 > 1400
    start = html.index('aria-label="Latency at p95')
    assert 'class="fill bad"' in html[start : html.index("</svg>", start)]


def test_what_must_change_follows_the_gate_config(sample: Pilot) -> None:
    cfg = sample.folder / "shadowpilot.toml"
    # the point estimate clears a bar of 80%, its 95% lower bound does not: insufficient evidence
    strict = load_settings(cfg, overrides={"gate": {"pass_rate": 0.8, "use_lower_bound": True}}, environ={})
    data = build_report_data(strict, sample.run_id)
    assert data.gate.verdict == "insufficient-evidence"
    assert data.gate.evidence is not None and data.gate.evidence.passes_needed_lower_bound
    assert data.to_go_live[-1] == (
        f"The 95% lower bound of the pass rate is 64.0% against the 80% bar: it would take "
        f"{data.gate.evidence.passes_needed_lower_bound} more passing cases in a row to clear it."
    )
    text = text_of(parse(render_report(data, "html")))
    assert "Insufficient evidence" in text and data.to_go_live[-1] in text
    # too few cases for any verdict
    few = load_settings(cfg, overrides={"gate": {"min_cases": 30}}, environ={})
    data = build_report_data(few, sample.run_id)
    assert data.to_go_live[0] == "Score 10 more cases: the gate needs at least 30 for a verdict."
    # a go on evidence whose lower bound (64%) is under the bar (80%) says so, never "Nothing"
    lenient = load_settings(cfg, overrides={"gate": {"pass_rate": 0.8}}, environ={})
    data = build_report_data(lenient, sample.run_id)
    assert data.gate.verdict == "go" and data.to_go_live == []
    text = text_of(parse(render_report(data, "html")))
    assert "Nothing: every check" not in text and "Thin evidence: on 20 cases the 95% lower bound" in text
    # a go whose lower bound clears the bar has nothing to change
    clear = load_settings(cfg, overrides={"gate": {"pass_rate": 0.6}}, environ={})
    data = build_report_data(clear, sample.run_id)
    assert data.gate.verdict == "go" and data.to_go_live == []
    assert "Nothing: every check of the gate passes." in text_of(parse(render_report(data, "html")))
