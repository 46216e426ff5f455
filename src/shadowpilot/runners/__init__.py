"""Runners: agents, the turn loop, and the event sources that feed it."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, UsageError

if TYPE_CHECKING:
    from ..config import Settings
    from .agent import Agent
    from .replay import replay

__all__ = ["Agent", "build_agent", "replay"]

# Loaded on first use (PEP 562): importing a submodule (the shadow log's reader for `shadow calls`)
# runs this package first, and need not load the agents and the turn loop.
_LAZY = {"Agent": ".agent", "replay": ".replay"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_agent(settings: Settings) -> Agent:
    """The agent the config names, with its clients made here and injected."""
    kind = settings.agent.kind
    if kind == "baseline":
        from .baseline import BaselineAgent

        return BaselineAgent(settings.baseline)
    if kind == "recorded":
        from .recorded import RecordedAgent

        if not settings.agent.path:
            raise ConfigError("field agent.path: the recorded agent needs a Recommendation .jsonl file")
        return RecordedAgent(settings.resolve(settings.agent.path))
    if kind == "python":
        from .python import PythonAgent

        if not settings.agent.target:
            raise ConfigError("field agent.target: the python agent needs 'module:function'")
        return PythonAgent(settings.agent.target, beside=settings.root)
    if kind == "openai":
        from .openai_chat import from_settings

        return _redacted(from_settings(settings), settings, settings.agent.base_url or OPENAI_URL)
    if kind == "http":
        from .http_agent import HttpAgent

        if not settings.agent.url:
            raise ConfigError("field agent.url: the http agent needs the URL of the tenant's agent")
        return _redacted(HttpAgent.from_settings(settings), settings, settings.agent.url)
    raise UsageError(f"unknown agent kind {kind!r}")


OPENAI_URL = "https://api.openai.com/v1"


def _redacted(agent: Agent, settings: Settings, endpoint: str) -> Agent:
    """Put redaction in front of an agent whose endpoint is off this machine (or always, if configured)."""
    from ..transcripts.redact import Redactor, should_redact

    if not should_redact(settings.redaction.mode, endpoint):
        return agent
    from .redacting import RedactingAgent

    kinds: list[str] = list(settings.redaction.kinds)
    return RedactingAgent(agent, Redactor(kinds), kinds)
