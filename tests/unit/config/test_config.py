"""Bad config fails at start, before any request, with a message naming the setting."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.config.apps import configured_apps
from tap_branch.config.credentials import ACCESS_TOKEN, ACCESS_TOKEN_WITH_APP
from tap_branch.config.errors import parse_date
from tap_branch.output.sdk_internals import config_input
from tap_branch.tap import TapBranch
from tests.support.sandbox import DAILY_STREAMS, SANDBOX_KEY
from tests.support.tap_runner import run_tap, select_only


def _tap(config: dict) -> TapBranch:
    return TapBranch(config=config, parse_env_config=False)


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"start_date": "yesterday"}, "'start_date'"),
        ({"start_date": "2024-02-30"}, "'start_date'"),
        ({"end_date": "31/01/2024"}, "'end_date'"),
        (
            {"start_date": "2024-02-01", "end_date": "2024-01-31"},
            "'start_date' (2024-02-01) is after 'end_date'",
        ),
    ],
)
def test_bad_dates_fail_when_the_tap_starts(change, setting):
    config = {
        "start_date": "2024-01-01",
        "branch_key": "key_live_x",
        "branch_secret": "secret_live_x",
        **change,
    }
    with pytest.raises(ConfigValidationError, match=r".*".join(map(_escape, setting.split(" ")))):
        _tap(config)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_missing_start_date_is_named():
    with pytest.raises(ConfigValidationError) as raised:
        _tap({"branch_key": "key_live_x", "branch_secret": "secret_live_x"})
    assert "start_date" in str(raised.value) + " ".join(raised.value.errors)


def test_date_forms_accepted():
    assert str(parse_date("2024-01-31", "start_date")) == "2024-01-31"
    assert str(parse_date("2024-01-31T00:00:00Z", "start_date")) == "2024-01-31"
    # An offset is converted to UTC before the day is taken.
    assert str(parse_date("2024-01-31T23:30:00-02:00", "start_date")) == "2024-02-01"


def _assert_fails_before_any_request(sandbox, config: dict, *words: str) -> None:
    run = run_tap(config, select=DAILY_STREAMS, expect_error=True)
    assert isinstance(run.error, ConfigValidationError), run.error
    for word in words:
        assert word in str(run.error)
    assert not [r for r in sandbox.requests_log() if not r["path"].startswith("/_sandbox/")]
    assert run.streams_with_records == set()


def test_daily_streams_without_secret(sandbox, base_config):
    config = {k: v for k, v in base_config.items() if k != "branch_secret"}
    _assert_fails_before_any_request(
        sandbox, config, "'branch_secret'", "events", "links", "link_clicks"
    )


def test_daily_streams_without_any_app(sandbox, base_config):
    config = {k: v for k, v in base_config.items() if k not in ("branch_key", "branch_secret")}
    _assert_fails_before_any_request(sandbox, config, "'branch_key'", "'branch_secret'", "'apps'")


def test_apps_entry_without_secret_names_the_app(sandbox, base_config):
    # `apps` replaces the flat app settings (leaving them beside it would contradict it).
    flat = ("app_id", "branch_key", "branch_secret")
    config = {k: v for k, v in base_config.items() if k not in flat}
    config["apps"] = [{"app_id": "mine", "branch_key": SANDBOX_KEY}]
    _assert_fails_before_any_request(sandbox, config, "'apps' entry for app mine")


def test_apps_entry_without_key_is_rejected():
    with pytest.raises(ConfigValidationError) as raised:
        _tap({"start_date": "2024-01-01", "apps": [{"branch_secret": "secret_live_x"}]})
    assert any("branch_key" in error for error in raised.value.errors)


def test_credentials_of_streams_not_selected_are_not_required(sandbox, base_config):
    config = {
        k: v for k, v in base_config.items() if k not in ("branch_key", "branch_secret", "app_id")
    }
    run = run_tap(config, select=[], expect_error=True)
    assert run.error is None


def test_v2_credentials_are_named():
    with pytest.raises(ConfigValidationError, match="'access_token'"):
        ACCESS_TOKEN.check({}, ["cohort"])
    with pytest.raises(ConfigValidationError, match="'app_id'"):
        ACCESS_TOKEN_WITH_APP.check({"access_token": "api_app_x"}, ["scheduled"])
    ACCESS_TOKEN_WITH_APP.check({"access_token": "api_app_x", "app_id": "1"}, ["scheduled"])


def test_flat_settings_and_apps_list_give_the_same_shape():
    flat = configured_apps({"branch_key": "key_live_a", "branch_secret": "secret_live_a"})
    listed = configured_apps(
        {"apps": [{"branch_key": "key_live_a", "branch_secret": "secret_live_a"}]}
    )
    assert flat == listed
    assert flat[0].app_id == "key_live_a"
    # The list wins over the flat settings.
    both = configured_apps(
        {
            "branch_key": "key_live_flat",
            "apps": [{"app_id": "7", "branch_key": "key_live_b", "branch_secret": "s"}],
        }
    )
    assert [(a.app_id, a.branch_key) for a in both] == [("7", "key_live_b")]


def test_secrets_are_marked_secret_in_the_settings():
    properties = TapBranch.config_jsonschema["properties"]
    for name in ("branch_secret", "access_token"):
        assert properties[name].get("secret") is True, name
        assert properties[name].get("writeOnly") is True, name
    assert properties["apps"]["items"]["properties"]["branch_secret"].get("secret") is True


def _about(output_format: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--about", f"--format={output_format}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_about_markdown_lists_every_setting():
    about = _about("markdown")
    for name in TapBranch.config_jsonschema["properties"]:
        assert f"| {name}" in about, name


def test_the_console_script_runs_the_sdk_cli_with_the_imports_frozen():
    """`tap-branch` is `tap_branch.cli:main`: the SDK's CLI, with the collector left to the run's
    own objects (the imports are frozen); it answers exactly as `python -m tap_branch.tap`."""
    scripts = {
        entry.name: entry.value
        for entry in importlib.metadata.distribution("tap-branch").entry_points
        if entry.group == "console_scripts"
    }
    assert scripts["tap-branch"] == "tap_branch.cli:main"
    probe = (
        "import gc, sys; sys.argv = ['tap-branch', '--about', '--format=json'];"
        "from tap_branch.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert gc.isenabled() and gc.get_freeze_count() > 10000, gc.get_freeze_count()"
    )
    about = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert json.loads(about) == json.loads(_about("json"))


def _sync_cli(tmp_path, config: dict) -> subprocess.CompletedProcess:
    """`tap-branch --config config.json`, as a user runs it."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_names_the_bad_setting_and_exits_non_zero(tmp_path):
    result = _sync_cli(
        tmp_path, {"start_date": "2024-05-01", "end_date": "2024-04-01", "branch_key": "key_live_x"}
    )
    assert result.returncode != 0
    assert "'start_date' (2024-05-01) is after 'end_date' (2024-04-01)" in result.stderr
    assert result.stdout == ""


