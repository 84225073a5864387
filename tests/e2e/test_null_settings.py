"""A setting given as null (in a config file, an environment variable, a nested entry) means
the same as leaving it out, its default; a null the schema does not allow is refused naming
the setting. Never a bare TypeError at the first request (issue 23, point 5)."""

from __future__ import annotations

import collections
import copy

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.config.settings import NULL_MEANS_DEFAULT, NULL_MEANS_UNSET, accepts_null
from tap_branch.records.typers import types_of
from tap_branch.tap import TapBranch
from tests.support.tap_runner import run_tap

_GOOD = {"start_date": "2024-01-01", "branch_key": "key_live_x", "branch_secret": "secret_live_x"}


def _schema() -> dict:
    schema = copy.deepcopy(TapBranch.config_jsonschema)
    TapBranch.append_builtin_config(schema)
    return schema


SETTINGS = _schema()["properties"]


def _started_or_refusal(config: dict, *, parse_env: bool = False) -> TapBranch | str:
    """The tap, or the whole message of its refusal (what the CLI prints). Any other
    exception (a TypeError, ...) fails the test."""
    try:
        return TapBranch(config=config, parse_env_config=parse_env)
    except ConfigValidationError as exc:
        return " ".join([str(exc), *(exc.errors or [])])


@pytest.mark.parametrize("name", [name for name, prop in SETTINGS.items() if accepts_null(prop)])
def test_every_nullable_setting_given_null_is_its_default(name):
    started = _started_or_refusal({**_GOOD, name: None})
    assert isinstance(started, TapBranch), started
    if "default" in SETTINGS[name]:
        assert started.config[name] == SETTINGS[name]["default"]
    else:
        assert name not in started.config  # as if unset: `config.get(name)` finds nothing


#: A valid entry of each setting that is a list of objects, every key set.
_ENTRIES = {
    "apps": {"branch_key": "key_live_x", "branch_secret": "secret_live_x", "app_id": "app-1"},
    "cohort_reports": {
        "name": "r",
        "data_source": "install_cohort",
        "dimensions": ["install_activity_touch_data_tilde_campaign"],
        "measures": ["users"],
        "filters": {"install_activity_touch_data_tilde_campaign": ["a"]},
        "granularity": "day",
        "granularity_band_count": 30,
        "cumulative": True,
        "per_user": False,
        "enable_install_recalculation": False,
    },
    "scheduled_exports": {"subscription_id": "s", "app_id": "app-1", "name": "n"},
    "query_reports": {
        "name": "r",
        "data_source": "eo_install",
        "aggregation": "unique_count",
        "dimensions": ["user_data_os"],
        "filters": {"user_data_os": ["IOS"]},
        "granularity": "day",
        "zero_fill": False,
        "enable_install_recalculation": False,
    },
}
_ENTRIES["aggregate_reports"] = _ENTRIES["query_reports"]


def _entries_with_a_null() -> list[tuple[str, str]]:
    """(setting, key) for every nullable key of a setting's list entries (`apps`, ...)."""
    found = []
    for name, prop in SETTINGS.items():
        inner = (prop.get("items") or {}).get("properties") or {}
        found.extend((name, key) for key, schema in inner.items() if accepts_null(schema))
    return found


@pytest.mark.parametrize(("name", "key"), _entries_with_a_null())
def test_a_null_key_of_a_settings_entry_is_left_out_or_refused_naming_it(name, key):
    assert name in _ENTRIES, f"give a valid entry of setting '{name}' in _ENTRIES"
    entry = {**_ENTRIES[name], key: None}
    base = {"start_date": "2024-01-01"} if name == "apps" else _GOOD
    started = _started_or_refusal({**base, name: [entry]})
    if isinstance(started, str):  # a key the tap cannot do without (a report's measures)
        assert f"'{key}'" in started and name in started
        return
    assert started.config[name] == [{k: v for k, v in entry.items() if k != key}]


