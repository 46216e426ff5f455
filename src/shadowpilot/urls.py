"""The one URL sanitiser: what of a configured URL may be shown in manifests, logs and messages.

A base_url or agent.url can carry credentials (`https://user:pass@host`, a gateway's
`?api_key=...`). Every place that writes one down (the agents' manifests, the judge, reach
messages, the shadow server, reports) passes it through `safe_url`, so the rule lives once:
no userinfo, no secret-looking query parameter, an IPv6 host kept in brackets.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# A query parameter whose name says it holds a credential: api_key, access_token, sig, X-Amz-Signature...
_SECRET_PARAM = re.compile(r"key|token|secret|pass|pwd|sig|auth|cred|session|code|jwt|bearer", re.IGNORECASE)


def safe_url(url: str) -> str:
    """`url` without userinfo or secret-looking query parameters, IPv6 hosts bracketed (`http://[::1]:8000/v1`).

    A URL without a scheme (`localhost:8000/v1`) is read as a host and kept without one; the fragment goes."""
    has_scheme = "://" in url
    parts = urlsplit(url if has_scheme else f"//{url}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:  # a port that is not a number: shown as written (userinfo still dropped)
        netloc = parts.netloc.rpartition("@")[2]
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _SECRET_PARAM.search(k)]
    query = urlencode(kept)
    clean = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    return clean if has_scheme else clean.removeprefix("//")


def http_url(host: str, port: int) -> str:
    """The http URL of a bound socket: `http://127.0.0.1:8000`, `http://[::1]:8000` (an IPv6 host bracketed)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