# --- issue 9 item 8: every bad value is refused, naming its setting ------------------

_GOOD = {"start_date": "2024-01-01", "branch_key": "key_live_x", "branch_secret": "secret_live_x"}


def _refusal(change: dict) -> str:
    """The whole message of the refusal of `change` (what the CLI prints)."""
    with pytest.raises(ConfigValidationError) as raised:
        _tap({**_GOOD, **change})
    return " ".join([str(raised.value), *raised.value.errors])


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"request_timeout": 0}, "request_timeout"),
        ({"request_timeout": -5}, "request_timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 0}, "max_retries"),
        ({"backoff_factor": -1}, "backoff_factor"),
        ({"rate_limit_max_wait": 0}, "rate_limit_max_wait"),
        ({"api_url": "not a url"}, "api_url"),
        ({"api2_url": "api2.branch.io"}, "api2_url"),
        ({"start_date": "2999-01-01"}, "start_date"),
        ({"cohort_record_limit": 0}, "cohort_record_limit"),
        ({"cohort_max_concurrent_jobs": 0}, "cohort_max_concurrent_jobs"),
        ({"cohort_poll_interval": 0}, "cohort_poll_interval"),
        ({"cohort_rate_limits": [{"requests": 0, "seconds": 1}]}, "cohort_rate_limits"),
        ({"custom_exports_window_days": 0}, "custom_exports_window_days"),
        ({"custom_exports_window_days": 100}, "custom_exports_window_days"),
        ({"custom_exports_window_days": -3}, "custom_exports_window_days"),
        ({"custom_exports_poll_seconds": 0}, "custom_exports_poll_seconds"),
        (
            {"custom_exports_create_limits": [{"limit": 0, "seconds": 60}]},
            "custom_exports_create_limits",
        ),
        ({"credit_history_page_size": 0}, "credit_history_page_size"),
        ({"credit_identities": 5}, "credit_identities"),
        ({"empty_day_grace_days": -1}, "empty_day_grace_days"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(change, setting):
    assert f"'{setting}'" in _refusal(change)


def test_a_future_start_date_says_so():
    message = _refusal({"start_date": "2999-01-01"})
    assert "'start_date' (2999-01-01) is in the future" in message


def test_the_constraints_show_in_about():
    """`--about` (what Meltano, Airbyte and users read) carries the same limits that refuse values."""
    settings = json.loads(_about("json"))["settings"]["properties"]
    assert settings["request_timeout"]["minimum"] == 1
    assert settings["max_retries"]["minimum"] == 1
    assert settings["api_url"]["format"] == "uri"
    assert settings["api_url"]["pattern"].startswith("^https?://")
    assert settings["custom_exports_window_days"]["minimum"] == 1
    assert settings["custom_exports_window_days"]["maximum"] == 60
    assert settings["cohort_record_limit"]["minimum"] == 1
    assert settings["credit_history_page_size"]["minimum"] == 1


def test_duplicate_app_ids_in_apps_are_refused():
    apps = [
        {"app_id": "1", "branch_key": "key_live_a", "branch_secret": "s"},
        {"app_id": "2", "branch_key": "key_live_b", "branch_secret": "s"},
        {"app_id": "1", "branch_key": "key_live_c", "branch_secret": "s"},
    ]
    message = _refusal({"apps": apps})
    assert "'apps'" in message and "entries 1 and 3" in message and "'1'" in message
    # Without app_id the branch_key is the app's id: the same key twice is the same app.
    keys_only = [{"branch_key": "key_live_a"}, {"branch_key": "key_live_a"}]
    assert "entries 1 and 2" in _refusal({"apps": keys_only})


def test_an_unknown_setting_is_warned_with_the_close_match(caplog):
    with caplog.at_level("WARNING"):
        _tap({**_GOOD, "brnach_secret": "secret_live_typo", "something_else": 1})
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "Unknown setting 'brnach_secret' is ignored; did you mean 'branch_secret'?" in warnings
    assert "Unknown setting 'something_else' is ignored." in warnings
    # The value of the misspelt key may be a secret: it is never printed.
    assert not any("secret_live_typo" in line for line in warnings)


def test_known_settings_are_not_warned(caplog):
    with caplog.at_level("WARNING"):
        _tap({**_GOOD, "stream_maps": {}, "flattening_enabled": False, "batch_config": None})
    assert not [r for r in caplog.records if "Unknown setting" in r.getMessage()]


def test_cli_shows_schema_refusals_naming_the_setting(tmp_path):
    result = _sync_cli(tmp_path, {**_GOOD, "request_timeout": 0, "api_url": "not a url"})
    assert result.returncode != 0
    assert "config['request_timeout']" in result.stderr
    assert "config['api_url']" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# --- settings from environment variables: converted by their type, or refused naming the variable


def _from_env(monkeypatch, **variables: str) -> TapBranch:
    monkeypatch.setenv("TAP_BRANCH_START_DATE", "2024-01-01")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return TapBranch(config={}, parse_env_config=True)


@pytest.mark.parametrize(
    ("variable", "text", "setting", "value"),
    [
        ("TAP_BRANCH_BACKOFF_FACTOR", "2", "backoff_factor", 2),
        ("TAP_BRANCH_COHORT_POLL_INTERVAL", "5", "cohort_poll_interval", 5),
        ("TAP_BRANCH_CUSTOM_EXPORTS_POLL_SECONDS", "15", "custom_exports_poll_seconds", 15),
        ("TAP_BRANCH_COHORT_RATE_LIMIT_MARGIN", "0.05", "cohort_rate_limit_margin", 0.05),
        ("TAP_BRANCH_MAX_RETRIES", "3", "max_retries", 3),
        ("TAP_BRANCH_COLUMNAR_FILES", "no", "columnar_files", False),
        ("TAP_BRANCH_COLUMNAR_FILES", "TRUE", "columnar_files", True),
        ("TAP_BRANCH_BRANCH_KEY", "key_live_x", "branch_key", "key_live_x"),
        ("TAP_BRANCH_CREDIT_BUCKETS", '["default"]', "credit_buckets", ["default"]),
        ("TAP_BRANCH_CREDIT_BUCKETS", "a,b", "credit_buckets", ["a", "b"]),
    ],
)
def test_environment_variables_take_their_settings_type(
    monkeypatch, variable, text, setting, value
):
    assert _from_env(monkeypatch, **{variable: text}).config[setting] == value


@pytest.mark.parametrize(
    ("variable", "text", "expected"),
    [
        ("TAP_BRANCH_MAX_RETRIES", "abc", "is not an integer: 'abc'"),
        ("TAP_BRANCH_BACKOFF_FACTOR", "fast", "is not a number: 'fast'"),
        ("TAP_BRANCH_BACKOFF_FACTOR", "nan", "is not a number"),
        ("TAP_BRANCH_COLUMNAR_FILES", "yes-please", "is not a boolean"),
        ("TAP_BRANCH_APPS", "not-json", "is not JSON text of a list"),
    ],
)
def test_a_bad_environment_variable_is_refused_naming_it(monkeypatch, variable, text, expected):
    with pytest.raises(ConfigValidationError) as raised:
        _from_env(monkeypatch, **{variable: text})
    assert raised.value.errors == [str(raised.value)]
    assert f"Environment variable {variable} (setting '" in str(raised.value)
    assert expected in str(raised.value)


def test_env_settings_work_through_the_cli(tmp_path):
    """`--config ENV` as Meltano's users run it: a number from its variable is accepted, a bad
    integer is one line naming the variable, exit 1, no traceback."""
    env = {**os.environ, "TAP_BRANCH_START_DATE": "2024-01-01", "TAP_BRANCH_BACKOFF_FACTOR": "2"}
    ok = subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--config", "ENV", "--discover"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    bad = subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--config", "ENV", "--discover"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "TAP_BRANCH_MAX_RETRIES": "abc"},
    )
    assert bad.returncode == 1
    assert "Environment variable TAP_BRANCH_MAX_RETRIES" in bad.stderr
    assert "Traceback" not in bad.stderr


