"""The recorded agent: a Recommendation JSONL file made elsewhere, scored here.

Every customer turn the replay reaches needs a line (case_id, turn); a line may
carry `"error": "..."` to record that the agent failed on that turn. A missing
line is an agent error for that case, so an incomplete recording never passes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import AgentError, InputError, Problem
from ..transcripts.validate import problems_from_validation, read_text_file
from ..types import AgentInput, Recommendation
from .agent import AgentBase, content_hash


class RecordedAgent(AgentBase):
    kind = "recorded"

    def __init__(self, path: Path):
        self.path = path
        self._by_turn: dict[tuple[str, int], Recommendation | str] = {}
        self._hash = ""
        self._load()

    def _load(self) -> None:
        text, problem = read_text_file(self.path)
        if problem is not None:
            raise InputError([problem], "cannot read the recorded agent's file")
        assert text is not None
        self._hash = content_hash(text)
        problems: list[Problem] = []
        file = str(self.path)
        for lineno, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                problems.append(Problem(file, lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(file, lineno, None, "expected a JSON object"))
                continue
            error = obj.pop("error", None)
            try:
                if error:
                    rec_key = Recommendation.model_validate({"escalate": False, **obj}, strict=True)
                    value: Recommendation | str = str(error)
                else:
                    rec_key = value = Recommendation.model_validate_json(json.dumps(obj), strict=True)
            except ValidationError as exc:
                problems.extend(problems_from_validation(exc, file, lineno))
                continue
            key = (rec_key.case_id, rec_key.turn)
            if key in self._by_turn:
                problems.append(Problem(file, lineno, "turn", f"a second line for case {key[0]!r} turn {key[1]}"))
                continue
            self._by_turn[key] = value
        if problems:
            raise InputError(problems, f"{len(problems)} bad line(s) in the recorded agent's file")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path)}

    def prompt_hash(self) -> str:
        return self._hash

    async def recommend(self, ctx: AgentInput) -> Recommendation:
        found = self._by_turn.get((ctx.case_id, ctx.turn))
        if found is None:
            raise AgentError(f"no recorded recommendation for case {ctx.case_id!r} turn {ctx.turn}")
        if isinstance(found, str):
            raise AgentError(found)
        return found
