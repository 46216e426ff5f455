"""X-Twilio-Signature validation with twilio's own RequestValidator.

The signed URL is `[shadow] public_url` + the route + the query string Twilio
requested (so a `bodySHA256` parameter is covered). Form bodies are signed with
their parameters; JSON bodies are signed on the URL alone and must match the
`bodySHA256` in it. Anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from twilio.request_validator import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, get_signature_algorithm

from .wire import BadPayload, json_value


@dataclass(frozen=True)
class Checked:
    ok: bool
    params: dict[str, Any]
    why: str = ""


def signed_url(public_url: str, path: str, query: str) -> str:
    return public_url.rstrip("/") + path + (f"?{query}" if query else "")


class _Multi(dict):
    """Form parameters as the validator wants them: every value of a repeated name is signed."""

    def __init__(self, pairs: list[tuple[str, str]]):
        super().__init__()
        self._all: dict[str, list[str]] = {}
        for k, v in pairs:
            self._all.setdefault(k, []).append(v)
            self.setdefault(k, v)

    def getall(self, name: str) -> list[str]:
        return self._all[name]


def is_json(content_type: str) -> bool:
    """A JSON body (signed on the URL's bodySHA256) rather than form parameters (signed themselves)."""
    return "json" in content_type


def check(
    validator: Any,
    *,
    public_url: str,
    path: str,
    query: str,
    method: str,
    headers: Any,
    content_type: str,
    body: bytes,
) -> Checked:
    """Whether a request is Twilio's, and its parameters (form fields or the JSON object)."""
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        return Checked(False, {}, "no X-Twilio-Signature header")
    algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
    url = signed_url(public_url, path, query)
    if method == "GET":
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        ok = validator.validate(url, {}, signature, algorithm)
        return Checked(ok, params, "" if ok else "signature does not match")
    if is_json(content_type):
        if "bodySHA256" not in parse_qs(query):
            return Checked(False, {}, "JSON body without bodySHA256 in the URL")
        text = body.decode("utf-8", errors="replace")
        if not validator.validate(url, text, signature, algorithm):
            return Checked(False, {}, "signature or body hash does not match")
        obj = json_value(text, "body")  # a 400 for a bad or too deeply nested body, never a 500
        if not isinstance(obj, dict):
            raise BadPayload("the JSON body is not an object")
        return Checked(True, obj)
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    multi = _Multi(pairs)
    try:
        ok = validator.validate(url, multi, signature, algorithm)
    except (TypeError, ValueError):
        ok = False
    repeated = next((k for k, values in multi._all.items() if len(values) > 1), None)
    if ok and repeated is not None:  # Twilio sends each name once; a second one is a re-split copy
        raise BadPayload(f"parameter {repeated} appears more than once")
    return Checked(ok, dict(multi), "" if ok else "signature does not match")