# --- bad input files and settings: one line naming them, exit 1, never a traceback ----------

_CONFIG = {"start_date": "2024-01-01", "branch_key": "key_live_x", "branch_secret": "secret_x"}


def _tap_cli(tmp_path, files: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    """`tap-branch` with the given files' texts ({option: text}; a None text: a missing file)."""
    argv = [sys.executable, "-m", "tap_branch.tap"]
    for option, text in files.items():
        path = tmp_path / f"{option.strip('-')}.json"
        if text is not None:
            path.write_text(text)
        argv += [option, str(path)]
    return subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"--config": '{"start_date": "2024-01-01",'}, "config.json is not JSON"),
        ({"--config": '[{"start_date": "2024-01-01"}]'}, "config.json holds a JSON list"),
        ({"--config": None}, "config.json cannot be read"),
        ({"--catalog": '{"streams": ['}, "catalog.json is not JSON"),
        ({"--catalog": "[]"}, "catalog.json holds a JSON list"),
        ({"--catalog": '{"streams": [{}]}'}, "catalog.json is not a Singer catalog"),
        ({"--state": "[1]"}, "state.json holds a list [1]"),
        ({"--state": '"hello"'}, 'state.json holds a string "hello"'),
        (
            {
                "--state": '{"bookmarks": {"links": {"partitions": [{"context": {}, '
                '"replication_key_value": "2024-13-45"}]}}}'
            },
            "'replication_key_value' of stream 'links'",
        ),
        ({"--state": '{"singer_state": {"bookmarks": {}}}'}, "no 'bookmarks', only 'singer_state'"),
    ],
)
def test_bad_input_files_are_one_line_naming_them(tmp_path, files, named):
    files = {"--config": json.dumps(_CONFIG), **files}  # each refused before any request
    done = _tap_cli(tmp_path, files)
    assert done.returncode == 1, done.stderr[-2000:]
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"apps": {"branch_key": "key_live_a"}}, "config['apps']"),
        ({"apps": [{"app_id": "a1", "branch_secret": "s"}]}, "'branch_key' is a required"),
        ({"max_retries": "three"}, "config['max_retries']"),
    ],
)
def test_discovery_refuses_a_setting_of_the_wrong_shape(tmp_path, config, named):
    """Discovery needs no credentials, but a setting given in the wrong shape is refused naming
    it (it crashed with an AttributeError or a KeyError)."""
    done = _tap_cli(
        tmp_path, {"--config": json.dumps({"start_date": "2024-01-01", **config})}, "--discover"
    )
    assert done.returncode == 1
    assert named in done.stderr and "Traceback" not in done.stderr
    without_anything = _tap_cli(tmp_path, {"--config": "{}"}, "--discover")
    assert without_anything.returncode == 0, without_anything.stderr[-2000:]


