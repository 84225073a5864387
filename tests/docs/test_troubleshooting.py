"""docs/troubleshooting.md has a section for every error a user can meet, and nothing else.

What the tap can raise is collected from its source (AST), not listed by hand: every exception
class defined under `tap_branch/` (the sandbox is another package), and every setting an error
names (the setting names quoted in the messages of `invalid_setting(...)`, the
settings given to the helpers that put a setting's name in such a message, and any message
saying "setting '<name>'"). Each needs an explicit anchor on the page: `{#ClassName}` for a
class, `{#setting-<name>}` for a setting (attr_list). An explicit anchor naming a class or a
setting that no longer exists fails too, so the page cannot keep sections for errors that are
gone. Private classes (`_Name`) never leave their module and are not listed.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import importlib
import pathlib
import re
import typing as t

import pytest
from singer_sdk.exceptions import ConfigValidationError

import tap_branch
from tap_branch.config.catalog_checks import check_catalog
from tap_branch.errors import InvalidCatalogError, InvalidStateError
from tap_branch.tap import TapBranch
from tap_branch_sandbox.profiles import NOT_ENABLED
from tests.support.tap_runner import run_tap

PACKAGE = pathlib.Path(tap_branch.__file__).resolve().parent
PAGE = PACKAGE.parent / "docs" / "troubleshooting.md"
SETTING_PREFIX = "setting-"
#: The helper that turns a message into the error the CLI shows.
RAISING_HELPERS = {"invalid_setting"}
_WORD = re.compile(r"[a-z][a-z0-9_]*")
_SAYS_SETTING = re.compile(r"[Ss]etting '([a-z][a-z0-9_]*)")
#: `{#id}` after a heading (attr_list), or `<a id="id"></a>` for a second name of one section.
_ANCHOR = re.compile(r"\{[^}\n]*#([A-Za-z][\w-]*)[^}\n]*\}|<a id=\"([A-Za-z][\w-]*)\"></a>")


@functools.cache
def _modules() -> tuple[tuple[str, ast.Module], ...]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        dotted = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((dotted, ast.parse(path.read_text(), filename=str(path))))
    return tuple(found)


def _is_outside_exception(module: str, name: str, tree: ast.Module) -> bool:
    """Whether `name`, not defined in the tap, is an exception: a builtin or an imported one."""
    known = getattr(builtins, name, None)
    if isinstance(known, type):
        return issubclass(known, BaseException)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    found = getattr(importlib.import_module(node.module), alias.name, None)
                    return isinstance(found, type) and issubclass(found, BaseException)
    return False


@functools.cache
def exception_classes() -> set[str]:
    """Every public exception class defined in the tap, by name."""
    bases: dict[str, list[str]] = {}
    outside: dict[str, bool] = {}
    for module, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            names = [
                base.id if isinstance(base, ast.Name) else base.attr
                for base in node.bases
                if isinstance(base, (ast.Name, ast.Attribute))
            ]
            bases[node.name] = names
            for name in names:
                outside.setdefault(name, _is_outside_exception(module, name, tree))

    def is_exception(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in seen:
            return False
        if name in bases:
            return any(is_exception(base, seen | {name}) for base in bases[name])
        return outside.get(name, False)

    return {name for name in bases if is_exception(name) and not name.startswith("_")}


def _texts(node: ast.AST) -> t.Iterator[str]:
    """The literal text in `node`: strings, and the constant parts of f-strings."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def _called(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "text"`: settings named by a constant (`SETTING = "credit_identities"`)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


@functools.cache
def all_settings() -> set[str]:
    """The tap's settings, the SDK's built-in ones (`batch_config`, ...) included."""
    schema = copy.deepcopy(TapBranch.config_jsonschema)
    TapBranch.append_builtin_config(schema)
    return set(schema["properties"])


def _names_a_setting(target: ast.AST | str | None) -> bool:
    """`setting = ...`, `url_setting=...`, `USER_ID_SETTING = ...`: where a setting's name is kept."""
    name = target if isinstance(target, str) else getattr(target, "id", getattr(target, "attr", ""))
    return bool(name) and name.lower().endswith("setting")


