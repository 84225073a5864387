"""How the package is laid out: rules a reader relies on when changing one area."""

from __future__ import annotations

import ast
from pathlib import Path

import tap_branch
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


def test_only_the_output_writes_stdout():
    """Every record, batch and message leaves through one writer (`tap_branch.output.writer`,
    and the SDK's own path in `sdk_internals`): no module reaches stdout on its own, where it
    could overtake the records batched before it."""
    root = Path(tap_branch.__file__).parent
    allowed = {root / "output" / "writer.py", root / "output" / "sdk_internals.py"}
    writers = []
    for path in sorted(root.rglob("*.py")):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            stdout = (
                isinstance(node, ast.Attribute)
                and node.attr in ("stdout", "__stdout__")
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ) or (
                isinstance(node, ast.ImportFrom)
                and node.module == "sys"
                and any(alias.name in ("stdout", "__stdout__") for alias in node.names)
            )
            printed = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "print"
                and not any(k.arg == "file" for k in node.keywords)
            )
            if stdout or printed:
                writers.append(f"{path.relative_to(root)}:{node.lineno}")
    assert writers == []
