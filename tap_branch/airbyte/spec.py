"""The connection specification: the tap's own settings schema, shaped for Airbyte's UI.

The settings are the tap's (`TapBranch.config_jsonschema`); what Airbyte's form needs on
top is added here, so the Singer side stays as it is:

- a title, a group (`GROUPS`: credentials, what to sync, tuning) and an order for every
  setting (`SETTINGS_UI`; a setting it does not list, as a new stream family's, gets a
  title from its name and goes under tuning, after the listed ones), and for the
  credentials which stream families need them;
- date pickers (`format: date` with a pattern) for the dates;
- the shapes Airbyte's form cannot show are given in one it can: a type is one type or one
  type and null (`credit_identities`, a list or a file path for the tap, is a list here: no
  file of the user's reaches the connector's container), and a setting of free-form JSON
  (an object without properties, a value without a type) is JSON text (`JSON_TEXT`), which
  `tap_config` parses back before the tap sees the config.
"""

from __future__ import annotations

import copy
import json
import typing as t

from airbyte_protocol.models import ConnectorSpecification
from singer_sdk.helpers import capabilities

from tap_branch.airbyte.inputs import InputError
from tap_branch.config.errors import invalid_setting
from tap_branch.tap import TapBranch

#: The project's documentation of the Airbyte source (also metadata.yaml's documentationUrl).
DOCUMENTATION_URL = "https://github.com/tap-branch/tap-branch/blob/main/docs/airbyte.md"

#: The SDK's built-in settings have no place in Airbyte: it has no BATCH or ACTIVATE_VERSION
#: messages, and its catalog carries the schemas, which stream maps and flattening would change
#: behind its back (Airbyte platforms map and flatten on their side).
UNSUPPORTED_SETTINGS = tuple(
    name
    for builtin in (
        capabilities.BATCH_CONFIG,
        capabilities.STREAM_MAPS_CONFIG,
        capabilities.FLATTENING_CONFIG,
        capabilities.EMIT_ACTIVATE_VERSION_CONFIG,
    )
    for name in builtin["properties"]
)

GROUPS = [
    {"id": "credentials", "title": "Credentials"},
    {"id": "sync", "title": "What to sync"},
    {"id": "tuning", "title": "Tuning"},
]

_V1 = "Daily exports (links, link_clicks, events), Daily Exports v3 (daily_eo_*) and credits"
_V2 = "cohort results (cohort_*), scheduled log exports and Custom Exports (custom_*)"


class Field(t.NamedTuple):
    title: str
    group: str
    #: What Airbyte's user needs to know besides the setting's description.
    note: str = ""
    examples: tuple[t.Any, ...] = ()


#: The form's fields, in their order within each group.
SETTINGS_UI: dict[str, Field] = {
    "branch_key": Field(
        "Branch key",
        "credentials",
        f"Needed by: {_V1}.",
        ("key_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",),
    ),
    "branch_secret": Field("Branch secret", "credentials", f"Needed by: {_V1}, but credits."),
    "app_id": Field(
        "App id",
        "credentials",
        "Needed by: scheduled log exports, Custom Exports, app_config, and cohort results "
        "(or organization_id).",
        ("1234567890123456789",),
    ),
    "access_token": Field("Access token", "credentials", f"Needed by: {_V2}."),
    "organization_id": Field(
        "Organization id", "credentials", "For cohort results asked per organization."
    ),
    "apps": Field(
        "Several apps", "credentials", "Instead of branch_key, branch_secret and app_id."
    ),
    "user_id": Field("Dashboard user id (app_config)", "credentials", "Needed by: app_config."),
    "credit_identities": Field(
        "Credit identities",
        "credentials",
        "Needed by: credits. Here a list (a file path cannot reach the connector's container).",
        (["user-123", "user-456"],),
    ),
    "start_date": Field("Start date", "sync", "A date (YYYY-MM-DD).", ("2024-01-01",)),
    "end_date": Field("End date", "sync", "A date (YYYY-MM-DD).", ("2024-01-31",)),
    "cohort_reports": Field("Cohort reports", "sync"),
    "scheduled_exports": Field("Scheduled export subscriptions", "sync"),
    "custom_exports_fields": Field(
        "Custom Exports fields",
        "sync",
        examples=('{"default": ["name", "timestamp", "user_data_os"]}',),
    ),
    "custom_exports_filter": Field(
        "Custom Exports filter", "sync", examples=('["eq", "attributed", "true"]',)
    ),
    "credit_buckets": Field("Credit buckets", "sync", examples=(["default"],)),
    "scheduled_export_accepted_mismatches": Field("Accepted row count mismatches", "sync"),
    "api_url": Field("Branch v1 API URL", "tuning"),
    "api2_url": Field("Branch v2 API URL", "tuning"),
    "user_agent": Field("User-Agent header", "tuning"),
}


def _free_form(properties: dict[str, t.Any], prefix: str = "") -> list[str]:
    """The settings (or parts of list entries, `[]` for the items of a list) that Airbyte's
    form cannot draw: an object without properties, a value without a type."""
    found = []
    for name, schema in properties.items():
        types = schema.get("type")
        kinds = set(types) if isinstance(types, list) else {types}
        if types is None or ("object" in kinds and not schema.get("properties")):
            found.append(f"{prefix}{name}")
        elif "array" in kinds and not prefix:  # the keys of a list's entries, one level down
            found += _free_form(schema.get("items", {}).get("properties") or {}, f"{name}[].")
    return found


