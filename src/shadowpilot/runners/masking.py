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
