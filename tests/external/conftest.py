"""Tests of the tap driven by other programs (Meltano, PyAirbyte, airbyte-cdk, PostgreSQL with
target-postgres, an S3 server): each is marked `external`, so `-m "not external"` leaves them
out. Under pytest-xdist they run on one worker, one after another (tests/support/scheduling.py)."""

from __future__ import annotations

import pathlib

import pytest

HERE = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.external)
