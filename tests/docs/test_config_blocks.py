"""The config files the docs show (`<!-- shown: config -->`) are what the tap and its tools take,
and the benchmark commands they show (`<!-- run: benchmark -->`) name options their scripts have.

Blocks that the test running their page loads itself (the PostgreSQL recipe's meltano.yml entry:
tests/external/test_meltano_commands.py) are left to it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import sys

import pytest
import yaml
from singer_sdk.metrics import METRICS_LOGGER_NAME

from tap_branch.tap import TapBranch
from tests.docs.blocks import ROOT, marked, one

START = {"start_date": "2026-03-01"}


def _tap(config: dict) -> TapBranch:
    """The tap with this config, validated as a run validates it."""
    return TapBranch(config={**START, **config}, parse_env_config=False, validate_config=True)


def test_the_meltano_plugin_entry_is_this_repositorys():
    shown = yaml.safe_load(
        one("shown: config", "docs/getting-started/meltano.md", "tap-branch").text
    )
    [entry] = shown["plugins"]["extractors"]
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [ours] = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-branch"]
    for key in ("name", "namespace", "executable", "capabilities", "select"):
        assert entry[key] == ours[key], key


def test_the_several_apps_example_is_a_config_the_tap_takes():
    shown = json.loads(one("shown: config", "docs/getting-started/real-account.md", '"apps"').text)
    tap = _tap(shown)
    partitions = tap.streams["links"].partitions
    assert [p["app_id"] for p in partitions] == ["123", "456"]


@pytest.mark.parametrize("setting", ["query_reports", "aggregate_reports"])
def test_the_analytics_report_examples_make_their_streams(setting):
    shown = yaml.safe_load(one("shown: config", "docs/families/analytics.md", f"{setting}:").text)
    tap = _tap({**shown, "access_token": "api_app_x", "app_id": "1"})
    prefix = setting.split("_")[0]
    for report in shown[setting]:
        assert f"{prefix}_{report['name']}" in tap.streams, report["name"]


def test_the_metrics_logging_config_sends_metrics_to_its_file(tmp_path):
    shown = one("shown: config", "docs/operations.md", "singer_sdk.metrics")
    (tmp_path / "logging.yml").write_text(shown.text)
    config = yaml.safe_load(shown.text)
    assert METRICS_LOGGER_NAME in config["loggers"]  # the SDK's own name for its metrics logger
    handler = config["handlers"]["metrics"]
    code = (
        "import logging, logging.config, yaml;"
        "logging.config.dictConfig(yaml.safe_load(open('logging.yml')));"
        "logging.getLogger('singer_sdk.metrics').warning('a metric')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "a metric" in (tmp_path / handler["filename"]).read_text()
    assert "a metric" not in done.stderr  # not propagated to the console


@pytest.mark.parametrize(
    "block", marked("run: benchmark"), ids=[b.where() for b in marked("run: benchmark")]
)
def test_benchmark_commands_name_options_their_scripts_have(block):
    for line in block.lines():
        words = shlex.split(line)
        assert words[0] == ".venv/bin/python", line
        script = ROOT / words[1]
        assert script.exists(), line
        usage = subprocess.run(
            [sys.executable, str(script), "--help"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert usage.returncode == 0, (line, usage.stderr[-2000:])
        for option in (word for word in words[2:] if word.startswith("--")):
            assert option in usage.stdout, (line, option)


def test_ci_blocks_name_the_projects_scripts():
    for block in marked("run: ci"):
        for line in block.lines():
            script = pathlib.Path(ROOT, line)
            assert line.startswith("./scripts/") and os.access(script, os.X_OK), block.where()
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