# --- batch_config: refused before any request, naming it ----------------------------------


def _batch(tmp_path, **change) -> dict:
    batch = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": (tmp_path / "batches").as_uri()},
        **change,
    }
    return {k: v for k, v in batch.items() if v is not None}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"batch_size": 0}, "'batch_config.batch_size' is 0"),
        ({"batch_size": -5}, "'batch_config.batch_size' is -5"),
        ({"batch_size": "10"}, "'batch_config.batch_size' is '10'"),
        ({"storage": None}, "'batch_config' needs 'storage'"),
        ({"encoding": None}, "'batch_config' needs 'encoding'"),
        ({"storage": {"root": "file:///proc/nope"}}, "cannot be written to storage root"),
        ({"storage": {"root": "s3://no-such-bucket-of-tap-branch/x"}}, "'batch_config'"),
    ],
)
def test_a_batch_config_that_cannot_work_is_refused(sandbox, base_config, tmp_path, change, named):
    """A batch_size of 0 made the batch writer loop forever creating empty files."""
    config = {**base_config, "batch_config": _batch(tmp_path, **change)}
    run = run_tap(config, select=["links"], expect_error=True)
    assert isinstance(run.error, ConfigValidationError), run.error
    assert named in str(run.error)
    assert not [r for r in sandbox.requests_log() if not r["path"].startswith("/_sandbox/")]