#: Settings (or their parts) given as JSON text under Airbyte: every free-form one, whichever
#: family declares it.
JSON_TEXT = tuple(_free_form(TapBranch.config_jsonschema["properties"]))

_DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def connection_specification() -> dict[str, t.Any]:
    schema = copy.deepcopy(TapBranch.config_jsonschema)
    properties: dict[str, t.Any] = schema["properties"]
    for name in UNSUPPORTED_SETTINGS:
        properties.pop(name, None)
    for path in JSON_TEXT:
        _as_json_text(schema, path)
    _one_type(schema)
    _mark_secrets(schema)
    listed = [name for name in SETTINGS_UI if name in properties]
    others = [name for name in properties if name not in SETTINGS_UI]
    orders: dict[str, int] = {}
    for name in [*listed, *others]:
        field = SETTINGS_UI.get(name) or Field(_title(name), "tuning")
        setting = properties[name]
        setting.update(title=field.title, group=field.group)
        setting["order"] = orders[field.group] = orders.get(field.group, -1) + 1
        if field.note:
            setting["description"] = f"{setting.get('description', '')} {field.note}".strip()
        if field.examples:
            setting["examples"] = list(field.examples)
        _title_nested(setting)
    for name in ("start_date", "end_date"):
        properties[name].update(
            format="date", pattern=_DATE_PATTERN, pattern_descriptor="YYYY-MM-DD"
        )
    # In the form's order, for whoever reads the spec itself.
    group_rank = {group["id"]: rank for rank, group in enumerate(GROUPS)}
    schema["properties"] = dict(
        sorted(properties.items(), key=lambda kv: (group_rank[kv[1]["group"]], kv[1]["order"]))
    )
    return {"title": "Branch (tap-branch)", **schema, "groups": GROUPS}


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _title_nested(schema: dict[str, t.Any]) -> None:
    items = schema.get("items")
    if isinstance(items, dict):
        _title_nested(items)
    for name, nested in (schema.get("properties") or {}).items():
        nested.setdefault("title", _title(name))
        _title_nested(nested)


def _as_json_text(schema: dict[str, t.Any], path: str) -> None:
    *parents, name = path.replace("[]", ".[]").split(".")
    for part in parents:
        schema = schema["items"] if part == "[]" else schema["properties"][part]
    setting = schema["properties"][name]
    schema["properties"][name] = {
        "type": ["string", "null"],
        "description": f"{setting.get('description', '')} Given as JSON text.".strip(),
    }


def _one_type(schema: t.Any) -> None:
    """Airbyte's form takes one type, or one type and null: `["string"]` is `"string"`, and of
    several types the list (the tap's other forms are for files and the environment)."""
    if isinstance(schema, dict):
        types = schema.get("type")
        if isinstance(types, list):
            kinds = [kind for kind in types if kind != "null"]
            if len(kinds) > 1:
                kinds = ["array"] if "array" in kinds else kinds[:1]
            schema["type"] = kinds[0] if len(kinds) == len(types) else [kinds[0], "null"]
        for value in schema.values():
            _one_type(value)
    elif isinstance(schema, list):
        for value in schema:
            _one_type(value)


def tap_config(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """The config as the tap takes it: the JSON text settings parsed (`JSON_TEXT`)."""
    config = copy.deepcopy(config)
    for path in JSON_TEXT:
        _parse_json_text(config, path.split("[]."))
    return config


def _parse_json_text(holder: t.Any, parts: list[str], where: str = "", entry: str = "") -> None:
    """Parse the JSON text at `parts` in `holder`. An error names the setting by its path
    (`where`), a list entry by its position and its name (`entry`): of several reports, the
    one to fix."""
    name, *rest = parts
    if not isinstance(holder, dict) or name not in holder:
        return
    if rest:
        for index, item in enumerate(holder[name] if isinstance(holder[name], list) else []):
            named = item.get("name") if isinstance(item, dict) else None
            _parse_json_text(
                item,
                rest,
                f"{where}{name}[{index}].",
                f" (entry '{named}')" if isinstance(named, str) else entry,
            )
        return
    if isinstance(holder[name], str):
        try:
            holder[name] = json.loads(holder[name])
        except json.JSONDecodeError as exc:
            raise InputError(f"Setting '{where}{name}'{entry} is not JSON text: {exc}.") from None


def refuse_unsupported(config: t.Mapping[str, t.Any]) -> None:
    given = [name for name in UNSUPPORTED_SETTINGS if config.get(name) not in (None, {}, [], False)]
    if given:
        raise invalid_setting(
            f"Setting '{given[0]}' is not supported by tap-branch-airbyte (Airbyte has no BATCH or "
            "ACTIVATE_VERSION messages, and maps and flattens streams on its side); remove it from "
            "the config."
        )


def _mark_secrets(schema: t.Any) -> None:
    """Secrets marked `airbyte_secret` (Airbyte's UI and logs mask them)."""
    if isinstance(schema, dict):
        if schema.get("secret") is True or schema.get("writeOnly") is True:
            schema["airbyte_secret"] = True
        for value in schema.values():
            _mark_secrets(value)
    elif isinstance(schema, list):
        for value in schema:
            _mark_secrets(value)


def specification() -> ConnectorSpecification:
    return ConnectorSpecification(
        documentationUrl=DOCUMENTATION_URL,
        connectionSpecification=connection_specification(),
        supportsIncremental=True,
    )
