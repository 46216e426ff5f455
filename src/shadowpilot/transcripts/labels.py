"""What a transcript file may call its speakers, channels and cases: one rule for every reader.

Speakers are read case-insensitively, through the tenant's `[import] speakers` mapping
(`Caller = "customer"`), so JSONL, CSV and plain text accept the same labels. Channels and
case ids are checked against the documented lists (docs/contract.md#transcript) on import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import get_args

from ..types import Speaker

SPEAKERS: tuple[str, ...] = get_args(Speaker)
MAPPING_SETTING = "[import] speakers in shadowpilot.toml"

# `voice` for calls; the written channels people use; and Twilio Conversations' other messaging
# channels (the binding types `import twilio` labels a chat with).
CHANNELS: tuple[str, ...] = (
    "voice",
    "sms",
    "whatsapp",
    "chat",
    "email",
    "web",
    "messenger",
    "gbm",
    "rcs",
    "apple",
)

# Visible ASCII: letters, digits and punctuation, no spaces or control characters (an id is typed
# on command lines and shown in terminals and reports), at most 128 of them (a Twilio sid is 34).
CASE_ID_MAX = 128
CASE_ID = re.compile(rf"[!-~]{{1,{CASE_ID_MAX}}}")
CASE_ID_RULE = f"letters, digits and punctuation (visible ASCII, no spaces), at most {CASE_ID_MAX}"


class SpeakerLabels:
    """A tenant's speaker labels (any case) -> speakers; the built-in names stand for themselves."""

    def __init__(self, mapping: Mapping[str, Speaker] | None = None) -> None:
        self._map: dict[str, str] = {s: s for s in SPEAKERS}
        self._map.update({k.strip().lower(): v for k, v in (mapping or {}).items()})

    def speaker(self, label: str) -> str | None:
        """The speaker a label stands for; None when it is not known."""
        return self._map.get(label.strip().lower())

    def knows(self, label: str) -> bool:
        return self.speaker(label) is not None

    def canonical(self, label: object) -> object:
        """The speaker for a known label; anything else as it is, for validation to name."""
        if isinstance(label, str):
            return self.speaker(label) or label
        return label

    def turns(self, obj: object) -> object:
        """A case object (parsed JSON) with each turn's speaker made canonical; `obj` itself when
        nothing changed (a reader that validated `obj` as it was need not validate it again)."""
        if not isinstance(obj, dict) or not isinstance(obj.get("turns"), list):
            return obj
        turns = obj["turns"]
        fixed = [
            {**t, "speaker": self.canonical(t["speaker"])} if isinstance(t, dict) and "speaker" in t else t
            for t in turns
        ]
        if fixed == turns:
            return obj
        return {**obj, "turns": fixed}


DEFAULT_LABELS = SpeakerLabels()


def unknown_speaker(label: object) -> str:
    """The one message for a speaker no rule knows: what is expected, and the setting that maps it."""
    names = ", ".join(SPEAKERS[:-1]) + f" or {SPEAKERS[-1]}"
    return f"unknown speaker {label!r} (expected {names}, any case; map other labels with {MAPPING_SETTING})"


def channel_problem(channel: str) -> str | None:
    """Why a channel is not one of the documented ones; None when it is."""
    if channel in CHANNELS:
        return None
    hint = " (channels are lower-case)" if channel.lower() in CHANNELS else ""
    return f"unknown channel {channel!r}{hint}; expected one of {', '.join(CHANNELS)}"


def case_id_problem(case_id: str) -> str | None:
    """Why a case id is not of the documented character set; None when it is."""
    if CASE_ID.fullmatch(case_id):
        return None
    if len(case_id) > CASE_ID_MAX:
        return f"case id is {len(case_id)} characters long; at most {CASE_ID_MAX}"
    shown = repr(case_id) if len(case_id) <= 60 else repr(case_id[:57]) + "..."
    return f"case id {shown} has characters outside {CASE_ID_RULE}"


def id_from_name(name: str) -> str:
    """A case id made from a file name: what is outside the id's character set becomes '-'."""
    made = re.sub(r"[^!-~]+", "-", name).strip("-")[:CASE_ID_MAX]
    return made or "case"
