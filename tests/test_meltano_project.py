"""meltano.yml is a valid Meltano project: the demo environment resolves, secrets stay redacted."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MELTANO = pathlib.Path(sys.executable).with_name("meltano")


@pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed in this environment")
def test_demo_environment_config_resolves(tmp_path):
    shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "SANDBOX_PORT": "8787",
        "DEMO_START_DATE": "2026-01-01",
    }
    result = subprocess.run(
        [str(MELTANO), "--environment", "demo", "config", "list", "tap-branch", "--all"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listing = result.stdout
    api_url = next(line for line in listing.splitlines() if line.startswith("api_url "))
    assert "current value: 'http://127.0.0.1:8787'" in api_url
    assert "start_date [env: TAP_BRANCH_START_DATE] current value: '2026-01-01'" in listing
    # Sensitive settings are redacted by Meltano, never printed.
    assert "secret_live_sandbox" not in listing
    assert "api_app_sandbox" not in listing
    assert "branch_secret [env: TAP_BRANCH_BRANCH_SECRET] current value: (redacted)" in listing


def test_meltano_yml_and_readme_settings_match_the_tap():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_settings.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
