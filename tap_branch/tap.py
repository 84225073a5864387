"""TapBranch: settings and streams of every Branch stream family."""

from __future__ import annotations

import collections
import dataclasses
import functools
import sys
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import JSONSchemaValidator
from singer_sdk.singerlib import Catalog, CatalogEntry, Schema
from singer_sdk.tap_base import CliTestOptionValue

from tap_branch import streams as families
from tap_branch.api.run_caches import RunCaches
from tap_branch.config.catalog_checks import catalog_file, check_catalog
from tap_branch.config.connection import (
    BranchFault,
    selected_families,
    test_connection,
    test_credentials_of_selected_streams,
)
from tap_branch.config.errors import invalid_setting
from tap_branch.config.settings import (
    COMMON_SETTINGS,
    check_batch_config,
    check_config,
    check_dates,
    config_files,
    environment_config,
    say_what_null_means,
    secret_values,
    unknown_settings,
    without_nulls,
)
from tap_branch.config.state_checks import check_state, state_file
from tap_branch.config.validation import describe
from tap_branch.errors import InvalidCatalogError, InvalidStateError, StopRequested
from tap_branch.output.progress import RunProgress
from tap_branch.output.sdk_internals import (
    ConfigInput,
    EnvironmentSettings,
    SyncHooks,
    ValidatedSettings,
    config_input,
    invoke_with,
)
from tap_branch.output.writer import SingerOutputWriter, closed_by_reader
from tap_branch.redaction import SECRETS, install_log_redaction, redact

if t.TYPE_CHECKING:
    import click
    from singer_sdk import Stream

    from tap_branch.config.credentials import Credential


def _config_schema() -> dict:
    properties = list(COMMON_SETTINGS)
    for family in families.FAMILIES:
        properties.extend(family.SETTINGS)
    schema = th.PropertiesList(*properties).to_dict()
    say_what_null_means(schema)
    return schema


def _null_as_schema(schema: t.Any) -> None:
    if isinstance(schema, dict):
        for combinator in ("anyOf", "oneOf", "allOf"):
            if isinstance(schema.get(combinator), list):
                schema[combinator] = [
                    {"type": item} if isinstance(item, str) else item for item in schema[combinator]
                ]
        for value in schema.values():
            _null_as_schema(value)
    elif isinstance(schema, list):
        for item in schema:
            _null_as_schema(item)


