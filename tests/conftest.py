"""Fixtures: a real sandbox HTTP server on a free port, and tap configs pointing at it (the
helpers they use, and tests import, are in `tests/support/sandbox.py`)."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from tap_branch import clock
from tap_branch.redaction import SECRETS
from tests.support.sandbox import (
    NOW,
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    SECOND,
    SandboxControl,
    start_sandbox,
    utc_today,
)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own choice; xdist may be absent
def pytest_xdist_make_scheduler(config: pytest.Config, log: t.Any) -> t.Any:
    """`--dist loadfile` (pyproject's addopts): a module per worker, tests/external/ first as
    one unit (tests/support/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.support.scheduling import ModulesExternalFirst

    return ModulesExternalFirst(config, log)


@pytest.fixture(autouse=True)
def _clock_at_now() -> t.Iterator[None]:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


@pytest.fixture(autouse=True)
def _secrets_of_this_test_only() -> t.Iterator[None]:
    """The secret registry is process-wide: without this, secrets registered by earlier tests
    (in random order) would redact words in later tests' logs and errors."""
    yield
    SECRETS.clear()


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> t.Iterator[SandboxControl]:
    """A fresh sandbox per test (its own clock, faults, options), on a free port. Parametrized
    indirectly (`@pytest.mark.parametrize("sandbox", [...], indirect=True)`), it plays that
    account profile (`tap_branch_sandbox/profiles.py`)."""
    running = start_sandbox(profile=getattr(request, "param", "all-products"))
    try:
        yield SandboxControl(running)
    finally:
        running.stop()


@pytest.fixture
def base_config(sandbox: SandboxControl) -> dict:
    """Every credential the sandbox accepts, start_date a few days back."""
    return {
        "start_date": (utc_today() - dt.timedelta(days=3)).isoformat(),
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "access_token": SANDBOX_TOKEN,
        "app_id": SANDBOX_APP,
        "api_url": sandbox.url,
        "api2_url": sandbox.url,
        "backoff_factor": 0.05,
    }


# --- daily exports: what the sandbox holds, to compare the tap's output with ----------
@pytest.fixture
def two_app_sandbox() -> t.Iterator[SandboxControl]:
    """A sandbox serving the usual app and `SECOND`."""
    running = start_sandbox(extra_apps=[SECOND])
    try:
        yield SandboxControl(running)
    finally:
        running.stop()
