"""Runners: agents, the turn loop, and the event sources that feed it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError, UsageError
from .agent import Agent
from .replay import replay

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["Agent", "build_agent", "replay"]


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
        return PythonAgent(settings.agent.target)
    raise UsageError(
        f"agent kind {kind!r} is not available in this version of shadowpilot (available: baseline, recorded, python)"
    )
