"""Who said what on an imported Twilio call: participant roles, else Twilio's documented default
(channel 1 agent, channel 2 customer), `[twilio] channels` over both; calls that look swapped
are named. The real CLI and twilio client against the fake Twilio REST API on loopback."""

from __future__ import annotations

import json
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from shadowpilot.config import TwilioSettings
from shadowpilot.store import Store
from shadowpilot.transcripts.twilio.mapping import TWILIO_DEFAULT_CHANNELS, call_speakers
from shadowpilot.transcripts.twilio.swap_check import looks_swapped
from shadowpilot.types import Turn
from tests.conftest import invoke, write_config
from tests.servers.twilio_rest import (
    DAY,
    CallSpec,
    FakeTwilio,
    add_call,
    add_workspace,
    phone_call,
    roleless_tenant,
    sid,
)

TEMPLATE = Path(__file__).resolve().parents[2] / "src" / "shadowpilot" / "config_template.toml"


@pytest.fixture
def serve(tenant_dir: Path, monkeypatch: pytest.MonkeyPatch):
    started: list[FakeTwilio] = []

    def start(fake: FakeTwilio, config: str = "") -> FakeTwilio:
        base = fake.start()
        started.append(fake)
        write_config(tenant_dir, "[twilio]\npage_size = 2\n" + config)
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", fake.account_sid)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", fake.auth_token)
        monkeypatch.setenv("SHADOWPILOT_TWILIO_API_BASE", base)
        return fake

    yield start
    for fake in started:
        fake.stop()


def cases(tenant_dir: Path) -> dict[str, dict]:
    with Store.open(tenant_dir / ".shadowpilot" / "acme.duckdb", create=False) as store:
        return {c.id: c.model_dump(mode="json") for c in store.current_cases()}


def speakers_of(case: dict) -> list[tuple[str, str]]:
    return [(t["speaker"], t["text"]) for t in case["turns"]]


