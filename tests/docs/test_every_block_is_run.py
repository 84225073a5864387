"""Every fenced block of README.md and docs/**/*.md says how a test runs or checks it (the marker
on the line before it, tests/docs/blocks.py), and the blocks of the kinds run page by page are on
the pages those tests read: a block nobody runs fails here."""

from __future__ import annotations

import pathlib

from tests.docs.blocks import MARKERS, OWN_SESSION, ROOT, all_blocks, marked


def test_every_block_has_a_marker():
    unmarked = [f"{b.where()} ({b.lang or 'no language'})" for b in all_blocks() if not b.marker]
    assert not unmarked, (
        "fenced blocks without a `<!-- run: ... -->` / `<!-- shown: ... -->` marker on the line "
        f"before them (docs/development.md lists the markers): {unmarked}"
    )


def test_every_marker_is_a_known_one():
    unknown = [f"{b.where()}: {b.marker}" for b in all_blocks() if b.marker not in (None, *MARKERS)]
    assert not unknown, unknown


def test_blocks_run_page_by_page_are_on_the_pages_their_tests_read():
    from tests.external.test_meltano_commands import MELTANO_DOC, POSTGRES_DOC
    from tests.external.test_postgres import DATA_QUALITY_DOC
    from tests.external.test_pyairbyte import SNIPPET_DOC

    read = {
        "run: meltano": {MELTANO_DOC, POSTGRES_DOC},
        "run: sql": {DATA_QUALITY_DOC},
        "run: python": {SNIPPET_DOC},
    }
    for marker, pages in read.items():
        elsewhere = [b.where() for b in marked(marker) if b.path not in pages]
        assert not elsewhere, f"{marker} blocks no test runs: {elsewhere}"
        assert all(marked(marker, page) for page in pages), (marker, pages)


def test_pages_run_as_one_session_are_read_by_their_test():
    for page, test in OWN_SESSION.items():
        assert marked("run: shell", page), page
        assert pathlib.PurePosixPath(page).name in (ROOT / test).read_text(), (page, test)
