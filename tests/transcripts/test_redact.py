"""PII redaction: what must go, what must stay, and placeholders an agent can follow across a call."""

from __future__ import annotations

import re

import pytest

from shadowpilot.errors import ConfigError
from shadowpilot.transcripts.redact import KINDS, PLACEHOLDER, Redactor, is_loopback_url, kinds_in, should_redact
from shadowpilot.types import AgentInput, Outcome, Transcript, Turn

R = Redactor()


def red(text: str) -> str:
    return R.redact_text(text)


def conversation(*lines: str, customer: dict | None = None) -> Transcript:
    """Alternating customer / agent lines, customer first."""
    turns = [Turn(speaker="customer" if i % 2 == 0 else "agent", text=line) for i, line in enumerate(lines)]
    return Transcript(id="call-1", customer=customer or {}, turns=turns, outcome=Outcome(escalated=False))


def prefix_input(t: Transcript, upto: int) -> AgentInput:
    return AgentInput(case_id=t.id, turn=upto, channel="voice", customer=t.customer, turns=t.turns[: upto + 1])


# ---------------------------------------------------------------- each kind, in the forms callers use


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You can reach me on 555-123-4567 after five.", "You can reach me on [PHONE_1] after five."),
        ("My cell is (555) 123 4567.", "My cell is [PHONE_1]."),
        ("Call the office at +1 555 123 4567 tomorrow", "Call the office at [PHONE_1] tomorrow"),
        ("My number's 555.123.4567.", "My number's [PHONE_1]."),
        ("It's 5551234567, the mobile.", "It's [PHONE_1], the mobile."),
        ("Ring the salon on +44 20 7946 0958 please", "Ring the salon on [PHONE_1] please"),
        ("It's five five five, one two three, four five six seven.", "It's [PHONE_1]."),
        ("Send it to jane.doe+clinic@example.co.uk thanks", "Send it to [EMAIL_1] thanks"),
        ("email is john dot smith at gmail dot com okay", "email is [EMAIL_1] okay"),
        ("it's mary underscore jones at outlook dot co dot uk", "it's [EMAIL_1]"),
        ("Charge the deposit to 4111 1111 1111 1111 please", "Charge the deposit to [CARD_1] please"),
        ("card number 5500-0000-0000-0004, expiry 09/27", "card number [CARD_1], expiry 09/27"),
        ("Amex 378282246310005 is the one", "Amex [CARD_1] is the one"),
        ("I was born on 3 March 1985.", "I was born on [DOB_1]."),
        ("DOB 03/04/1985, if you need it", "DOB [DOB_1], if you need it"),
        ("My date of birth is March 3rd, 1985.", "My date of birth is [DOB_1]."),
        ("date of birth: the twenty-first of June nineteen eighty five", "date of birth: [DOB_1]"),
        ("03/04/1985 is my date of birth", "[DOB_1] is my date of birth"),
        ("The viewing address is 12 Harbour Street.", "The viewing address is [ADDRESS_1]."),
        ("We're at 221B Baker St, Apt 4 on the top floor", "We're at [ADDRESS_1] on the top floor"),
        ("It's 450 Main Street, Springfield, IL 62704.", "It's [ADDRESS_1]."),
        ("Flat 3, 7 Elm Close, London SW1A 1AA", "[ADDRESS_1]"),
        ("my SSN is 123-45-6789", "my SSN is [SSN_1]"),
        ("social security number is 987654321", "social security number is [SSN_1]"),
        ("My member id HX-4471923, I think.", "My member id [MEMBER_ID_1], I think."),
        ("and my policy number is 88412-A.", "and my policy number is [MEMBER_ID_1]."),
        ("patient number: 0045 2231", "patient number: [MEMBER_ID_1]"),
        ("account number four four seven one nine two three", "account number [MEMBER_ID_1]"),
    ],
)
def test_each_kind_is_redacted_in_its_common_forms(text, expected):
    # only the value goes: the words around it stay for the agent to follow
    assert red(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Can I come in on March 12th at 3:30pm instead?",
        "You're booked for 03/12/2026 at 10:30, or 2026-03-14 if that suits.",
        "The open house is on 14-03-2026 from 2 to 4.",
        "A cut and colour is $129.99, the full package is $1,250.00.",
        "My order number is 4417223190.",
        "Order 4111 1111 1111 1112 never arrived.",  # 16 digits that fail the Luhn check
        "Reference 1234567812345678 please.",
        "I'm 45 years old and I have 2 kids.",
        "This is turn 12 of the call, room 101 at 3 pm.",
        "It's 5 minutes down the road from the clinic.",
        "I have 2 questions about the street parking.",
        "We've been a member since 2015 and on the gold plan since 2019.",
        "The listing at 2.5 million has 4 bedrooms and 3 baths.",
        "My birthday party is next Tuesday.",
        "Booking confirmation number 55231877.",
    ],
)
def test_ordinary_call_details_are_not_redacted(text):
    assert red(text) == text


