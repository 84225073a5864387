"""The connection specification: the tap's own settings schema, in Airbyte's terms."""

from __future__ import annotations

import copy
import typing as t

from airbyte_protocol.models import ConnectorSpecification
from singer_sdk.helpers import capabilities

from tap_branch.settings import invalid_setting
from tap_branch.tap import TapBranch

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


def connection_specification() -> dict[str, t.Any]:
    """`TapBranch`'s config schema, secrets marked `airbyte_secret` (Airbyte's UI and logs mask them)."""
    schema = copy.deepcopy(TapBranch.config_jsonschema)
    for name in UNSUPPORTED_SETTINGS:
        schema.get("properties", {}).pop(name, None)
    _mark_secrets(schema)
    return {
        "title": "Branch (tap-branch)",
        **schema,
    }


def refuse_unsupported(config: t.Mapping[str, t.Any]) -> None:
    given = [name for name in UNSUPPORTED_SETTINGS if config.get(name) not in (None, {}, [], False)]
    if given:
        raise invalid_setting(
            f"Setting '{given[0]}' is not supported by tap-branch-airbyte (Airbyte has no BATCH or "
            "ACTIVATE_VERSION messages, and maps and flattens streams on its side); remove it from "
            "the config."
        )


def _mark_secrets(schema: t.Any) -> None:
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
        connectionSpecification=connection_specification(),
        supportsIncremental=True,
    )
