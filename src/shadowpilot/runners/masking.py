"""Configured secrets never reach the store, the log or the terminal: one masking rule for all.

An agent's answer or error body can echo what it was sent (a gateway that prints the request's
Authorization header, a 401 that quotes the key). Every place that keeps or prints what an
agent, the judge or the shadow server's agent said passes it through `mask` first: the turn
loop (run and shadow), the response cache, the judge's rows and the retry's error messages.

The secrets are the values of the environment variables shadowpilot reads credentials from,
plus any a client registered when it was made (a key passed in another way).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

# Where shadowpilot's credentials come from (README "Configuration": secrets only from the environment).
SECRET_ENV = (
    "OPENAI_API_KEY",
    "SHADOWPILOT_HTTP_TOKEN",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_KEY_SECRET",
)
# Shorter values are not masked: "1" or "test" would turn every digit and word into a marker.
MIN_SECRET_CHARS = 8

_registered: dict[str, str] = {}  # value -> the name it is shown as
M = TypeVar("M", bound=BaseModel)


def register(value: str | None, name: str) -> None:
    """Remember a secret a client was given (shown as `[name]` wherever it would appear)."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _registered[value] = name


def _secrets(environ: Mapping[str, str] | None) -> list[tuple[str, str]]:
    env = os.environ if environ is None else environ
    found = dict(_registered)
    for name in SECRET_ENV:
        value = env.get(name)
        if value and len(value) >= MIN_SECRET_CHARS:
            found[value] = name
    # longest first, so a secret that contains another is masked whole
    return sorted(found.items(), key=lambda kv: -len(kv[0]))


def mask(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every configured secret's value replaced by `[NAME]` (the variable it came from)."""
    if not text:
        return text
    for value, name in _secrets(environ):
        if value in text:
            text = text.replace(value, f"[{name}]")
    return text


def mask_optional(text: str | None) -> str | None:
    return None if text is None else mask(text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(k) if isinstance(k, str) else k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
    return value


def mask_model(model: M) -> M:
    """A copy of `model` with every string in it masked (the same object when nothing was secret)."""
    if not _secrets(None):
        return model
    data = model.model_dump()
    masked = _mask_value(data)
    return model if masked == data else type(model).model_validate(masked)


# What a traceback can hold besides a configured secret's value: a credential in an Authorization
# header (as a dict, a header line or a repr), a bearer token, and the userinfo of a URL
# (https://user:password@host). Masked only where text is printed for a person (`--debug`).
_AUTH_HEADER = re.compile(
    r"""(?i)(\bauthorization['"]?\s*[:=,]\s*\(?['"]?)(?:(bearer|basic|token|digest)\s+)?([^\s'"),}\]]+)"""
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+(?!\[)[A-Za-z0-9._~+/=-]{8,}")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@")


def mask_credentials(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`mask`, and also any Authorization header's credential, bearer token and URL userinfo
    (known or not): for tracebacks, whose frames and messages quote requests as they were made."""
    text = mask(text, environ)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + "[masked]", text)
    text = _BEARER.sub(lambda m: m.group(1) + " [masked]", text)
    return _URL_USERINFO.sub(lambda m: m.group(1) + "[masked]@", text)
