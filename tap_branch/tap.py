"""TapBranch: settings and streams of every Branch stream family."""

from __future__ import annotations

import collections
import io
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from tap_branch import streams as families
from tap_branch.redaction import SECRETS, install_log_redaction
from tap_branch.settings import (
    COMMON_SETTINGS,
    check_config,
    check_credentials,
    check_dates,
    invalid_setting,
    unknown_settings,
)
from tap_branch.state_checks import check_state, state_file_text
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
        #: What the streams of one run share: a day's export lists (asked once for
        #: every stream of a family), which request form an API accepts, what was
        #: already logged once. Keys are namespaced by the module that sets them.
        self.run_cache: dict[str, t.Any] = {}
        super().__init__(*args, **kwargs)
        self._register_secrets()
        install_log_redaction()
        for line in unknown_settings(self.config, self.config_jsonschema["properties"]):
            self.logger.warning(line)
        if self.config.get("start_date"):
            check_config(self.config)

    def _register_secrets(self) -> None:
        SECRETS.add(
            self.config.get("branch_secret"),
            self.config.get("access_token"),
            self.config.get("user_id"),
        )
        for app in self.config.get("apps") or []:
            SECRETS.add(app.get("branch_secret"))

    @classmethod
    def invoke(cls, *, state: t.IO[str] | None = None, **kwargs: t.Any) -> None:  # type: ignore[override]
        """The SDK's sync command, with a `--state` file that is not JSON named in the error."""
        if state is not None:
            state = io.StringIO(state_file_text(state))
        super().invoke(state=state, **kwargs)

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Check the state before the SDK merges it: a corrupt one fails naming stream and key."""
        check_state(state, self.streams)
        super().load_state(state)

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
        """Fail before any request when a selected stream lacks its credentials.

        Without a catalog the streams are selected by default, and nobody has
        every kind of Branch credential: then the streams whose credentials are
        missing are skipped with a warning, and only a run with nothing left fails.
        A stream selected on purpose (a catalog, or a partial selection) fails.
        """
        by_need: dict[str, list[Stream]] = collections.defaultdict(list)
        for stream in self.streams.values():
            need = getattr(stream, "credentials_needed", None)
            if need and (stream.selected or stream.has_selected_descendents):
                by_need[need].append(stream)
        selected_by_default = self._input_catalog is None and all(
            stream.selected == stream.selected_by_default for stream in self.streams.values()
        )
        for need, streams in by_need.items():
            try:
                check_credentials(self.config, need, [stream.name for stream in streams])
            except ConfigValidationError as exc:
                if not selected_by_default:
                    raise
                self.logger.warning("Skipping streams without their credentials: %s", exc)
                for stream in streams:
                    stream.selected = False
        runnable = [
            s
            for s in self.streams.values()
            if s.selected and getattr(s, "credentials_needed", None)
        ]
        if selected_by_default and not runnable:
            raise invalid_setting(
                "No stream can run with these settings: set Branch credentials "
                "('branch_key' and 'branch_secret', or 'apps'; 'access_token' for the v2 APIs)."
            )


if __name__ == "__main__":
    TapBranch.cli()
