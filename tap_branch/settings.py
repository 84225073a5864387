"""Settings shared by every stream family, and the checks run before a sync.

Each stream family (`tap_branch/streams/*.py`) declares its own settings in
its module's `SETTINGS`; `TapBranch` joins them into one config schema.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.apps import configured_apps, v2_app_ids
from tap_branch.clock import parse_moment

COMMON_SETTINGS = [
    th.Property(
        "start_date",
        th.DateTimeType,
        required=True,
        description="Earliest UTC date to extract (ISO 8601, e.g. 2024-01-01). "
        "Each stream starts here on its first run, then from its bookmark.",
    ),
    th.Property(
        "end_date",
        th.DateTimeType,
        description="Last UTC date to extract (inclusive). Default: yesterday (UTC), the last complete day.",
    ),
    th.Property(
        "branch_key",
        th.StringType,
        description="Branch key of the app (key_live_...), for the v1 APIs: daily exports, "
        "Daily Exports v3, credits. Public, not a secret. Use `apps` for several apps.",
    ),
    th.Property(
        "branch_secret",
        th.StringType,
        secret=True,
        description="Branch secret of the app (secret_live_...), for the v1 APIs.",
    ),
    th.Property(
        "app_id",
        th.StringType,
        description="Branch app id. Required by the v2 APIs that are per app (custom exports, "
        "scheduled exports); labels the v1 streams' records (default: the branch_key).",
    ),
    th.Property(
        "organization_id",
        th.StringType,
        description="Branch organization id, for the cohort API when it is queried per organization "
        "instead of per app.",
    ),
    th.Property(
        "apps",
        th.ArrayType(
            th.ObjectType(
                th.Property(
                    "app_id", th.StringType, description="Branch app id (default: the branch_key)"
                ),
                th.Property("branch_key", th.StringType, required=True),
                th.Property("branch_secret", th.StringType, secret=True),
            )
        ),
        description="Several Branch apps, each with its own key and secret. Replaces the flat "
        "`branch_key`/`branch_secret`/`app_id`; the v1 streams then keep state per app and carry "
        "`app_id` in every record and in the primary key.",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        description="Branch API access token (api_app_...), sent as the `Access-Token` header to the v2 APIs.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default="https://api.branch.io",
        description="Base URL of Branch's v1 API host.",
    ),
    th.Property(
        "api2_url",
        th.StringType,
        default="https://api2.branch.io",
        description="Base URL of Branch's v2 API host.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType,
        default=300,
        description="Seconds to wait for any one HTTP response.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=6,
        description="Attempts for a request or file download that fails with a 5xx, a timeout or a broken "
        "connection. Rate limits (429) are waited out separately and never count here.",
    ),
    th.Property(
        "backoff_factor",
        th.NumberType,
        default=2,
        description="Seconds of the first retry wait; each further retry doubles it (capped at 60 s).",
    ),
    th.Property(
        "rate_limit_max_wait",
        th.IntegerType,
        default=21600,
        description="Longest total time (seconds) to keep retrying one request that Branch rate-limits (429).",
    ),
    th.Property(
        "user_agent",
        th.StringType,
        description="User-Agent header (default: tap-branch/<version>).",
    ),
]


def invalid_setting(message: str) -> ConfigValidationError:
    """A ConfigValidationError that the CLI shows: the SDK's CLI logs an error's
    `errors` list and then only "Config validation failed", never its message."""
    return ConfigValidationError(message, errors=[message])


def parse_date(value: str, setting: str) -> dt.date:
    """The UTC day of a date setting (or state value), read by the clock's one parser."""
    try:
        return parse_moment(value.strip()).date()
    except (ValueError, AttributeError, TypeError):
        raise invalid_setting(
            f"Setting '{setting}' is not a date: {value!r}. Use ISO 8601, e.g. 2024-01-31."
        ) from None


def check_dates(config: t.Mapping[str, t.Any]) -> None:
    start = (
        parse_date(str(config["start_date"]), "start_date") if config.get("start_date") else None
    )
    if start is None:
        raise invalid_setting("Setting 'start_date' is required (ISO 8601, e.g. 2024-01-01).")
    if config.get("end_date"):
        end = parse_date(str(config["end_date"]), "end_date")
        if start > end:
            raise invalid_setting(
                f"Setting 'start_date' ({start}) is after 'end_date' ({end}): nothing to extract."
            )


def check_credentials(
    config: t.Mapping[str, t.Any], needs: str, stream_names: t.Sequence[str]
) -> None:
    """Fail before syncing when the selected streams lack the settings they need.

    `needs`: "v1" (branch_key + branch_secret, or apps), "v1-key" (branch_key, or apps:
    reads that send the public key only), "v2" (access_token), "v2-app" (access_token + app_id).
    """
    names = ", ".join(sorted(stream_names))
    if needs == "v1-key" and not configured_apps(config):
        raise invalid_setting(
            f"Streams {names} need a Branch key: set 'branch_key' (or the 'apps' list)."
        )
    if needs == "v1":
        apps = configured_apps(config)
        if not apps:
            raise invalid_setting(
                f"Streams {names} need Branch app credentials: set 'branch_key' and 'branch_secret' "
                "(or the 'apps' list)."
            )
        for app in apps:
            if not app.branch_secret:
                where = (
                    "'apps' entry for app " + app.app_id
                    if config.get("apps")
                    else "'branch_secret'"
                )
                raise invalid_setting(f"Streams {names} need the Branch secret: set {where}.")
    if needs in ("v2", "v2-app") and not config.get("access_token"):
        raise invalid_setting(
            f"Streams {names} need setting 'access_token' (Branch API access token)."
        )
    if needs == "v2-app" and not v2_app_ids(config, stream_names):
        raise invalid_setting(f"Streams {names} need setting 'app_id'.")
