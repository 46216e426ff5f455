"""The layers hold: each module's imports (read with ast, those inside functions and under
TYPE_CHECKING included) point only downwards. The workflow sits over evals, store, runners and
reports and hands them what it computed; evals is pure scoring (no store, no network, no workflow);
the store returns rows and does not score."""

from __future__ import annotations

import ast
from pathlib import Path

import shadowpilot

PACKAGE = Path(shadowpilot.__file__).parent

# Who may import the workflow: the workflow itself, the CLI over it, the demo, and the public API.
WORKFLOW_USERS = ("shadowpilot.workflow", "shadowpilot.commands", "shadowpilot.cli", "shadowpilot.demo")

# layer -> the layers it must never import
FORBIDDEN = {
    "shadowpilot.evals": ("shadowpilot.runners", "shadowpilot.store", "shadowpilot.workflow"),
    "shadowpilot.store": ("shadowpilot.evals",),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, absolute; `from a import b` counts as a and as a.b (b may be a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def modules() -> dict[str, set[str]]:
    return {module_name(p): imported(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_import_reader_sees_relative_imports_and_imports_inside_functions(tmp_path: Path) -> None:
    found = modules()
    assert "shadowpilot.workflow" in found["shadowpilot.demo"]  # `from . import workflow`
    assert "shadowpilot.transcripts.redact" in found["shadowpilot.evals.judge"]  # under TYPE_CHECKING
    assert "shadowpilot.evals.reply" in found["shadowpilot.workflow.gating"]  # inside a function


def test_nothing_below_the_workflow_imports_it() -> None:
    offenders = {
        name: sorted(m for m in imports if within(m, "shadowpilot.workflow"))
        for name, imports in modules().items()
        if name != "shadowpilot" and not any(within(name, user) for user in WORKFLOW_USERS)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_evals_is_pure_and_the_store_does_not_score() -> None:
    offenders = {
        name: sorted(m for m in imports for bad in FORBIDDEN[layer] if within(m, bad))
        for name, imports in modules().items()
        for layer in FORBIDDEN
        if within(name, layer)
    }
    assert {k: v for k, v in offenders.items() if v} == {}