def test_only_the_nulls_the_schema_allows_are_left_out():
    """A null the schema refuses stays, to be refused naming the setting; a null inside
    `stream_maps` (where it removes a property) is no unset setting and stays too."""
    refused = _started_or_refusal({**_GOOD, "start_date": None})
    assert isinstance(refused, str) and "config['start_date']" in refused
    refused = _started_or_refusal({"start_date": "2024-01-01", "apps": [{"branch_key": None}]})
    assert isinstance(refused, str) and "config['apps'][0]['branch_key']" in refused
    maps = {"links": {"alias": None}}
    started = _started_or_refusal({**_GOOD, "stream_maps": maps, "request_timeout": None})
    assert isinstance(started, TapBranch), started
    assert started.config["stream_maps"] == maps
    assert started.config["request_timeout"] == SETTINGS["request_timeout"]["default"]


def _takes_json(prop: dict) -> bool:
    """Whether the setting's environment variable is read as JSON text (lists, objects, any)."""
    kinds = set(types_of(prop)) - {"null"}
    return not kinds or bool(kinds & {"array", "object"})


@pytest.mark.parametrize("name", [name for name, prop in SETTINGS.items() if _takes_json(prop)])
def test_a_json_setting_given_null_by_its_environment_variable_is_unset(monkeypatch, name):
    """`TAP_BRANCH_<SETTING>=null` for a setting read as JSON text: JSON null, so unset (its
    default). A text setting's variable holds the word "null", checked as any other text."""
    monkeypatch.setenv("TAP_BRANCH_START_DATE", "2024-01-01")
    monkeypatch.setenv("TAP_BRANCH_" + name.upper(), "null")
    started = _started_or_refusal({}, parse_env=True)
    assert isinstance(started, TapBranch), started
    assert started.config.get(name, "unset") is not None


def test_each_nullable_setting_says_what_null_means():
    """`--about`, meltano.yml and the README table show each setting's description."""
    for name, prop in SETTINGS.items():
        if accepts_null(prop):
            note = NULL_MEANS_DEFAULT if "default" in prop else NULL_MEANS_UNSET
            assert prop["description"].endswith(note), name
    assert not SETTINGS["start_date"]["description"].endswith(
        (NULL_MEANS_DEFAULT, NULL_MEANS_UNSET)
    )


#: The settings that point the run at the sandbox, with its credentials: not made null below.
_SANDBOX_SETTINGS = {
    "start_date",
    "api_url",
    "api2_url",
    "branch_key",
    "branch_secret",
    "access_token",
    "app_id",
}


def test_a_run_with_every_nullable_setting_null_syncs_as_without_them(sandbox, base_config):
    """Every nullable setting null at once (`backoff_factor`, read at the first request, and
    `empty_day_grace_days`, read on the empty days the sandbox serves here, among them): the
    run exits 0 and sends what the same run without those settings sends."""
    sandbox.options(daily_rows={"links": 0, "link_clicks": 0, "events": 0})
    config = {k: v for k, v in base_config.items() if k in _SANDBOX_SETTINGS}
    nulls = {name: None for name, prop in SETTINGS.items() if accepts_null(prop)}
    with_nulls = run_tap({**nulls, **config})
    assert with_nulls.error is None
    unset = run_tap(config)

    def counts(run) -> dict:
        return collections.Counter(m["stream"] for m in run.messages if m["type"] == "RECORD")

    assert counts(with_nulls) == counts(unset)
    # Every family that needs no more settings sent rows (the daily streams' days are empty).
    assert {
        "daily_eo_click",
        "cohort_installs_by_campaign",
        "scheduled_export_rows",
        "app_config",
    } <= set(counts(with_nulls))
    assert with_nulls.state == unset.state
    # The empty days: older than the default grace of 2 days passed, the later ones wait.
    assert "are not ready yet" in with_nulls.logs
