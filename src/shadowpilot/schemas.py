"""JSON Schema of the file formats users write: the Transcript (a case) and the Recommendation.

Generated from the pydantic models in types.py, so the schema cannot say something the readers
do not enforce. docs/schema/ holds checked-in copies (`shadowpilot schema NAME -o FILE`); a
test fails when they drift from the models.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from .types import Recommendation, Transcript

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MODELS: dict[str, type[BaseModel]] = {"transcript": Transcript, "recommendation": Recommendation}
TITLES = {
    "transcript": "shadowpilot Transcript: one case (a call with what the human did), one JSON object per JSONL line",
    "recommendation": "shadowpilot Recommendation: what the agent says at one customer turn",
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one format, as read on input."""
    try:
        model = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown schema {name!r}: expected one of {', '.join(MODELS)}") from None
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DIALECT, "title": TITLES[name], **{k: v for k, v in schema.items() if k != "title"}}


def schema_text(name: str) -> str:
    """The schema as the checked-in file holds it: indented, keys in model order, one final newline."""
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"
