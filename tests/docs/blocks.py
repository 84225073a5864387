"""The fenced blocks of the docs (README.md and docs/**/*.md) and the marker before each.

Every block says on the line before its opening fence how a test runs or checks it
(docs/development.md, "Every block is run"):

    <!-- run: meltano -->   Meltano commands, run in a Meltano project (tests/external/test_meltano_commands.py)
    <!-- run: shell -->     shell commands, run against one sandbox (tests/docs/test_shell_blocks.py)
    <!-- run: python -->    Python, exec'd (the PyAirbyte snippet: tests/external/test_pyairbyte.py)
    <!-- run: sql -->       SQL, run against the PostgreSQL a test loaded (tests/external/test_postgres.py)
    <!-- shown: output -->  what a command prints: compared with, or checked against, a real run
    <!-- shown: config -->  a config file (YAML, JSON) a test loads and checks
                            (tests/docs/test_config_blocks.py, or the test running the page)
    <!-- run: ci -->        the project's own scripts: CI runs `./scripts/test.sh` (.ci/run);
                            tests/docs/test_every_block_is_run.py checks each line names one
    <!-- run: benchmark --> a benchmark's command (minutes to run): the script exists and its
                            `--help` lists every option shown (tests/docs/test_config_blocks.py)

`tests/docs/test_every_block_is_run.py` fails on a block without one, and on a marker that no
test reads.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
MARKERS = (
    "run: meltano",
    "run: shell",
    "run: python",
    "run: sql",
    "shown: output",
    "shown: config",
    "run: ci",
    "run: benchmark",
)
#: Not part of the site nor of a user's reading: the plans of the developers.
EXCLUDED = ("docs/dev/",)
#: Pages whose shell blocks are one session (a sandbox started in the first, stopped in the
#: last) that their own test runs, with their shown outputs: the shell runner leaves them alone.
OWN_SESSION = {"docs/sandbox.md": "tests/docs/test_sandbox_help.py"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<marker>[a-z]+:\s*[a-z]+)\s*-->\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its marker (None: unmarked), language and text."""

    path: str  # relative to the repository's root
    line: int  # of the opening fence, 1-based
    marker: str | None
    lang: str
    text: str
    heading: str  # the last heading above it

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def lines(self) -> list[str]:
        """Its lines without comments (`# ...` after a command) and blank ones: shell-like blocks."""
        found = []
        for line in self.text.splitlines():
            line = _strip_comment(line).strip()
            if line:
                found.append(line)
        return found


def _strip_comment(line: str) -> str:
    """A shell line without its trailing `# comment` (a `#` inside quotes stays)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def doc_files() -> list[pathlib.Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        path
        for path in files
        if not any(path.relative_to(ROOT).as_posix().startswith(part) for part in EXCLUDED)
    ]


def blocks_of(path: pathlib.Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[Block] = []
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        opening = _FENCE.match(line)
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = index + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence) and lines[end].strip().strip(fence[0]) == ""
        ):
            end += 1
        before = _MARKER.match(lines[index - 1]) if index else None
        found.append(
            Block(
                path=path.relative_to(ROOT).as_posix(),
                line=index + 1,
                marker=re.sub(r":\s*", ": ", before["marker"]) if before else None,
                lang=opening["lang"],
                text="".join(part[indent:] + "\n" for part in lines[index + 1 : end]),
                heading=heading,
            )
        )
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for path in doc_files() for block in blocks_of(path)]


def marked(marker: str, path: str | None = None) -> list[Block]:
    """The blocks with this marker, in one file (relative path) or in all, in reading order."""
    assert marker in MARKERS, marker
    files = [ROOT / path] if path else doc_files()
    return [block for file in files for block in blocks_of(file) if block.marker == marker]


def one(marker: str, path: str, containing: str) -> Block:
    """The one block of `path` with this marker whose text holds `containing`."""
    found = [block for block in marked(marker, path) if containing in block.text]
    assert len(found) == 1, (marker, path, containing, [b.where() for b in found])
    return found[0]
