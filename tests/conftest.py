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
    # Its cohort jobs finish 0.2 s after submission (2 s by default), so that the runs of
    # base_config, polling after 0.5 s, poll once: as many requests as at the tap's default
    # 5 s, under the 5 a minute the sandbox allows, without waiting 5 s a run.
    running = start_sandbox(
        profile=getattr(request, "param", "all-products"), options={"cohort_job_latency": 0.2}
    )
    try:
        yield SandboxControl(running)
    finally:
        running.stop()


@pytest.fixture
def base_config(sandbox: SandboxControl) -> dict:
    """Every credential the sandbox accepts, start_date a few days back; cohort jobs first
    polled after 0.5 s (the `sandbox` fixture's finish in 0.2 s; the default first wait, 5 s,
    is tests/unit/streams/cohort/test_settings.py's)."""
    return {
        "start_date": (utc_today() - dt.timedelta(days=3)).isoformat(),
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "access_token": SANDBOX_TOKEN,
        "app_id": SANDBOX_APP,
        "api_url": sandbox.url,
        "api2_url": sandbox.url,
        "backoff_factor": 0.05,
        "cohort_poll_interval": 0.5,
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
