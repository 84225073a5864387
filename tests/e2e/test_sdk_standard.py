"""The Singer SDK's standard tap tests (`get_tap_test_class`) against the sandbox.

Scope: the daily export streams. The standard suite's sync forces every stream
of the tap to be selected (`run_sync_dry_run`), so the tap under test here is
`TapBranch` with its stream list narrowed to `STANDARD_STREAMS`; the other
families can add their streams to that set once their sandbox endpoints serve
them. Settings, config validation, discovery and the record path are
TapBranch's own.

The sandbox must exist when the test class is built (the SDK takes the config
then), so it starts at import and stops when this module's tests are done, or at exit in a
pytest-xdist worker that collected this module but ran none of its tests.
"""

from __future__ import annotations

import atexit
import datetime as dt

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_branch.tap import TapBranch
from tap_branch_sandbox.runner import serve_in_thread
from tap_branch_sandbox.server import SandboxConfig
from tests.support.sandbox import SANDBOX_KEY, SANDBOX_SECRET, SANDBOX_TOKEN, utc_today

STANDARD_STREAMS = {"links", "link_clicks", "events"}

# A small volume and one day: the whole suite syncs in well under a second.
_SANDBOX = serve_in_thread(
    SandboxConfig(
        today=utc_today(),
        options={
            "daily_rows": {"links": 20, "link_clicks": 30, "events": 40},
            "daily_rows_per_file": 15,
        },
    )
)
atexit.register(_SANDBOX.stop)  # stopping twice is harmless


class StandardScopeTap(TapBranch):
    """TapBranch with only the streams the standard suite covers."""

    def discover_streams(self):
        return [stream for stream in super().discover_streams() if stream.name in STANDARD_STREAMS]


CONFIG = {
    "start_date": (utc_today() - dt.timedelta(days=1)).isoformat(),
    "branch_key": SANDBOX_KEY,
    "branch_secret": SANDBOX_SECRET,
    "access_token": SANDBOX_TOKEN,
    "api_url": _SANDBOX.url,
    "api2_url": _SANDBOX.url,
    "backoff_factor": 0.05,
}

TestTapBranchStandard = get_tap_test_class(
    StandardScopeTap,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=50),
    parse_env_config=False,
)


@pytest.fixture(scope="module", autouse=True)
def _stop_sandbox_after_module():
    yield
    _SANDBOX.stop()


def test_standard_scope_covers_the_daily_streams():
    """Guards the scope: the suite above really ran against these streams."""
    tap = StandardScopeTap(config=CONFIG, parse_env_config=False)
    assert set(tap.streams) == STANDARD_STREAMS
