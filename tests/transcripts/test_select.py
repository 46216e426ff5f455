"""Top-N selection (`import --top N`): the N cases that best cover the tenant's calls, each with why."""

from __future__ import annotations

import json

import pytest

from shadowpilot.commands.common import CLI_TERMS
from shadowpilot.config import load_settings
from shadowpilot.store import Store
from shadowpilot.transcripts import load_transcripts
from shadowpilot.transcripts.select import Pick
from shadowpilot.transcripts.select import select_top as _select_top
from shadowpilot.types import Transcript
from tests.conftest import SAMPLE, invoke, make_case, write_config

SAMPLE_FILE = SAMPLE / "transcripts.jsonl"


def sample() -> list[Transcript]:
    result = load_transcripts([SAMPLE_FILE])
    assert result.problems == []
    return result.transcripts


def reason(t: Transcript) -> str:
    return t.outcome.reason or ("escalated" if t.outcome.escalated else "resolved")


def case(cid: str, why: str | None = None, **kw) -> Transcript:
    """A one-turn case; `why` is the escalation reason (None: resolved)."""
    if why is not None:
        kw.update(escalated=True, at_customer_turn=0, reason=why)
    return Transcript.model_validate(make_case(cid, [f"{cid} says hello"], **kw))


def select_top(cases: list[Transcript], n: int) -> list[Pick]:
    picks = _select_top(cases, n)
    assert picks.note is None, "these pools have no more critical cases than n"
    return picks.picks


def ids(picks: list[Pick]) -> list[str]:
    return [p.case.id for p in picks]


def assert_well_formed(picks: list[Pick], pool: list[Transcript], n: int) -> None:
    assert len(picks) == min(n, len(pool))
    assert len(set(ids(picks))) == len(picks), "a case was picked twice"
    assert set(ids(picks)) <= {t.id for t in pool}
    assert all(p.why.strip() for p in picks), "every pick says why it was kept"


# -- the library ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 8, 20])
def test_critical_case_is_always_kept(n):
    pool = sample()
    picks = select_top(pool, n)
    assert_well_formed(picks, pool, n)
    assert "hv-002" in ids(picks)
    why = {p.case.id: p.why for p in picks}["hv-002"]
    assert "critical" in why


def test_every_critical_case_is_kept_even_when_listed_last():
    pool = [case(f"plain-{i}", tags=[f"t{i}"]) for i in range(6)]
    pool += [case("crit-a", "clinical_emergency", critical=True), case("crit-b", critical=True)]
    picks = select_top(pool, 3)
    assert {"crit-a", "crit-b"} <= set(ids(picks))
    assert len(picks) == 3


def many_critical(k: int) -> list[Transcript]:
    """k critical cases over 5 reasons, and 10 plain resolved ones."""
    reasons = ["clinical_emergency", "billing_dispute", "complaint", "supervisor_request", "legal"]
    pool = [case(f"crit-{i:03d}", reasons[i % 5], critical=True, tags=[f"t{i % 3}"]) for i in range(k)]
    return pool + [case(f"plain-{i}") for i in range(10)]


def test_top_n_never_keeps_more_than_n_even_when_critical_cases_exceed_it():
    pool = many_critical(300)
    sel = _select_top(pool, 20)
    assert len(sel.picks) == 20 and all(p.case.critical for p in sel.picks)
    assert len(set(ids(sel.picks))) == 20
    # chosen among the critical ones by coverage: every reason before any repeat
    assert {reason(p.case) for p in sel.picks[:5]} == {reason(t) for t in pool if t.critical}
    assert all(p.why.startswith("critical; ") for p in sel.picks)
    assert sel.note is not None
    assert sel.note.say(CLI_TERMS) == (
        "300 cases are critical, more than --top 20: kept the 20 of them that cover "
        "the most outcomes, queues and tags (--all-critical keeps them all)"
    )
    assert str(sel.note).endswith("(all_critical=True keeps them all)")  # a library caller reads its own names


def test_all_critical_keeps_every_critical_case_past_n_and_says_so():
    pool = many_critical(30)
    sel = _select_top(pool, 20, all_critical=True)
    assert sorted(ids(sel.picks)) == sorted(t.id for t in pool if t.critical)
    assert sel.note is not None
    assert sel.note.say(CLI_TERMS) == "--all-critical: kept all 30 critical cases, more than --top 20"
    assert str(sel.note) == "all_critical=True: kept all 30 critical cases, more than top 20"
    # under N, --all-critical changes nothing: the critical cases fit
    small = many_critical(3)
    assert ids(_select_top(small, 8, all_critical=True).picks) == ids(_select_top(small, 8).picks)
    assert _select_top(small, 8).note is None


def test_sample_top_8_covers_every_reason_and_both_outcomes():
    pool = sample()
    picks = select_top(pool, 8)
    assert_well_formed(picks, pool, 8)
    assert {reason(p.case) for p in picks} == {reason(t) for t in pool}  # 6 reasons and "resolved"
    assert {p.case.outcome.escalated for p in picks} == {True, False}


@pytest.mark.parametrize("n", [7, 12, 20])
def test_coverage_comes_before_filling(n):
    pool = sample()
    picks = select_top(pool, n)
    assert_well_formed(picks, pool, n)
    reasons = {reason(t) for t in pool}
    seen: set[str] = set()
    for p in picks:
        if p.why.startswith("fills"):
            assert seen == reasons, f"filled with {p.case.id} before covering {reasons - seen}"
        seen.add(reason(p.case))
    assert seen == reasons


