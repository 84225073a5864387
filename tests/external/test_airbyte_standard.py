"""Airbyte's own checks, run as Airbyte runs them: the standard source tests of a pinned
airbyte-cdk (`SourceTestSuiteBase`, driven by the project's `acceptance-test-config.yml`)
against `tap-branch-airbyte` and the sandbox, and `metadata.yaml` against Airbyte's metadata
models (tests/support/airbyte_standard/suite.py, in the CDK's virtualenv: tests/support/airbyte_cdk_env.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
import sys
import typing as t
import xml.etree.ElementTree as ET

import pytest

from tap_branch_sandbox.runner import RunningSandbox
from tests.support import ROOT
from tests.support.airbyte_cdk_env import airbyte_cdk_python
from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    start_sandbox,
    utc_today,
)

SUITE = ROOT / "tests" / "support" / "airbyte_standard" / "suite.py"

#: What the suite runs: every test of the CDK's suite but its docker image tests (no container
#: tooling here), for each config of acceptance-test-config.yml; the CDK runs only `check` for
#: the wrong secret, listed under `connection` alone.
_SCENARIO_TESTS = (
    "config_matches_spec",
    "check",
    "discover",
    "basic_read",
    "fail_read_with_bad_catalog",
)
EXPECTED = {
    "TestTapBranchAirbyte::test_spec": "passed",
    **{
        f"TestTapBranchAirbyte::test_{test}['{config}' Test Scenario]": (
            "passed" if config == "config" or test == "check" else "skipped"
        )
        for test in _SCENARIO_TESTS
        for config in ("config", "wrong_secret")
    },
    "test_metadata_is_valid_for_airbytes_metadata_models": "passed",
}

#: Sandbox time runs this much faster (export and cohort jobs, rate-limit windows).
TIME_SCALE = 3600.0


def standard_config(url: str) -> dict:
    """Every credential the sandbox accepts, its limits and polls scaled to its time."""
    per_hour = [{"limit": 1000, "seconds": 3600 / TIME_SCALE}]
    return {
        "start_date": (utc_today() - dt.timedelta(days=3)).isoformat(),
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "access_token": SANDBOX_TOKEN,
        "app_id": SANDBOX_APP,
        "user_id": "dashboard_user_sandbox",
        "credit_identities": ["user-1", "user-2"],
        "api_url": url,
        "api2_url": url,
        "backoff_factor": 0.05,
        "cohort_rate_limits": [{"requests": 150, "seconds": 3600 / TIME_SCALE}],
        "cohort_poll_interval": 2 / TIME_SCALE,
        "cohort_poll_max_interval": 20 / TIME_SCALE,
        "custom_exports_poll_seconds": 0.01,
        "custom_exports_create_limits": [{"limit": 25, "seconds": 3600 / TIME_SCALE}],
        "custom_exports_status_limits": per_hour,
        "custom_exports_days_limits": per_hour,
    }


@pytest.fixture
def fast_sandbox() -> t.Iterator[RunningSandbox]:
    running = start_sandbox(time_scale=TIME_SCALE)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cdk_python() -> pathlib.Path:
    python = airbyte_cdk_python()
    if python is None:
        pytest.skip(f"airbyte-cdk needs Python 3.10-3.12 and uv found none besides {sys.version}")
    return python


def test_airbytes_standard_tests_pass(fast_sandbox, cdk_python, tmp_path):
    connector = tmp_path / "source-branch"
    (connector / "secrets").mkdir(parents=True)
    shutil.copy(ROOT / "acceptance-test-config.yml", connector)
    config = standard_config(fast_sandbox.url)
    configs = {
        "config.json": config,
        "wrong_secret.json": {**config, "branch_secret": "secret_live_WRONG0000"},
    }
    for name, config in configs.items():
        (connector / "secrets" / name).write_text(json.dumps(config))
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [
            str(cdk_python),
            "-m",
            "pytest",
            str(SUITE),
            "--noconftest",  # the project's conftest imports the project, not installed there
            "-p",
            "no:cacheprovider",
            "-k",
            "not docker_image",
            # the catalog checks the CDK only warns about yet fail here
            "-W",
            "error::airbyte_cdk.test.standard_tests.DiscoveredCatalogWarning",
            f"--junitxml={report}",
            "-q",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "TAP_BRANCH_AIRBYTE": str(pathlib.Path(sys.executable).parent / "tap-branch-airbyte"),
            "AIRBYTE_STANDARD_ROOT": str(connector),
            "TMPDIR": str(tmp_path),  # the CDK writes each config and catalog to a temp file
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("classname", "").rsplit(".", 1)[-1] + "::" + case.get("name", "")
        name = name.removeprefix("suite::")
        outcomes[name] = "passed" if len(case) == 0 else case[0].tag
    assert outcomes == EXPECTED, done.stdout[-3000:]
