"""`tap-branch-sandbox --help` and docs/sandbox.md: every flag and family option with its
default, from one set of declarations (`cli.FLAGS`, `options.OPTIONS`), and the page's commands
run against a real sandbox."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

import tap_branch_sandbox
from tap_branch_sandbox import cli
from tap_branch_sandbox.options import OPTIONS

SANDBOX = pathlib.Path(tap_branch_sandbox.__file__).resolve().parent
PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
_MARKER = re.compile(r"^<!--\s*(run|shown):\s*(\w+)\s*-->$")
_SEPARATOR = "@@ end of block @@"


def _help(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapped inside a default
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    return capsys.readouterr().out.splitlines()


def test_help_gives_every_flag_with_its_help_and_default(capsys, monkeypatch):
    text = " ".join(" ".join(_help(capsys, monkeypatch)).split())
    for flag in cli.FLAGS:
        default = flag.keywords.get("default", False)  # store_true flags: False
        assert re.search(
            rf" {re.escape(flag.name)}( [A-Z_:=-]+)? {re.escape(flag.help)} "
            rf"\(default: {re.escape(str(default))}\)",
            text,
        ), flag.name


def test_help_gives_every_family_option_with_its_kind_default_and_help(capsys, monkeypatch):
    text = "\n".join(_help(capsys, monkeypatch))
    for name, option in OPTIONS.items():
        shown = "unset" if option.default is None else json.dumps(option.default)
        assert f"  {name}: {option.kind.name} (default: {shown})\n      {option.help}" in text


def test_the_page_has_the_generated_tables():
    text = PAGE.read_text()
    start, end = text.index(cli.BEGIN), text.index(cli.END) + len(cli.END)
    # On drift: `replace_between` of scripts/sync_settings.py, with `cli.option_tables()`.
    assert text[start:end] == cli.option_tables()


def _defaults_read_by_modules() -> dict[str, list[object]]:
    """Each option's defaults as the modules pass them: `sandbox.option(name, default)`, a
    module constant as default, `{**CONSTANT, **(sandbox.option(name) or {})}` (the option
    merged over a constant), or None (read without a default)."""
    found: dict[str, list[object]] = {}
    for path in sorted(SANDBOX.glob("*.py")):
        tree = ast.parse(path.read_text())
        constants = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }

        merged = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                spreads = [
                    value for key, value in zip(node.keys, node.values, strict=True) if key is None
                ]
                if len(spreads) == 2 and isinstance(spreads[0], ast.Name):
                    for call in ast.walk(spreads[1]):
                        merged[id(call)] = _value_of(spreads[0], constants)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "option"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                default = (
                    _value_of(node.args[1], constants)
                    if len(node.args) > 1
                    else merged.get(id(node))
                )
                found.setdefault(node.args[0].value, []).append(default)
    return found


def _value_of(node: ast.AST, constants: dict[str, ast.AST]) -> object:
    """A literal, or the module constant `node` names, as JSON gives it back (tuples as lists)."""
    if isinstance(node, ast.Name):
        node = constants[node.id]
    return json.loads(json.dumps(ast.literal_eval(node)))


def test_each_declared_default_is_the_one_its_module_uses():
    read = _defaults_read_by_modules()
    assert len(read) > 40  # the scan finds the families' options
    differing = {
        name: (option.default, read[name])
        for name, option in OPTIONS.items()
        if name in read and any(default != option.default for default in read[name])
    }
    assert differing == {}


def _blocks() -> list[tuple[str, str]]:
    """(marker, text) of each fenced block of the page, in order."""
    lines = PAGE.read_text().splitlines()
    blocks = []
    for index, line in enumerate(lines):
        marker = _MARKER.match(line)
        if marker and lines[index + 1].startswith("```"):
            end = lines.index("```", index + 2)
            blocks.append((f"{marker[1]}: {marker[2]}", "\n".join(lines[index + 2 : end])))
    return blocks


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_every_block_of_the_page_has_a_marker():
    fences = sum(1 for line in PAGE.read_text().splitlines() if line.startswith("```"))
    assert len(_blocks()) * 2 == fences


def test_the_page_commands_run_and_print_what_it_shows(tmp_path):
    """The `run: shell` blocks in one shell (the sandbox the first starts serves the next), on a
    free port instead of 8787; each `shown: output` block is the output of the block before."""
    port = str(_free_port())
    blocks = _blocks()
    script = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + "".join(
        f"{text.replace('8787', port)}\necho '{_SEPARATOR}'\n"
        for marker, text in blocks
        if marker == "run: shell"
    )
    env = {k: v for k, v in os.environ.items() if k != "TAP_BRANCH_TEST_NOW"}  # the page sets it
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = iter(done.stdout.split(_SEPARATOR + "\n"))
    output = None
    for marker, text in blocks:
        if marker == "run: shell":
            output = next(outputs)
        elif marker == "shown: output":
            assert output is not None, "a shown output before any command"
            assert output.rstrip("\n") == text.replace("8787", port)
