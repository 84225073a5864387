"""The sandbox itself, over HTTP: Branch's answers, signed URLs, deterministic realistic files,
faults, rate-limit answers and control endpoints."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import re

import pytest
import requests

from tap_branch_sandbox import synthetic
from tap_branch_sandbox.cli import build_config, parse_args
from tap_branch_sandbox.server import SlidingWindowLimiter
from tests.support.sandbox import (
    NOW,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SandboxControl,
    days_back,
    start_sandbox,
)

AUTH_FAILED = {"error": {"message": "Authentication failed !", "code": 400}}


def _export(
    control: SandboxControl, day: dt.date, key=SANDBOX_KEY, secret=SANDBOX_SECRET
) -> requests.Response:
    return requests.get(
        f"{control.url}/v1/export/{key}",
        params={"branch_secret": secret, "export_date": day.isoformat()},
        timeout=10,
    )


def _rows(url: str) -> list[list[str]]:
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    text = gzip.decompress(response.content).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_export_answer_lists_signed_csv_gz_urls_per_kind(sandbox):
    body = _export(sandbox, days_back(1)[0]).json()
    assert set(body) == {"links_export_url", "clicks_export_url", "events_export_url"}
    for urls in body.values():
        assert urls and all(".csv.gz?" in url and "X-Amz-Signature=" in url for url in urls)


def test_post_form_gives_the_same_files(sandbox):
    day = days_back(1)[0]
    post = requests.post(
        f"{sandbox.url}/v2/export",
        json={
            "branch_key": SANDBOX_KEY,
            "branch_secret": SANDBOX_SECRET,
            "export_date": day.isoformat(),
        },
        timeout=10,
    ).json()
    get = _export(sandbox, day).json()
    strip = lambda body: {k: [u.split("?")[0] for u in v] for k, v in body.items()}  # noqa: E731
    assert strip(post) == strip(get)
    sandbox.options(daily_get_form=False)
    assert _export(sandbox, day).status_code == 404


@pytest.mark.parametrize(
    ("key", "secret"),
    [("key_live_nope", SANDBOX_SECRET), (SANDBOX_KEY, "secret_live_nope"), (SANDBOX_KEY, None)],
)
def test_wrong_credentials_get_branchs_error_body(sandbox, key, secret):
    response = _export(sandbox, days_back(1)[0], key=key, secret=secret)
    assert response.status_code == 400
    assert response.json() == AUTH_FAILED


def test_bad_export_date_is_a_400(sandbox):
    response = requests.get(
        f"{sandbox.url}/v1/export/{SANDBOX_KEY}",
        params={"branch_secret": SANDBOX_SECRET, "export_date": "01/02/2024"},
        timeout=10,
    )
    assert response.status_code == 400 and "export_date" in response.json()["error"]["message"]


def test_files_are_deterministic_by_seed():
    day = days_back(2)[0]
    contents = []
    for seed in (7, 7, 8):
        running = start_sandbox(seed=seed)
        try:
            control = SandboxControl(running)
            url = _export(control, day).json()["events_export_url"][0]
            contents.append(gzip.decompress(requests.get(url, timeout=10).content))
        finally:
            running.stop()
    assert contents[0] == contents[1]
    assert contents[0] != contents[2]


def test_files_hold_realistic_values(sandbox):
    body = _export(sandbox, days_back(1)[0]).json()
    events = [row for url in body["events_export_url"] for row in _rows(url)[1:]]
    links = [row for url in body["links_export_url"] for row in _rows(url)[1:]]
    header = _rows(body["events_export_url"][0])[0]
    column = {name: index for index, name in enumerate(header)}
    cells = [cell for row in events + links for cell in row]
    assert any("\n" in cell for cell in cells)  # newlines inside quoted cells
    assert any(
        "," in cell and not cell.startswith(("{", "[")) for cell in cells
    )  # commas inside cells
    assert any('"' in cell for cell in cells)
    assert any(not cell.isascii() for cell in cells)  # unicode
    assert any(cell == "" for cell in cells)  # empty cells
    # Timestamps as Branch's legacy documents show them: `2018-07-11T09:43:01`, no zone.
    legacy_time = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
    assert all(legacy_time.fullmatch(row[column["timestamp"]]) for row in events)
    assert all(legacy_time.fullmatch(row[column["identity_creation_timestamp"]]) for row in events)
    assert all(isinstance(json.loads(row[column["metadata"]]), dict) for row in events)
    assert all(len(row[column["id"]]) == 18 and row[column["id"]].isdigit() for row in events)


def test_large_days_are_split_across_files(sandbox):
    sandbox.options(
        daily_rows={"links": 95, "link_clicks": 5, "events": 0},
        daily_rows_per_file=30,
        daily_volume_jitter=0,
    )
    body = _export(sandbox, days_back(1)[0]).json()
    assert len(body["links_export_url"]) == 4  # 30 + 30 + 30 + 5
    assert [len(_rows(url)) - 1 for url in body["links_export_url"]] == [30, 30, 30, 5]
    assert len(body["clicks_export_url"]) == 1 and body["events_export_url"] == []


def test_signed_urls_are_checked_and_expire(sandbox):
    url = _export(sandbox, days_back(1)[0]).json()["links_export_url"][0]
    assert requests.get(url, timeout=10).status_code == 200
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    response = requests.get(tampered, timeout=10)
    assert response.status_code == 403 and "SignatureDoesNotMatch" in response.text
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
    sandbox.expire_urls()
    response = requests.get(url, timeout=10)
    assert response.status_code == 403 and "Request has expired" in response.text
    fresh = _export(sandbox, days_back(1)[0]).json()["links_export_url"][0]
    assert requests.get(fresh, timeout=10).status_code == 200


def test_url_lifetime_is_configurable():
    running = start_sandbox(url_ttl=0)
    try:
        control = SandboxControl(running)
        url = _export(control, days_back(1)[0]).json()["links_export_url"][0]
        assert requests.get(url, timeout=10).status_code == 403
    finally:
        running.stop()


def test_todays_files_answer_400_until_the_day_is_over(sandbox):
    today = _export(sandbox, sandbox.sandbox.today()).json()["links_export_url"][0]
    response = requests.get(today, timeout=10)
    assert response.status_code == 400
    sandbox.advance_days(1)
    assert requests.get(today, timeout=10).status_code == 200


@pytest.mark.parametrize("header", [True, False])
def test_rate_limit_fault_answers_like_branch(sandbox, header):
    sandbox.fault(kind="rate_limit", path="/v1/export", retry_after=12, header=header)
    response = _export(sandbox, days_back(1)[0])
    assert response.status_code == 429
    error = response.json()["errors"][0]
    assert error["error_code"] == 7
    assert (
        error["message"].startswith("Limit is exceeded for org-")
        and "retry after 12 seconds" in error["message"]
    )
    assert response.headers.get("Retry-After") == ("12" if header else None)
    assert _export(sandbox, days_back(1)[0]).status_code == 200  # times=1 by default


def test_sliding_windows_count_in_sandbox_time():
    now = [0.0]
    limiter = SlidingWindowLimiter([(2, 1.0), (3, 60.0)], clock=lambda: now[0])
    assert limiter.hit("org") is None and limiter.hit("org") is None
    assert limiter.hit("org") == pytest.approx(1.0)  # third in the same second
    now[0] = 1.5
    assert limiter.hit("org") is None
    now[0] = 3.0
    assert limiter.hit("org") == pytest.approx(57.0)  # the minute window is full
    assert limiter.hit("other-org") is None


def test_status_and_reset_faults_and_the_request_log(sandbox):
    sandbox.fault(kind="status", status=502, path="/v1/export", times=2)
    statuses = [_export(sandbox, days_back(1)[0]).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    sandbox.fault(kind="reset", path="/v1/export")
    with pytest.raises(requests.exceptions.RequestException):
        _export(sandbox, days_back(1)[0]).json()
    log = [entry for entry in sandbox.requests_log() if entry["path"].startswith("/v1/")]
    assert all(entry["path"] == f"/v1/export/{SANDBOX_KEY}" for entry in log)
    assert [(e["status"], e["fault"]) for e in log] == [
        (502, "status"),
        (502, "status"),
        (200, None),
        (200, "reset"),
    ]
    sandbox.clear_requests()
    assert [e for e in sandbox.requests_log() if not e["path"].startswith("/_sandbox/")] == []


def test_unknown_fault_kind_is_refused(sandbox):
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "explode"}, timeout=10)
    assert response.status_code == 400 and "explode" in response.text


def test_clock_control(sandbox):
    sandbox.set_today(dt.date(2024, 3, 1))
    sandbox.advance_days(2)
    health = requests.get(f"{sandbox.url}/_sandbox/health", timeout=10).json()
    assert health == {"ok": True, "today": "2024-03-03"}


def test_gzip_csv_is_produced_in_chunks_and_round_trips():
    rows = [
        [synthetic.stable_id(n), f"text, with comma {n}", "line\nbreak", "ünï"]
        for n in range(30000)
    ]
    chunks = list(synthetic.gzip_csv(["a", "b", "c", "d"], rows))
    assert len(chunks) > 1
    parsed = list(csv.reader(io.StringIO(gzip.decompress(b"".join(chunks)).decode(), newline="")))
    assert parsed[0] == ["a", "b", "c", "d"] and parsed[1:] == rows


def test_cli_arguments_build_the_config():
    args = parse_args(
        [
            "--port",
            "0",
            "--seed",
            "9",
            "--option",
            'daily_rows={"events": 5}',
            "--option",
            "daily_get_form=false",
            "--app",
            "second:key_live_2:secret_live_2",
            "--today",
            "2024-01-31",
            "--retry-after-header",
            "--fault",
            '{"kind": "status", "status": 503}',
        ]
    )
    config = build_config(args)
    assert config.seed == 9 and config.today == dt.date(2024, 1, 31) and config.retry_after_header
    assert config.options == {"daily_rows": {"events": 5}, "daily_get_form": False}
    assert [app.app_id for app in config.apps] == ["sandbox-app", "second"]
    assert args.fault == [{"kind": "status", "status": 503}]
    with pytest.raises(SystemExit):
        parse_args(["--app", "only:two"])


# --- an independent witness: Branch as its documents and real clients show it ------------


def test_the_sandbox_imports_nothing_from_the_tap():
    """A module shared with the tap would echo the tap's mistakes instead of catching them."""
    import ast
    from pathlib import Path

    import tap_branch_sandbox

    borrowed = []
    for path in Path(tap_branch_sandbox.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                outside = name.startswith("tap_branch") and not name.startswith(
                    "tap_branch_sandbox"
                )
                if outside or name.startswith("singer_sdk"):
                    borrowed.append(f"{path.name}: {name}")
    assert borrowed == []


def _v3(control: SandboxControl, day: dt.date) -> dict:
    response = requests.post(
        f"{control.url}/v3/export",
        json={"branch_key": SANDBOX_KEY, "branch_secret": SANDBOX_SECRET, "export_date": str(day)},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def test_v3_lists_all_15_topics_and_each_topic_has_its_own_columns(sandbox):
    sandbox.options(v3_rows={"eo_dismissal": 0})
    answer = _v3(sandbox, days_back(1)[0])
    assert len(answer) == 15 and "eo_sms_sent" in answer
    assert answer["eo_dismissal"] == []  # no data: an empty list
    assert all(urls for topic, urls in answer.items() if topic != "eo_dismissal")
    clicks, installs = _rows(answer["eo_click"][0]), _rows(answer["eo_install"][0])
    assert "existing_user" not in clicks[0] and "existing_user" in installs[0]
    assert "store_install_begin_timestamp" in installs[0]
    assert "store_install_begin_timestamp" not in clicks[0]
    # Lists of objects come flattened, one column per key; the objects' own column is not there.
    assert "persona_identifiers[].guaranteed" in clicks[0]
    assert "user_data_prob_cross_platform_ids[].probability" in clicks[0]
    assert "user_data_prob_cross_platform_ids" not in clicks[0]
    content = _rows(answer["eo_content_event"][0])
    assert "content_items" in content[0] and "content_items" not in clicks[0]
    column = {name: index for index, name in enumerate(clicks[0])}
    for row in clicks[1:]:
        assert re.fullmatch(r"\d{13}", row[column["timestamp"]])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0000", row[column["timestamp_iso"]])
        assert isinstance(json.loads(row[column["custom_data"]]), dict)
        assert row[column["attributed"]] in ("true", "false")


def _custom(control: SandboxControl, **body) -> requests.Response:
    start = NOW - dt.timedelta(days=1)
    request = {
        "report_type": "eo_open",
        "start_date": start.strftime("%Y-%m-%dT00:00:00Z"),
        "end_date": start.strftime("%Y-%m-%dT23:59:59Z"),
        "fields": ["id", "timestamp", "custom_data"],
        **body,
    }
    return requests.post(
        f"{control.url}/v2/logs",
        params={"app_id": "sandbox-app"},
        headers={"Access-Token": "api_app_sandbox"},
        json=request,
        timeout=10,
    )


def test_custom_exports_answer_handle_and_status_url_and_refuse_one_field_at_a_time(sandbox):
    created = _custom(sandbox).json()
    assert set(created) == {"handle", "export_job_status_url"}
    assert created["export_job_status_url"].endswith(
        f"/v2/logs/{created['handle']}?app_id=sandbox-app"
    )
    sandbox.options(custom_unavailable_fields=["user_data_idfv"])
    fields = ["id", "existing_user", "user_data_idfv"]
    first = _custom(sandbox, report_type="eo_click", fields=fields)
    assert first.status_code == 400
    message = first.json()["error"]["message"]
    assert "is not available for exports" in message
    named = [f for f in fields if f in message]
    assert len(named) == 1  # one per answer: the next one only once this one is dropped
    second = _custom(sandbox, report_type="eo_click", fields=[f for f in fields if f not in named])
    assert second.status_code == 400 and named[0] not in second.json()["error"]["message"]
    assert _custom(sandbox, report_type="eo_click", fields=["id"]).status_code == 200


def test_custom_export_rows_carry_branchs_value_forms(sandbox):
    sandbox.options(custom_job_seconds=0)
    fields = ["id", "timestamp", "timestamp_iso", "custom_data", "persona_identifiers",
              "user_data_prob_cross_platform_ids", "last_attributed_touch_data_tilde_id"]  # fmt: skip
    handle = _custom(sandbox, fields=fields).json()["handle"]
    status = requests.get(
        f"{sandbox.url}/v2/logs/{handle}",
        params={"app_id": "sandbox-app"},
        headers={"Access-Token": "api_app_sandbox"},
        timeout=10,
    ).json()
    urls = status["response_url"]
    urls = [urls] if isinstance(urls, str) else urls
    rows = [
        json.loads(line)
        for url in urls
        for line in gzip.decompress(requests.get(url, timeout=10).content).splitlines()
    ]
    assert rows
    for row in rows:
        assert list(row) == fields
        assert isinstance(row["timestamp"], int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0000", row["timestamp_iso"])
        assert isinstance(row["custom_data"], dict)
        assert all(set(p) == {"id", "type", "guaranteed"} for p in row["persona_identifiers"])
        assert all(
            set(p) == {"id", "probability"} for p in row["user_data_prob_cross_platform_ids"]
        )
        tilde_id = row["last_attributed_touch_data_tilde_id"]
        assert tilde_id is None or isinstance(tilde_id, int)  # a JSON number (`Long`)


@pytest.mark.parametrize(("topic", "known"), [("eo_open", True), ("eo_pageview", True),
    ("eo_dismissal", False), ("eo_sms_sent", False), ("webhook2", False), ("cost", False)])  # fmt: skip
def test_readiness_answers_only_the_documented_topics(sandbox, topic, known):
    response = requests.post(
        f"{sandbox.url}/v2/data/ready",
        params={"app_id": "sandbox-app"},
        headers={"Access-Token": "api_app_sandbox"},
        json={
            "date": "2024-01-05 01:00:00",
            "warehouse_meta_type": "EVENT",
            "topic": topic,
            "app_id": "sandbox-app",
        },  # fmt: skip
        timeout=10,
    )
    assert response.status_code == (200 if known else 400)
    if known:
        assert set(response.json()) == {"data_ready", "date"}


def test_app_config_by_branch_key_and_secret_and_by_the_legacy_user_id(sandbox):
    by_key = requests.get(
        f"{sandbox.url}/v1/app/{SANDBOX_KEY}", params={"branch_secret": SANDBOX_SECRET}, timeout=10
    )
    legacy = requests.get(
        f"{sandbox.url}/v1/app/sandbox-app",
        params={"user_id": "dashboard_user_sandbox"},
        timeout=10,
    )
    assert by_key.status_code == legacy.status_code == 200
    assert by_key.json() == legacy.json() and by_key.json()["app_key"] == SANDBOX_KEY
    wrong = requests.get(
        f"{sandbox.url}/v1/app/{SANDBOX_KEY}", params={"branch_secret": "nope"}, timeout=10
    )
    assert wrong.status_code == 400 and wrong.json() == AUTH_FAILED


def test_legacy_cells_take_the_forms_of_branchs_migration_guide(sandbox):
    body = _export(sandbox, days_back(1)[0]).json()
    clicks = [row for url in body["clicks_export_url"] for row in _rows(url)[1:]]
    events = [row for url in body["events_export_url"] for row in _rows(url)[1:]]
    click_col = {name: i for i, name in enumerate(_rows(body["clicks_export_url"][0])[0])}
    event_col = {name: i for i, name in enumerate(_rows(body["events_export_url"][0])[0])}
    assert {row[click_col["sms_from_desktop"]] for row in clicks} == {"True", "False"}
    tags = [row[event_col["first_referring_link_tags"]] for row in events]
    assert any(re.fullmatch(r"\['.+'\]", cell) for cell in tags)  # a Python list literal
    assert all(cell == "" or cell.startswith("[") for cell in tags)
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row[click_col["click_timestamp"]])
        for row in clicks
    )


# --- options: known names, values of their kind -----------------------------------------------


def _post_options(control: SandboxControl, body: object) -> requests.Response:
    return requests.post(f"{control.url}/_sandbox/options", json=body, timeout=10)


def test_an_unknown_option_is_refused_naming_it_and_the_known_ones(sandbox):
    answer = _post_options(sandbox, {"daily_row": {"events": 5}})
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert "'daily_row'" in message and "daily_rows" in message and "cohort_job_latency" in message
    assert "daily_row" not in requests.get(f"{sandbox.url}/_sandbox/options", timeout=10).json()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"daily_rows": 60000}, "'daily_rows' takes an object of integers"),
        ({"daily_rows": {"events": "lots"}}, "'daily_rows' takes an object of integers"),
        ({"daily_rows_per_file": "10"}, "'daily_rows_per_file' takes an integer"),
        ({"daily_get_form": 0}, "'daily_get_form' takes true or false"),
        ({"cohort_rate_limits": [5, 60]}, "a list of [requests, seconds] pairs"),
        ({"credits_unknown_identity": "none"}, '"empty" or an integer'),
        ({"custom_now": "yesterday"}, "an ISO date-time string"),
        ({"credits_page_cap": 1.5}, "'credits_page_cap' takes an integer"),
        ({"daily_file_order": "reverse"}, ''''daily_file_order' takes "reversed"'''),
        ({"cohort_status_case": "Lower"}, '''takes "upper" or "lower"'''),
    ],
)
def test_an_option_of_the_wrong_kind_is_refused_and_later_requests_still_answer(
    sandbox, options, named
):
    # {"daily_rows": 60000} made every later daily request a 500 (TypeError).
    good = {"daily_rows_per_file": 7}
    answer = _post_options(sandbox, {**good, **options})
    assert answer.status_code == 400
    assert named in answer.json()["error"]["message"]
    assert (
        requests.get(f"{sandbox.url}/_sandbox/options", timeout=10)
        .json()
        .get("daily_rows_per_file")
        != 7
    )  # nothing of a refused request is set
    assert _export(sandbox, days_back(1)[0]).status_code == 200


