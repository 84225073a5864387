"""Every `<!-- run: shell -->` block of the docs (but those of the pages that run as one session
under their own test, `blocks.OWN_SESSION`), run with bash as written, one after another in
one directory, against one sandbox standing in for Branch at the tests' clock; and every
`<!-- shown: output -->` block checked against what those runs printed.

What is changed before a block runs, and only this:
- `http://127.0.0.1:8787` (the sandbox's port in the docs) becomes this sandbox's URL;
- `"start_date": "2024-01-01"` becomes the day before the tests' today (a sandbox serves every
  day asked for: the docs' date would make this test read two years);
- `pip install ...` lines are left out: this virtualenv has the project installed.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import subprocess
import sys
import typing as t

import pytest

from tests.docs.blocks import OWN_SESSION, Block, marked
from tests.support.sandbox import NOW, start_sandbox, utc_today

SHELL_BLOCKS = [b for b in marked("run: shell") if b.path not in OWN_SESSION]
OUTPUT_BLOCKS = [b for b in marked("shown: output") if b.path not in OWN_SESSION]


def _runnable(block: Block, sandbox_url: str) -> str:
    start = (utc_today() - dt.timedelta(days=1)).isoformat()
    lines = [line for line in block.text.splitlines() if not line.startswith("pip install ")]
    text = "\n".join(lines) + "\n"
    text = text.replace("http://127.0.0.1:8787", sandbox_url)
    return text.replace('"start_date": "2024-01-01"', f'"start_date": "{start}"')


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> t.Iterator[dict[str, subprocess.CompletedProcess]]:
    """Each shell block's run (by its place in the docs), in one directory, one sandbox."""
    running = start_sandbox()
    home = tmp_path_factory.mktemp("shell-blocks")
    env = {
        **os.environ,
        "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TAP_BRANCH_TEST_NOW": NOW.isoformat(),
    }
    results = {}
    try:
        for block in SHELL_BLOCKS:
            results[block.where()] = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", _runnable(block, running.url)],
                cwd=home,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
        yield results
    finally:
        running.stop()


@pytest.mark.parametrize("where", [block.where() for block in SHELL_BLOCKS])
def test_the_shell_block_runs(ran, where):
    done = ran[where]
    assert done.returncode == 0, (where, done.stdout[-2000:], done.stderr[-4000:])


def _shape(line: str) -> re.Pattern:
    """A shown output line as a pattern: a word holding a digit (a count, a date, an id, a
    URL) stands for any word, a unit for any unit, `file`/`files` for either, `...` for
    anything; the rest is literal."""
    words = []
    for word in line.split():
        if word.startswith("...") or word.endswith("..."):
            words.append(r".*?")
        elif re.search(r"\d", word):
            words.append(r"\S+")
        elif word.rstrip(",.") in ("B", "kB", "MB", "GB"):
            words.append(r"[kMG]?B" + re.escape(word.lstrip("kMGB")))
        elif word.rstrip(",.") in ("file", "files"):
            words.append(r"files?" + re.escape(word.lstrip("files")))
        else:
            words.append(re.escape(word))
    return re.compile(r"\s+".join(words))


@pytest.mark.parametrize("block", OUTPUT_BLOCKS, ids=[b.where() for b in OUTPUT_BLOCKS])
def test_shown_output_is_what_the_tap_prints(ran, block):
    """Each line of a shown output has the shape of a line the shell blocks' runs printed
    (their numbers differ: the docs show a real account's day)."""
    printed = "\n".join(done.stdout + done.stderr for done in ran.values())
    for line in block.text.splitlines():
        if line.strip():
            assert _shape(line).search(printed), (block.where(), line)