def test_a_batch_prefix_with_a_directory_writes_there(sandbox, base_config, tmp_path):
    config = {**base_config, "batch_config": _batch(tmp_path)}
    config["batch_config"]["storage"]["prefix"] = "links/day/"
    run = run_tap(config, select=["links"])
    assert run.error is None
    files = list((tmp_path / "batches" / "links" / "day").iterdir())
    assert files and all(f.name.endswith(".json.gz") for f in files)
    assert not list((tmp_path / "batches" / "links" / "day").glob("tap-branch-write-check-*"))


def test_the_batch_writer_refuses_a_size_below_one():
    """Belt and braces: the loop that fills files cannot be entered with room for no record."""
    from types import SimpleNamespace

    from tap_branch.output.batch_files import BatchFiles

    stream = SimpleNamespace(tap_name="tap-branch", name="links", columnar_plan=())
    config = SimpleNamespace(
        storage=None, batch_size=0, encoding=SimpleNamespace(compression="gzip", format="jsonl")
    )
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        BatchFiles(stream, config)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", 2),
        ("-0", 0),
        ("12345678901234567890", 12345678901234567890),
        (" 3 ", 3),
        ("0.5e1", 5.0),
    ],
)
def test_a_number_settings_variable_reads_as_json_would(monkeypatch, text, value):
    # The text of an integer gives an int (exact), as the same digits in a config file would.
    read = _from_env(monkeypatch, TAP_BRANCH_BACKOFF_FACTOR=text).config["backoff_factor"]
    assert read == value and type(read) is type(value)