def import_json(cli, *extra: str) -> dict:
    result = invoke(cli, "import", "twilio", "--since", "2026-11-01", "--until", "2026-12-01", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_transcripts_without_roles_import_with_twilios_default(serve, tenant_dir: Path, cli) -> None:
    serve(roleless_tenant())
    out = import_json(cli)  # no --skip-bad: not one of them is a bad record
    calls = [sid("CA", n) for n in (1, 2, 3)]
    assert sorted(out["added"]) == calls and out["skipped"] == []
    assert out["speakers"] == {"participants": 0, "twilio-default": 3, "config": 0}
    assert out["look_swapped"] == [] and out["speaker_hints"] == []
    stored = cases(tenant_dir)
    for n, call in enumerate(calls, start=1):
        assert speakers_of(stored[call]) == phone_call(f"topic {n}")
    assert stored[calls[1]]["tags"] == ["front-desk"]  # its Task was listed with attributes: null, joined anyway


def test_the_summary_names_how_many_calls_each_rule_mapped(serve, cli) -> None:
    fake = roleless_tenant(2)
    add_call(fake, CallSpec(3, phone_call("with roles"), DAY + timedelta(hours=3)))  # participants, customer on 1
    serve(fake)
    result = invoke(cli, "import", "twilio", "--since", "2026-11-01", "--until", "2026-12-01")
    assert result.exit_code == 0, result.stderr
    assert (
        "speakers of 3 calls: 1 by the transcript's participant roles, "
        "2 by Twilio's default (channel 1 agent, 2 customer)"
    ) in " ".join(result.stdout.split())
    assert "swapped" not in result.stderr


def test_participants_win_over_the_default(serve, tenant_dir: Path, cli) -> None:
    fake = FakeTwilio()
    add_workspace(fake)
    add_call(fake, CallSpec(1, phone_call("roles"), DAY, customer_channel=1))  # against the default
    serve(fake)
    out = import_json(cli)
    assert out["speakers"] == {"participants": 1, "twilio-default": 0, "config": 0}
    assert speakers_of(cases(tenant_dir)[sid("CA", 1)]) == phone_call("roles")


def test_config_channels_override_participants_and_the_default(serve, tenant_dir: Path, cli) -> None:
    fake = roleless_tenant(2, customer_channel=1)  # this tenant records the customer's leg on channel 1
    add_call(fake, CallSpec(3, phone_call("topic 3"), DAY + timedelta(hours=3), customer_channel=2))
    fake.transcripts[-1]["channel"]["participants"][0]["channel_participant"] = 1  # roles that are wrong
    fake.transcripts[-1]["channel"]["participants"][1]["channel_participant"] = 2
    serve(fake, '[twilio.channels]\n"1" = "customer"\n"2" = "agent"\n')
    out = import_json(cli)
    assert out["speakers"] == {"participants": 0, "twilio-default": 0, "config": 3}
    stored = cases(tenant_dir)
    for n in (1, 2):
        assert speakers_of(stored[sid("CA", n)]) == phone_call(f"topic {n}")
    assert speakers_of(stored[sid("CA", 3)])[0] == ("customer", phone_call("topic 3")[0][1])  # config wins


def test_calls_that_look_swapped_are_named_with_the_fix(serve, cli) -> None:
    serve(roleless_tenant(3, customer_channel=1))  # the default is wrong for this tenant
    result = invoke(cli, "import", "twilio", "--since", "2026-11-01", "--until", "2026-12-01")
    assert result.exit_code == 0, result.stderr
    err = " ".join(result.stderr.split())
    assert "warning: 3 calls look swapped" in err
    for n in (1, 2, 3):
        assert f"{sid('CA', n)} (mapped by Twilio's default" in err
    assert "3 of 3 calls mapped by Twilio's default (channel 1 agent, 2 customer) look swapped" in err
    assert '[twilio] channels = { "1" = "customer", "2" = "agent" }' in err


def test_one_odd_call_is_named_without_blaming_the_rule(serve, cli) -> None:
    fake = roleless_tenant(3)
    add_call(fake, CallSpec(4, phone_call("odd"), DAY + timedelta(hours=4), participants=False, customer_channel=1))
    serve(fake)
    out = import_json(cli)
    assert out["look_swapped"] == [{"case_id": sid("CA", 4), "mapped_by": "twilio-default"}]
    assert out["speaker_hints"] == []


# -- pure -----------------------------------------------------------------------------------------------


def test_channel_rules_in_order_of_precedence() -> None:
    empty = {"sid": "GT1", "channel": {}}
    media_only = {"sid": "GT2", "channel": {"media_properties": {"source_sid": "RE" + "0" * 32}}}
    roles = {
        "sid": "GT3",
        "channel": {
            "participants": [
                {"channel_participant": 1, "role": "Customer"},
                {"channel_participant": "2", "role": "agent"},
            ]
        },
    }
    default = TwilioSettings()
    for t in (empty, media_only):
        m = call_speakers(t, default)
        assert (m.speakers, m.source) == ({1: "agent", 2: "customer"}, "twilio-default")
    m = call_speakers(roles, default)
    assert (m.speakers, m.source) == ({1: "customer", 2: "agent"}, "participants")
    override = TwilioSettings(channels={"1": "agent", "2": "customer"})
    m = call_speakers(roles, override)
    assert (m.speakers, m.source) == ({1: "agent", 2: "customer"}, "config")


def test_the_templates_channels_example_is_twilios_default() -> None:
    line = next(ln for ln in TEMPLATE.read_text().splitlines() if "e.g. {" in ln and '"1"' in ln)
    example = tomllib.loads("x = " + line[line.index("{") : line.index("}") + 1])["x"]
    assert {int(k): v for k, v in example.items()} == TWILIO_DEFAULT_CHANNELS == {1: "agent", 2: "customer"}


@pytest.mark.parametrize(
    ("first_customer", "first_agent", "swapped"),
    [
        ("Thank you for calling Acme, how can I help?", "Hi, I need to move my appointment.", True),
        ("Hi, I need to move my appointment.", "Thanks for calling Acme!", False),
        ("Welcome to the clinic?", "You've reached Acme Health, how may I help?", False),  # both greet: not a swap
        ("I want a refund", "Sure.", False),
    ],
)
def test_a_call_looks_swapped_when_the_customer_side_greets_as_the_business(
    first_customer: str, first_agent: str, swapped: bool
) -> None:
    turns = [Turn(speaker="customer", text=first_customer), Turn(speaker="agent", text=first_agent)]
    assert looks_swapped(turns) is swapped