class TapBranch(SyncHooks, ValidatedSettings, EnvironmentSettings, Tap):
    """Singer tap for Branch (branch.io)."""

    name = "tap-branch"
    config_jsonschema = _config_schema()
    message_writer_class = SingerOutputWriter

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        #: What the streams of one run share: each family's cache (a day's export lists,
        #: asked once for every stream of a family; what was already logged once), typed
        #: and declared by the family, and the rate limiters.
        self.caches = RunCaches()
        super().__init__(*args, **kwargs)
        for line in unknown_settings(self.config, self.config_jsonschema["properties"]):
            self.logger.warning(line)
        if self.config.get("start_date"):
            check_config(self.config)

    @classmethod
    def environment_settings(cls, prefix: str) -> dict[str, t.Any]:
        """Settings from environment variables, each converted by its type (`environment_config`)."""
        schema = cls.config_jsonschema
        cls.append_builtin_config(schema)
        return environment_config(schema, prefix)

    def check_settings(
        self, config: dict[str, t.Any], schema: dict, *, raise_errors: bool = True
    ) -> dict[str, t.Any]:
        """The SDK's validation against the settings schema, with three changes; the settings
        to keep are returned (`sdk_internals.ValidatedSettings`).

        A null setting the schema allows is dropped first (`without_nulls`): it means unset,
        and the validator then fills in its default. The secrets are registered, and the log
        redaction installed, before validating: a mistyped secret (a number, `apps` given as
        an object) is quoted by the validator's message.
        Discovery (where the SDK only warns, then runs on whatever it got) still refuses a
        setting given in the wrong shape; only the required ones may be missing, since
        discovery needs no credentials."""
        config = without_nulls(config, schema)
        SECRETS.add(*secret_values(config, schema["properties"]))
        install_log_redaction()
        if not raise_errors:
            schema = {key: value for key, value in schema.items() if key != "required"}
        errors = [
            redact(describe(error)) for error in JSONSchemaValidator(schema).iter_errors(config)
        ]
        if errors:
            raise ConfigValidationError("Config validation failed", errors=errors, schema=schema)
        return config

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: ConfigInput | None = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        """The SDK's sync command (`Tap.invoke`), with the `--state` and `--catalog` files read
        here: one that is not JSON, or not a state or catalog, fails naming the file (the SDK
        fails on them with a bare decoding error), and each file is parsed once, the tap taking
        the parsed state and `Catalog` (a catalog of every stream is megabytes)."""
        invoke_with(
            cls,
            about=about,
            about_format=about_format,
            config=config,
            state=None if state is None else state_file(state),
            catalog=None if catalog is None else catalog_file(catalog),
        )

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """`--config` files read naming the one that is missing, not JSON, or not an object
        (the SDK's reading ends in a traceback for each)."""
        try:
            return config_input(config_files(value), parse_env="ENV" in value)
        except ConfigValidationError as exc:
            cls.logger.error(str(exc))
            ctx.exit(1)

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Check the state before the SDK merges it: a corrupt one fails naming stream and key."""
        check_state(state, self.streams)
        super().load_state(state)

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """The SDK's built-in settings (stream maps, batch, ...), with the bare "null" the SDK
        puts in their `anyOf` lists made `{"type": "null"}`: a bare string is no schema, and
        strict validators (PyAirbyte's) then refuse the whole settings schema, and their
        descriptions saying what null means, as the tap's own do."""
        super().append_builtin_config(config_jsonschema)
        _null_as_schema(config_jsonschema)
        say_what_null_means(config_jsonschema)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: the connection test (`tap_branch.config.connection`: one cheap call per credential),
        not the SDK's sync of one record per stream, which would create export jobs and wait
        on them. `--test=schema` stays the SDK's. Either way a bad config is one line a problem,
        not a traceback: a callback's error escapes the SDK's handler."""
        try:
            if value != CliTestOptionValue.All.value:
                super().cb_test(ctx, param, value)
                return
            config = ctx.params.get("config")
            tap = cls(
                config=getattr(config, "config", None),
                parse_env_config=getattr(config, "parse_env", False),
            )
            outcome = test_connection(tap)
        except ConfigValidationError as exc:
            test = "Connection" if value == CliTestOptionValue.All.value else "Schema"
            for error in exc.errors or [str(exc)]:
                cls.logger.error("%s test failed: %s", test, error)
            ctx.exit(1)
        except BranchFault as exc:
            cls.logger.error("Connection test failed: %s", exc)
            ctx.exit(1)
        for line in outcome.accepted:
            tap.logger.info("Connection test: %s", line)
        for gone in outcome.unavailable:
            tap.logger.warning("Connection test: not run: %s", gone)
        for why in outcome.idle:
            tap.logger.warning("Connection test: will emit nothing: %s", why)
        ctx.exit()

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with a config error's own lines logged last: a failed tap shows
        Meltano (`meltano config test`) only its last line, which must name the setting, not
        the SDK's closing "Config validation failed"."""
        command = super().get_singer_command()
        invoke = command.callback

        @functools.wraps(invoke)
        def invoke_naming_the_setting(*args: t.Any, **kwargs: t.Any) -> t.Any:
            try:
                return invoke(*args, **kwargs)
            except ConfigValidationError as exc:
                cls.logger.error("Config validation failed")
                for error in exc.errors or [str(exc)]:
                    cls.logger.error(error)
                sys.exit(1)
            except (InvalidStateError, InvalidCatalogError, BranchFault) as exc:  # one line
                cls.logger.error(str(exc))
                sys.exit(1)
            except StopRequested as stop:  # SIGTERM, SIGINT: the shell's status for it
                cls.logger.error(str(stop))
                sys.exit(stop.exit_status)
            except BrokenPipeError:
                # click ends such a run with status 1 and not a word: say whose end it was.
                closed_by_reader()
                cls.logger.error(
                    "The tap's output (stdout) was closed while it was written: the target "
                    "stopped reading, and its own log says why. The last state it received "
                    "stays good: the next run reads on from there."
                )
                sys.exit(1)

        command.callback = invoke_naming_the_setting
        return command

    def setup_mapper(self) -> None:
        """The SDK's stream maps for the streams this run syncs only: the selected ones and the
        parents of selected ones (a parent's first map decides which children sync).

        The SDK's own `Tap.setup_mapper` registers every stream of the catalog, a deep copy of
        its schema cut to its selection: 59 streams, 36 of them opt-in and most carrying the
        event ontology's 300 fields. That was a third of building the tap (0.04 of 0.13 s), for
        streams that never sync; a tap is built at every start and every test run."""
        super(Tap, self).setup_mapper()  # the plugin's empty mapper, as `Tap.setup_mapper` starts
        syncing = Catalog(
            (stream_id, _with_a_schema(entry, stream))
            for stream_id, entry in self.catalog.items()
            if (stream := self.streams.get(entry.stream or stream_id)) is not None
            and (stream.selected or stream.has_selected_descendents)
        )
        self.mapper.register_raw_streams_from_catalog(syncing)

    def write_schemas(self) -> None:
        """`--test schema`: the SDK selects every stream, then writes their SCHEMA messages
        through their stream maps, so the maps are set up again, for every stream."""
        for stream in self.streams.values():
            stream.selected = True
        self.setup_mapper()
        super().write_schemas()

    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = []
        for family in families.FAMILIES:
            streams.extend(family.build_streams(self))
        return streams

    def before_sync(self) -> None:
        """Before the SDK's sync (`sdk_internals.SyncHooks`): checks, then credentials tried."""
        self.caches.renew(RunProgress)  # the run's totals count from here
        if self.input_catalog is not None:
            check_catalog(self.input_catalog, self.streams)
        check_dates(self.config)
        check_batch_config(self.config)
        self._check_credentials_of_selected_streams()
        for family, streams in selected_families(self):
            family.check_settings(self.config, streams)
        # The families' first runs (Meltano's config test among them): credentials tried first.
        self._unavailable = self._test_credentials_of_selected_streams()

    def after_sync(self, *, completed: bool) -> None:
        """After the SDK's sync, whether it ended well or not (`sdk_internals.SyncHooks`)."""
        self.flush_output()
        if completed and self._unavailable:
            # The other families ran; the run still fails for what was selected.
            raise invalid_setting("Not run: " + " ".join(str(gone) for gone in self._unavailable))

    def flush_output(self) -> None:
        """The records still batched for stdout (`tap_branch.output.writer.Output`) written:
        they belong to the run, whether it ends well or not."""
        output = getattr(self.message_writer, "output", None)
        if output is not None:
            output.close()

    def run_sync_dry_run(self, *args: t.Any, **kwargs: t.Any) -> bool:
        """The SDK's `--test` sync of a few records a stream, its records written at its end."""
        try:
            return super().run_sync_dry_run(*args, **kwargs)
        finally:
            self.flush_output()

    def _test_credentials_of_selected_streams(self) -> list:
        """The connection test of the selected families (`tap_branch.config.connection`). A family
        whose product this account lacks does not run, the others do: with the default
        selection that is a warning, with a selection made on purpose the run fails at its end
        (returned)."""
        by_default = self._selected_by_default()  # before the families that cannot run go
        outcome = test_credentials_of_selected_streams(self)
        for line in outcome.accepted:
            self.logger.info("Credentials: %s", line)
        for why in outcome.idle:
            self.logger.warning("Will emit nothing: %s", why)
        for gone in outcome.unavailable:
            self.logger.warning("Not run: %s", gone)
            for stream in gone.probe.streams:
                stream.selected = False
        return [] if by_default else outcome.unavailable

    def _selected_by_default(self) -> bool:
        """No catalog, and no stream selected otherwise than by default."""
        return self.input_catalog is None and all(
            stream.selected == stream.selected_by_default for stream in self.streams.values()
        )

    def _check_credentials_of_selected_streams(self) -> None:
        """Fail before any request when a selected stream lacks its credentials.

        Without a catalog the streams are selected by default, and nobody has
        every kind of Branch credential: then the streams whose credentials are
        missing are skipped with a warning, and only a run with nothing left fails.
        A stream selected on purpose (a catalog, or a partial selection) fails.
        """
        by_need: dict[Credential, list[Stream]] = collections.defaultdict(list)
        for stream in self.streams.values():
            need = getattr(stream, "credentials", None)
            if need and (stream.selected or stream.has_selected_descendents):
                by_need[need].append(stream)
        selected_by_default = self._selected_by_default()
        for need, streams in by_need.items():
            try:
                need.check(self.config, [stream.name for stream in streams])
            except ConfigValidationError as exc:
                if not selected_by_default:
                    raise
                self.logger.warning("Skipping streams without their credentials: %s", exc)
                for stream in streams:
                    stream.selected = False
        runnable = [
            s for s in self.streams.values() if s.selected and getattr(s, "credentials", None)
        ]
        if selected_by_default and not runnable:
            raise invalid_setting(
                "No stream can run with these settings: set Branch credentials "
                "('branch_key' and 'branch_secret', or 'apps'; 'access_token' for the v2 APIs)."
            )


_NO_SCHEMA = Schema()


def _with_a_schema(entry: CatalogEntry, stream: Stream) -> CatalogEntry:
    """A catalog's entry with the stream's own schema where it has none (a deselected
    stream's entry is read without: `catalog_checks.catalog_file`)."""
    if entry.schema != _NO_SCHEMA:
        return entry
    return dataclasses.replace(entry, schema=Schema.from_dict(stream.schema))


if __name__ == "__main__":
    TapBranch.cli()