def test_card_numbers_are_redacted_whether_or_not_they_pass_the_luhn_check():
    # a typo or an ASR slip in a card number is still the caller's card number
    assert red("card 4111111111111111") == "card [CARD_1]"
    assert red("card 4111111111111112") == "card [CARD_1]"
    assert red("My card is 4000 1234 5678 9010, expiry 09/27") == "My card is [CARD_1], expiry 09/27"


def test_only_dates_in_a_birth_context_are_redacted():
    text = "Born on 3 March 1985. The appointment is on 3 March 2026."
    assert red(text) == "Born on [DOB_1]. The appointment is on 3 March 2026."


# ---------------------------------------------------------------- consistency within a call


def test_the_same_value_gets_the_same_placeholder_whatever_its_form():
    out = red("Call 555-123-4567 or (555) 123 4567 or +1 555 123 4567; my wife is on 555 987 6543.")
    assert out == "Call [PHONE_1] or [PHONE_1] or [PHONE_1]; my wife is on [PHONE_2]."
    out = red("I'm john.smith@gmail.com, that's john dot smith at gmail dot com; work is js@acme.io")
    assert out == "I'm [EMAIL_1], that's [EMAIL_1]; work is [EMAIL_2]"


def test_placeholders_are_numbered_per_kind_in_order_of_first_appearance():
    out = red("Text 555-000-1111, email a@b.com, or call 555-000-2222, or mail c@d.org")
    assert out == "Text [PHONE_1], email [EMAIL_1], or call [PHONE_2], or mail [EMAIL_2]"


def clinic_call() -> Transcript:
    return conversation(
        "Hi, I need to move my appointment on March 12th, my number is 555-123-4567.",
        "Of course. Can I have your date of birth?",
        "It's 03/04/1985.",
        "Thanks. And your member ID?",
        "HX 4471923",
        "I have HX-4471923 and 4/3/1985. Is (555) 123-4567 still the best number?",
        "No, use 555 987 6543. Email is mary dot jones at outlook dot com.",
        "Done: Tuesday 2026-03-14 at 9:15, the co-pay is $45. We'll text 555-987-6543.",
        "Great. I moved to 12 Harbour Street, Springfield, by the way.",
        "Updated to 12 Harbour St. Anything else?",
    )


def test_a_call_is_redacted_consistently_across_turns():
    out = [t.text for t in R.redact_transcript(clinic_call()).turns]
    assert out == [
        "Hi, I need to move my appointment on March 12th, my number is [PHONE_1].",
        "Of course. Can I have your date of birth?",
        "It's [DOB_1].",  # a bare date answering "your date of birth?"
        "Thanks. And your member ID?",
        "[MEMBER_ID_1]",  # a bare id answering "your member ID?"
        "I have [MEMBER_ID_1] and [DOB_1]. Is [PHONE_1] still the best number?",  # read back in other forms
        "No, use [PHONE_2]. Email is [EMAIL_1].",
        "Done: Tuesday 2026-03-14 at 9:15, the co-pay is $45. We'll text [PHONE_2].",
        "Great. I moved to [ADDRESS_1], Springfield, by the way.",
        "Updated to [ADDRESS_1]. Anything else?",
    ]


def test_redacting_a_longer_prefix_keeps_earlier_placeholders():
    t = clinic_call()
    full = R.redact_transcript(t).turns
    for upto in range(len(t.turns)):
        assert R.redact_input(prefix_input(t, upto)).turns == full[: upto + 1]


def test_each_call_has_its_own_numbering():
    first = red("call 555-123-4567")
    second = red("call 555-999-8888")
    assert first == "call [PHONE_1]" and second == "call [PHONE_1]"


# ---------------------------------------------------------------- the customer profile


