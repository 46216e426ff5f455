"""shadowpilot.toml's mistakes in our words, not pydantic's.

Settings validate with pydantic (every section forbids unknown keys); its messages ("Extra inputs
are not permitted", "Input should be a valid number") name neither the file nor the line and
suggest nothing. Here each validation error becomes one Problem naming the file, the line (found
by scanning the text: tomllib keeps no positions), the section.key, and for a key or section
that does not exist the closest one that does: `[gate] unknown key "pass_rat" (did you mean
"pass_rate"?)`.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Mapping, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, Problem

COMMAND_LINE = "command line"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def config_error(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    path: str | None,
    text: str,
    flags: Mapping[str, Mapping[str, Any]],
    env_names: Mapping[tuple[str, str], str],
) -> ConfigError:
    """One ConfigError for every way the merged config (file, environment, flags) failed `model`:
    its message is the first problem's line, then the others', one per line."""
    found: list[tuple[Problem, str]] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        if loc in seen:  # one problem per key: a union reports each of its members
            continue
        seen.add(loc)
        found.append(_problem(err, loc, model, path=path, text=text, flags=flags, env_names=env_names))
    found.sort(key=lambda item: item[0].line or 0)  # in the order of the file (stable otherwise)
    problems = [p for p, _ in found]
    if len(found) == 1:
        return ConfigError(found[0][1], None, problems)
    head = f"{len(found)} problems in {path or 'the settings'}"
    return ConfigError("\n".join([head, *(f"  {line}" for _, line in found)]), None, problems)


def _problem(
    err: Any,
    loc: tuple[Any, ...],
    model: type[BaseModel],
    *,
    path: str | None,
    text: str,
    flags: Mapping[str, Mapping[str, Any]],
    env_names: Mapping[tuple[str, str], str],
) -> tuple[Problem, str]:
    """The Problem and the line the user reads, for one pydantic error."""
    field = _dotted(loc)
    key = (str(loc[0]), str(loc[1])) if len(loc) >= 2 else None
    unknown = err["type"] == "extra_forbidden"
    if key is not None and key[1] in flags.get(key[0], {}):
        message = f"command-line option for {field}: {_words(err)}"
        return Problem(COMMAND_LINE, None, field, message), message
    if key is not None and key in env_names:
        variable = env_names[key]
        if unknown:
            close = _close(key[1], _field_names(model, loc[:1]))
            hint = f" (did you mean {variable[: -len(key[1])]}{close.upper()}?)" if close else ""
            message = f"environment variable {variable}: [{key[0]}] has no key {json.dumps(key[1])}{hint}"
        else:
            message = f"environment variable {variable} (field {field}): {_words(err)}"
        return Problem(variable, None, field, message), message
    if unknown and len(loc) == 1:
        message = _unknown_section(str(loc[0]), err.get("input"), model)
        line = _section_line(text, str(loc[0]))
    elif unknown:
        table, name = loc[:-1], str(loc[-1])
        close = _close(name, _field_names(model, table))
        hint = f" (did you mean {json.dumps(close)}?)" if close else ""
        message = f"{_table_label(table)} unknown key {json.dumps(name)}{hint}"
        line = _key_line(text, table, name)
    else:
        message = f"field {field}: {_words(err)}"
        named = list(loc)
        while named and isinstance(named[-1], int):  # an item of a list: the line of its key
            named.pop()
        if len(named) == 1:
            line = _section_line(text, str(named[0]))
        else:
            line = _key_line(text, tuple(named[:-1]), str(named[-1])) if named else None
    source = path or "settings"
    where = f"{source}:{line}" if line else source
    return Problem(source, line, field, message), f"{where}: {message}"


# -- our words for pydantic's error types ------------------------------------------------------

_KINDS = {
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string (in quotes)",
    "list_type": 'expected a list, such as ["a", "b"]',
    "tuple_type": 'expected a list, such as ["a", "b"]',
    "set_type": 'expected a list, such as ["a", "b"]',
    "dict_type": "expected a table ([section] or {key = value})",
    "model_type": "expected a table ([section] or {key = value})",
    "model_attributes_type": "expected a table ([section] or {key = value})",
}
_BOUNDS = {
    "greater_than": ("gt", "must be more than"),
    "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"),
    "less_than_equal": ("le", "must be at most"),
}


def _words(err: Any) -> str:
    """What is wrong with a value, then what it was: `expected a number, got "high"`."""
    kind, ctx = err["type"], err.get("ctx") or {}
    got = f", got {_shown(err['input'])}" if "input" in err else ""
    if kind == "missing":
        return "required, but not set"
    if kind in _KINDS:
        return _KINDS[kind] + got
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        bound, words = _BOUNDS[kind]
        limit = ctx[bound]
        shown = int(limit) if isinstance(limit, float) and limit.is_integer() else limit  # 1, not 1.0
        return f"{words} {shown}{got}"
    if kind in ("literal_error", "enum") and "expected" in ctx:
        choices = re.findall(r"'([^']*)'", str(ctx["expected"]))
        close = _close(err["input"], choices) if isinstance(err.get("input"), str) else None
        hint = f" (did you mean {json.dumps(close)}?)" if close else ""
        return f"expected {str(ctx['expected']).replace(chr(39), chr(34))}{got}{hint}"
    if kind == "too_short" and "min_length" in ctx:
        return f"needs at least {ctx['min_length']} item(s){got}"
    if kind == "too_long" and "max_length" in ctx:
        return f"takes at most {ctx['max_length']} item(s){got}"
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return (msg[:1].lower() + msg[1:]) + got


def _shown(value: Any) -> str:
    """A value as TOML would write it (near enough): "text", 1.5, true, [...]; long ones cut."""
    try:
        shown = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


# -- names: sections, keys, and the closest one ------------------------------------------------


def _close(name: str, names: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.6)
    return found[0] if found else None


def _unknown_section(name: str, value: Any, model: type[BaseModel]) -> str:
    if not isinstance(value, dict):
        return f"unknown key {json.dumps(name)} at the top of the file (every key belongs in a [section])"
    close = _close(name, _field_names(model, ()))
    return f"unknown section [{name}]" + (f" (did you mean [{close}]?)" if close else "")


def _field_names(model: type[BaseModel], table: tuple[Any, ...]) -> list[str]:
    """The keys the table at `table` takes (none when it is not a section of known keys)."""
    found = _model_at(model, table)
    if found is None:
        return []
    return [name for name, info in found.model_fields.items() if not info.exclude]


def _model_at(model: type[BaseModel], table: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model validating the table at `table` (through sections, lists and dicts)."""
    current: Any = model
    for part in table:
        current = _bare(current)
        if isinstance(part, int) and get_origin(current) in (list, tuple):
            current = get_args(current)[0]
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _bare(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _bare(annotation: Any) -> Any:
    """`X | None` as X."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _dotted(loc: Sequence[Any]) -> str:
    """('baseline', 'rules', 1, 'phrases') -> 'baseline.rules[1].phrases'; ('prices', 'gpt-4.1',
    'input') -> 'prices."gpt-4.1".input' (a key that is not bare is quoted, as in TOML)."""
    out = ""
    for part in loc:
        name = str(part) if _BARE_KEY.match(str(part)) else json.dumps(str(part))
        out += f"[{part}]" if isinstance(part, int) else (f".{name}" if out else name)
    return out


def _table_label(table: Sequence[Any]) -> str:
    """A table as its TOML header reads: [gate], [gate.weights], [prices."gpt-4o"], and the n-th
    of an array of tables as [[baseline.rules]] #2."""
    names = [p if _BARE_KEY.match(p) else json.dumps(p) for p in (str(x) for x in table if not isinstance(x, int))]
    index = next((p for p in reversed(table) if isinstance(p, int)), None)
    if index is None:
        return f"[{'.'.join(names)}]"
    return f"[[{'.'.join(names)}]] #{index + 1}"


# -- lines: a scan of the text, since tomllib keeps no positions -------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_PART = re.compile(r"\"[^\"]*\"|'[^']*'|[^.]+")  # a dotted name's parts, quoted ones whole


def _headers(text: str) -> list[tuple[int, str, int]]:
    """(line, dotted name without quotes, occurrence among arrays of tables) of each header."""
    out: list[tuple[int, str, int]] = []
    counts: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if not m:
            continue
        name = ".".join(part.strip().strip("\"'") for part in _PART.findall(m.group(2)))
        seen = counts.get(name, 0) if m.group(1) == "[[" else 0
        if m.group(1) == "[[":
            counts[name] = seen + 1
        out.append((n, name, seen))
    return out


def _key_line(text: str, table: tuple[Any, ...], key: str) -> int | None:
    """The line of `key = ...` in the table at `table` (the n-th [[array]] for an index), else the
    line of the table's own header, else None."""
    if not text:
        return None
    name = ".".join(str(p) for p in table if not isinstance(p, int))
    index = next((p for p in reversed(table) if isinstance(p, int)), None)
    lines = text.splitlines()
    headers = _headers(text)
    starts = [h for h in headers if h[1] == name and (index is None or h[2] == index)]
    key_re = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    if not table:  # top-level keys come before the first header
        end = headers[0][0] - 1 if headers else len(lines)
        return next((n for n in range(1, end + 1) if key_re.match(lines[n - 1])), None)
    for start, _name, _seen in starts:
        following = [h[0] for h in headers if h[0] > start]
        end = following[0] - 1 if following else len(lines)
        for n in range(start + 1, end + 1):
            if key_re.match(lines[n - 1]):
                return n
    if starts:
        return starts[0][0]
    if len(table) >= 1 and not isinstance(table[-1], int):  # an inline table: its key's line
        return _key_line(text, table[:-1], str(table[-1]))
    return None


def _section_line(text: str, name: str) -> int | None:
    """The first line that opens section `name` ([name], [name.sub], [[name]]) or sets it at the top."""
    for n, header, _seen in _headers(text):
        if header == name or header.startswith(name + "."):
            return n
    return _key_line(text, (), name)