def test_why_names_what_a_pick_covers():
    picks = select_top([case("a", "billing_dispute", queue="billing-tier2"), case("b")], 2)
    why = {p.case.id: p.why for p in picks}
    assert "billing_dispute" in why["a"] and "billing-tier2" in why["a"]
    assert "resolved" in why["b"]


def test_filling_prefers_the_most_common_uncovered_share():
    # everything is covered after one billing and one resolved case; the rest fill by share
    pool = [case(f"bill-{i}", "billing_dispute") for i in range(6)] + [case(f"res-{i}") for i in range(2)]
    picks = select_top(pool, 4)
    assert_well_formed(picks, pool, 4)
    assert [p.why.startswith("fills") for p in picks] == [False, False, True, True]
    assert [reason(p.case) for p in picks].count("billing_dispute") == 3


def test_asking_for_more_than_there_are_keeps_them_all():
    pool = sample()
    picks = select_top(pool, 50)
    assert sorted(ids(picks)) == sorted(t.id for t in pool)
    assert all(p.why for p in picks)


def test_zero_keeps_nothing_and_selection_is_deterministic():
    pool = sample()
    assert select_top(pool, 0) == []
    assert ids(select_top(pool, 8)) == ids(select_top(list(pool), 8))


def test_a_new_reason_outranks_new_tags():
    pool = [
        case("bill-1", "billing_dispute", tags=["a", "b", "c", "d"]),
        case("bill-2", "billing_dispute", tags=["e", "f", "g", "h"]),
        case("complaint-1", "complaint"),
        case("resolved-1"),
    ]
    picks = select_top(pool, 3)  # exactly as many picks as there are outcome reasons
    assert {reason(p.case) for p in picks} == {"billing_dispute", "complaint", "resolved"}


# -- the command line -------------------------------------------------------------------


def stored_ids(folder) -> list[str]:
    with Store.open(load_settings(folder / "shadowpilot.toml").store_path, create=False) as store:
        return [t.id for t in store.current_cases()]


def test_import_top_8_stores_8_and_says_why(tenant_dir, cli):
    write_config(tenant_dir, tenant="harbourview-clinic")
    r = invoke(cli, "import", "--top", "8", str(SAMPLE_FILE))
    assert r.exit_code == 0, r.stderr
    kept = stored_ids(tenant_dir)
    assert len(kept) == 8 and "hv-002" in kept
    expected = select_top(sample(), 8)
    assert sorted(kept) == sorted(ids(expected))
    assert "Kept 8 cases" in r.stdout
    for p in expected:
        assert p.case.id in r.stdout
    assert "critical" in r.stdout and "covers" in r.stdout
    assert "8 new" in r.stdout


def test_import_top_json_lists_kept_with_why(tenant_dir, cli):
    write_config(tenant_dir, tenant="harbourview-clinic")
    r = invoke(cli, "import", "--top", "8", "--json", str(SAMPLE_FILE))
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    kept = out["kept"]
    assert len(kept) == 8
    assert all(k["why"].strip() for k in kept)
    assert kept[0] == {"case_id": "hv-002", "why": "critical: the tenant says it must never be missed"}
    assert sorted(k["case_id"] for k in kept) == sorted(out["added"]) == sorted(stored_ids(tenant_dir))


def test_import_without_top_has_no_kept_list(tenant_dir, cli):
    write_config(tenant_dir, tenant="harbourview-clinic")
    out = json.loads(invoke(cli, "import", "--json", str(SAMPLE_FILE)).stdout)
    assert out["kept"] is None and len(out["added"]) == 20


def test_import_top_zero_is_a_usage_error(tenant_dir, cli):
    write_config(tenant_dir, tenant="harbourview-clinic")
    r = invoke(cli, "import", "--top", "0", str(SAMPLE_FILE))
    assert r.exit_code == 2
    assert not (tenant_dir / ".shadowpilot" / "harbourview-clinic.duckdb").exists()


def test_import_top_keeps_at_most_n_when_critical_cases_exceed_it(tenant_dir, cli):
    write_config(tenant_dir)
    rows = [make_case(f"crit-{i:03d}", ["help"], critical=True, tags=[f"t{i % 4}"]) for i in range(40)]
    (tenant_dir / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = invoke(cli, "import", "--top", "20", "--json", "cases.jsonl")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["kept"]) == 20 == len(stored_ids(tenant_dir))
    assert out["kept_note"].startswith("40 cases are critical, more than --top 20: kept the 20")
    text = invoke(cli, "import", "--top", "20", "cases.jsonl")
    assert "40 cases are critical, more than --top 20" in text.stdout


def test_import_top_all_critical_keeps_them_all(tenant_dir, cli):
    write_config(tenant_dir)
    rows = [make_case(f"crit-{i:03d}", ["help"], critical=True) for i in range(25)]
    (tenant_dir / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = invoke(cli, "import", "--top", "20", "--all-critical", "--json", "cases.jsonl")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["kept"]) == 25 == len(stored_ids(tenant_dir))
    assert out["kept_note"] == "--all-critical: kept all 25 critical cases, more than --top 20"
    alone = invoke(cli, "import", "--all-critical", "cases.jsonl")
    assert alone.exit_code == 2 and "--all-critical goes with --top N" in alone.stderr
