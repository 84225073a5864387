"""Every Meltano command the README shows, run as written against the Meltano this project
installs, in a new project holding the README's plugin entry (this repository's), the tap
installed from this checkout, and Branch played by the sandbox.

The commands are read from the README's "In Meltano" block, so a command added there is run
here too; placeholders (`key_live_xxx`, ...) become the sandbox's credentials.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from tests.support import ROOT
from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    start_sandbox,
    utc_today,
)

MELTANO = pathlib.Path(sys.executable).with_name("meltano")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed in this environment"),
]


def readme_meltano_commands() -> list[str]:
    """The `meltano ...` lines of the README's "In Meltano" bash block, comments removed."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### In Meltano") :]
    section = section[: section.index("\n### ")]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith("meltano "):
                commands.append(command)
    return commands


def _placeholders(start_date: dt.date) -> dict[str, str]:
    return {
        "key_live_xxx": SANDBOX_KEY,
        "secret_live_xxx": SANDBOX_SECRET,
        "api_app_xxx": SANDBOX_TOKEN,
        "123456789012345678": SANDBOX_APP,
        "2024-01-01": start_date.isoformat(),
    }


def _user_project(path: pathlib.Path) -> None:
    """A user's project: this repository's plugin entries, installed from this checkout, and
    the environments `meltano init` makes (not the `demo` one: its settings and selection are
    the demo's, not a user's)."""
    import yaml  # Meltano's dependency: present wherever this test runs

    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    project["default_environment"] = "dev"
    project["environments"] = [{"name": "dev"}, {"name": "staging"}, {"name": "prod"}]
    project["project_id"] = "tap-branch-readme-test"
    [tap] = project["plugins"]["extractors"]
    tap["pip_url"] = f"-e {ROOT}"
    (path / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    (path / "output").mkdir()


def _selected_streams(listing: str) -> set[str]:
    return {
        line.split()[-1].split(".")[0]
        for line in listing.splitlines()
        if line.strip().startswith("[selected")
    }


def test_readme_commands_cover_the_first_hour():
    commands = readme_meltano_commands()
    verbs = {" ".join(command.split()[1:3]) for command in commands}
    for expected in (
        "install --plugin-type",
        "config set",
        "config list",
        "select tap-branch",
        "invoke tap-branch",
        "run tap-branch",
    ):
        assert expected in verbs, (expected, commands)
    # Meltano 3+ spelling: `meltano config set <plugin>`, never `meltano config <plugin> set`.
    assert not [c for c in commands if c.startswith("meltano config tap-branch")]


def test_every_readme_meltano_command_works(sandbox, tmp_path):
    _user_project(tmp_path)
    start = utc_today() - dt.timedelta(days=2)
    env = {
        **os.environ,
        "PATH": f"{MELTANO.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        # Declared settings read their environment variables: the sandbox stands in for Branch.
        "TAP_BRANCH_API_URL": sandbox.url,
        "TAP_BRANCH_API2_URL": sandbox.url,
        "TAP_BRANCH_REQUEST_TIMEOUT": "60",
    }
    secrets = (SANDBOX_SECRET, SANDBOX_TOKEN)
    outputs: dict[str, str] = {}
    ran_custom_opt_in = False
    for command in readme_meltano_commands():
        for placeholder, value in _placeholders(start).items():
            command = command.replace(placeholder, value)
        result = subprocess.run(
            shlex.split(command),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-6000:])
        for secret in secrets:
            assert secret not in result.stdout + result.stderr, command
        outputs[command] = result.stdout
        words = shlex.split(command)

        if words[1:3] == ["select", "tap-branch"] and "--list" in words:
            selected = _selected_streams(result.stdout)
            # The shipped selection: every family, and no Custom Exports stream unless chosen.
            assert {
                "links",
                "events",
                "daily_eo_install",
                "cohort_installs_by_campaign",
                "query_installs",
            } <= selected
            assert not {s for s in selected if s.startswith(("custom_", "credit_"))}
        if words[1:3] == ["run", "tap-branch"]:
            requests = sandbox.requests_log()
            paths = {r["path"] for r in requests}
            assert any(p.startswith("/v1/export") for p in paths)
            assert any(p.startswith("/v2/analytics") for p in paths)
            assert "/v1/query/analytics" in paths
            # No Custom Export job was created, nor a readiness check spent.
            assert not [r for r in requests if r["path"].startswith(("/v2/logs", "/v2/data"))]
            assert (tmp_path / "output" / "demo.duckdb").exists()
        if words[1:3] == ["select", "tap-branch"] and words[3:4] == ["custom_eo_install"]:
            ran_custom_opt_in = True

    # `meltano config test` fails on each wrong credential, naming it, before any export job.
    for setting, wrong in (
        ("branch_secret", "secret_live_WRONG"),
        ("access_token", "api_app_WRONG"),
    ):
        sandbox.clear_requests()
        result = subprocess.run(
            [str(MELTANO), "config", "test", "tap-branch"],
            cwd=tmp_path,
            env={**env, f"TAP_BRANCH_{setting.upper()}": wrong},
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode != 0 and f"'{setting}'" in output, (setting, output[-3000:])
        assert wrong not in output
        requests = sandbox.requests_log()
        assert requests and not [
            r for r in requests if r["path"].startswith(("/v2/logs", "/v2/data", "/v2/analytics"))
        ]

    # An account without Scheduled Log Exports: `meltano config test` of a cohort-only
    # selection passes (it used to fail on the subscriptions listing, whatever was selected).
    lacking = start_sandbox(profile="no-scheduled-exports", options={"cohort_job_latency": 0.1})
    try:
        result = subprocess.run(
            [str(MELTANO), "config", "test", "tap-branch"],
            cwd=tmp_path,
            env={
                **env,
                "TAP_BRANCH_API_URL": lacking.url,
                "TAP_BRANCH_API2_URL": lacking.url,
                "TAP_BRANCH_START_DATE": (utc_today() - dt.timedelta(days=20)).isoformat(),
                "TAP_BRANCH__SELECT": '["cohort_installs_by_campaign.*"]',
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        paths = [r["path"] for r in lacking.sandbox.request_log]
        assert any(p.startswith("/v2/analytics") for p in paths), paths
        assert not [p for p in paths if p.startswith("/scheduled-exports")], paths
    finally:
        lacking.stop()

    # Secrets went to .env, never into meltano.yml.
    meltano_yml = (tmp_path / "meltano.yml").read_text()
    dotenv = (tmp_path / ".env").read_text()
    for secret in secrets:
        assert secret not in meltano_yml and secret in dotenv

    listing = next(out for command, out in outputs.items() if "config list" in command)
    assert "branch_secret [env: TAP_BRANCH_BRANCH_SECRET] current value: (redacted)" in listing
    api_url = next(line for line in listing.splitlines() if line.startswith("api_url "))
    assert sandbox.url in api_url

    # The opt-in lines really select that one report type, and only it, and the credits.
    assert ran_custom_opt_in
    after = subprocess.run(
        [str(MELTANO), "select", "tap-branch", "--list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    custom = {s for s in _selected_streams(after.stdout) if s.startswith("custom_")}
    assert custom == {"custom_eo_install"}
    assert {"credit_history", "credit_balances"} <= _selected_streams(after.stdout)
    assert "app_config" not in _selected_streams(after.stdout)
