"""Was the endpoint reached at all? One classification, shared by the agents, the judge and the retries.

A turn that fails because nothing listens at the URL, the host name does not resolve, TLS
fails, the credentials are refused (401/403) or nothing is at that path (404) says nothing
about the agent: it is the environment. Such a turn is still a failed case, but a replay (or a
judging) whose first answers are all like that stops early, exit 2, instead of failing every
case and handing the gate a "complete" run of nothing.

Connection failures are read from the standard library exceptions at the bottom of the
exception chain (ConnectionRefusedError, socket.gaierror, ssl.SSLError), so the rule is the same
whichever HTTP stack (httpx for the http agent, the openai SDK's own) raised them.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import AgentUnreachable, RunAborted
from ..wording import plural

Cause = Literal["refused", "dns", "tls", "auth", "not_found"]

# How many turns in a row, before any answer, may fail unreached before a run stops.
UNREACHED_LIMIT = 5


def connect_cause(exc: BaseException) -> Cause | None:
    """Why a connection could not be made, from the OS-level error in the exception's chain; None when
    the failure came later (a reset mid-reply, a timeout) or is not a connection failure."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "refused"
        if isinstance(cur, socket.gaierror):
            return "dns"
        if isinstance(cur, ssl.SSLError):
            return "tls"
        cur = cur.__cause__ or cur.__context__
    return None


def status_cause(status: int) -> Cause | None:
    """401/403: the credentials were refused; 404: nothing at that URL. Other statuses come from a
    server that is there and answering."""
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    return None


@dataclass(frozen=True)
class Endpoint:
    """Who is asked, at which URL, and what configures it: what an unreachable message names."""

    who: str  # "the openai agent", "the LLM judge"
    url: str  # without credentials or query string
    url_field: str  # the setting to check, "agent.base_url"
    credential: str  # the environment variable holding the key, "OPENAI_API_KEY"

    def hint(self, cause: str) -> str:
        return {
            "refused": f"connection refused: is a server listening there? check {self.url_field}",
            "dns": f"the host name does not resolve: check {self.url_field}",
            "tls": f"the TLS handshake failed: check {self.url_field} (http:// or https://?)",
            "auth": f"the credentials were refused: check {self.credential}",
            "not_found": f"nothing answers at that path: check {self.url_field} (and the model name)",
        }.get(cause, f"check {self.url_field} and {self.credential}")

    def unreachable(self, exc: AgentUnreachable) -> AgentUnreachable:
        """The same failure, in one line naming this endpoint and the likely cause."""
        return AgentUnreachable(f"{self.who} at {self.url}: {exc}; {self.hint(exc.cause)}", exc.cause)


class ReachWatch(Protocol):
    """Told the outcome of every turn that asked the endpoint (turn_loop.ask)."""

    def answered(self) -> None: ...

    def unreachable(self, exc: AgentUnreachable) -> None: ...


class ReachCheck:
    """Stops a replay or a judging whose endpoint was never reached: `limit` unreached failures before
    any answer raise RunAborted, and so does finishing with nothing but those. Once anything has
    answered (even with an error of its own) failures are failed cases, as they always are."""

    def __init__(self, limit: int = UNREACHED_LIMIT):
        self.limit = limit
        self.reached = False
        self.failures = 0
        self.first: AgentUnreachable | None = None

    def answered(self) -> None:
        self.reached = True

    def unreachable(self, exc: AgentUnreachable) -> None:
        if self.reached:
            return
        self.failures += 1
        self.first = self.first or exc
        if self.failures >= self.limit:
            raise self.aborted()

    def finish(self) -> None:
        """At the end: nothing answered, and something could not be reached."""
        if not self.reached and self.first is not None:
            raise self.aborted()

    def aborted(self) -> RunAborted:
        return RunAborted(f"{self.first} ({plural(self.failures, 'turn')} failed like this and none was answered)")
