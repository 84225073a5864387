"""The four commands of an Airbyte source, each on top of `TapBranch`."""

from __future__ import annotations

import typing as t

from airbyte_protocol.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    Status,
    Type,
)
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.airbyte.catalog import (
    airbyte_catalog,
    full_refresh_streams,
    parent_streams,
    read_configured_catalog,
    selected_singer_catalog,
)
from tap_branch.airbyte.inputs import InputError, read_config
from tap_branch.airbyte.messages import ENVELOPE, AirbyteWriter, write
from tap_branch.airbyte.spec import refuse_unsupported, specification
from tap_branch.airbyte.state import carriers, read_state, singer_bookmarks
from tap_branch.connection import BranchFault, test_connection
from tap_branch.redaction import redact
from tap_branch.tap import TapBranch
from tap_branch.writer import OUTPUT


def spec() -> None:
    write(AirbyteMessage(type=Type.SPEC, spec=specification()))


def check(config_path: str) -> None:
    """CONNECTION_STATUS: SUCCEEDED once Branch accepted every configured credential, else
    FAILED with the reason (which setting). Anything unexpected is left to the caller."""
    try:
        tap = _tap(read_config(config_path))
        outcome = test_connection(tap)
    except (InputError, ConfigValidationError, BranchFault) as exc:
        status = AirbyteConnectionStatus(status=Status.FAILED, message=describe(exc))
    else:
        status = AirbyteConnectionStatus(status=Status.SUCCEEDED, message="; ".join(outcome.lines))
    write(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status))


def discover(config_path: str) -> None:
    tap = _tap(read_config(config_path))
    catalog = airbyte_catalog(tap.catalog_dict, parent_streams(tap))
    write(AirbyteMessage(type=Type.CATALOG, catalog=catalog))


def read(config_path: str, catalog_path: str, state_path: str | None) -> None:
    config = read_config(config_path)
    configured = read_configured_catalog(catalog_path)
    discovery = _tap(config)
    singer_catalog = discovery.catalog_dict
    selected = selected_singer_catalog(singer_catalog, configured)
    carried_by = carriers(parent_streams(discovery), [e.stream.name for e in configured.streams])
    # A full refresh starts over from `start_date`: the cursor bookmarks of the stream, and of
    # the parents its state carries, are dropped. Other state stays (a job's file progress).
    refreshed = full_refresh_streams(configured)
    with_cursor = {
        e["tap_stream_id"] for e in singer_catalog["streams"] if e.get("replication_key")
    }
    bookmarks = singer_bookmarks(
        read_state(state_path),
        path=state_path or "",
        reset={name for name, carrier in carried_by.items() if carrier in refreshed} & with_cursor,
    )
    with OUTPUT.records_in(ENVELOPE):
        tap = TapBranch(
            config=config,
            catalog=selected,
            state={"bookmarks": bookmarks} if bookmarks else None,
            parse_env_config=False,
            message_writer=AirbyteWriter(bookmarks, carried_by),
        )
        tap.sync_all()


def _tap(config: dict[str, t.Any]) -> TapBranch:
    refuse_unsupported(config)
    return TapBranch(config=config, parse_env_config=False, setup_mapper=False)


def describe(exc: BaseException) -> str:
    """An error's message for people: the SDK's config errors keep theirs in `errors`."""
    errors = getattr(exc, "errors", None)
    text = "; ".join(str(e) for e in errors) if errors else str(exc)
    return redact(text or type(exc).__name__)