def test_profile_values_are_redacted_by_key_and_share_placeholders_with_the_turns():
    customer = {
        "name": "Mary Jones",
        "vip": True,
        "plan": "gold",
        "account_type": "premium",  # an account key whose value is no id
        "email_verified": True,
        "phone": "+1 (555) 123-4567",
        "dateOfBirth": "1985-04-03",
        "member_id": "HX4471923",
        "ssn": "123-45-6789",
        "home": {"street_address": "12 Harbour Street", "city": "Springfield"},
        "emails": ["mary@example.com"],
        "notes": "prefers texts to 555-987-6543",
    }
    t = conversation("Hi it's Mary, 555-123-4567, member id HX 4471923, born 03/04/1985", customer=customer)
    out = R.redact_input(prefix_input(t, 0))
    assert out.customer == {
        "name": "[NAME_1]",  # a name is personal data too
        "vip": True,
        "plan": "gold",
        "account_type": "premium",
        "email_verified": True,
        "phone": "[PHONE_1]",
        "dateOfBirth": "[DOB_1]",
        "member_id": "[MEMBER_ID_1]",
        "ssn": "[SSN_1]",
        "home": {"street_address": "[ADDRESS_1]", "city": "Springfield"},
        "emails": ["[EMAIL_1]"],
        "notes": "prefers texts to [PHONE_2]",
    }
    # "Mary" is the profile's Mary Jones: the same placeholder
    assert out.turns[0].text == "Hi it's [NAME_1], [PHONE_1], member id [MEMBER_ID_1], born [DOB_1]"
    assert t.customer["phone"] == "+1 (555) 123-4567"  # the original is untouched (the store keeps it)


def test_redact_input_keeps_everything_but_the_personal_data():
    t = conversation("my email is a@b.com", "thanks")
    ctx = AgentInput(case_id="c9", turn=0, channel="chat", customer={"tier": 2}, turns=t.turns[:1])
    out = R.redact_input(ctx)
    assert (out.case_id, out.turn, out.channel, out.customer) == ("c9", 0, "chat", {"tier": 2})
    assert out.turns[0].speaker == "customer" and out.turns[0].text == "my email is [EMAIL_1]"


# ---------------------------------------------------------------- idempotence, kinds, config


def test_redacting_twice_changes_nothing():
    t = clinic_call().model_copy(update={"customer": {"phone": "555-123-4567", "dob": "1985-04-03"}})
    once = R.redact_transcript(t)
    assert R.redact_transcript(once) == once
    for line in [*(x.text for x in t.turns), "member id [MEMBER_ID_1] and policy number [MEMBER_ID_2]"]:
        assert red(red(line)) == red(line)


def test_text_redacted_upstream_keeps_its_placeholders_and_new_values_get_new_numbers():
    assert red("was [PHONE_1], now 555-222-3333") == "was [PHONE_1], now [PHONE_2]"


def test_only_the_configured_kinds_are_redacted():
    text = "Call 555-123-4567 or mail a@b.com"
    assert Redactor(["email"]).redact_text(text) == "Call 555-123-4567 or mail [EMAIL_1]"
    assert Redactor([]).redact_text(text) == text
    assert Redactor(KINDS).redact_text(text) == "Call [PHONE_1] or mail [EMAIL_1]"


def test_an_unknown_kind_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError, match=r"redaction\.kinds.*passport"):
        Redactor(["phone", "passport"])


def test_no_planted_value_survives_a_whole_call():
    planted = ["555-123-4567", "4471923", "1985", "Harbour", "outlook", "987 6543", "987-6543"]
    t = clinic_call()
    text = " ".join(x.text for x in R.redact_transcript(t).turns)
    assert not [p for p in planted if p in text]
    assert len(set(PLACEHOLDER.findall(text))) == 6  # 2 phones, 1 dob, 1 member id, 1 email, 1 address
    assert re.search(r"\$45\b", text) and "2026-03-14" in text and "March 12th" in text


