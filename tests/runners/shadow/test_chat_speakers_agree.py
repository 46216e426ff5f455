"""One conversation, imported or live, gets the same speakers and the same channel label.

Each chat is one ChatSpec: the fake Twilio REST API serves it to `import twilio` (the real
twilio client), and its Conversations webhooks, signed as Twilio signs them, go to a real
`shadowpilot shadow serve`. Both paths read the customer with transcripts/twilio/chat_parties.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shadowpilot.store import Store
from tests.runners.shadow.conftest import call_of, make_tenant, shadow_client, wait_until
from tests.runners.shadow.twilio_sim import CONV, ServerProcess, signed_form
from tests.servers.twilio_rest import ChatSpec, FakeTwilio, Member, add_chat, add_workspace

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

# The business writes first: an appointment reminder posted through the API by a front-desk
# identity; the customer answers by SMS; an agent takes over. (Live webhooks include participants.)
REMINDER = ChatSpec(
    31,
    [
        ("frontdesk", "Reminder: your appointment is tomorrow at 10:00. Reply C to confirm."),
        ("customer", "Can I move it to Friday instead?"),
        ("agent", "Sure, Friday at 9:00 works. Shall I book it?"),
        ("customer", "Yes please, thank you."),
    ],
    START,
    [
        Member("customer", binding="sms", address="+15550000031"),
        Member("frontdesk", identity="frontdesk", source="API"),
        Member("agent", identity="agent.kim"),
    ],
)
# The customer writes first on WhatsApp. (Live: messages only, no participant webhooks.)
WHATSAPP = ChatSpec(
    32,
    [
        ("customer", "Hi, do you have a slot for a blood test this week?"),
        ("agent", "We have Thursday at 8:30."),
        ("customer", "Perfect, book me in."),
    ],
    START + timedelta(hours=1),
    [Member("customer", binding="whatsapp", address="whatsapp:+15550000032"), Member("agent", identity="agent.lee")],
)
# A web chat: both sides are chat identities; the customer's role is in its attributes.
WEBCHAT = ChatSpec(
    33,
    [
        ("agent", "Hello! How can I help you today?"),
        ("customer", "My prescription renewal is stuck."),
        ("agent", "Let me check that for you."),
    ],
    START + timedelta(hours=2),
    [
        Member("customer", identity="visitor-8f2c", attributes={"member_type": "guest"}),
        Member("agent", identity="agent.kim"),
    ],
)
CHATS = {
    "business-started sms": (REMINDER, True),
    "customer-started whatsapp": (WHATSAPP, False),
    "web chat": (WEBCHAT, True),
}
EXPECTED = {
    REMINDER.conversation_sid: ("sms", ["agent", "customer", "agent", "customer"]),
    WHATSAPP.conversation_sid: ("whatsapp", ["customer", "agent", "customer"]),
    WEBCHAT.conversation_sid: ("chat", ["agent", "customer", "agent"]),
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """`shadowpilot import twilio` of the three chats: case id -> (channel, [(speaker, text)])."""
    fake = FakeTwilio()
    add_workspace(fake)
    for spec, _ in CHATS.values():
        add_chat(fake, spec.n, spec.lines, spec.start, members=spec.members)
    folder = tmp_path_factory.mktemp("import")
    (folder / "shadowpilot.toml").write_text('[tenant]\nname = "acme"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWPILOT_")}
    env |= {
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "SHADOWPILOT_TWILIO_API_BASE": fake.start(),
    }
    try:
        script = Path(sys.executable).parent / "shadowpilot"
        args = [str(script), "import", "twilio", "--since", "2026-11-01", "--until", "2026-11-03", "--json"]
        result = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    finally:
        fake.stop()
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)["added"]) == sorted(EXPECTED)
    with Store.open(folder / ".shadowpilot" / "acme.duckdb", create=False) as store:
        return {c.id: (c.channel, [(t.speaker, t.text) for t in c.turns]) for c in store.current_cases()}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real shadow server that was sent each chat's webhooks; yields its tenant folder."""
    folder = make_tenant(tmp_path_factory.mktemp("live") / "acme")
    server = ServerProcess(folder).start()
    try:
        with shadow_client(server.base) as http:
            for spec, with_participants in CHATS.values():
                for params in spec.webhooks("AC" + "0" * 32, participants=with_participants):
                    assert http.post(CONV, **signed_form(params, CONV)).status_code == 204
        for conv in EXPECTED:
            wait_until(lambda c=conv: (call := call_of(folder, c)) and call["state"] == "scored", timeout=60)
        yield folder
    finally:
        server.stop()


@pytest.mark.parametrize("name", list(CHATS))
def test_import_and_live_agree_on_speakers_and_channel(
    name: str, imported: dict[str, tuple[str, list[tuple[str, str]]]], live: Path
) -> None:
    spec, _ = CHATS[name]
    conv = spec.conversation_sid
    channel, speakers = EXPECTED[conv]
    call = call_of(live, conv)
    assert call is not None
    live_turns = [(u["speaker"], u["text"]) for u in call["utterances"]]
    assert imported[conv] == (channel, list(zip(speakers, [text for _, text in spec.lines], strict=True)))
    assert (call["channel"], live_turns) == imported[conv]
