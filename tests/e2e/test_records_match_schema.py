"""Every record of every stream family validates against the SCHEMA message the tap sent for it.

The tap's CLI runs against the sandbox, which describes Branch independently of the tap
(`tap_branch_sandbox/facts.py`): a column the tap types wrongly yields a record that breaks
its own schema here, whatever the tap's own modules believe.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tap_branch.records.schemas.event_topics import EO_TOPICS, REPORT_TYPES
from tests.support import TAP
from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    start_sandbox,
    utc_today,
)

#: Sandbox time runs this much faster, so Branch's rate limits hold but cost no wall time.
SCALE = 3600.0


def _scaled(windows: list[tuple[int, float]]) -> list[dict]:
    return [{"limit": limit, "seconds": seconds / SCALE} for limit, seconds in windows]


def _config(url: str) -> dict:
    return {
        "start_date": (utc_today() - dt.timedelta(days=2)).isoformat(),
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "access_token": SANDBOX_TOKEN,
        "app_id": SANDBOX_APP,
        "organization_id": "sandbox-org",
        "user_id": "dashboard_user_sandbox",
        "api_url": url,
        "api2_url": url,
        "backoff_factor": 0.05,
        "credit_identities": ["user-1", "user-25"],
        "scheduled_exports": [
            {"subscription_id": "sandbox-sub-1"},
            {"subscription_id": "sandbox-sub-2"},
        ],
        # The shapes most often got wrong are requested on purpose (lists of objects, maps).
        "custom_exports_fields": {
            "eo_open": [
                "id",
                "timestamp",
                "timestamp_iso",
                "custom_data",
                "persona_identifiers",
                "user_data_prob_cross_platform_ids",
                "user_data_past_cross_platform_ids",
                "last_attributed_touch_data_tilde_id",
                "last_attributed_touch_data_custom_fields",
                "di_match_click_token",
                "user_data_geo_lon",
                "organization_id",
                "organization_name",
                "datasource",
            ]
        },
        "custom_exports_poll_seconds": 0.01,
        "custom_exports_create_limits": _scaled([(10, 60), (25, 3600)]),
        "custom_exports_status_limits": _scaled([(50, 60), (1000, 3600)]),
        "custom_exports_days_limits": _scaled([(100, 3600)]),
        "cohort_rate_limits": [
            {"requests": 2, "seconds": 1 / SCALE},
            {"requests": 5, "seconds": 60 / SCALE},
            {"requests": 150, "seconds": 3600 / SCALE},
        ],
        "cohort_poll_interval": 2 / SCALE,
        "cohort_poll_max_interval": 20 / SCALE,
    }


def _run(args: list[str], tmp_path: Path) -> str:
    done = subprocess.run(
        [str(TAP), *args], capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _select_everything(catalog: dict) -> dict:
    """Every stream selected, the opt-in Custom Exports ones too."""
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = True
    return catalog


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type keyword judges non-strings
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


FORMATS = jsonschema.FormatChecker()
FORMATS.checks("date-time")(_date_time)


@pytest.fixture(scope="module")
def messages(tmp_path_factory) -> list[dict]:
    running = start_sandbox(time_scale=SCALE)
    tmp_path = tmp_path_factory.mktemp("schema-run")
    try:
        config = tmp_path / "config.json"
        config.write_text(json.dumps(_config(running.url)))
        catalog = json.loads(_run(["--config", str(config), "--discover"], tmp_path))
        selected = tmp_path / "catalog.json"
        selected.write_text(json.dumps(_select_everything(catalog)))
        out = _run(["--config", str(config), "--catalog", str(selected)], tmp_path)
    finally:
        running.stop()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_every_record_validates_against_its_streams_schema_message(messages):
    schemas: dict[str, dict] = {}
    counts: collections.Counter[str] = collections.Counter()
    errors: dict[str, list[str]] = collections.defaultdict(list)
    for message in messages:
        if message["type"] == "SCHEMA":
            schemas[message["stream"]] = message["schema"]
        elif message["type"] == "RECORD":
            stream = message["stream"]
            assert stream in schemas, f"{stream}: a RECORD before its SCHEMA message"
            counts[stream] += 1
            validator = jsonschema.Draft7Validator(schemas[stream], format_checker=FORMATS)
            for error in validator.iter_errors(message["record"]):
                if len(errors[stream]) < 3:
                    path = "/".join(map(str, error.absolute_path))
                    errors[stream].append(f"{path}: {error.message[:200]}")
    assert not errors, json.dumps(errors, indent=1, ensure_ascii=False)
    # Every family was exercised, every event topic and report type included.
    expected = {
        "links",
        "link_clicks",
        "events",
        "cohort_installs_by_campaign",
        "query_installs",
        "scheduled_export_jobs",
        "scheduled_export_rows",
        "credit_history",
        "credit_balances",
        "app_config",
        *(f"custom_{report_type}" for report_type in REPORT_TYPES),
    }
    assert expected - set(counts) == set()
    # Daily Exports v3: every topic's stream ran and had rows, each file its topic's columns.
    assert {f"daily_{topic}" for topic in EO_TOPICS} - set(counts) == set()


def _records(messages: list[dict], stream: str) -> list[dict]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def test_the_shapes_real_clients_see_arrive_typed(messages):
    """Lists of objects stay lists of objects, maps stay maps, Branch's ISO text is read."""
    opens = _records(messages, "custom_eo_open")
    assert opens
    assert all(isinstance(r["custom_data"], dict) for r in opens)
    personas = [p for r in opens for p in r["persona_identifiers"] or []]
    assert personas and all(set(p) == {"id", "type", "guaranteed"} for p in personas)
    probabilities = [p for r in opens for p in r["user_data_prob_cross_platform_ids"] or []]
    assert probabilities and all(isinstance(p["probability"], float) for p in probabilities)
    assert all(r["timestamp_iso"].endswith("+00:00") for r in opens)
    assert all(r["timestamp_iso"] == r["timestamp"][:19] + "+00:00" for r in opens)
    assert all("unparsed_cells" not in r and "extra_columns" not in r for r in opens)
    # Branch's `Long` organization id, a JSON number here, is text like every id.
    assert all(r["organization_id"].isdigit() and r["datasource"] for r in opens)
    for topic in EO_TOPICS:  # every column of every v3 topic's files is one the tap types
        daily = _records(messages, f"daily_{topic}")
        assert daily and all("extra_columns" not in r and "unparsed_cells" not in r for r in daily)
    events = _records(messages, "events")
    tagged = [r for r in events if r["first_referring_link_tags"]]
    assert tagged and all(isinstance(r["first_referring_link_tags"], list) for r in tagged)
    assert all("unparsed_cells" not in r for r in events)
    clicks = _records(messages, "link_clicks")
    assert {r["sms_from_desktop"] for r in clicks} == {True, False}
