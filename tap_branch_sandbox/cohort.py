"""Sandbox: Branch's Cohort Export API (cohort-export-api.md and its later version).

- `POST /v2/analytics?organization_id=|app_id=&limit=&format=` with the query as JSON body
  -> `{"code": 200, "job_id", "status_url"}`
- `GET /v2/analytics/<job_id>?organization_id=|app_id=` -> `{"code", "status", "response_url"
  | "error_message"}`; QUEUED, then RUNNING, then FINISHED (or ERROR) as sandbox time passes
- the result file behind `response_url` (a signed URL), JSON (an array, bands in `data`)
  or CSV (`measure, metric, per_user, cumulative, users, cost, <dimensions>, <bands>`)

A body without `measures` but with an `aggregation` is an Aggregate Exports job, checked and
written by `aggregate_exports` (the two APIs share the path and the jobs).

Both API calls count against the documented limits (2/s, 5/min, 150/h per organization
or app, in sandbox time, see `--time-scale`), answered with Branch's 429 body.
Results have at most `limit` rows (Branch's default when no `limit` is sent: 100),
never more than `cohort_record_cap`. A band's value exists only once its time has
passed in the sandbox's calendar, so values grow as a cohort matures.

Options (flag `--option name=value` or `POST /_sandbox/options`):
- `cohort_job_latency`: sandbox seconds from submission to FINISHED (default 2)
- `cohort_error_jobs`: this many next submitted jobs end in ERROR (default 0)
- `cohort_record_cap`: the account's record cap (default 50000)
- `cohort_rows_per_day`: dimension combinations per cohort day (default 3)
- `cohort_csv_users_column`: "users" (default) or "user", the CSV header the docs also show
- `cohort_csv_cost`: false drops the `cost` column from CSV results (as the docs' sample does)
- `cohort_rate_limits`: windows as [[requests, sandbox seconds], ...] (default 2/1, 5/60, 150/3600)
- `cohort_status_case`: "upper" (default, as documented) or "lower" (`finished`, ...)
- `cohort_result_keys`: "requested" (default) names each dimension in the result as it was asked
  for; "documented_sample" writes `<activity>_touch_data_*` dimensions as `<activity>_data_*`, as
  both versions of the docs' JSON sample do (`install_activity_data_tilde_advertising_partner_name`)
- `cohort_result_fault`: a result that is not what Branch documents, for every job:
  `unclosed` (JSON: the array ends after a complete row, without its `]`), `blank` (only blank
  space), `extra_cell` (CSV: the first row has one cell more than the header); in JSON rows,
  `data_as_string` (`data` as JSON text), `data_as_list` (its values in a list), `empty_data`
  (`{}`), `bands_renamed` (`d0`, `d1`, ... instead of `day0`, ...), `no_measure` (no `measure`)
- `cohort_measures_limit`: measures a query may have (default 5, the later document's limits
  table); 3 plays what both documents' request tables say ("Limit is 3")
- `cohort_measures_over_limit`: what a query with more measures gets: `refuse` (default, 400
  quoting the limit) or `drop` (accepted, and the result holds the first `limit` measures only)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import typing as t

from werkzeug.wrappers import Request, Response

from tap_branch_sandbox import aggregate_exports
from tap_branch_sandbox import synthetic as syn
from tap_branch_sandbox.server import FileSource, Sandbox, json_response

# --- what the API accepts, from Branch's cohort documents (the later, wider version) ---
DATA_SOURCES = {
    "install_cohort": "install_activity",
    "reengagement_cohort": "reengagement_activity",
}
GRANULARITIES = ("day", "week", "month")
MAX_DIMENSIONS = 11
MAX_MEASURES = 5
MAX_WINDOW_DAYS = 90
RECORD_CAP = 50_000
_ACTIVITY_DIMENSIONS = [
    "attributed",
    "event_name",
    "touch_type",
    "touch_data_tilde_campaign_id",
    "touch_data_tilde_campaign",
    "touch_data_tilde_channel",
    "touch_data_tilde_feature",
    "touch_data_tilde_stage",
    "touch_data_tilde_tags",
    "touch_data_tilde_advertising_partner_name",
    "touch_data_dollar_3p",
    "touch_data_tilde_secondary_publisher",
    "touch_data_tilde_creative_name",
    "touch_data_tilde_ad_id",
    "touch_data_tilde_ad_set_id",
    "touch_data_tilde_ad_set_name",
    "touch_data_tilde_ad_name",
    "touch_data_tilde_keyword",
    "touch_data_tilde_journey_name",
    "touch_data_tilde_view_name",
    "touch_data_plus_referring_domain",
    "touch_data_plus_via_features",
    "touch_data_plus_web_format",
    "data_os",
    "data_environment",
    "data_platform",
    "data_country_code",
    "data_has_app",
    "data_has_clicked_email",
    "data_has_clicked_ad",
    "timezone_adjusted_day",
    "touch_data_tilde_placement",
    "data_device_type",
    "touch_data_tilde_sub_site_name",
    "data_brand",
    "data_geo_country_en",
    "data_model",
    "data_geo_region_en",
    "touch_data_tilde_customer_secondary_publisher",
    "touch_data_tilde_customer_placement",
    "touch_data_tilde_customer_sub_site_name",
    "touch_data_tilde_customer_campaign",
    "touch_data_tilde_customer_ad_set_name",
    "touch_data_tilde_customer_ad_name",
    "touch_data_tilde_customer_keyword",
    "touch_data_tilde_agency_id",
    "touch_data_tilde_agency",
]
_OTHER_DIMENSIONS = [
    "user_data_platform",
    "user_data_environment",
    "user_data_geo_country_code",
    "user_data_os",
    "user_data_has_app",
    "user_data_standard_events_completed",
    "user_data_custom_events_completed",
    "user_data_has_clicked_ad",
    "user_data_has_clicked_email",
    "user_data_brand",
    "user_data_device_type",
    "user_data_model",
    "app_id",
    "customer_event_alias",
]


def dimensions_of(data_source: str) -> set[str]:
    prefix = DATA_SOURCES[data_source]
    return {f"{prefix}_{d}" for d in _ACTIVITY_DIMENSIONS} | set(_OTHER_DIMENSIONS)


def cohort_date_dimension(data_source: str) -> str:
    return f"{DATA_SOURCES[data_source]}_timezone_adjusted_day"


RATE_LIMITS = [(2, 1.0), (5, 60.0), (150, 3600.0)]
BRANCH_DEFAULT_LIMIT = 100

_POOLS = {
    "touch_data_tilde_campaign": ["summer_sale", "A4G", "retarget_q3", "brand"],
    "touch_data_tilde_channel": ["Facebook", "Google", "Email", "SMS"],
    "touch_data_tilde_advertising_partner_name": [
        "Taptica",
        "Applovin",
        "Snap",
        "Apple Search Ads",
    ],
    "data_os": ["IOS", "ANDROID"],
    "user_data_os": ["IOS", "ANDROID"],
    "user_data_platform": ["IOS_APP", "ANDROID_APP", "WEB"],
}
_REVENUE_MEASURES = {
    "revenue",
    "ARPPU",
    "ARPU",
    "LTV",
    "cost",
    "GROSS_PROFIT",
    "ROI",
    "ROAS",
    "eCPA",
}


def register(sandbox: Sandbox) -> None:
    jobs: dict[str, dict] = sandbox.state.setdefault("cohort_jobs", {})

    def scope(request: Request) -> tuple[str | None, Response | None]:
        """The organization or app the request is for, or the error Branch would answer."""
        if not sandbox.token_ok(request):
            return None, json_response(
                {"code": 401, "error_message": "Invalid or missing Access-Token"}, 401
            )
        org, app = request.args.get("organization_id"), request.args.get("app_id")
        if org is None and app is None:
            return None, json_response(
                {"code": 400, "error_message": "organization_id or app_id is required"}, 400
            )
        if (org is not None and org != sandbox.config.organization_id) or (
            app is not None and app not in sandbox.app_ids()
        ):
            return None, json_response(
                {"code": 403, "error_message": "No access to this organization or app"}, 403
            )
        key = org or app
        windows = [tuple(w) for w in sandbox.option("cohort_rate_limits", RATE_LIMITS)]
        return key, sandbox.rate_limited("cohort", key, windows)

    def submit(request: Request) -> Response:
        key, denied = scope(request)
        if denied is not None:
            return denied
        body = request.get_json(silent=True)
        kind = "aggregate" if aggregate_exports.is_aggregate(body) else "cohort"
        if kind == "aggregate":
            problem = aggregate_exports.invalid(body)
        else:
            problem = _invalid_query(body) or _too_many_measures(sandbox, body)
        if problem:
            return json_response({"code": 400, "error_message": problem}, 400)
        number = len(jobs)
        job_id = "-".join(
            syn.stable_id(sandbox.config.seed, "cohort", number, part, digits=d)
            for part, d in enumerate((8, 4, 4, 4, 12))
        )
        failing = int(sandbox.option("cohort_error_jobs", 0))
        if failing > 0:
            sandbox.config.options["cohort_error_jobs"] = failing - 1
        limit = int(request.args.get("limit") or BRANCH_DEFAULT_LIMIT)
        jobs[job_id] = {
            "kind": kind,
            "query": body,
            "scope": key,
            "format": (request.args.get("format") or "csv").lower(),
            "limit": min(limit, int(sandbox.option("cohort_record_cap", RECORD_CAP))),
            "submitted": sandbox.scaled_seconds(),
            "latency": float(sandbox.option("cohort_job_latency", 2)),
            "error": failing > 0,
            "today": sandbox.today().isoformat(),  # results reflect the day the job was computed
        }
        status_url = f"{request.host_url.rstrip('/')}/v2/analytics/{job_id}"
        return json_response({"code": 200, "job_id": job_id, "status_url": status_url})

    def status(request: Request, job_id: str) -> Response:
        key, denied = scope(request)
        if denied is not None:
            return denied
        job = jobs.get(job_id)
        if job is None or job["scope"] != key:
            return json_response({"code": 404, "error_message": f"Job {job_id} not found"}, 404)
        elapsed = sandbox.scaled_seconds() - job["submitted"]
        if elapsed < job["latency"] * 0.3:
            return json_response({"code": 102, "status": spelled("QUEUED")})
        if elapsed < job["latency"]:
            return json_response({"code": 102, "status": spelled("RUNNING")})
        if job["error"]:
            return json_response(
                {
                    "code": 500,
                    "status": spelled("ERROR"),
                    "error_message": "Query execution failed: sandbox-injected error",
                }
            )
        name = _file_name(job_id, job)
        return json_response(
            {
                "code": 200,
                "status": spelled("FINISHED"),
                "response_url": sandbox.signed_url(request, f"cohort/{job_id}/{name}"),
            }
        )

    def spelled(status: str) -> str:
        return (
            status.lower() if sandbox.option("cohort_status_case", "upper") == "lower" else status
        )

    def produce(key: str) -> FileSource | None:
        parts = key.split("/")
        job = jobs.get(parts[1]) if len(parts) == 3 else None
        if job is None:
            return None
        content_type = "application/json" if job["format"] == "json" else "text/csv"
        return FileSource(produce=lambda: result_bytes(sandbox, job), content_type=content_type)

    sandbox.add_route("/v2/analytics", submit, methods=["POST"])
    sandbox.add_route("/v2/analytics/<job_id>", status, methods=["GET"])
    sandbox.add_file_producer("cohort/", produce)


def _invalid_query(body: t.Any) -> str | None:
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    source = body.get("data_source")
    if source not in DATA_SOURCES:
        return f"Invalid data_source: {source!r}"
    try:
        start = dt.date.fromisoformat(str(body.get("start_date")))
        end = dt.date.fromisoformat(str(body.get("end_date")))
    except ValueError:
        return "start_date and end_date must be YYYY-MM-DD"
    if end < start or (end - start).days + 1 > MAX_WINDOW_DAYS:
        return f"Date range must be 1 to {MAX_WINDOW_DAYS} days"
    dimensions = body.get("dimensions") or []
    allowed = dimensions_of(source)
    if len(dimensions) > MAX_DIMENSIONS or any(d not in allowed for d in dimensions):
        return f"Invalid dimensions for {source}: at most {MAX_DIMENSIONS} of the documented ones"
    measures = body.get("measures") or []
    if not measures or len(measures) > MAX_MEASURES:
        return f"measures: 1 to {MAX_MEASURES} required"
    if body.get("granularity", "day") not in GRANULARITIES:
        return "granularity must be day, week or month"
    if (
        not isinstance(body.get("granularity_band_count"), int)
        or body["granularity_band_count"] < 1
    ):
        return "granularity_band_count must be a positive integer"
    return None


def measures_limit(sandbox: Sandbox) -> int:
    return int(sandbox.option("cohort_measures_limit", MAX_MEASURES))


def _too_many_measures(sandbox: Sandbox, body: dict) -> str | None:
    """Branch's refusal of a query over the account's measures limit (`refuse`, the default)."""
    limit = measures_limit(sandbox)
    if len(body["measures"]) <= limit:
        return None
    if sandbox.option("cohort_measures_over_limit", "refuse") == "drop":
        return None
    return f"Invalid measures: The cohort measures to return. Limit is {limit}"


def _file_name(job_id: str, job: dict) -> str:
    query = job["query"]
    suffix = syn.stable_id(job_id, "name", digits=16)
    return f"{query['start_date']}-{query['end_date']}-{query['data_source']}-{query.get('granularity', 'day')}-{job_id}-{suffix}.{job['format']}"


# --- results -------------------------------------------------------------------


def _add_units(day: dt.date, unit: str, count: int) -> dt.date:
    if unit == "day":
        return day + dt.timedelta(days=count)
    if unit == "week":
        return day + dt.timedelta(weeks=count)
    month = day.month - 1 + count
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, 1)  # month bands start at calendar months in this model


def _pool(dimension: str, sandbox: Sandbox) -> list[str]:
    if dimension == "app_id":
        return sandbox.app_ids()
    for suffix, values in _POOLS.items():
        if dimension.endswith(suffix):
            return values
    short = dimension.rsplit("_", 1)[-1]
    return [f"{short}_{index}" for index in range(3)]


#: `cohort_result_fault` values that change each row (JSON results).
_ROW_FAULTS: dict[str, t.Callable[[dict], dict]] = {
    "data_as_string": lambda data: json.dumps(data),
    "data_as_list": lambda data: list(data.values()),
    "empty_data": lambda data: {},
    "bands_renamed": lambda data: {f"d{index}": v for index, v in enumerate(data.values())},
}


def result_key(sandbox: Sandbox, dimension: str) -> str:
    """The key a dimension's value has in results (`cohort_result_keys`)."""
    if sandbox.option("cohort_result_keys", "requested") != "documented_sample":
        return dimension
    for prefix in DATA_SOURCES.values():
        if dimension.startswith(f"{prefix}_touch_data_"):
            return dimension.replace(f"{prefix}_touch_data_", f"{prefix}_data_", 1)
    return dimension


