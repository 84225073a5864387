"""Scheduled log exports: the jobs of each subscription and the rows of their files.

`api` speaks Branch's subscriptions/jobs API, `files` reads a job's files (csv, json, parquet),
`streams` holds the parent (jobs) and child (rows) streams.
"""

from __future__ import annotations

import functools

from tap_branch.config.apps import default_app_id
from tap_branch.config.probes import Probe, deselect_advice
from tap_branch.streams.scheduled.api import configured_subscriptions
from tap_branch.streams.scheduled.cache import ScheduledCache as Cache
from tap_branch.streams.scheduled.streams import (
    SETTINGS,
    ScheduledExportJobsStream,
    build_streams,
)

__all__ = ["SETTINGS", "Cache", "build_streams", "check_settings", "idle_reasons", "probes"]

PRODUCT = "Scheduled Log Exports"


def check_settings(config, streams: list) -> None:
    """Setting 'scheduled_exports': each entry's subscription_id, and an app_id (its own or
    the tap's)."""
    configured_subscriptions(config)


def probes(tap, streams: list, *, first_run: bool) -> list[Probe]:
    """`access_token`: the subscriptions the jobs stream lists (on a first run, its own cached
    answer), or when setting 'scheduled_exports' names them, the jobs of the first one. For
    `--test`, the subscriptions of the first app. Without an app id there is nothing to ask
    (the settings check names what is missing)."""
    config = tap.config
    if not config.get("access_token"):
        return []
    jobs = next(s for s in tap.streams.values() if isinstance(s, ScheduledExportJobsStream))
    named = configured_subscriptions(config) if first_run else []  # jobs: the stream's own ask
    avoid = deselect_advice(streams)
    if named:
        sub = named[0]
        asks = f"the jobs of scheduled export subscription {sub.subscription_id}"
        call = functools.partial(_ask, jobs.api.list_jobs, sub)
        avoid = f"check the subscription_id and app_id of setting 'scheduled_exports', or {avoid}"
    elif first_run:
        asks = "the scheduled export subscriptions"
        call = functools.partial(_ask, jobs.subscriptions)
    else:
        app_id = default_app_id(config)
        if not app_id:
            tap.logger.warning(
                "Setting 'access_token' is not tested for %s: it needs setting 'app_id'.", PRODUCT
            )
            return []
        asks = f"the scheduled export subscriptions of app {app_id}"
        call = functools.partial(_ask, jobs.api.list_subscriptions, app_id)
    return [
        Probe(
            credential="access_token",
            setting="setting 'access_token'",
            asks=asks,
            call=call,
            product=PRODUCT,
            avoid=avoid,
            streams=tuple(streams),
            url_setting="api2_url",
        )
    ]


def _ask(call, *args) -> None:
    call(*args)


def idle_reasons(tap, streams: list) -> list[str]:
    return []  # a subscription list that is empty is said when the stream runs
