"""Tests of the tap driven by other programs (Meltano, PyAirbyte, airbyte-cdk, PostgreSQL with
target-postgres, an S3 server): each is marked `external`, so `-m "not external"` leaves them
out. Under pytest-xdist they run on one worker, one after another (tests/support/scheduling.py)."""

from __future__ import annotations

import pathlib
import typing as t

import pytest

from tests.support.postgres_server import NoPostgres, PostgresServer, start_postgres

HERE = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.external)


@pytest.fixture(scope="session")
def postgres_server() -> t.Iterator[PostgresServer]:
    """One PostgreSQL server for the worker's external tests (an initdb and a start each
    cost seconds): each test loads schemas of its own names, dropped before it loads."""
    try:
        server = start_postgres()
    except NoPostgres as why:
        pytest.skip(f"no PostgreSQL server could be started: {why}")
    try:
        yield server
    finally:
        server.stop()
