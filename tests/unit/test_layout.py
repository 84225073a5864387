"""How the package is laid out: rules a reader relies on when changing one area."""

from __future__ import annotations

import ast
from pathlib import Path

import tap_branch.streams


def _imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_stream_family_imports_another_family():
    # What two families share lives outside streams/ (errors, jobs, typing, ...): a family's
    # package can then change without breaking another one.
    streams = Path(tap_branch.streams.__file__).parent
    borrowed = []
    for family in (d for d in streams.iterdir() if (d / "__init__.py").exists()):
        for path in family.rglob("*.py"):
            for name in _imported_modules(path):
                parts = name.split(".")
                other_family = parts[:2] == ["tap_branch", "streams"] and len(parts) > 2
                if other_family and parts[2] != family.name:
                    borrowed.append(f"{family.name}/{path.name}: {name}")
    assert borrowed == []