def _faulty_row(row: dict, fault: str | None) -> dict:
    if fault in _ROW_FAULTS:
        row["data"] = _ROW_FAULTS[fault](row["data"])
    elif fault == "no_measure":
        del row["measure"]
    return row


def result_rows(sandbox: Sandbox, job: dict) -> t.Iterator[dict]:
    """The rows of a job's result, in Branch's JSON shape, at most `limit` of them."""
    query = job["query"]
    unit = query.get("granularity", "day")
    bands = int(query["granularity_band_count"])
    today = dt.date.fromisoformat(job["today"])
    date_dim = cohort_date_dimension(query["data_source"])
    dims = [d for d in query.get("dimensions") or [] if d != date_dim]
    pools = [_pool(d, sandbox) for d in dims]
    combos = list(
        itertools.islice(itertools.product(*pools), int(sandbox.option("cohort_rows_per_day", 3)))
    )
    start, end = (
        dt.date.fromisoformat(query["start_date"]),
        dt.date.fromisoformat(query["end_date"]),
    )
    # `drop`: a query over the limit was taken, its later measures silently left out.
    query = {**query, "measures": query["measures"][: measures_limit(sandbox)]}
    rows = _rows(sandbox.config.seed, query, today, unit, bands, date_dim, dims, combos, start, end)
    keys = {d: result_key(sandbox, d) for d in dims}
    fault = sandbox.option("cohort_result_fault")
    return (
        _faulty_row({keys.get(k, k): v for k, v in row.items()}, fault)
        for row in itertools.islice(rows, job["limit"])
    )


