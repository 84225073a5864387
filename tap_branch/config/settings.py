"""Settings shared by every stream family, and the checks run before a sync.

Each stream family (`tap_branch/streams/*.py`) declares its own settings in
its module's `SETTINGS`; `TapBranch` joins them into one config schema.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import typing as t
import uuid

from dotenv import find_dotenv, load_dotenv
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from upath import UPath

from tap_branch import clock
from tap_branch.config.apps import check_apps
from tap_branch.config.errors import invalid_setting, parse_date
from tap_branch.records.typers import INTEGER_TEXT, parse_number_keeping_integers, types_of

_LOGGER = logging.getLogger(__name__)

#: An absolute http(s) URL with a host. JSON Schema's `format: uri` is only an
#: annotation to the SDK's validator; the pattern is what rejects "not a url".
HTTP_URL = r"^https?://[^\s/]+\S*$"

COMMON_SETTINGS = [
    # Dates and date-times are both accepted (`parse_date`), so the schema says "string"
    # and `check_dates` checks the value, naming the setting: a `date-time` format would
    # make strict validators (Airbyte's) refuse a plain date.
    th.Property(
        "start_date",
        th.StringType,
        required=True,
        examples=["2024-01-01", "2024-01-01T00:00:00Z"],
        description="Earliest UTC date to extract (ISO 8601, e.g. 2024-01-01). "
        "Each stream starts here on its first run, then from its bookmark.",
    ),
    th.Property(
        "end_date",
        th.StringType,
        examples=["2024-01-31"],
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
        th.URIType(pattern=HTTP_URL),
        default="https://api.branch.io",
        description="Base URL of Branch's v1 API host.",
    ),
    th.Property(
        "api2_url",
        th.URIType(pattern=HTTP_URL),
        default="https://api2.branch.io",
        description="Base URL of Branch's v2 API host.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=300,
        description="Seconds to wait for any one HTTP response.",
    ),
    th.Property(
        "download_stall_bytes",
        th.IntegerType(minimum=1),
        default=1048576,
        description="A file download that brings fewer bytes than this within request_timeout seconds "
        "of waiting has stalled: it is retried once from where it broke off (a stall costs a whole "
        "request_timeout per try, so not max_retries times), then the run fails naming the file. "
        "The default, 1 MiB in the default 300 s (~3.5 KB/s), only catches a server that keeps a "
        "download alive without sending it.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=1),
        default=6,
        description="Attempts for a request or file download that fails with a 5xx, a timeout or a broken "
        "connection. Rate limits (429) are waited out separately and never count here.",
    ),
    th.Property(
        "backoff_factor",
        th.NumberType(minimum=0),
        default=2,
        description="Seconds of the first retry wait; each further retry doubles it (capped at 60 s).",
    ),
    th.Property(
        "rate_limit_max_wait",
        th.IntegerType(minimum=1),
        default=21600,
        description="Longest total time (seconds) to keep retrying one request that Branch rate-limits (429).",
    ),
    th.Property(
        "user_agent",
        th.StringType,
        description="User-Agent header (default: tap-branch/<version>).",
    ),
    # The SDK emits ACTIVATE_VERSION when this is true, but 0.54 does not declare
    # it: undeclared, Meltano would never pass it.
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=False,
        description="Full-table streams (`credit_balances`, `app_config`) start each sync with an "
        "ACTIVATE_VERSION message and tag their records with that version, so the target can "
        "drop (or mark deleted) rows an earlier sync loaded that this one no longer has.",
    ),
    th.Property(
        "columnar_files",
        th.BooleanType,
        default=True,
        description="Daily exports (v1 and v3) and scheduled exports: read each csv.gz file in batches of rows "
        "with pyarrow and type whole columns at once (2-2.5x faster; peak memory on a large day ~145 MB "
        "for RECORD output, ~190 MB for BATCH files). "
        "false: row by row (~105 MB peak). Both give the same records.",
    ),
]


def check_config(config: t.Mapping[str, t.Any]) -> None:
    """The checks a JSON schema cannot express, each naming its setting."""
    check_dates(config)
    check_apps(config)


def check_dates(config: t.Mapping[str, t.Any]) -> None:
    start = (
        parse_date(str(config["start_date"]), "start_date") if config.get("start_date") else None
    )
    if start is None:
        raise invalid_setting("Setting 'start_date' is required (ISO 8601, e.g. 2024-01-01).")
    today = clock.today()
    if start > today:
        raise invalid_setting(
            f"Setting 'start_date' ({start}) is in the future (today is {today} UTC): "
            "nothing to extract."
        )
    if config.get("end_date"):
        end = parse_date(str(config["end_date"]), "end_date")
        if start > end:
            raise invalid_setting(
                f"Setting 'start_date' ({start}) is after 'end_date' ({end}): nothing to extract."
            )


def unknown_settings(config: t.Mapping[str, t.Any], known: t.Collection[str]) -> list[str]:
    """One line per config key the tap does not know, with the closest known name:
    a misspelt key is otherwise ignored without a word."""
    lines = []
    for key in config:
        if key in known:
            continue
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        lines.append(f"Unknown setting '{key}' is ignored{hint}")
    return lines


# --- null settings -------------------------------------------------------------------

#: The end of a nullable setting's description (`--about`, meltano.yml, the README table).
NULL_MEANS_DEFAULT = "Null means the default."
NULL_MEANS_UNSET = "Null means unset."


def accepts_null(prop: t.Mapping[str, t.Any]) -> bool:
    kinds = types_of(dict(prop))
    return not kinds or "null" in kinds


def without_nulls(value: t.Any, schema: t.Mapping[str, t.Any]) -> t.Any:
    """`value` without the nulls its schema allows, at any depth of its declared objects (an
    `apps` entry's `app_id`): a null setting is one left unset, so validation then fills in its
    default and the code reading it finds its default or nothing, never a None it cannot use.
    A null the schema does not allow stays, for validation to refuse naming the setting. Only
    declared keys are dropped: a null inside `stream_maps` means "remove the property"."""
    if isinstance(value, dict):
        declared = _option_with(schema, "properties").get("properties") or {}
        return {
            key: without_nulls(item, declared.get(key) or {})
            for key, item in value.items()
            if not (item is None and key in declared and accepts_null(declared[key]))
        }
    if isinstance(value, list):
        items = _option_with(schema, "items").get("items")
        if isinstance(items, dict):
            return [without_nulls(item, items) for item in value]
    return value


def _option_with(schema: t.Mapping[str, t.Any], key: str) -> t.Mapping[str, t.Any]:
    """The schema itself, or its `anyOf` option, that has `key` (`properties`, `items`)."""
    if key in schema:
        return schema
    options = [o for o in schema.get("anyOf") or [] if isinstance(o, dict) and key in o]
    return options[0] if options else {}


def say_what_null_means(schema: t.Mapping[str, t.Any]) -> None:
    """End each nullable setting's description saying what null means (idempotent)."""
    for prop in (schema.get("properties") or {}).values():
        if not accepts_null(prop):
            continue
        note = NULL_MEANS_DEFAULT if "default" in prop else NULL_MEANS_UNSET
        description = str(prop.get("description") or "").strip()
        if not description.endswith(note):
            prop["description"] = f"{description} {note}".strip()


# --- settings from environment variables ---------------------------------------------

#: The words a boolean setting's environment variable may hold (case-insensitive): the SDK's,
#: and their opposites. Not `typing.TRUE_WORDS`, the words of Branch's boolean cells.
ENV_TRUE_WORDS = ("true", "1", "yes", "on")
ENV_FALSE_WORDS = ("false", "0", "no", "off")


def environment_config(schema: t.Mapping[str, t.Any], prefix: str) -> dict[str, t.Any]:
    """The settings given as environment variables `<prefix><SETTING>` (a `.env` file
    included, as the SDK reads them), each converted by its setting's type.

    The SDK converts only integers (with a bare ValueError for `abc`), takes any word
    but "true"/"1"/"yes"/"on" as false, and passes numbers as text that validation then
    refuses. Here a value that is not of its type fails, naming the variable."""
    properties = schema.get("properties", {})
    texts = environment_texts(properties, prefix)
    return {
        name: _environment_value(text, properties[name], env_variable(prefix, name), name)
        for name, text in texts.items()
    }


def environment_texts(
    settings: t.Iterable[str], prefix: str, dotenv_path: str | None = None
) -> dict[str, str]:
    """The text of each setting given as a variable `<prefix><SETTING>`, as the SDK's reader
    finds them: a `.env` file's variables are set first (python-dotenv), taking precedence
    over the environment's; the file is looked for from this package's folder up, unless
    `dotenv_path` names it."""
    path = find_dotenv() if dotenv_path is None else dotenv_path
    _LOGGER.debug("Loading configuration from %s", path)
    load_dotenv(path, override=True, encoding=None)
    texts = {}
    for setting in settings:
        variable = env_variable(prefix, setting)
        if variable in os.environ:
            _LOGGER.info("Parsing '%s' config from env variable '%s'.", setting, variable)
            texts[setting] = os.environ[variable]
    return texts


def env_variable(prefix: str, setting: str) -> str:
    return prefix + setting.upper().replace("-", "_")


def _environment_value(text: str, prop: t.Mapping[str, t.Any], variable: str, name: str) -> t.Any:
    kinds = set(types_of(dict(prop))) - {"null"}
    if not kinds or kinds & {"array", "object"}:
        try:
            return json.loads(text)  # its kind is then checked by validation, naming the setting
        except ValueError:
            if not kinds or "string" in kinds:
                return text
            if kinds == {"array"} and types_of(prop.get("items") or {}) == ["string"]:
                return [part.strip() for part in text.split(",")]  # the SDK's "x,y,z" form
            raise _bad_environment_value(variable, name, "JSON text of " + _a_kind(kinds)) from None
    value = text.strip()
    if "integer" in kinds and INTEGER_TEXT.fullmatch(value):
        return int(value)
    if "number" in kinds:
        with contextlib.suppress(ValueError):  # not a finite number: refused below
            return parse_number_keeping_integers(value)
    if "boolean" in kinds and value.lower() in ENV_TRUE_WORDS + ENV_FALSE_WORDS:
        return value.lower() in ENV_TRUE_WORDS
    if "string" in kinds:
        return text
    words = {
        "integer": "an integer",
        "number": "a number",
        "boolean": f"a boolean ({', '.join(ENV_TRUE_WORDS)} or {', '.join(ENV_FALSE_WORDS)})",
    }
    expected = " or ".join(words[kind] for kind in sorted(kinds) if kind in words)
    shown = "" if prop.get("secret") else f": {text[:40]!r}"
    raise _bad_environment_value(variable, name, expected + shown)


def _a_kind(kinds: t.Collection[str]) -> str:
    return " or ".join({"array": "a list", "object": "an object"}.get(k, k) for k in sorted(kinds))


def _bad_environment_value(variable: str, name: str, expected: str) -> ConfigValidationError:
    return invalid_setting(
        f"Environment variable {variable} (setting '{name}') is not {expected}. "
        "Fix or unset the variable."
    )


def secret_values(config: t.Mapping[str, t.Any], properties: t.Mapping[str, t.Any]) -> list:
    """The values of the settings marked secret, of any JSON kind, and every value under a
    secret key inside a setting (an `apps` entry's `branch_secret`), whatever the setting's
    shape: registered for redaction before the config is validated."""
    values: list = []
    for name, prop in properties.items():
        value = config.get(name)
        if prop.get("secret"):
            values.append(value)
        inner = (prop.get("items") or {}).get("properties") or prop.get("properties") or {}
        secret_keys = {key for key, schema in inner.items() if schema.get("secret")}
        if secret_keys:
            values.extend(_values_under(value, secret_keys))
    return values


def _values_under(value: t.Any, keys: t.Collection[str]) -> t.Iterator[t.Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys:
                yield item
            else:
                yield from _values_under(item, keys)
    elif isinstance(value, list):
        for item in value:
            yield from _values_under(item, keys)


def config_files(paths: t.Iterable[str]) -> dict[str, t.Any]:
    """The settings of the `--config` files, later files winning ("ENV" is no file)."""
    config: dict[str, t.Any] = {}
    for path in paths:
        if path != "ENV":
            config.update(_config_file(path))
    return config


def _config_file(path: str) -> dict[str, t.Any]:
    try:
        with open(path, encoding="utf-8") as file:
            settings = json.load(file)
    except OSError as exc:
        raise invalid_setting(f"The config file {path} cannot be read ({exc.strerror}).") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_setting(f"The config file {path} is not JSON ({exc}).") from None
    if not isinstance(settings, dict):
        raise invalid_setting(
            f"The config file {path} holds a JSON {type(settings).__name__}, "
            "not an object of settings."
        )
    return settings


# --- batch_config ----------------------------------------------------------------------


def check_batch_config(config: t.Mapping[str, t.Any]) -> None:
    """A `batch_config` the batch writers can use, checked before any request: the SDK's
    batcher fails on a missing part with a bare KeyError or TypeError, loops forever on a
    `batch_size` below 1, and finds an unwritable place only after the first file is read."""
    batch = config.get("batch_config")
    if not batch:
        return
    size = batch.get("batch_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise invalid_setting(
            f"Setting 'batch_config.batch_size' is {size!r}: it is the most records in one "
            "batch file, a whole number of at least 1 (default 10000)."
        )
    storage, encoding = batch.get("storage"), batch.get("encoding")
    if not isinstance(encoding, dict) or not encoding.get("format"):
        raise invalid_setting(
            "Setting 'batch_config' needs 'encoding' with a 'format' "
            '(e.g. {"format": "jsonl", "compression": "gzip"}).'
        )
    if not isinstance(storage, dict) or not storage.get("root"):
        raise invalid_setting(
            "Setting 'batch_config' needs 'storage' with a 'root', where the batch files "
            'are written (e.g. {"root": "file:///data/batches"}).'
        )
    _check_batch_storage_writable(storage)


#: File systems whose root is a bucket (a container) the tap never creates: it must exist.
_BUCKET_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}


def _check_batch_storage_writable(storage: t.Mapping[str, t.Any]) -> None:
    """Write and delete an empty file where the batch files go. The directory of a `prefix`
    with a slash is created on a local disk, as the SDK creates the root; in object storage
    (`s3://bucket/prefix`) the bucket must exist: it is looked up, never created. Called
    before a sync (never at import): these are the first requests to the storage."""
    root, prefix = storage["root"], storage.get("prefix") or ""
    try:
        place = UPath(root, **(storage.get("params") or {})).resolve()
        if place.protocol in _BUCKET_PROTOCOLS:
            bucket = place.drive
            if not place.fs.exists(bucket):
                raise invalid_setting(
                    f"Setting 'batch_config': the bucket {bucket!r} of storage root {root!r} "
                    "does not exist or is not visible with these credentials (AWS settings: "
                    "AWS_ENDPOINT_URL, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                    "or storage 'params'). The tap does not create buckets."
                )
        probe = place / f"{prefix}tap-branch-write-check-{uuid.uuid4().hex}"
        if place.protocol in ("", "file", "local"):
            probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except ConfigValidationError:
        raise
    except ImportError as exc:  # fsspec names the package: "Install s3fs to access S3"
        raise invalid_setting(
            f"Setting 'batch_config': storage root {root!r} needs a file system package that "
            f"is not installed ({exc}); for s3:// roots install the tap with its 's3' extra "
            "(pip install 'tap-branch[s3]')."
        ) from None
    except Exception as exc:  # noqa: BLE001 - whatever the file system says, the setting is named
        raise invalid_setting(
            f"Setting 'batch_config': batch files cannot be written to storage root {root!r} "
            f"with prefix {prefix!r} ({type(exc).__name__}: {exc})."
        ) from None
