"""A bad setting's error, and the date reading every date setting shares."""

from __future__ import annotations

import datetime as dt

from singer_sdk.exceptions import ConfigValidationError

from tap_branch.clock import parse_moment


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
