"""Families own their knowledge: the tap and its config layer know no family by name, and each
family package exports what the tap asks of it (`tap_branch.streams.family.Family`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError

import tap_branch
from tap_branch import streams as families
from tap_branch.streams import cohort
from tap_branch.streams.family import Family
from tap_branch.tap import TapBranch

ROOT = Path(tap_branch.__file__).parent
#: What must know no family: the tap and the checks made before a request.
GENERIC = [ROOT / "tap.py", *sorted((ROOT / "config").glob("*.py"))]
FAMILY_PACKAGES = {family.__name__ for family in families.FAMILIES}

#: Settings that make every family build its streams (one report each), so that every
#: stream name a family can yield is known.
CONFIG = {
    "start_date": "2024-01-01",
    "branch_key": "key_live_x",
    "branch_secret": "secret_live_x",
    "access_token": "api_app_x",
    "app_id": "1",
    "aggregate_reports": [
        {
            "name": "installs",
            "data_source": "eo_install",
            "aggregation": "unique_count",
            "dimensions": ["last_attributed_touch_data_tilde_campaign"],
        }
    ],
}


def _stream_names() -> set[str]:
    return {stream.name for stream in TapBranch(config=CONFIG).discover_streams()}


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT.parent))


def test_every_kind_of_stream_is_known():
    names = _stream_names()
    for expected in ("links", "scheduled_export_jobs", "app_config", "cohort_installs_by_campaign"):
        assert expected in names
    assert any(name.startswith("aggregate_") for name in names)


def test_tap_and_config_import_no_family():
    found = []
    for path in GENERIC:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for module in modules:
                if any(module == p or module.startswith(p + ".") for p in FAMILY_PACKAGES):
                    found.append(f"{_relative(path)}:{node.lineno}: {module}")
    assert found == []


def test_tap_and_config_name_no_stream():
    names = _stream_names()
    found = [
        f"{_relative(path)}:{node.lineno}: {node.value!r}"
        for path in GENERIC
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert found == []


def test_no_run_cache_keyed_by_strings_is_left():
    pattern = re.compile(r"\brun_cache\b")
    tests = Path(__file__).resolve().parents[1]
    found = [
        _relative(path) if path.is_relative_to(ROOT.parent) else str(path)
        for path in [*ROOT.rglob("*.py"), *tests.rglob("*.py")]
        if path != Path(__file__).resolve() and pattern.search(path.read_text())
    ]
    assert found == []


@pytest.mark.parametrize("family", families.FAMILIES, ids=lambda family: family.__name__)
def test_each_family_keeps_the_contract(family):
    assert isinstance(family, Family)
    assert isinstance(family.Cache, type)
    family.Cache()  # built with no arguments, on a run's first ask
    assert family.SETTINGS


def _cohort_streams(tap: TapBranch) -> list:
    return [s for s in tap.streams.values() if s.name.startswith("cohort_")]


def test_a_family_checks_the_settings_its_selected_streams_need():
    """The tap runs each selected family's `check_settings` before any request: the
    cohort streams need what their queries are scoped by."""
    unscoped = TapBranch(config={k: v for k, v in CONFIG.items() if k != "app_id"})
    with pytest.raises(ConfigValidationError, match="'organization_id' or 'app_id'"):
        cohort.check_settings(unscoped.config, _cohort_streams(unscoped))
    scoped = TapBranch(config={**unscoped.config, "organization_id": "org"})
    cohort.check_settings(scoped.config, _cohort_streams(scoped))
