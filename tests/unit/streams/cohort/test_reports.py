"""Cohort report settings, windows and maturity: pure date and validation logic."""

from __future__ import annotations

import datetime as dt

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.api.date_windows import halves
from tap_branch.files.result_files import csv_dicts, json_array_items
from tap_branch.streams.cohort import reports
from tap_branch.streams.cohort.results import RowExpander

D = dt.date


def report(**overrides):
    return reports.parse_report({"name": "r", "measures": ["OPEN"], **overrides}, 0)


def test_default_report_when_none_configured():
    (default,) = reports.reports_from_config({})
    assert default.stream_name == "cohort_installs_by_campaign"
    assert default.measures == ("users", "revenue", "OPEN")
    query = default.query(D(2024, 1, 1), D(2024, 1, 31))
    assert query["dimensions"][0] == "install_activity_timezone_adjusted_day"
    assert query["granularity"] == "day" and query["granularity_band_count"] == 30


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        (
            {"dimensions": ["reengagement_activity_data_os"]},
            "dimensions",
            "not a dimension of install_cohort",
        ),
        (
            {
                "dimensions": [
                    f"install_activity_{s}"
                    for s in [
                        "attributed",
                        "event_name",
                        "touch_type",
                        "data_os",
                        "data_platform",
                        "data_brand",
                        "data_model",
                        "data_environment",
                        "data_country_code",
                        "data_has_app",
                        "data_device_type",
                    ]
                ]
            },
            "dimensions",
            "exceed Branch's limit of 11",
        ),
        (
            {"measures": ["OPEN", "users", "revenue", "LTV", "ARPU", "ROI"]},
            "measures",
            "limit of 5",
        ),
        ({"measures": []}, "measures", "at least one measure"),
        ({"granularity": "hour"}, "granularity", "not one of day, week, month"),
        ({"granularity_band_count": 0}, "granularity_band_count", "not a positive integer"),
        ({"data_source": "open_cohort"}, "data_source", "not one of"),
        ({"filters": {"user_data_nope": ["x"]}}, "filters", "not a dimension"),
        ({"per_user": "yes"}, "per_user", "not true or false"),
    ],
)
def test_invalid_reports_name_the_report_and_field(overrides, field, words):
    with pytest.raises(ConfigValidationError) as error:
        reports.parse_report({"name": "weekly", "measures": ["OPEN"], **overrides}, 2)
    message = str(error.value)
    assert "cohort_reports[2] ('weekly')" in message
    assert f"field '{field}'" in message
    assert words in message


def test_custom_measures_and_ten_dimensions_are_accepted():
    ten = [
        f"user_data_{s}"
        for s in [
            "platform",
            "environment",
            "geo_country_code",
            "os",
            "has_app",
            "brand",
            "device_type",
            "model",
            "has_clicked_ad",
            "has_clicked_email",
        ]
    ]
    parsed = report(dimensions=ten, measures=["OPEN", "my_custom_event"])
    assert len(parsed.query(D(2024, 1, 1), D(2024, 1, 2))["dimensions"]) == 11


def test_duplicate_report_names_are_refused():
    with pytest.raises(ConfigValidationError, match="two reports are named 'a'"):
        reports.reports_from_config({"cohort_reports": [{"name": "a", "measures": ["OPEN"]}] * 2})


def test_daily_windows_are_at_most_90_days_and_cover_the_range():
    parts = reports.windows(report(), D(2023, 1, 1), D(2024, 12, 31))
    assert parts[0][0] == D(2023, 1, 1) and parts[-1][1] == D(2024, 12, 31)
    assert all((end - start).days + 1 <= 90 for start, end in parts)
    assert all(b[0] == a[1] + dt.timedelta(days=1) for a, b in zip(parts, parts[1:], strict=False))


def test_weekly_and_monthly_windows_end_on_unit_boundaries():
    weekly = reports.windows(report(granularity="week"), D(2024, 1, 3), D(2024, 12, 31))
    assert all(end.weekday() == 6 for _, end in weekly[:-1])
    assert all((end - start).days + 1 <= 84 for start, end in weekly)
    monthly = reports.windows(report(granularity="month"), D(2024, 1, 15), D(2024, 12, 31))
    assert monthly[0] == (D(2024, 1, 15), D(2024, 2, 29))
    assert all((end + dt.timedelta(days=1)).day == 1 for _, end in monthly)
    assert all((end - start).days + 1 <= 90 for start, end in monthly)


def test_halves_split_a_window_without_gap_or_overlap():
    assert halves(D(2024, 1, 1), D(2024, 1, 10)) == [
        (D(2024, 1, 1), D(2024, 1, 5)),
        (D(2024, 1, 6), D(2024, 1, 10)),
    ]
    assert halves(D(2024, 1, 1), D(2024, 1, 2)) == [
        (D(2024, 1, 1), D(2024, 1, 1)),
        (D(2024, 1, 2), D(2024, 1, 2)),
    ]


def test_last_mature_day_per_granularity():
    today = D(2024, 6, 30)
    assert reports.last_mature_day(report(granularity_band_count=7), today) == D(2024, 6, 22)
    assert reports.last_mature_day(
        report(granularity="week", granularity_band_count=2), today
    ) == D(2024, 6, 15)
    assert reports.last_mature_day(
        report(granularity="month", granularity_band_count=3), today
    ) == D(2024, 3, 29)


def test_json_array_is_read_object_by_object():
    import io
    import json

    rows = [{"n": i, "data": {"day0": "1.5"}} for i in range(3000)]
    assert list(json_array_items(io.BytesIO(json.dumps(rows, indent=3).encode()))) == rows
    with pytest.raises(ValueError, match="row 2 of the JSON array is cut"):
        list(json_array_items(io.BytesIO(b'[{"n": 1}, {"n": ')))


def test_rows_become_typed_band_records_and_nothing_is_dropped():
    import io

    parsed = report(dimensions=["install_activity_touch_data_tilde_campaign"])
    expand = RowExpander(
        parsed, {"report": "r", "organization_id": "org", "app_id": None}, source="test"
    )
    csv_text = (
        "measure,metric,per_user,cumulative,user,install_activity_timezone_adjusted_day,"
        "install_activity_touch_data_tilde_campaign,surprise,day0,day1\n"
        "OPEN,total_count,false,false,2099,2024-01-02,A4G,x,407,oops\n"
    )
    (row,) = list(csv_dicts(io.BytesIO(csv_text.encode())))
    first, second = expand(row)
    assert first["cohort_date"] == "2024-01-02" and first["users"] == 2099 and first["cost"] is None
    assert first["per_user"] is False and first["band"] == 0 and first["band_unit"] == "day"
    assert first["value"] == 407 and first["extra_columns"] == {"surprise": "x"}
    assert second["value"] is None and second["unparsed_cells"] == {"value": "oops"}


@pytest.mark.parametrize("day", ["", "2024-13-02", "2024-02-30", "02/01/2024"])
def test_a_row_without_a_real_cohort_date_fails_naming_it(day):
    import io

    from singer_sdk.exceptions import FatalAPIError

    expand = RowExpander(report(dimensions=[]), {"report": "r"}, source="job j1 of r")
    csv_text = f"measure,install_activity_timezone_adjusted_day,day0\nOPEN,{day},4\n"
    (row,) = list(csv_dicts(io.BytesIO(csv_text.encode())))
    with pytest.raises(FatalAPIError, match="job j1 of r: row 1 has no cohort date"):
        expand.check(row, 1)
    with pytest.raises(FatalAPIError, match="install_activity_timezone_adjusted_day"):
        expand(row)
