"""Query API and Aggregate Exports records loaded into a real PostgreSQL by
meltanolabs-target-postgres, run after run: the settling window's rows re-read by a second run,
and corrected by a third a day later, are upserted on the primary key (dimensions that are null
included), never duplicated; both APIs' tables hold the same numbers."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess

import pytest

from tests.support import TAP
from tests.support.postgres_server import PostgresServer
from tests.support.sandbox import (
    NOW,
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    start_sandbox,
    utc_today,
)
from tests.support.tap_runner import select_only
from tests.support.target_postgres_env import target_postgres

STREAM = "query_install_events"
AGGREGATE = "aggregate_install_events"
REPORT = {
    "name": "install_events",
    "data_source": "eo_install",
    "aggregation": "total_count",
    "dimensions": ["last_attributed_touch_data_tilde_campaign", "user_data_os"],
}


@pytest.fixture
def postgres(postgres_server: PostgresServer) -> PostgresServer:
    """The worker's server (tests/external/conftest.py), without this test's schema."""
    postgres_server.psql("DROP SCHEMA IF EXISTS analytics CASCADE")
    return postgres_server


def _run(
    tmp: pathlib.Path, name: str, config: dict, state: dict | None, postgres, now
) -> tuple[list[dict], dict]:
    """`tap-branch | target-postgres` at the moment `now`; the tap's records and last state."""
    (tmp / f"{name}.json").write_text(json.dumps(config))
    args = [str(TAP), "--config", str(tmp / f"{name}.json"), "--catalog", str(tmp / "catalog.json")]
    if state:
        (tmp / f"{name}.state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp / f"{name}.state.json")]
    env = {**os.environ, "TAP_BRANCH_TEST_NOW": now.isoformat()}
    tap = subprocess.run(args, capture_output=True, timeout=300, env=env, cwd=tmp)
    assert tap.returncode == 0, tap.stderr.decode()[-3000:]
    (tmp / "target.json").write_text(json.dumps(postgres.target_config("analytics")))
    target = subprocess.run(
        [str(target_postgres()), "--config", str(tmp / "target.json")],
        input=tap.stdout,
        capture_output=True,
        timeout=300,
        cwd=tmp,
    )
    assert target.returncode == 0, "\n".join(
        line[:500] for line in target.stderr.decode().splitlines() if "rror" in line
    )
    messages = [json.loads(line) for line in tap.stdout.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == STREAM]
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {STREAM, AGGREGATE}
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return records, states[-1]


def _table(postgres: PostgresServer, stream: str = STREAM) -> dict[tuple, int]:
    out = postgres.psql(
        "SELECT date, coalesce(last_attributed_touch_data_tilde_campaign, '<null>'), "
        f"coalesce(user_data_os, '<null>'), total_count FROM analytics.{stream}"
    )
    rows = [line.split("|") for line in out.splitlines()]
    table: dict[tuple, int] = {}
    for date, campaign, os_name, count in rows:
        key = (date, campaign, os_name)
        assert key not in table, f"row {key} loaded twice"
        table[key] = int(count)
    return table


def _expected(records: list[dict]) -> dict[tuple, int]:
    return {
        (
            r["date"],
            r["last_attributed_touch_data_tilde_campaign"] or "<null>",
            r["user_data_os"] or "<null>",
        ): r["total_count"]
        for r in records
    }


def test_rereads_and_late_corrections_are_upserted(postgres, tmp_path):
    running = start_sandbox(time_scale=100.0, options={"query_late_events": 3})
    try:
        config = {
            "start_date": (utc_today() - dt.timedelta(days=12)).isoformat(),
            "branch_key": SANDBOX_KEY,
            "branch_secret": SANDBOX_SECRET,
            "app_id": SANDBOX_APP,
            "api_url": running.url,
            "api2_url": running.url,
            "access_token": SANDBOX_TOKEN,
            "query_reports": [REPORT],
            "aggregate_reports": [REPORT],
            "query_rate_limits": [{"requests": 1000, "seconds": 1}],
            "aggregate_rate_limits": [
                {"requests": 2, "seconds": 0.01},
                {"requests": 5, "seconds": 0.6},
            ],
            "aggregate_poll_interval": 0.02,
        }
        catalog = json.loads(
            subprocess.run(
                [str(TAP), "--config", "/dev/stdin", "--discover"],
                input=json.dumps(config),
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            ).stdout
        )
        select_only(catalog, (STREAM, AGGREGATE))
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        first, state = _run(tmp_path, "first", config, None, postgres, NOW)
        loaded = _table(postgres)
        assert loaded == _expected(first)
        assert any(key[1] == "<null>" for key in loaded)  # null dimensions in the key
        assert _table(postgres, AGGREGATE) == loaded
        second, state = _run(tmp_path, "second", config, state, postgres, NOW)
        assert second and len(second) < len(first)  # the settling window only
        assert _table(postgres) == loaded  # upserted, not appended
        # a day later the sandbox's late events of the day before yesterday have arrived
        requests_post(running.url, {"advance_days": 1})
        third, _ = _run(tmp_path, "third", config, state, postgres, NOW + dt.timedelta(days=1))
        corrected = _table(postgres)
        yesterday = (utc_today() - dt.timedelta(days=1)).isoformat()
        assert (
            sum(v for k, v in corrected.items() if k[0] == yesterday)
            == sum(v for k, v in loaded.items() if k[0] == yesterday) + 3
        )
        assert corrected == {**loaded, **_expected(third)}
        assert _table(postgres, AGGREGATE) == corrected
    finally:
        running.stop()


def requests_post(url: str, body: dict) -> None:
    import requests

    requests.post(f"{url}/_sandbox/clock", json=body, timeout=10).raise_for_status()
