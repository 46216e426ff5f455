"""Who is the customer in a Twilio chat, and what the chat's channel is called: one rule.

`import twilio` (Conversations REST: participants, messages) and the live shadow server
(Conversations webhooks: onParticipantAdded, onMessageAdded) both build `Party` values from
what they received and call `decide` and `channel_label` here, so one conversation gets the
same speakers and the same channel label on either path.

Evidence, strongest first: a role in the participant's attributes (`[twilio]
chat_role_attributes`, mapped through `[twilio] roles`); a messaging binding (SMS, WhatsApp...:
the outside party is the customer); an identity or address equal to the customer address the
TaskRouter task names. Once a customer is known, every other participant is an agent. Who wrote
first is never evidence: the business often writes first (an appointment reminder).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...types import Speaker
from .human import parse_attributes

# Conversations messaging binding / address types (twilio-oai conversations_v1
# configuration_address type enum) whose participant is outside the business. A live message's
# `Source` (SMS, WHATSAPP, ...) names the same binding; `SDK` and `API` are the business's side.
MESSAGING_BINDINGS = frozenset({"sms", "whatsapp", "messenger", "gbm", "email", "rcs", "apple"})
# Flex task attributes that hold the customer's address or identity on a messaging task.
CUSTOMER_TASK_ATTRIBUTES = ("customerAddress", "from", "customerName")


@dataclass(frozen=True)
class Party:
    """One chat participant, as the REST participant or the webhooks describe it."""

    sid: str  # the participant sid (MB...)
    identity: str | None = None  # a chat (SDK) identity; None for SMS/WhatsApp participants
    address: str | None = None  # the messaging binding address (+1555..., whatsapp:+1555...)
    binding: str | None = None  # the messaging binding type, lower case (sms, whatsapp, ...)
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.identity or self.address or self.sid

    def merged(self, other: Party) -> Party:
        """This party with the gaps filled from `other` (a later or weaker description)."""
        return Party(
            sid=self.sid,
            identity=self.identity or other.identity,
            address=self.address or other.address,
            binding=self.binding or other.binding,
            attributes=self.attributes or other.attributes,
        )


@dataclass(frozen=True)
class Decision:
    """The speaker of each participant; `undecided` when nothing names a customer."""

    speakers: dict[str, Speaker]
    undecided: tuple[Party, ...] = ()

    def problem(self, role_attributes: Iterable[str]) -> str | None:
        """Why the customer cannot be told, in the words both paths report; None when it can."""
        if not self.undecided:
            return None
        names = ", ".join(p.name for p in self.undecided)
        keys = " or ".join(role_attributes)
        return f"cannot tell the customer among {names}; give participants a role attribute ({keys})"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def party_from_rest(p: Mapping[str, Any]) -> Party:
    """A Conversations v1 Participant resource (snake_case JSON)."""
    raw_binding = p.get("messaging_binding")
    binding: Mapping[str, Any] = raw_binding if isinstance(raw_binding, dict) else {}
    kind = _text(binding.get("type"))
    return Party(
        sid=str(p["sid"]),
        identity=_text(p.get("identity")),
        address=_text(binding.get("address")),
        binding=kind.lower() if kind else None,
        attributes=parse_attributes(p.get("attributes")),
    )


def party_from_webhook(params: Mapping[str, Any]) -> Party | None:
    """onParticipantAdded / onParticipantUpdated form fields (MessagingBinding.* flattened)."""
    sid = _text(params.get("ParticipantSid"))
    if sid is None:
        return None
    kind = _text(params.get("MessagingBinding.Type"))
    return Party(
        sid=sid,
        identity=_text(params.get("Identity")),
        address=_text(params.get("MessagingBinding.Address")),
        binding=kind.lower() if kind else None,
        attributes=parse_attributes(params.get("Attributes")),
    )


def party_from_message(participant_sid: str | None, author: str | None, source: str | None) -> Party | None:
    """What one live message tells about its author: a message that came in over SMS or
    WhatsApp (`Source`) is from that binding's participant; one from the SDK or API is not.
    Without a ParticipantSid the author stands for the participant; "system" is nobody."""
    key = participant_sid or (author if author and author != "system" else None)
    if key is None:
        return None
    kind = (source or "").lower()
    if kind in MESSAGING_BINDINGS:
        return Party(sid=key, address=author, binding=kind)
    return Party(sid=key, identity=author)


def customer_ids(task_attributes: Iterable[Mapping[str, Any]]) -> set[str]:
    """The customer's address/identity as the chat's TaskRouter tasks name it."""
    return {v for attrs in task_attributes for k in CUSTOMER_TASK_ATTRIBUTES if isinstance(v := attrs.get(k), str)}


def decide(
    parties: Iterable[Party],
    *,
    roles: Mapping[str, Speaker],
    role_attributes: Iterable[str],
    customers: Iterable[str] = (),
) -> Decision:
    """Participant sid -> speaker by the module's rule. Nothing naming a customer leaves the
    participants without a role undecided (never guessed from who wrote first)."""
    roles = {k.lower(): v for k, v in roles.items()}
    keys = list(role_attributes)
    known = set(customers)
    out: dict[str, Speaker] = {}
    open_: list[Party] = []
    for p in parties:
        role = next((str(p.attributes[k]).strip().lower() for k in keys if p.attributes.get(k) is not None), None)
        if role in roles:
            out[p.sid] = roles[role]  # type: ignore[index]
        elif p.binding in MESSAGING_BINDINGS or (p.identity or p.address or "") in known:
            out[p.sid] = "customer"
        else:
            open_.append(p)
    if open_ and "customer" in out.values():
        out.update({p.sid: "agent" for p in open_})
        open_ = []
    return Decision(out, tuple(open_))


def author_party(parties: Iterable[Party], participant_sid: str | None, author: str | None) -> str | None:
    """The participant a message is from: its participant sid, else a participant whose identity
    or address is the author. None: a message no participant wrote (system, API)."""
    by_sid = {p.sid for p in parties}
    if participant_sid in by_sid:
        return participant_sid
    if author:
        for p in parties:
            if author in (p.identity, p.address):
                return p.sid
    return participant_sid


def channel_label(parties: Iterable[Party]) -> str:
    """The chat's channel: the outside party's binding type (sms, whatsapp, ...), else "chat"."""
    for p in parties:
        if p.binding in MESSAGING_BINDINGS:
            return p.binding  # type: ignore[return-value]
    return "chat"