@pytest.mark.parametrize("text", ["inf", "-Infinity", "1e400", "", "2 s"])
def test_a_number_settings_variable_that_is_no_finite_number_is_refused(monkeypatch, text):
    with pytest.raises(ConfigValidationError, match="TAP_BRANCH_BACKOFF_FACTOR.*is not a number"):
        _from_env(monkeypatch, TAP_BRANCH_BACKOFF_FACTOR=text)


def test_the_catalog_and_state_files_are_read_once_and_handed_to_the_tap(tmp_path, monkeypatch):
    """A `--catalog` was parsed to check it, then again by the SDK (a catalog of every stream
    is megabytes: a tenth of a second of start-up); the tap now takes the checked one."""
    from singer_sdk.singerlib import Catalog

    catalog = select_only(TapBranch(config=_CONFIG).catalog_dict, ("links",))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    state = {"bookmarks": {"links": {"replication_key_value": "2024-02-01T00:00:00+00:00"}}}
    (tmp_path / "state.json").write_text(json.dumps(state))
    catalogs_built, taps = [], []
    from_dict = Catalog.from_dict.__func__
    monkeypatch.setattr(
        Catalog,
        "from_dict",
        classmethod(lambda cls, d: catalogs_built.append(d) or from_dict(cls, d)),
    )
    monkeypatch.setattr(
        TapBranch, "sync_all", lambda tap: taps.append(tap)
    )  # the tap as built, not synced
    with (
        (tmp_path / "catalog.json").open() as catalog_file,
        (tmp_path / "state.json").open() as state_file,
    ):
        TapBranch.invoke(config=config_input(_CONFIG), catalog=catalog_file, state=state_file)
    assert len(catalogs_built) == 1
    [tap] = taps
    assert [name for name, stream in tap.streams.items() if stream.selected] == ["links"]
    assert tap.state["bookmarks"]["links"]["replication_key_value"] == "2024-02-01T00:00:00+00:00"


def test_a_dotenv_file_gives_settings_and_wins_over_the_environment(tmp_path, monkeypatch):
    """The SDK's rule for `--config ENV`: a `.env` file's variables are set first, over those
    of the environment; settings are then read by their variable's name."""
    from tap_branch.config.settings import environment_texts

    monkeypatch.setenv("TAP_BRANCH_MAX_RETRIES", "1")  # also restored after the test
    monkeypatch.delenv("TAP_BRANCH_BRANCH_KEY", raising=False)
    monkeypatch.delenv("TAP_BRANCH_APP_ID", raising=False)
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "TAP_BRANCH_MAX_RETRIES=4\nTAP_BRANCH_BRANCH_KEY='key_live_${TAP_BRANCH_MAX_RETRIES}'\n"
    )
    texts = environment_texts(
        ["max_retries", "branch_key", "app_id"], "TAP_BRANCH_", dotenv_path=str(dotenv)
    )
    assert texts == {"max_retries": "4", "branch_key": "key_live_4"}
    assert environment_texts(["max_retries"], "TAP_BRANCH_", dotenv_path="") == {"max_retries": "4"}