def _rows(seed, query, today, unit, bands, date_dim, dims, combos, start, end) -> t.Iterator[dict]:
    day = start
    while day <= end:
        if day < today:
            for combo in combos:
                users = syn.rng_for(seed, "users", day, combo).randrange(50, 2000)
                for measure in query["measures"]:
                    rng = syn.rng_for(seed, "bands", day, combo, measure)
                    revenue = measure in _REVENUE_MEASURES
                    values = []
                    for band in range(bands):
                        full = rng.uniform(1, 500) if revenue else rng.randrange(0, users)
                        band_start, band_end = (
                            _add_units(day, unit, band),
                            _add_units(day, unit, band + 1),
                        )
                        if band_end <= today:
                            values.append(full)
                        elif band_start < today:
                            values.append(full / 2 if revenue else full // 2)  # the band so far
                        else:
                            values.append(0)
                    if query.get("cumulative"):
                        values = list(itertools.accumulate(values))
                    if query.get("per_user"):
                        values = [v / users for v in values]
                    row = {
                        "users": users,
                        "cost": f"{syn.rng_for(seed, 'cost', day, combo).uniform(10, 5000):.2f}",
                        "metric": "revenue" if revenue else "total_count",
                        "measure": measure,
                        "per_user": bool(query.get("per_user")),
                        "cumulative": bool(query.get("cumulative")),
                        "data": {
                            f"{unit}{band}": (f"{v:.2f}" if revenue or query.get("per_user") else v)
                            for band, v in enumerate(values)
                        },
                        date_dim: day.isoformat(),
                    }
                    row.update(zip(dims, combo, strict=True))
                    yield row
        day += dt.timedelta(days=1)


def result_bytes(sandbox: Sandbox, job: dict) -> t.Iterator[bytes]:
    if job.get("kind") == "aggregate":
        yield from aggregate_exports.result_bytes(sandbox, job)
        return
    fault = sandbox.option("cohort_result_fault")
    if fault == "blank":
        yield b"  \n\n "
        return
    rows = result_rows(sandbox, job)
    if job["format"] == "json":
        # A pretty-printed array, as in the docs' sample (so a reader cannot rely on one object a line).
        yield b"[\n"
        for index, row in enumerate(rows):
            yield (b",\n" if index else b"") + json.dumps(row, indent=3).encode()
        yield b"\n" if fault == "unclosed" else b"\n]\n"
        return
    yield from _csv_bytes(sandbox, job, rows, fault)


def _csv_bytes(
    sandbox: Sandbox, job: dict, rows: t.Iterable[dict], fault: str | None
) -> t.Iterator[bytes]:
    query = job["query"]
    date_dim = cohort_date_dimension(query["data_source"])
    dims = [
        date_dim,
        *[result_key(sandbox, d) for d in query.get("dimensions") or [] if d != date_dim],
    ]
    unit = query.get("granularity", "day")
    band_columns = [f"{unit}{band}" for band in range(int(query["granularity_band_count"]))]
    with_cost = sandbox.option("cohort_csv_cost", True)
    users_column = str(sandbox.option("cohort_csv_users_column", "users"))
    header = [
        "measure",
        "metric",
        "per_user",
        "cumulative",
        users_column,
        *(["cost"] if with_cost else []),
        *dims,
        *band_columns,
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for number, row in enumerate(rows):
        cells = [
            row["measure"],
            row["metric"],
            str(row["per_user"]).lower(),
            str(row["cumulative"]).lower(),
            row["users"],
        ]
        if with_cost:
            cells.append(row["cost"])
        cells.extend(row.get(d, "") for d in dims)
        cells.extend(row["data"][band] for band in band_columns)
        if fault == "extra_cell" and number == 0:
            cells.append("surplus")
        writer.writerow(cells)
        if out.tell() > 1 << 16:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