def test_a_null_option_sets_its_default_back(sandbox):
    sandbox.options(daily_rows={"links": 0, "link_clicks": 0, "events": 0}, daily_volume_jitter=0)
    assert _export(sandbox, days_back(1)[0]).json()["events_export_url"] == []
    sandbox.options(daily_rows=None)
    assert "daily_rows" not in requests.get(f"{sandbox.url}/_sandbox/options", timeout=10).json()
    assert _export(sandbox, days_back(1)[0]).json()["events_export_url"] != []
    with pytest.raises(ValueError, match="'daily_row'"):
        start_sandbox(options={"daily_row": 1})  # the config's own options are checked too


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("daily_row=5", "unknown sandbox option 'daily_row'; the options are: "),
        ("daily_rows=60000", "'daily_rows' takes an object of integers"),
        ("cohort_job_latency=slow", "'cohort_job_latency' takes a number"),
    ],
)
def test_the_cli_refuses_an_unknown_option_or_a_value_of_another_kind(capsys, option, named):
    with pytest.raises(SystemExit):
        parse_args(["--option", option])
    assert named in capsys.readouterr().err


def test_every_option_the_sandbox_reads_is_registered_with_its_kind():
    """`options.OPTIONS` is what `--option` and `POST /_sandbox/options` accept: an option a
    module reads without registering it would be refused."""
    import ast
    from pathlib import Path

    import tap_branch_sandbox
    from tap_branch_sandbox.options import OPTIONS

    read = set()
    for path in Path(tap_branch_sandbox.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (  # sandbox.option("name", ...)
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "option"
                and node.args
            ):
                assert isinstance(node.args[0], ast.Constant), f"{path.name}: a computed name"
                read.add(node.args[0].value)
            if (  # sandbox.config.options["name"]
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "options"
                and isinstance(node.slice, ast.Constant)
            ):
                read.add(node.slice.value)
    assert len(read) > 40  # the scan finds the families' options
    assert sorted(read - set(OPTIONS)) == []
    assert sorted(set(OPTIONS) - read) == []  # no option accepted that nothing reads


def test_rate_limit_windows_set_after_the_first_request_apply(sandbox):
    """An option read on every request must not be frozen by the first one."""
    body = {
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "start_date": (NOW.date() - dt.timedelta(days=2)).isoformat(),
        "end_date": (NOW.date() - dt.timedelta(days=1)).isoformat(),
        "data_source": "eo_install",
        "aggregation": "total_count",
        "dimensions": ["user_data_os"],
    }
    url = f"{sandbox.url}/v1/query/analytics"
    assert requests.post(url, json=body, timeout=30).status_code == 200
    sandbox.options(query_rate_limits=[[1, 3600]])
    assert requests.post(url, json=body, timeout=30).status_code == 200  # the first of the hour
    assert requests.post(url, json=body, timeout=30).status_code == 429
