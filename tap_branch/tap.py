"""TapBranch: settings and streams of every Branch stream family."""

from __future__ import annotations

import collections
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th

from tap_branch import streams as families
from tap_branch.redaction import SECRETS, install_log_redaction
from tap_branch.settings import COMMON_SETTINGS, check_credentials, check_dates
from tap_branch.writer import OUTPUT, BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from singer_sdk import Stream


def _config_schema() -> dict:
    properties = list(COMMON_SETTINGS)
    for family in families.FAMILIES:
        properties.extend(family.SETTINGS)
    return th.PropertiesList(*properties).to_dict()


class TapBranch(Tap):
    """Singer tap for Branch (branch.io)."""

    name = "tap-branch"
    config_jsonschema = _config_schema()
    message_writer_class = BufferedMsgSpecWriter

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._register_secrets()
        install_log_redaction()
        if self.config.get("start_date"):
            check_dates(self.config)

    def _register_secrets(self) -> None:
        SECRETS.add(
            self.config.get("branch_secret"),
            self.config.get("access_token"),
            self.config.get("user_id"),
        )
        for app in self.config.get("apps") or []:
            SECRETS.add(app.get("branch_secret"))

    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = []
        for family in families.FAMILIES:
            streams.extend(family.build_streams(self))
        return streams

    def sync_all(self) -> None:
        check_dates(self.config)
        self._check_credentials_of_selected_streams()
        try:
            super().sync_all()
        finally:
            # Records batched for stdout belong to this run, whether it ends well or not.
            OUTPUT.drain_and_flush()

    def _check_credentials_of_selected_streams(self) -> None:
        by_need: dict[str, list[str]] = collections.defaultdict(list)
        for stream in self.streams.values():
            need = getattr(stream, "credentials_needed", None)
            if need and (stream.selected or stream.has_selected_descendents):
                by_need[need].append(stream.name)
        for need, names in by_need.items():
            check_credentials(self.config, need, names)


if __name__ == "__main__":
    TapBranch.cli()