# ---------------------------------------------------------------- where redaction applies


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/agent", True),
        ("http://127.8.9.10/agent", True),
        ("http://localhost:3000", True),
        ("http://[::1]:9000/v1", True),
        ("http://[::ffff:127.0.0.1]/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.5/agent", False),
        ("http://127.0.0.1.example.com/agent", False),
        ("http://localhost.evil.com/", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_url(url, loopback):
    assert is_loopback_url(url) is loopback


def test_should_redact_follows_the_mode():
    assert should_redact("auto", "https://agent.example.com") and not should_redact("auto", "http://127.0.0.1:1")
    assert should_redact("always", "http://127.0.0.1:1") and not should_redact("never", "https://x.example.com")


# ---------------------------------------------------------------- the forms transcripts really carry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # card numbers that fail the Luhn check (a typo, an ASR slip), grouped or not, typed or spoken
        ("The card is 4000 1234 5678 9010.", "The card is [CARD_1]."),
        ("card 4000-1234-5678-901", "card [CARD_1]"),
        ("it's four zero zero zero one two three four five six seven eight nine zero one zero", "it's [CARD_1]"),
        # postcodes: UK, Canada, US ZIP / ZIP+4 after a state or a label
        ("My postcode is SW1A 1AA.", "My postcode is [POSTCODE_1]."),
        ("post code is sw1a 1aa", "post code is [POSTCODE_1]"),
        ("It's M5V 3L9, downtown Toronto.", "It's [POSTCODE_1], downtown Toronto."),
        ("Springfield, IL 62704-1234 is the mailing address", "Springfield, IL [POSTCODE_1] is the mailing address"),
        ("the zip code is 94107", "the zip code is [POSTCODE_1]"),
        ("Austin, Texas 78701", "Austin, Texas [POSTCODE_1]"),
        # phone numbers in international formats, and read out digit by digit
        ("Call +1 (415) 555-0100 after six", "Call [PHONE_1] after six"),
        ("or 0044 20 7946 0958 from abroad", "or [PHONE_1] from abroad"),
        ("the office is +44 (0)20 7946 0958", "the office is [PHONE_1]"),
        ("it's plus four four two zero seven nine four six zero nine five eight", "it's [PHONE_1]"),
        # emails read out
        ("it's jane dot doe at gmail dot com", "it's [EMAIL_1]"),
        # names where the call gives them
        (
            "Harbourview Family Clinic, this is Margaret Hale speaking.",
            "Harbourview Family Clinic, this is [NAME_1] speaking.",
        ),
        ("Hi, my name is Tom O'Neil-Smith.", "Hi, my name is [NAME_1]."),
        ("You're speaking with Priya from the front desk", "You're speaking with [NAME_1] from the front desk"),
        ("my name is margaret hale and i need a refill", "my name is [NAME_1] and i need a refill"),
        ("My daughter Lily has a rash", "My daughter [NAME_1] has a rash"),
        ("Is that Dr Patel's list?", "Is that Dr [NAME_1]'s list?"),
    ],
)
def test_card_postcode_phone_email_and_name_forms(text, expected):
    assert red(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Harbourview Family Clinic, how can I help you today?",
        "Thank you for calling Bella Salon.",
        "It's Tuesday at 10:30, or Thursday at 4 pm.",
        "I'm Not sure, I'm Sorry.",
        "The flat is £1,450 a month and the deposit is £2,000.",
        "Order 4111 1111 1111 1112 never arrived.",
        "Your order 88231 ships on 12/03/2026.",
        "My postcode? I don't know it offhand.",
        "The listing at 2.5 million has 4 bedrooms.",
    ],
)
def test_more_ordinary_details_stay(text):
    assert red(text) == text


def test_a_name_is_one_placeholder_across_the_call_and_the_profile():
    t = conversation(
        "Hi, it's Margaret, calling about my son Tom.",
        "Thanks Margaret. How old is Tom?",
        "He's six. Hale is the surname, H A L E.",
        "Got it, Mrs Hale. This is Sam, the triage nurse. margaret, is he drinking?",
        customer={"name": "Margaret Hale", "vip": False},
    )
    out = R.redact_transcript(t)
    assert out.customer == {"name": "[NAME_1]", "vip": False}
    assert [x.text for x in out.turns] == [
        "Hi, it's [NAME_1], calling about my son [NAME_2].",
        "Thanks [NAME_1]. How old is [NAME_2]?",
        "He's six. [NAME_1] is the surname, H A L E.",
        "Got it, Mrs [NAME_1]. This is [NAME_3], the triage nurse. [NAME_1], is he drinking?",
    ]


def test_kinds_in_lists_only_what_was_replaced():
    assert kinds_in(["call [PHONE_1]", None, "[NAME_2] and [PHONE_2]", "no pii"]) == ["phone", "name"]
    assert kinds_in(["nothing here"]) == []