def _setting_values(value: ast.AST, settings: set[str]) -> set[str]:
    """The settings a value kept under a `*setting` name means: a literal name, or every setting
    ending the way an f-string does (`f"{name}_rate_limits"`: cohort_rate_limits, ...)."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return {value.value} | set(_SAYS_SETTING.findall(value.value))
    if isinstance(value, ast.JoinedStr) and isinstance(value.values[-1], ast.Constant):
        suffix = str(value.values[-1].value)
        if isinstance(value.values[0], ast.FormattedValue) and suffix.startswith("_"):
            return {name for name in settings if name.endswith(suffix)}
    return set()


@functools.cache
def settings_named() -> set[str]:
    """Every setting an error can name."""
    settings = all_settings()
    modules = _modules()
    constants: dict[str, str] = {}
    for _, tree in modules:
        constants.update(_string_constants(tree))
    named: set[str] = set()
    # Helpers whose message quotes one of their parameters: `parse_date(value, setting)`.
    helpers: dict[str, set[int]] = {}
    for _, tree in modules:
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            params = [arg.arg for arg in node.args.args]
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and _called(call) in RAISING_HELPERS:
                    quoted = {
                        part.value.id
                        for part in ast.walk(call)
                        if isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name)
                    }
                    helpers.setdefault(node.name, set()).update(
                        index for index, param in enumerate(params) if param in quoted
                    )
    for _, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named.update(_SAYS_SETTING.findall(node.value))
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(map(_names_a_setting, targets)):
                    named.update(_setting_values(node.value, settings))
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if _names_a_setting(keyword.arg):
                    named.update(_setting_values(keyword.value, settings))
            name = _called(node)
            if name in RAISING_HELPERS:
                for text in _texts(node):
                    named.update(_WORD.findall(text))
                for part in ast.walk(node):
                    if isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
                        named.add(constants.get(part.value.id, ""))
            for index in helpers.get(name or "", ()):
                for arg in node.args[index : index + 1]:
                    named.update(_setting_values(arg, settings))
                    if isinstance(arg, ast.Name):
                        named.add(constants.get(arg.id, ""))
    return named & settings


def anchors() -> set[str]:
    return {braces or html for braces, html in _ANCHOR.findall(PAGE.read_text())}


def test_every_exception_class_has_a_section():
    missing = sorted(exception_classes() - anchors())
    assert missing == [], f"docs/troubleshooting.md has no {{#Name}} section for: {missing}"


def test_every_setting_an_error_names_has_a_section():
    missing = sorted(f"{SETTING_PREFIX}{name}" for name in settings_named() - _setting_anchors())
    assert missing == [], f"docs/troubleshooting.md has no {{#setting-...}} anchor for: {missing}"


def _setting_anchors() -> set[str]:
    return {a.removeprefix(SETTING_PREFIX) for a in anchors() if a.startswith(SETTING_PREFIX)}


def test_no_section_names_something_gone():
    settings = all_settings()
    gone = sorted(
        anchor
        for anchor in anchors()
        if (anchor.removeprefix(SETTING_PREFIX) not in settings)
        if anchor.startswith(SETTING_PREFIX)
    ) + sorted(a for a in anchors() if not a.startswith(SETTING_PREFIX) and a[0].isupper())
    gone = [a for a in gone if a not in exception_classes()]
    assert gone == [], f"docs/troubleshooting.md has sections for what no longer exists: {gone}"


def test_the_collector_finds_what_it_should():
    # Guards the AST collection itself: a class of errors.py, one elsewhere, a setting named
    # by a literal message, one by a helper's parameter and one by a module constant.
    assert {"RateLimitTooLongError", "InvalidStateError", "ExportIntegrityError"} <= (
        exception_classes()
    )
    assert "_Dropped" not in exception_classes()
    assert {"start_date", "end_date", "credit_identities", "rate_limit_max_wait"} <= (
        settings_named()
    )


#: Settings whose examples on the page are checked here: the message the tap gives for each
#: config, at start (no request sent), must be quoted on the page as it is.
_CREDENTIALS = {"branch_key": "key_live_sandbox", "branch_secret": "secret_live_sandbox"}
EXAMPLES = [
    {"start_date": "2026-13-01"},
    {"start_date": "2027-01-01"},
    {"start_date": "2026-03-07", "end_date": "2026-01-01"},
    {"start_date": "2026-03-07", "dashboard_time_zone": "Mars/Base"},
    {
        "start_date": "2026-03-07",
        "dashboard_time_zones": {"other-app": "UTC"},
        "app_id": "sandbox-app",
    },
    {"start_date": "2026-03-07", "cohort_reports": [{"name": "a"}]},
    {
        "start_date": "2026-03-07",
        "apps": [
            {"app_id": "a", "branch_key": "key_live_sandbox", "branch_secret": "s"},
            {"app_id": "a", "branch_key": "key_live_sandbox", "branch_secret": "s"},
        ],
    },
    {
        "start_date": "2026-03-07",
        "query_reports": [
            {
                "name": "installs",
                "data_source": "eo_install",
                "aggregation": "total_count",
                "dimensions": ["nonsense"],
            }
        ],
    },
]


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda config: "-".join(sorted(config)))
def test_the_page_quotes_the_messages_the_tap_gives(config):
    with pytest.raises(ConfigValidationError) as caught:
        TapBranch(config={**_CREDENTIALS, **config}, parse_env_config=False)
    (message,) = caught.value.errors
    assert f"> `{message}`" in PAGE.read_text()


# --- the page's examples from runs against the sandbox ---------------------------------------
#: The sandbox's address in the page's examples (the tests' sandbox has a free port).
SHOWN_URL = "http://127.0.0.1:18787"
_QUOTE = re.compile(r"^> (`+) ?(.*?) ?\1$", re.M)

#: (streams, settings, sandbox faults, sandbox options) of each example the page quotes.
RUNS = {
    "refused secret": (["events"], {"branch_secret": "secret_live_wrong"}, [], {}),
    "refused token": (["cohort_installs_by_campaign"], {"access_token": "api_app_wrong"}, [], {}),
    "product not enabled": (
        ["custom_eo_open"],
        {},
        [
            {
                "kind": "status",
                "status": 403,
                "path": path,
                "times": -1,
                "body": {"error": {"message": NOT_ENABLED, "code": 403}},
            }
            for path in ("/v2/logs", "/v2/data/ready")
        ],
        {},
    ),
    "cohort without ids": (["cohort_installs_by_campaign"], {"app_id": None}, [], {}),
    "RateLimitTooLongError": (
        ["events"],
        {"rate_limit_max_wait": 5},
        [
            {
                "kind": "rate_limit",
                "path": "/v1/export",
                "after": 1,
                "times": -1,
                "retry_after": 3600,
            }
        ],
        {},
    ),
    "RequestRejected": (
        ["events"],
        {},
        [
            {
                "kind": "status",
                "status": 400,
                "path": "/v1/export",
                "after": 1,
                "times": -1,
                "body": {"error": {"message": "Invalid export_date", "code": 400}},
            }
        ],
        {},
    ),
    "BranchFault": (
        ["events"],
        {},
        [
            {
                "kind": "status",
                "status": 503,
                "path": "/v1/export",
                "times": -1,
                "body": {"error": {"message": "Service Unavailable", "code": 503}},
            }
        ],
        {},
    ),
    "DownloadError": (["events"], {}, [{"kind": "truncate", "path": "/files/", "times": -1}], {}),
    "ExportIntegrityError": (
        ["scheduled_export_rows"],
        {},
        [],
        {"scheduled_line_mismatch": ["sandbox-sub-1/2026-03-08"]},
    ),
    "RepeatedKeyError": (["events"], {}, [], {"daily_repeated_key": "events"}),
}


def _quotes() -> list[str]:
    return [quote for _, quote in _QUOTE.findall(PAGE.read_text())]


@pytest.mark.parametrize("case", RUNS)
def test_the_page_quotes_what_the_tap_says_against_the_sandbox(case, sandbox, base_config):
    streams, settings, faults, options = RUNS[case]
    for rule in faults:
        sandbox.fault(**rule)
    if options:
        sandbox.options(**options)
    config = {**base_config, "max_retries": 2, **settings}
    run = run_tap(
        {k: v for k, v in config.items() if v is not None}, select=streams, expect_error=True
    )
    errors = getattr(run.error, "errors", None)
    message = (errors[0] if errors else str(run.error)).replace(sandbox.url, SHOWN_URL)
    quoted = [  # a quote ending with "..." is cut there; it may sit inside a wrapping message
        q for q in _quotes() if q == message or (q.endswith("...") and q[:-3] in message)
    ]
    assert quoted, f"docs/troubleshooting.md quotes no message like: {message}"


def test_the_page_quotes_the_state_and_catalog_errors():
    with pytest.raises(InvalidStateError) as state:
        TapBranch(config=_CREDENTIALS | {"start_date": "2026-03-07"}, state={"foo": 1})
    catalog = {
        "streams": [{"tap_stream_id": "evnts", "stream": "evnts", "schema": {}, "metadata": []}]
    }
    tap = TapBranch(config=_CREDENTIALS | {"start_date": "2026-03-07"}, catalog=catalog)
    with pytest.raises(InvalidCatalogError) as unknown:  # what the tap checks as a sync starts
        check_catalog(tap.input_catalog, tap.streams)
    assert {str(state.value), str(unknown.value)} <= set(_quotes())
