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
    refuse_unsupported_modes,
    selected_singer_catalog,
)
from tap_branch.airbyte.inputs import InputError, read_config
from tap_branch.airbyte.messages import AirbyteWriter, write
from tap_branch.airbyte.progress import SyncProgress
from tap_branch.airbyte.spec import refuse_unsupported, specification, tap_config
from tap_branch.airbyte.state import carriers, read_state, singer_bookmarks
from tap_branch.config.connection import BranchFault, test_connection
from tap_branch.errors import StopRequested
from tap_branch.redaction import redact
from tap_branch.tap import TapBranch


def spec() -> None:
    write(AirbyteMessage(type=Type.SPEC, spec=specification()))


def check(config_path: str) -> None:
    """CONNECTION_STATUS: SUCCEEDED once Branch accepted every configured credential, else
    FAILED with the reason (which setting). Anything unexpected is left to the caller."""
    try:
        tap = _tap(_config(config_path))
        outcome = test_connection(tap)
    except (InputError, ConfigValidationError, BranchFault) as exc:
        status = AirbyteConnectionStatus(status=Status.FAILED, message=describe(exc))
    else:
        status = AirbyteConnectionStatus(status=Status.SUCCEEDED, message="; ".join(outcome.lines))
    write(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status))


def discover(config_path: str) -> None:
    tap = _tap(_config(config_path))
    catalog = airbyte_catalog(tap.catalog_dict, parent_streams(tap))
    write(AirbyteMessage(type=Type.CATALOG, catalog=catalog))


def read(config_path: str, catalog_path: str, state_path: str | None) -> None:
    config = _config(config_path)
    configured = read_configured_catalog(catalog_path)
    discovery = _tap(config)
    singer_catalog = discovery.catalog_dict
    parents = parent_streams(discovery)
    selected = selected_singer_catalog(singer_catalog, configured)
    refuse_unsupported_modes(configured, airbyte_catalog(singer_catalog, parents))
    names = [e.stream.name for e in configured.streams]
    carried_by = carriers(parents, names)
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
    progress = SyncProgress(names, parents, carried_by, bookmarks)
    writer = AirbyteWriter(progress)
    tap = TapBranch(
        config=config,
        catalog=selected,
        state={"bookmarks": bookmarks} if bookmarks else None,
        parse_env_config=False,
        message_writer=writer,
    )
    progress.watch(tap)
    try:
        tap.sync_all()  # its output written at its end, failed or not (`after_sync`)
    except (Exception, StopRequested) as exc:  # SIGTERM: Airbyte cancelling the sync
        raise StreamFailed(progress.incomplete()) from exc
    progress.complete_all()
    writer.output.close()


class StreamFailed(Exception):
    """A read failed once its streams were syncing (the error is the cause); `stream`: the
    configured stream it belongs to, when one stream failed."""

    def __init__(self, stream: str | None) -> None:
        super().__init__(stream)
        self.stream = stream


def _config(path: str) -> dict[str, t.Any]:
    """The config Airbyte hands over, as the tap takes it (`spec.tap_config`)."""
    return tap_config(read_config(path))


def _tap(config: dict[str, t.Any]) -> TapBranch:
    refuse_unsupported(config)
    return TapBranch(config=config, parse_env_config=False, setup_mapper=False)


def describe(exc: BaseException) -> str:
    """An error's message for people: the SDK's config errors keep theirs in `errors`."""
    errors = getattr(exc, "errors", None)
    text = "; ".join(str(e) for e in errors) if errors else str(exc)
    return redact(text or type(exc).__name__)
