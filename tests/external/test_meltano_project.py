"""meltano.yml is a valid Meltano project: the demo environment resolves, secrets stay redacted."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT

MELTANO = pathlib.Path(sys.executable).with_name("meltano")


def _config_list(tmp_path: pathlib.Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`meltano [args] config list ... --all` in a copy of this project, with the demo's
    variables and `env`; it must succeed."""
    shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")
    result = subprocess.run(
        [str(MELTANO), *args, "--all"],
        cwd=tmp_path,
        env={
            **os.environ,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "SANDBOX_PORT": "8787",
            "DEMO_START_DATE": "2026-01-01",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed in this environment")
def test_demo_environment_config_resolves(tmp_path):
    listing = _config_list(tmp_path, "--environment", "demo", "config", "list", "tap-branch").stdout
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


def _tap_plugin() -> dict:
    import yaml

    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [tap] = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-branch"]
    return tap


def test_meltano_yml_declares_the_taps_capabilities():
    from tap_branch.tap import TapBranch

    declared = set(_tap_plugin()["capabilities"])
    assert declared == {str(capability.value) for capability in TapBranch.capabilities}


def test_meltano_yml_declares_every_setting_the_tap_reads():
    """A setting Meltano was not told about has its environment variable silently ignored."""
    import copy

    from tap_branch.tap import TapBranch

    schema = copy.deepcopy(TapBranch.config_jsonschema)
    TapBranch.append_builtin_config(schema)
    declared = {setting["name"] for setting in _tap_plugin()["settings"]}
    assert set(schema["properties"]) <= declared
    for name in (
        "batch_config",
        "stream_maps",
        "flattening_enabled",
        "emit_activate_version_messages",
    ):
        assert name in declared


def test_the_shipped_selection_is_the_taps_default_selection():
    """Meltano's `select` takes what a plain Singer run takes without a catalog: every stream
    but the opt-in ones, Custom Exports (they spend export jobs) and credits (they need
    `credit_identities`)."""
    from fnmatch import fnmatch

    from tap_branch.tap import TapBranch

    patterns = [rule.split(".")[0] for rule in _tap_plugin()["select"]]
    assert not [p for p in patterns if p.startswith("!")]  # an exclusion would beat a user's opt-in
    streams = TapBranch(config={"start_date": "2024-01-01"}, parse_env_config=False).streams
    selected = {name for name in streams if any(fnmatch(name, p) for p in patterns)}
    assert selected == {name for name, stream in streams.items() if stream.selected_by_default}
    opt_in = {name for name in streams if name not in selected}
    assert {name for name in opt_in if not name.startswith("custom_")} == {
        "credit_history",
        "credit_balances",
    }


def test_env_example_names_only_real_settings():
    from tap_branch.tap import TapBranch

    lines = (ROOT / ".env.example").read_text().splitlines()
    names = [
        line.lstrip("# ").split("=", 1)[0]
        for line in lines
        if line.lstrip("# ").startswith("TAP_BRANCH_")
    ]
    assert "TAP_BRANCH_START_DATE" in names and "TAP_BRANCH_BRANCH_SECRET" in names
    properties = TapBranch.config_jsonschema["properties"]
    for name in names:
        assert name.removeprefix("TAP_BRANCH_").lower() in properties, name


def test_target_postgres_is_a_second_loader_configured_from_the_environment(tmp_path):
    """target-duckdb stays the demo's loader; target-postgres reads its connection from
    TARGET_POSTGRES_* variables, pinned to the version the BATCH test loads with."""
    import yaml

    from tests.support.target_postgres_env import REQUIREMENTS

    loaders = yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["loaders"]
    assert [loader["name"] for loader in loaders] == ["target-duckdb", "target-postgres"]
    [postgres] = [loader for loader in loaders if loader["name"] == "target-postgres"]
    assert postgres["pip_url"].split() == list(REQUIREMENTS)
    assert "variant" not in postgres  # no Meltano Hub look-up
    settings = {setting["name"]: setting for setting in postgres["settings"]}
    assert {"host", "port", "user", "password", "database", "default_target_schema"} <= set(
        settings
    )
    assert settings["password"].get("sensitive") is True
    assert "target-duckdb" in (ROOT / "scripts" / "demo.sh").read_text()
    if not MELTANO.exists():
        return
    result = _config_list(
        tmp_path,
        "config",
        "list",
        "target-postgres",
        TARGET_POSTGRES_HOST="db.internal",
        TARGET_POSTGRES_PORT="6543",
        TARGET_POSTGRES_USER="loader",
        TARGET_POSTGRES_PASSWORD="pg-secret-value",
        TARGET_POSTGRES_DATABASE="warehouse",
    )
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if " [env: " in line}
    for name, value in (
        ("host", "'db.internal'"),
        ("port", "6543"),
        ("user", "'loader'"),
        ("password", "(redacted)"),
        ("database", "'warehouse'"),
        ("default_target_schema", "'branch'"),
    ):
        assert f"[env: TARGET_POSTGRES_{name.upper()}]" in lines[name], lines[name]
        assert f"current value: {value}" in lines[name], lines[name]
    assert "pg-secret-value" not in result.stdout + result.stderr
