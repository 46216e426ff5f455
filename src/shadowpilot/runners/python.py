"""The python agent: `module:function` called in-process, for tenants who test in code.

The function takes an AgentInput and returns a Recommendation or a dict of its
fields (case_id and turn may be left out); it may be sync or async. The module is looked for
first in the folder of shadowpilot.toml (as Python looks beside a script), so an agent module
kept with the config imports whatever the working directory.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import AgentError, ConfigError
from ..types import AgentInput, Recommendation
from .agent import AgentBase


def load_target(target: str, beside: Path | None = None) -> Callable[..., Any]:
    """`module:function`, the module imported with `beside` (the config's folder) first on sys.path;
    it stays there, so the module's own later imports of its neighbours work too."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"field agent.target: expected 'module:function', got {target!r}")
    if beside is not None and str(beside) not in sys.path:
        sys.path.insert(0, str(beside))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"field agent.target: cannot import {module_name!r}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"field agent.target: {module_name!r} has no callable {attr!r}")
    return fn


class PythonAgent(AgentBase):
    kind = "python"

    def __init__(self, target: str, fn: Callable[..., Any] | None = None, beside: Path | None = None):
        self.target = target
        self.fn = fn or load_target(target, beside)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target}

    def prompt_hash(self) -> str | None:
        return None

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        if inspect.iscoroutinefunction(self.fn):
            out = await self.fn(ctx)
        else:
            out = await asyncio.to_thread(self.fn, ctx)
        if isinstance(out, Recommendation):
            return out
        if not isinstance(out, dict):
            raise AgentError(f"{self.target} returned {type(out).__name__}, not a Recommendation or dict")
        try:
            return Recommendation.model_validate({"case_id": ctx.case_id, "turn": ctx.turn, **out})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise AgentError(f"{self.target} returned a bad recommendation: {first['loc']}: {first['msg']}") from None
