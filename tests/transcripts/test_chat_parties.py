"""The chat rule both paths call (transcripts/twilio/chat_parties): who is the customer, and the
channel label. Hand-built participants, as REST resources and as webhook fields."""

from __future__ import annotations

from shadowpilot.config import TwilioSettings
from shadowpilot.transcripts.twilio.chat_parties import (
    Party,
    author_party,
    channel_label,
    customer_ids,
    decide,
    party_from_message,
    party_from_rest,
    party_from_webhook,
)

CFG = TwilioSettings()


def rule(parties: list[Party], customers: set[str] | None = None):
    return decide(parties, roles=CFG.roles, role_attributes=CFG.chat_role_attributes, customers=customers or set())


def test_rest_and_webhook_describe_the_same_participant() -> None:
    binding = {"type": "sms", "address": "+15558675310", "proxy_address": "+15017122661"}
    rest = {"sid": "MB1", "identity": None, "attributes": '{ "role": "driver" }', "messaging_binding": binding}
    hook = {
        "EventType": "onParticipantAdded",
        "ParticipantSid": "MB1",
        "Attributes": '{ "role": "driver" }',
        "MessagingBinding.Type": "sms",
        "MessagingBinding.Address": "+15558675310",
        "MessagingBinding.ProxyAddress": "+15017122661",
        "Source": "SMS",
    }
    assert (
        party_from_rest(rest)
        == party_from_webhook(hook)
        == Party("MB1", address="+15558675310", binding="sms", attributes={"role": "driver"})
    )


def test_the_bound_party_is_the_customer_whoever_wrote_first() -> None:
    business = Party("MB1", identity="frontdesk")
    customer = Party("MB2", address="+15550001", binding="sms")
    assert rule([business, customer]).speakers == {"MB1": "agent", "MB2": "customer"}
    assert channel_label([business, customer]) == "sms"


def test_a_role_attribute_wins_over_the_binding() -> None:
    bot = Party("MB1", address="whatsapp:+1555", binding="whatsapp", attributes={"member_type": "bot"})
    human = Party("MB2", identity="agent.kim")
    guest = Party("MB3", identity="visitor", attributes={"role": "Customer"})
    assert rule([bot, human, guest]).speakers == {"MB1": "bot", "MB2": "agent", "MB3": "customer"}


def test_the_tasks_customer_address_names_the_customer_of_a_web_chat() -> None:
    parties = [Party("MB1", identity="agent.kim"), Party("MB2", identity="visitor-8f2c")]
    ids = customer_ids([{"customerAddress": "visitor-8f2c", "channelType": "web"}])
    assert rule(parties, ids).speakers == {"MB1": "agent", "MB2": "customer"}
    assert channel_label(parties) == "chat"


def test_without_evidence_nobody_is_guessed_the_customer() -> None:
    decision = rule([Party("MB1", identity="a"), Party("MB2", identity="b")])
    assert decision.speakers == {}
    assert decision.problem(CFG.chat_role_attributes) == (
        "cannot tell the customer among a, b; give participants a role attribute (role or member_type)"
    )


def test_a_live_message_tells_its_authors_binding_by_its_source() -> None:
    assert party_from_message("MB2", "+15550001", "SMS") == Party("MB2", address="+15550001", binding="sms")
    assert party_from_message("MB1", "frontdesk", "API") == Party("MB1", identity="frontdesk")
    assert party_from_message(None, "system", "API") is None
    parties = [Party("MB2", address="+15550001", binding="sms")]
    assert author_party(parties, None, "+15550001") == "MB2"  # no ParticipantSid: matched by address
    assert author_party(parties, None, "system") is None
