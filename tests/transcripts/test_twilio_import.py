"""`shadowpilot import twilio`: the real twilio client against a fake Twilio REST API on loopback.

The command builds its client from TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN and the hidden
SHADOWPILOT_TWILIO_API_BASE hook (every Twilio host rewritten to the fake server), so these
tests go through the same path a user's import does: paging, a 429 with Retry-After, a 404 on
one call's sentences, the TaskRouter join, validation and the store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shadowpilot.config import TwilioSettings, load_settings
from shadowpilot.store import Store
from shadowpilot.transcripts.twilio.http import RetryingHttpClient, build_client
from shadowpilot.transcripts.twilio.mapping import MappingProblem, chat_speakers, parse_when
from shadowpilot.transcripts.twilio.records import ChatRecord
from shadowpilot.workflow import import_twilio
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.twilio_rest import (
    BILLING,
    CLINICAL,
    WS,
    CallSpec,
    FakeTwilio,
    add_call,
    add_chat,
    add_orphan_task,
    add_workspace,
    sid,
)

DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def dialogue(topic: str, customer_lines: int = 4) -> list[tuple[str, str]]:
    out = []
    for i in range(customer_lines):
        out.append(("customer", f"{topic} customer line {i}"))
        out.append(("agent", f"agent answer {i}"))
    return out


BILLING_CALL = [
    ("customer", "Hi, I have a question about my bill."),
    ("agent", "Sure, what is it?"),
    ("customer", "There are two payments this month."),
    ("agent", "Let me look."),
    ("customer", "I was double charged and I want a refund now."),
    ("agent", "I'll move you to our billing team."),
    ("customer", "Thank you."),
    ("agent", "Transferring now."),
]


@pytest.fixture
def fake() -> FakeTwilio:
    return tenant_records()


def tenant_records() -> FakeTwilio:
    """A tenant: resolved, escalated and flipped-channel calls, one found via its recording, one
    without a task, one whose sentences 404, two outside the window, an SMS chat that was
    transferred, and a task whose call has no transcript."""
    f = FakeTwilio()
    add_workspace(f)
    add_call(f, CallSpec(1, dialogue("address change"), DAY))
    add_call(
        f,
        CallSpec(
            2,
            BILLING_CALL,
            DAY + timedelta(hours=1),
            transfer_after=4,
            transfer_queue=BILLING,
            attributes={"skill": "billing", "priority": "high", "vip": True, "escalation_reason": "billing_dispute"},
        ),
    )
    add_call(
        f,
        CallSpec(
            3,
            dialogue("chest pain"),
            DAY + timedelta(hours=2),
            transfer_after=2,
            transfer_queue=CLINICAL,
            customer_channel=2,
            attributes={"skill": "clinical", "priority": "urgent", "vip": False},
        ),
    )
    add_call(f, CallSpec(4, dialogue("opening hours"), DAY + timedelta(hours=3), call_sid_in_key=False))
    add_call(f, CallSpec(5, dialogue("parking"), DAY + timedelta(hours=4), with_task=False))
    add_call(f, CallSpec(6, dialogue("lost sentences"), DAY + timedelta(hours=5)))
    add_call(f, CallSpec(7, dialogue("too early"), datetime(2026, 10, 30, 9, tzinfo=UTC)))
    add_call(f, CallSpec(8, dialogue("too late"), datetime(2026, 12, 3, 9, tzinfo=UTC)))
    add_chat(
        f,
        1,
        dialogue("sms rash question", 3),
        DAY + timedelta(hours=6),
        transfer_after=2,
        attributes={"skill": "clinical", "priority": "high", "vip": False},
    )
    add_orphan_task(f, 1, DAY + timedelta(hours=7))
    f.fail(f"/v2/Transcripts/{sid('GT', 6)}/Sentences", 404, times=None)
    f.fail("/v2/Transcripts", 429, page=1, Retry_After="1")
    return f


@pytest.fixture
def api(fake: FakeTwilio, tenant_dir: Path, monkeypatch: pytest.MonkeyPatch):
    base = fake.start()
    write_config(tenant_dir, "[twilio]\npage_size = 2\n")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", fake.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", fake.auth_token)
    monkeypatch.setenv("SHADOWPILOT_TWILIO_API_BASE", base)
    yield fake
    fake.stop()


def stored(tenant_dir: Path) -> dict[str, dict]:
    with Store.open(tenant_dir / ".shadowpilot" / "acme.duckdb", create=False) as store:
        return {c.id: c.model_dump(mode="json") for c in store.current_cases()}


def run_import(cli, *args: str):
    result = invoke(cli, "import", "twilio", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- through the CLI ----------------------------------------------------------------------------


def test_import_pulls_calls_chats_and_their_human_outcomes(api: FakeTwilio, tenant_dir: Path, cli) -> None:
    out = run_import(cli, "--since", "2026-11-01", "--until", "2026-12-01")
    calls = {n: sid("CA", n) for n in range(1, 9)}
    chat = sid("CH", 1)
    assert sorted(out["added"]) == sorted([calls[1], calls[2], calls[3], calls[4], calls[5], chat])
    cases = stored(tenant_dir)

    # speakers: channel -> role from the transcript's participants, whichever channel the customer is on
    for n in (1, 3):
        turns = cases[calls[n]]["turns"]
        assert [t["speaker"] for t in turns[:2]] == ["customer", "agent"]
        assert turns[0]["text"].endswith("customer line 0")
    assert cases[calls[2]]["turns"][4]["start_s"] == 12.0

    # the human outcome: the transfer's time as the customer turn, its target queue, the task's routing
    billing = cases[calls[2]]
    assert billing["outcome"] == {
        "escalated": True,
        "at_turn": 4,
        "at_clock": "twilio",
        "reason": "billing_dispute",
        "urgency": None,
        "queue": "billing-tier2",
        "routing": {"skill": "billing", "priority": "high", "vip": True},
    }
    assert billing["customer"] == {"vip": True}
    assert billing["tags"] == ["front-desk"]  # the queue the call was first routed to
    clinical = cases[calls[3]]["outcome"]
    assert (clinical["escalated"], clinical["at_turn"], clinical["queue"]) == (True, 2, "clinical")
    assert clinical["routing"] == {"skill": "clinical", "priority": "urgent", "vip": False}
    assert cases[calls[1]]["outcome"]["escalated"] is False
    assert cases[calls[4]]["outcome"]["escalated"] is False  # joined through its recording's CallSid

    # the chat: SMS binding = customer, identity = agent, transfer after the second customer message
    sms = cases[chat]
    assert sms["channel"] == "sms"
    assert [t["speaker"] for t in sms["turns"]] == ["customer", "agent"] * 3
    assert (sms["outcome"]["escalated"], sms["outcome"]["at_turn"], sms["outcome"]["queue"]) == (True, 2, "clinical")

    # a 404 on one call's sentences: reported, the others imported
    assert [(f["kind"], f["sid"], f["key"]) for f in out["failed"]] == [("call", sid("GT", 6), calls[6])]
    assert "404" in out["failed"][0]["error"]
    # what did not join is reported, not dropped
    unjoined = {(u["kind"], u["key"]) for u in out["unjoined"]}
    assert unjoined == {("call-without-task", calls[5]), ("task-without-call", sid("CA", 20_001))}
    # the window: calls 7 and 8 were never fetched
    assert calls[7] not in cases and calls[8] not in cases


def test_twilio_cases_are_imported_cases_of_their_own_origin(api: FakeTwilio, tenant_dir: Path, cli) -> None:
    """A Twilio import and a file import are both the imported set `run` replays by default;
    `run --cases twilio` or `files` replays one of them and counts the other as left out."""
    out = run_import(cli, "--since", "2026-11-01", "--until", "2026-12-01")
    f = write_jsonl(tenant_dir / "more.jsonl", [make_case("from-a-file", ["hi"])])
    assert invoke(cli, "import", str(f)).exit_code == 0
    listed = json.loads(invoke(cli, "cases", "--json").stdout)["cases"]
    origins = {c["case_id"]: c["origin"] for c in listed}
    assert origins.pop("from-a-file") == "file"
    assert sorted(origins) == sorted(out["added"]) and set(origins.values()) == {"twilio"}
    assert all(c["source"].startswith("twilio:") for c in listed if c["case_id"] != "from-a-file")

    def ran(*args: str) -> dict:
        result = invoke(cli, "run", "--json", *args)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    assert ran()["cases"] == len(origins) + 1
    twilio = ran("--cases", "twilio")
    assert twilio["cases"] == len(origins) and twilio["left_out"] == {"file": 1}
    files = ran("--cases", "files")
    assert files["cases"] == 1 and files["left_out"] == {"twilio": len(origins)}


def test_paging_and_the_429_are_followed_through_the_sdk(api: FakeTwilio, cli) -> None:
    run_import(cli, "--since", "2026-11-01", "--until", "2026-12-01")
    listing = api.requests_to("/v2/Transcripts")
    assert [r.status for r in listing] == [200, 429, 200, 200]  # 6 transcripts in the window: 3 pages of 2
    assert [r.query.get("Page", "0") for r in listing] == ["0", "1", "1", "2"]
    assert listing[2].at - listing[1].at >= 0.9  # Retry-After: 1 was honoured
    sentences = api.requests_to(rf"/v2/Transcripts/{sid('GT', 2)}/Sentences")
    assert len(sentences) == 4  # 8 sentences, pages of 2, each next_page_url rewritten to loopback
    assert api.requests_to(r"/v1/Workspaces/WS\w+/Events")[0].query["StartDate"] == "2026-11-01T00:00:00Z"


def test_since_until_and_limit_are_honoured(api: FakeTwilio, tenant_dir: Path, cli) -> None:
    out = run_import(cli, "--since", "2026-11-02T10:00", "--until", "2026-11-02T12:00", "--limit", "1")
    assert out["added"] == [sid("CA", 2)]  # calls 2 and 3 are in the window; --limit 1 keeps the first
    first = api.requests_to("/v2/Transcripts")[0].query
    assert (first["AfterStartTime"], first["BeforeStartTime"]) == ("2026-11-02T10:00:00Z", "2026-11-02T12:00:00Z")
    # with --limit most tasks' calls were never listed: they are not reported as unjoined
    assert not [u for u in out["unjoined"] if u["kind"].startswith("task-without")]


def test_top_keeps_the_cases_that_cover_the_outcomes(api: FakeTwilio, cli) -> None:
    out = run_import(cli, "--since", "2026-11-01", "--until", "2026-12-01", "--top", "3")
    assert len(out["kept"]) == 3 and len(out["added"]) == 3
    outcomes = " ".join(k["why"] for k in out["kept"])
    assert "an escalated call" in outcomes and "a resolved call" in outcomes


def test_missing_credentials_exit_2_naming_them(tenant_dir: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    result = invoke(cli, "import", "twilio", "--since", "2026-11-01")
    assert result.exit_code == 2
    assert "TWILIO_ACCOUNT_SID" in result.stderr and "TWILIO_AUTH_TOKEN" in result.stderr


def test_a_wrong_token_is_a_usage_error_that_never_shows_the_token(
    api: FakeTwilio, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "wrong-secret-123")
    result = invoke(cli, "import", "twilio", "--since", "2026-11-01")
    assert result.exit_code == 2
    assert "401" in result.stderr and "TWILIO_AUTH_TOKEN" in result.stderr
    assert "wrong-secret-123" not in result.stderr + result.stdout


def test_bad_usage_is_exit_2(api: FakeTwilio, cli) -> None:
    assert invoke(cli, "import", "twilio").exit_code == 2  # no --since
    assert invoke(cli, "import", "twilio", "--since", "yesterday").exit_code == 2
    assert invoke(cli, "import", "twilio", "--since", "2026-11-05", "--until", "2026-11-01").exit_code == 2


def test_a_file_named_twilio_is_still_a_file(tenant_dir: Path, cli) -> None:
    write_jsonl(tenant_dir / "twilio", [make_case("from-file", ["hello"])])
    result = invoke(cli, "import", "twilio", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["added"] == ["from-file"]


def test_imported_cases_run_and_gate_like_any_other(api: FakeTwilio, cli) -> None:
    run_import(cli, "--since", "2026-11-01", "--until", "2026-12-01")
    ran = invoke(cli, "run", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.stdout)["cases"] == 6
    gated = invoke(cli, "gate", "--json")
    assert gated.exit_code in (0, 3), gated.stderr
    verdict = json.loads(gated.stdout)
    esc = verdict["escalation"]
    assert verdict["cases"] == 6
    assert esc["tp"] + esc["fn"] == 3  # the two transferred calls and the transferred chat
    assert esc["tp"] >= 1  # the baseline hears "double charged" in call 2


# -- the library with an injected client --------------------------------------------------------


def test_library_import_with_an_injected_client(fake: FakeTwilio, tenant_dir: Path) -> None:
    base = fake.start()
    try:
        client = build_client(fake.account_sid, fake.auth_token, api_base=base)
        settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
        rep = import_twilio(
            settings, client, since=datetime(2026, 11, 1, tzinfo=UTC), until=datetime(2026, 12, 1, tzinfo=UTC)
        )
    finally:
        fake.stop()
    assert len(rep.summary.added) == 6 and len(rep.failed) == 1


def test_retry_after_is_honoured_and_retries_are_bounded(fake: FakeTwilio) -> None:
    add_workspace(fake)
    fake.fail("/v1/Workspaces", 429, times=None, Retry_After="7")
    slept: list[float] = []
    base = fake.start()
    try:
        http = RetryingHttpClient(base_url=base, max_retries=3, sleep=slept.append)
        from twilio.base.exceptions import TwilioException
        from twilio.rest import Client

        client = Client(fake.account_sid, fake.auth_token, http_client=http, environment={})
        with pytest.raises(TwilioException, match="429"):
            client.taskrouter.v1.workspaces.list()
    finally:
        fake.stop()
    assert slept == [7.0, 7.0, 7.0]  # three retries, each after the server's Retry-After, then the 429 surfaces


# -- mapping (pure) -----------------------------------------------------------------------------


def test_a_chat_whose_customer_cannot_be_told_is_a_bad_record() -> None:
    record = ChatRecord({"sid": "CH1"}, [], [{"sid": "MB1", "identity": "a"}, {"sid": "MB2", "identity": "b"}])
    with pytest.raises(MappingProblem, match="role attribute"):
        chat_speakers(record, [], TwilioSettings())
    record.participants[0]["attributes"] = json.dumps({"member_type": "guest"})
    assert chat_speakers(record, [], TwilioSettings()) == {"MB1": "customer", "MB2": "agent"}


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-02T09:00:00Z",
        "2026-11-02T10:00:00+01:00",
        1793610000,
        "1793610000",
        1793610000000,
        datetime(2026, 11, 2, 9),
    ],
    ids=["iso-z", "iso-offset", "epoch-s", "epoch-s-str", "epoch-ms", "naive-datetime"],
)
def test_taskrouter_times_parse_as_iso_or_epoch(raw: object) -> None:
    assert parse_when(raw) == DAY  # 2026-11-02 09:00 UTC, whichever way Twilio spells it


def test_workspace_is_discovered_when_there_is_one(api: FakeTwilio, cli) -> None:
    run_import(cli, "--since", "2026-11-01", "--until", "2026-12-01")
    assert api.requests_to(rf"/v1/Workspaces/{WS}/Tasks")
