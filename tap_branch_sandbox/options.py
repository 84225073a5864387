"""The sandbox's family options: every name its modules read, and the JSON kind each takes.

Options are set by flag (`--option name=value`) or `POST /_sandbox/options` (`{"name": value}`),
and read by the families with `Sandbox.option(name, default)`. A misspelt name would silently
do nothing, and a value of another kind (`{"daily_rows": 60000}` for `{"events": 60000}`) would
turn every later request of its family into a 500: both are refused where they are set
(`check_option`), naming the option and what it takes. `null` sets an option back to its
default. Each option's default and a line on what it does are declared here with its kind
(`tap-branch-sandbox --help` and docs/sandbox.md show them); each family module's docstring
says more.

`tests/sandbox/test_sandbox.py` fails when a module reads an option this registry does not name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing as t

_SHOWN = 100  # characters of a refused value quoted in the error


@dataclasses.dataclass(frozen=True)
class Kind:
    """The values an option takes: `name` says it in errors, `accepts` checks a decoded JSON value."""

    name: str
    accepts: t.Callable[[t.Any], bool]


def _is_integer(value: t.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no number


def _is_number(value: t.Any) -> bool:
    return _is_integer(value) or isinstance(value, float)


def _is_iso_datetime(value: t.Any) -> bool:
    if not isinstance(value, str):
        return False
    try:  # as `custom_exports` reads it: a trailing Z is UTC
        dt.datetime.fromisoformat(value.strip().removesuffix("Z").removesuffix("z"))
    except ValueError:
        return False
    return True


INTEGER = Kind("an integer", _is_integer)
NUMBER = Kind("a number", _is_number)
BOOLEAN = Kind("true or false", lambda value: isinstance(value, bool))
STRING = Kind("a string", lambda value: isinstance(value, str))
ISO_DATETIME = Kind("an ISO date-time string", _is_iso_datetime)
#: Any JSON value: for options that make the sandbox send a value as it is, whatever its kind.
ANY_JSON = Kind("any JSON value", lambda value: True)


def list_of(item: Kind) -> Kind:
    return Kind(
        f"a list of {_plural(item)}",
        lambda value: isinstance(value, list) and all(map(item.accepts, value)),
    )


def object_of(item: Kind) -> Kind:
    return Kind(
        f"an object of {_plural(item)}",
        lambda value: isinstance(value, dict) and all(map(item.accepts, value.values())),
    )


def either(*kinds: Kind) -> Kind:
    return Kind(
        " or ".join(kind.name for kind in kinds),
        lambda value: any(kind.accepts(value) for kind in kinds),
    )


def exactly(text: str) -> Kind:
    return Kind(f'"{text}"', lambda value: value == text)


def one_of(*texts: str) -> Kind:
    """A string among `texts`: a misspelt value would otherwise fall back to the default."""
    return either(*(exactly(text) for text in texts))


def _plural(kind: Kind) -> str:
    plurals = {INTEGER: "integers", NUMBER: "numbers", STRING: "strings", ANY_JSON: "JSON values"}
    return plurals.get(kind, kind.name)


#: `[[requests, seconds], ...]`: rate-limit windows.
WINDOWS = Kind(
    "a list of [requests, seconds] pairs",
    lambda value: (
        isinstance(value, list)
        and all(
            isinstance(pair, list)
            and len(pair) == 2
            and _is_integer(pair[0])
            and _is_number(pair[1])
            for pair in value
        )
    ),
)


@dataclasses.dataclass(frozen=True)
class Option:
    """A family option: the values it takes, the value its family uses while it is unset
    (`None`: none; `help` says what happens then) and what it does, for `--help` and
    docs/sandbox.md. `tests/docs/test_sandbox_help.py` checks each default against the one
    its module passes to `Sandbox.option`."""

    kind: Kind
    default: t.Any
    help: str


_SUBSCRIPTION_DAYS = 'jobs named "<subscription>/<YYYY-MM-DD>"'

#: Every option the sandbox reads, by family module (their docstrings say more).
OPTIONS: dict[str, Option] = {
    # daily_export
    "daily_rows": Option(
        object_of(INTEGER),
        {"links": 40, "link_clicks": 120, "events": 200},
        "rows per day by kind (links, link_clicks, events), merged over the default",
    ),
    "daily_rows_per_file": Option(
        INTEGER, 100, "rows per csv.gz file before a kind's day is split"
    ),
    "daily_volume_jitter": Option(
        NUMBER, 0.2, "how far a day's volume varies around daily_rows (0.2: +-20%)"
    ),
    "daily_get_form": Option(
        BOOLEAN, True, "false: the GET form answers 404 (the tap then uses POST /v2/export)"
    ),
    "daily_bad_cells": Option(INTEGER, 0, "rows per file whose timestamp cell is garbage"),
    "daily_extra_column": Option(STRING, None, "an undocumented column added to every file"),
    "daily_drop_column": Option(STRING, None, "a documented column left out of every file"),
    "daily_file_order": Option(
        one_of("reversed"), None, "reversed: each day's files listed last first"
    ),
    "daily_repeated_files": Option(
        list_of(one_of("links", "link_clicks", "events")),
        None,
        "kinds whose first file is listed a second time, signed again, at the end of its list",
    ),
    "daily_repeated_key": Option(
        one_of("links", "link_clicks", "events"),
        None,
        "a kind whose list's key the answer repeats at its end with []",
    ),
    # daily_v3
    "v3_rows": Option(
        object_of(INTEGER),
        {
            "eo_impression": 40,
            "eo_click": 120,
            "eo_web_to_app_auto_redirect": 6,
            "eo_branch_cta_view": 8,
            "eo_sms_sent": 3,
            "eo_open": 80,
            "eo_install": 30,
            "eo_reinstall": 5,
            "eo_web_session_start": 20,
            "eo_pageview": 25,
            "eo_commerce_event": 10,
            "eo_custom_event": 12,
            "eo_content_event": 10,
            "eo_dismissal": 4,
            "eo_user_lifecycle_event": 8,
        },
        "rows per day by topic, merged over the default (0: an empty list)",
    ),
    "v3_rows_per_file": Option(INTEGER, 50, "rows per csv.gz file"),
    "v3_publish_lag_days": Option(
        INTEGER, 0, "days before today still unpublished (0: yesterday is published)"
    ),
    "v3_empty_days": Option(list_of(STRING), None, "ISO dates published with no data at all"),
    "v3_extra_topic": Option(STRING, None, "a topic Branch added that the tap does not know"),
    "v3_missing_topics": Option(list_of(STRING), None, "topics left out of the answer"),
    "v3_repeated_files": Option(
        list_of(STRING), None, "topics whose first file is listed twice (as daily_repeated_files)"
    ),
    "v3_repeated_key": Option(
        STRING, None, "a topic whose key the answer repeats with [] (as daily_repeated_key)"
    ),
    # custom_exports
    "custom_now": Option(
        ISO_DATETIME, None, "the sandbox's now (unset: its today at the real time of day)"
    ),
    "custom_ready_lag_hours": Option(
        INTEGER, 3, "hours an hour's events take to land (readiness, job contents)"
    ),
    "custom_rows_per_hour": Option(
        object_of(INTEGER),
        {"eo_click": 3, "eo_open": 2, "eo_install": 1},
        "rows per hour by report type, merged over the default (other types: 1)",
    ),
    "custom_rows_per_file": Option(INTEGER, 200, "rows per result file of a job"),
    "custom_job_seconds": Option(NUMBER, 2, "sandbox seconds a job takes to complete"),
    "custom_fail_report_types": Option(
        list_of(STRING), None, "report types whose jobs end with status fail"
    ),
    "custom_unavailable_fields": Option(
        list_of(STRING), None, "fields refused as not available for exports (one per answer)"
    ),
    "custom_handle_key": Option(
        one_of("handle", "request_handle", "both"),
        "handle",
        "the key of a created job's handle",
    ),
    "custom_response_url_key": Option(
        STRING, "response_url", "the key of a complete job's file URLs"
    ),
    "custom_files_by_query": Option(
        BOOLEAN, False, "true: a job's files share one path and differ only in the query"
    ),
    "custom_lines_exported_bias": Option(
        INTEGER, 0, "added to the lines_exported a complete job reports"
    ),
    "custom_file_order": Option(
        one_of("reversed"), None, "reversed: a complete job lists its files last first"
    ),
    # scheduled_exports
    "scheduled_history_days": Option(INTEGER, 10, "days of daily jobs each subscription has"),
    "scheduled_retention_days": Option(
        INTEGER, 7, "days after which a job's files answer 403 (past retention)"
    ),
    "scheduled_rows_per_job": Option(INTEGER, 90, "rows a job (+-20% by day)"),
    "scheduled_files_per_job": Option(
        either(INTEGER, object_of(INTEGER)),
        None,
        'files a job, or {"<subscription>": n} (unset: 3 for sandbox-sub-1, 2 for sandbox-sub-2)',
    ),
    "scheduled_statuses": Option(
        object_of(STRING), None, f"job statuses of {_SUBSCRIPTION_DAYS}, e.g. RUNNING, FAILED"
    ),
    "scheduled_line_mismatch": Option(
        list_of(STRING), None, f"{_SUBSCRIPTION_DAYS} whose lines_exported is off by one"
    ),
    "scheduled_lines_exported": Option(
        object_of(ANY_JSON), None, f"the lines_exported of {_SUBSCRIPTION_DAYS}, as given"
    ),
    "scheduled_formats": Option(
        object_of(STRING),
        None,
        'formats by subscription: {"<subscription>": "csv" | "json" | "parquet"}; parquet '
        "needs pyarrow",
    ),
    "scheduled_jobs_post": Option(
        BOOLEAN, True, "false: POST .../jobs answers 405 (the tap then uses GET)"
    ),
    "scheduled_bare_jobs": Option(
        list_of(STRING), None, f"SUCCEEDED {_SUBSCRIPTION_DAYS} listed without files"
    ),
    "scheduled_subscription_shape": Option(
        one_of("flat"), None, "flat: destination and report listed as strings, not objects"
    ),
    # cohort
    "cohort_job_latency": Option(NUMBER, 2, "sandbox seconds from a job's submission to FINISHED"),
    "cohort_error_jobs": Option(INTEGER, 0, "this many next submitted jobs end in ERROR"),
    "cohort_record_cap": Option(INTEGER, 50000, "the account's record cap"),
    "cohort_rows_per_day": Option(INTEGER, 3, "dimension combinations per cohort day"),
    "cohort_csv_users_column": Option(
        STRING, "users", "the users column's header in CSV results (the docs also show user)"
    ),
    "cohort_csv_cost": Option(BOOLEAN, True, "false: CSV results have no cost column"),
    "cohort_rate_limits": Option(
        WINDOWS,
        [[2, 1.0], [5, 60.0], [150, 3600.0]],
        "rate-limit windows [[requests, sandbox seconds], ...]",
    ),
    "cohort_status_case": Option(
        one_of("upper", "lower"), "upper", "lower: job statuses as finished, running, ..."
    ),
    "cohort_result_keys": Option(
        one_of("requested", "documented_sample"),
        "requested",
        "documented_sample: dimensions named as the docs' JSON sample names them",
    ),
    "cohort_measures_limit": Option(
        INTEGER, 5, "measures a query may have (3: what the request tables say)"
    ),
    "cohort_measures_over_limit": Option(
        one_of("refuse", "drop"),
        "refuse",
        "a query over the limit: refuse (400) or drop (only the first measures answered)",
    ),
    "cohort_result_fault": Option(
        one_of(
            "unclosed",
            "blank",
            "extra_cell",
            "data_as_string",
            "data_as_list",
            "empty_data",
            "bands_renamed",
            "no_measure",
        ),
        None,
        "every job's result is not what Branch documents, in this way",
    ),
    # credits
    "credits_identity_count": Option(INTEGER, 100, "identities (user-1 .. user-N) Branch knows"),
    "credits_per_year": Option(
        NUMBER, 12, "average transactions a year per identity (every 25th has 10x)"
    ),
    "credits_unknown_identity": Option(
        either(exactly("empty"), INTEGER),
        "empty",
        "an unknown identity's answer: empty ([] and {}) or this HTTP status",
    ),
    "credits_direction_values": Option(
        list_of(STRING), ["asc", "1"], "the direction values read as least recent first"
    ),
    "credits_ignore_begin_after_id": Option(
        BOOLEAN, False, "true: every page answered from the start"
    ),
    "credits_rate_limit": Option(
        WINDOWS, [[1000, 60.0]], "rate-limit windows per branch_key [[requests, seconds], ...]"
    ),
    "credits_page_cap": Option(
        INTEGER, 100, "the most transactions one answer holds, whatever length asks"
    ),
    "app_config_user_id": Option(
        STRING, "dashboard_user_sandbox", "the dashboard user id /v1/app accepts"
    ),
    # query_api
    "query_time_zones": Option(
        object_of(STRING),
        None,
        "IANA zones by app id (or organization id, for Aggregate Exports); unset: UTC",
    ),
    "query_now_hour": Option(INTEGER, 12, "the hour (UTC) of the sandbox's today that is now"),
    "query_late_events": Option(INTEGER, 0, "late events per day and topic"),
    "query_rate_limits": Option(
        WINDOWS,
        [[5, 1.0], [20, 60.0], [150, 3600.0]],
        "rate-limit windows [[requests, sandbox seconds], ...]",
    ),
    "query_rate_limit_status": Option(INTEGER, 429, "the HTTP status of the rate-limit answer"),
    "query_empty_value": Option(
        one_of("null", "empty_string"), "null", "how an empty dimension value is written"
    ),
    "query_row_cap": Option(INTEGER, 50000, "rows a query returns at most"),
}


def check_option(name: str, value: t.Any) -> None:
    """Raise ValueError naming an unknown option (and the known ones), or the kind an option
    takes when `value` is not of it. `None` (JSON null) is every option's default."""
    option = OPTIONS.get(name)
    if option is None:
        raise ValueError(
            f"unknown sandbox option {name!r}; the options are: {', '.join(sorted(OPTIONS))}"
        )
    if value is not None and not option.kind.accepts(value):
        raise ValueError(
            f"sandbox option {name!r} takes {option.kind.name} (null: its default), not "
            f"{_shown(value)}"
        )


def _shown(value: t.Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def set_options(options: dict[str, t.Any], given: t.Mapping[str, t.Any]) -> None:
    """Set `given` into `options` once every one is checked (none is set if one is refused);
    a null removes an option, so that its default applies."""
    for name, value in given.items():
        check_option(name, value)
    for name, value in given.items():
        if value is None:
            options.pop(name, None)
        else:
            options[name] = value
