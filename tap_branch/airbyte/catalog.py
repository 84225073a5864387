"""Airbyte catalogs made from the tap's Singer catalog, and the selection they carry back.

Discovery is the tap's own: each Singer catalog entry becomes an Airbyte stream
with the same JSON schema and primary key; a stream with a replication key is
incremental on it (the cursor is the tap's, `source_defined_cursor`), a child
stream without one through its parent's (its `default_cursor_field` is then the
field of its rows that follows the parent's cursor, `CHILD_CURSORS`). A stream
without a primary key says why in its schema's description (Airbyte's catalog
has no other place for it). A configured catalog selects streams of that same
Singer catalog, in a sync mode each supports; nothing else about the Singer
catalog changes.
"""

from __future__ import annotations

import copy
import typing as t

from airbyte_protocol.models import (
    AirbyteCatalog,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    SyncMode,
)
from pydantic import ValidationError

from tap_branch.airbyte.inputs import InputError, read_json_file
from tap_branch.config.catalog_checks import deselected_without_fields, refuse_unknown_streams

#: Child streams incremental through their parent's cursor: the field of their rows that
#: follows it. A scheduled export's jobs are read in `end_date` order, each covering the
#: events after the previous job's, so their rows' event `timestamp` moves with the job.
CHILD_CURSORS = {"scheduled_export_rows": "timestamp"}

#: The description of a stream without a primary key.
NO_PRIMARY_KEY = (
    "Stream {name}: no primary key, since Branch gives its rows no identifier (for Custom "
    "Exports: the report type's fields have no `id`; a row may repeat another's values). "
    "Sync it in an append mode; a deduplicating mode needs a key."
)


def airbyte_catalog(
    singer_catalog: t.Mapping[str, t.Any], parents: t.Mapping[str, str]
) -> AirbyteCatalog:
    """`parents`: {child stream: parent stream}. A child without a cursor of its own is
    incremental through its parent's (the rows of a scheduled export job follow the job)."""
    entries = {entry["tap_stream_id"]: entry for entry in singer_catalog["streams"]}

    def incremental(name: str) -> bool:
        return bool(entries[name].get("replication_key")) or (
            name in parents and incremental(parents[name])
        )

    return AirbyteCatalog(
        streams=[_airbyte_stream(entry, incremental(name)) for name, entry in entries.items()]
    )


def _airbyte_stream(entry: t.Mapping[str, t.Any], incremental: bool) -> AirbyteStream:
    name = entry["tap_stream_id"]
    cursor = entry.get("replication_key") or (CHILD_CURSORS.get(name) if incremental else None)
    keys = entry.get("key_properties") or []
    schema = entry["schema"]
    if not keys and "description" not in schema:
        schema = {"description": NO_PRIMARY_KEY.format(name=name), **schema}
    return AirbyteStream(
        name=name,
        json_schema=schema,
        supported_sync_modes=(
            [SyncMode.full_refresh, SyncMode.incremental]
            if incremental
            else [SyncMode.full_refresh]
        ),
        source_defined_cursor=True if incremental else None,
        default_cursor_field=[cursor] if cursor else None,
        source_defined_primary_key=[[key] for key in keys] or None,
    )


def parent_streams(tap: t.Any) -> dict[str, str]:
    """{child stream: parent stream} of the tap's streams."""
    return {
        name: stream.parent_stream_type.name
        for name, stream in tap.streams.items()
        if stream.parent_stream_type is not None
    }


def read_configured_catalog(path: str) -> ConfiguredAirbyteCatalog:
    data = read_json_file(path, "--catalog")
    try:
        return ConfiguredAirbyteCatalog.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"--catalog {path}: not an Airbyte configured catalog: {exc}") from None


def selected_singer_catalog(
    singer_catalog: t.Mapping[str, t.Any], configured: ConfiguredAirbyteCatalog
) -> dict[str, t.Any]:
    """The tap's Singer catalog with exactly the configured streams selected."""
    wanted = {entry.stream.name for entry in configured.streams}
    namespaced = sorted(e.stream.name for e in configured.streams if e.stream.namespace)
    if namespaced:
        raise InputError(
            f"The configured catalog gives streams {', '.join(namespaced)} a namespace; "
            "tap-branch's streams have none."
        )
    known = {entry["tap_stream_id"] for entry in singer_catalog["streams"]}
    refuse_unknown_streams(wanted, known, "Run discover for the current list.")
    if not wanted:
        raise InputError("The configured catalog selects no stream.")
    selected = copy.deepcopy(dict(singer_catalog))
    for entry in selected["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    # As a Singer catalog file is read: the streams not configured keep their root only.
    selected["streams"] = [deselected_without_fields(entry) for entry in selected["streams"]]
    return selected


def refuse_unsupported_modes(
    configured: ConfiguredAirbyteCatalog, discovered: AirbyteCatalog
) -> None:
    """Each configured stream in a sync mode it supports, on its own cursor (the cursors are
    the source's: another field would be silently ignored)."""
    streams = {stream.name: stream for stream in discovered.streams}
    for entry in configured.streams:
        stream = streams[entry.stream.name]
        if entry.sync_mode not in stream.supported_sync_modes:
            supported = ", ".join(mode.value for mode in stream.supported_sync_modes)
            raise InputError(
                f"The configured catalog asks stream {stream.name} for sync mode "
                f"{entry.sync_mode.value}; it supports {supported}."
            )
        wanted = entry.cursor_field or []
        if (
            entry.sync_mode == SyncMode.incremental
            and wanted
            and wanted != stream.default_cursor_field
        ):
            raise InputError(
                f"The configured catalog gives stream {stream.name} the cursor field "
                f"{'.'.join(wanted)}; its cursor is the source's own, "
                f"{'.'.join(stream.default_cursor_field or [])}."
            )


def full_refresh_streams(configured: ConfiguredAirbyteCatalog) -> set[str]:
    """The streams Airbyte asks to read from the start."""
    return {
        entry.stream.name
        for entry in configured.streams
        if entry.sync_mode == SyncMode.full_refresh
    }
