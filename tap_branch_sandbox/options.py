"""The sandbox's family options: every name its modules read, and the JSON kind each takes.

Options are set by flag (`--option name=value`) or `POST /_sandbox/options` (`{"name": value}`),
and read by the families with `Sandbox.option(name, default)`. A misspelt name would silently
do nothing, and a value of another kind (`{"daily_rows": 60000}` for `{"events": 60000}`) would
turn every later request of its family into a 500: both are refused where they are set
(`check_option`), naming the option and what it takes. `null` sets an option back to its
default. The options themselves are described in each family module's docstring.

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

#: Every option the sandbox reads, by family module (their docstrings describe them).
OPTIONS: dict[str, Kind] = {
    # daily_export
    "daily_rows": object_of(INTEGER),
    "daily_rows_per_file": INTEGER,
    "daily_volume_jitter": NUMBER,
    "daily_get_form": BOOLEAN,
    "daily_bad_cells": INTEGER,
    "daily_extra_column": STRING,
    "daily_drop_column": STRING,
    "daily_file_order": one_of("reversed"),
    "daily_repeated_files": list_of(one_of("links", "link_clicks", "events")),
    "daily_repeated_key": one_of("links", "link_clicks", "events"),
    # daily_v3
    "v3_rows": object_of(INTEGER),
    "v3_rows_per_file": INTEGER,
    "v3_publish_lag_days": INTEGER,
    "v3_empty_days": list_of(STRING),
    "v3_extra_topic": STRING,
    "v3_missing_topics": list_of(STRING),
    "v3_repeated_files": list_of(STRING),
    "v3_repeated_key": STRING,
    # custom_exports
    "custom_now": ISO_DATETIME,
    "custom_ready_lag_hours": INTEGER,
    "custom_rows_per_hour": object_of(INTEGER),
    "custom_rows_per_file": INTEGER,
    "custom_job_seconds": NUMBER,
    "custom_fail_report_types": list_of(STRING),
    "custom_unavailable_fields": list_of(STRING),
    "custom_handle_key": one_of("handle", "request_handle", "both"),
    "custom_response_url_key": STRING,
    "custom_files_by_query": BOOLEAN,
    "custom_lines_exported_bias": INTEGER,
    "custom_file_order": one_of("reversed"),
    # scheduled_exports
    "scheduled_history_days": INTEGER,
    "scheduled_retention_days": INTEGER,
    "scheduled_rows_per_job": INTEGER,
    "scheduled_files_per_job": either(INTEGER, object_of(INTEGER)),
    "scheduled_statuses": object_of(STRING),
    "scheduled_line_mismatch": list_of(STRING),
    "scheduled_lines_exported": object_of(ANY_JSON),
    "scheduled_formats": object_of(STRING),
    "scheduled_jobs_post": BOOLEAN,
    "scheduled_bare_jobs": list_of(STRING),
    "scheduled_subscription_shape": one_of("flat"),
    # cohort
    "cohort_job_latency": NUMBER,
    "cohort_error_jobs": INTEGER,
    "cohort_record_cap": INTEGER,
    "cohort_rows_per_day": INTEGER,
    "cohort_csv_users_column": STRING,
    "cohort_csv_cost": BOOLEAN,
    "cohort_rate_limits": WINDOWS,
    "cohort_status_case": one_of("upper", "lower"),
    "cohort_result_keys": one_of("requested", "documented_sample"),
    "cohort_measures_limit": INTEGER,
    "cohort_measures_over_limit": one_of("refuse", "drop"),
    "cohort_result_fault": one_of(
        "unclosed",
        "blank",
        "extra_cell",
        "data_as_string",
        "data_as_list",
        "empty_data",
        "bands_renamed",
        "no_measure",
    ),
    # credits
    "credits_identity_count": INTEGER,
    "credits_per_year": NUMBER,
    "credits_unknown_identity": either(exactly("empty"), INTEGER),
    "credits_direction_values": list_of(STRING),
    "credits_ignore_begin_after_id": BOOLEAN,
    "credits_rate_limit": WINDOWS,
    "credits_page_cap": INTEGER,  # default 100
    "app_config_user_id": STRING,
    # query_api
    "query_time_zones": object_of(STRING),
    "query_now_hour": INTEGER,
    "query_late_events": INTEGER,
    "query_rate_limits": WINDOWS,
    "query_rate_limit_status": INTEGER,
    "query_empty_value": one_of("null", "empty_string"),
    "query_row_cap": INTEGER,
}


def check_option(name: str, value: t.Any) -> None:
    """Raise ValueError naming an unknown option (and the known ones), or the kind an option
    takes when `value` is not of it. `None` (JSON null) is every option's default."""
    kind = OPTIONS.get(name)
    if kind is None:
        raise ValueError(
            f"unknown sandbox option {name!r}; the options are: {', '.join(sorted(OPTIONS))}"
        )
    if value is not None and not kind.accepts(value):
        raise ValueError(
            f"sandbox option {name!r} takes {kind.name} (null: its default), not {_shown(value)}"
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
