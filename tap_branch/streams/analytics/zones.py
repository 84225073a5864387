"""The apps' dashboard time zones: Branch counts a Query API day in the time zone configured
for the app in the Branch dashboard (`start_date`/`end_date` and the day buckets), and its
answers say it only as UTC bucket timestamps (local midnight, e.g. `08:00:00.000Z` for
UTC-8). Branch offers no API to read the zone, so it is a setting; a bucket that is not a
local midnight in the configured zone fails the run naming the setting.
"""

from __future__ import annotations

import datetime as dt
import typing as t
import zoneinfo

from singer_sdk import typing as th

from tap_branch.config.apps import configured_apps
from tap_branch.config.errors import invalid_setting

UTC = dt.timezone.utc

SETTINGS = [
    th.Property(
        "dashboard_time_zone",
        th.StringType,
        default="UTC",
        description="IANA time zone of the apps' Branch dashboards (Account Settings), e.g. "
        "America/Los_Angeles: the Query API's days are days of that zone.",
    ),
    th.Property(
        "dashboard_time_zones",
        th.ObjectType(additional_properties=th.StringType()),
        description="Per app: {app_id: IANA time zone}, for apps whose dashboard zone is not "
        "dashboard_time_zone; an organization_id key sets the zone of Aggregate Exports "
        "asked per organization.",
    ),
]


def _zone(name: t.Any, setting: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise invalid_setting(
            f"Setting '{setting}': {name!r} is not an IANA time zone (e.g. UTC, "
            "America/Los_Angeles, Asia/Tokyo)."
        ) from None


def check_zones(config: t.Mapping[str, t.Any]) -> None:
    """Every configured zone exists, and is set for a configured app (a config error naming
    the setting otherwise: a mistyped app would be read in the default zone)."""
    _zone(config.get("dashboard_time_zone") or "UTC", "dashboard_time_zone")
    known = {app.app_id for app in configured_apps(config)}
    known |= {str(app["app_id"]) for app in config.get("apps") or [] if app.get("app_id")}
    if config.get("app_id"):
        known.add(str(config["app_id"]))
    for app_id, name in (config.get("dashboard_time_zones") or {}).items():
        _zone(name, f"dashboard_time_zones.{app_id}")
        if known and app_id not in known:
            raise invalid_setting(
                f"Setting 'dashboard_time_zones': {app_id!r} is none of the configured apps "
                f"({', '.join(sorted(known))}); its zone would apply to no app."
            )


def zone_of(config: t.Mapping[str, t.Any], owner_id: str) -> zoneinfo.ZoneInfo:
    """The dashboard zone of an app (by app_id) or of an organization (by organization_id)."""
    per_owner = config.get("dashboard_time_zones") or {}
    if owner_id in per_owner:
        return _zone(per_owner[owner_id], f"dashboard_time_zones.{owner_id}")
    return _zone(config.get("dashboard_time_zone") or "UTC", "dashboard_time_zone")


def local_today(zone: zoneinfo.ZoneInfo, now: dt.datetime) -> dt.date:
    return now.astimezone(zone).date()


def day_start(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC moment `day` begins in `zone`."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
