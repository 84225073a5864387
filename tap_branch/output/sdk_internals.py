"""Every use of the Singer SDK's private internals, in one place.

The SDK (0.54) has no public API for what these do; everything else in tap-branch uses its
public API only. When an SDK upgrade changes one of these internals, this module and its
contract test (`tests/unit/output/test_route_contract.py`) break, not the streams.

- `FastRecordMixin`: the fast record path (the SDK's per-record work done once per stream),
  and the columnar one (a `RowBatch` item: RECORD lines built a batch of rows at a time,
  counted as its rows by `ItemCounter`), and the records the SDK's batcher takes
  (`records_to_batch`), for the tap's own batch files.
- `ManualState`: streams whose bookmark moves by whole units (a day, a window, a job), not
  record by record, and that write STATE themselves when a unit is complete.
- `state_manager_of`: a stream's own `StreamStateManager` subclass.
- `sibling_streams`: the other streams of the tap a stream belongs to.
- `log_request_duration`: the SDK's per-request timer metric, for requests the tap sends itself.
- `write_batch_message`: a BATCH message written between two batches `get_batches` yields.
- `SyncHooks`: the sync between the tap's own hooks, and the end of a run on SIGTERM/SIGINT
  (`tests/e2e/test_sigterm.py` and the Airbyte protocol test pin it).
"""

from __future__ import annotations

import signal
import typing as t
from functools import cached_property

import msgspec
from singer_sdk import metrics
from singer_sdk.contrib.msgspec import enc_hook
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams._state import StreamStateManager

from tap_branch import clock
from tap_branch.errors import StopRequested
from tap_branch.records.items import RowBatch

__all__ = [
    "FastRecordMixin",
    "ItemCounter",
    "ManualState",
    "StreamStateManager",
    "log_request_duration",
    "sibling_streams",
    "state_manager_of",
    "write_batch_message",
]

_RECORD_CLOCK_EVERY = 1024

# The SDK's own record encoding (`MsgSpecWriter`): same hook, decimals as numbers.
_encoder = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")


class FastRecordMixin:
    """Emit RECORD messages with the per-record work done once per stream.

    The SDK's record path, per record: copies the record to pop deselected
    properties, conforms every value recursively, loops over stream maps,
    builds a message object, reads the clock, and flushes stdout. For exports
    of millions of rows that is most of the run. Here:
    - the deselected top-level properties are computed once and popped
      (nested selection falls back to the SDK's walk);
    - values are already typed by `tap_branch.records.typers`, so conformance is off;
    - when the only stream map is the SDK's identity map without flattening,
      the message is encoded straight to stdout's buffer; any other stream map
      configuration takes the SDK's own path, so mapping keeps working;
    - `time_extracted` is read every 1024 records rather than every record;
    - lines go to the batch of the tap writer's output (`self.output`,
      `tap_branch.output.writer.Output`), written in large chunks and drained before
      every STATE, so STATE never overtakes the records before it.
    """

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    #: False: every record takes the SDK's own path (the contract test compares the two).
    fast_records: bool = True

    @cached_property
    def _emit_plan(self) -> tuple[tuple[str, ...], bool, bool]:
        """(deselected top-level properties, needs the SDK's nested pop, fast write allowed)."""
        mask = self.mask
        deselected: list[str] = []
        nested = False
        for breadcrumb, selected in mask.items():
            if len(breadcrumb) == 2 and breadcrumb[0] == "properties":
                if not selected:
                    deselected.append(breadcrumb[1])
            elif len(breadcrumb) > 2 and not selected:
                nested = True
        maps = self.stream_maps
        identity = (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == self.name
        )
        return tuple(deselected), nested, identity

    def _write_record_message(self, record: dict | RowBatch) -> None:
        if isinstance(record, RowBatch):
            self._write_record_lines(record)
            return
        if not self.fast_records:
            super()._write_record_message(record)
            return
        deselected, nested, identity = self._emit_plan
        for name in deselected:
            record.pop(name, None)
        if nested:
            pop_deselected_record_properties(record, self.schema, self.mask)
        if not identity:
            # The SDK's own path: stream maps, aliases, flattening. Conformance is NONE.
            for message in self._generate_record_messages_after_selection(record):
                self._tap.write_message(message)
            self.state_manager.is_flushed = False
            return
        count = getattr(self, "_records_since_clock", _RECORD_CLOCK_EVERY)
        if count >= _RECORD_CLOCK_EVERY:
            self._time_extracted = clock.now()  # a datetime: msgspec writes it as the SDK path does
            count = 0
        self._records_since_clock = count + 1
        # Keys in the order of the SDK's RecordMessage.to_dict.
        output = self.output
        message = output.envelope.message(
            self.name, record, self._time_extracted, self._stream_version
        )
        buffer = output.buffer
        _encoder.encode_into(message, buffer, len(buffer))
        buffer += b"\n"
        output.line_added()
        self.state_manager.is_flushed = False

    def _write_record_lines(self, rows: RowBatch) -> None:
        """RECORD messages for a batch of rows, typed with `record_affixes`: the same bytes
        `_write_record_message` writes for the same records
        (tests/unit/output/test_route_contract.py), in the envelope of the output."""
        if not self._emit_plan[2]:  # `columnar_deselected` gives batches no other map
            raise AssertionError(f"{self.name}: a batch of rows reached a stream map")
        self.output.add_lines(rows.lines())
        self.output.envelope.records_written(self.name, rows.count)
        self.state_manager.is_flushed = False

    def get_record_counter(self, **kwargs: t.Any) -> metrics.Counter:
        """The SDK's record counter, counting a batch of rows as its rows (`ItemCounter`)."""
        counter = super().get_record_counter(**kwargs)
        self._item_counter = ItemCounter(counter.metric, counter.tags, counter.log_interval)
        return self._item_counter

    @property
    def columnar_deselected(self) -> tuple[str, ...] | None:
        """The top-level properties to leave out of records whose JSON the stream builds itself
        (`tap_branch.records.columnar`), or None when every record must be a dict taking the path above:
        stream maps, nested selection, a record limit (`--test`), child streams."""
        deselected, nested, identity = self._emit_plan
        if (
            not self.fast_records
            or nested
            or not identity
            or self.ABORT_AT_RECORD_COUNT is not None
            or self.child_streams
        ):
            return None
        return deselected

    @property
    def batch_deselected(self) -> tuple[str, ...]:
        """The top-level properties the catalog leaves out: not written into batch files."""
        return self._emit_plan[0]

    def records_to_batch(self, context: dict | None) -> t.Iterator[dict]:
        """The records the SDK's batcher would take (`Stream.get_batches`): the stream's state
        advances as they are given, no RECORD message is written."""
        return self._sync_records(context, write_messages=False)

    def record_affixes(self) -> tuple[str, str]:
        """The output's RECORD envelope around each record's JSON in lines the stream builds
        a batch of rows at a time (`tap_branch.records.route.RECORDS`), asked as it hands a
        batch to be typed: `time_extracted` read then."""
        self._time_extracted = clock.now()
        self._records_since_clock = 0
        return self.output.envelope.affixes(self.name, self._time_extracted, self._stream_version)

    def _generate_record_messages_after_selection(self, record: dict):
        import singer_sdk.singerlib as singer

        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=clock.now(),
                )

    def _process_record(self, record, child_context=None, partition_context=None) -> None:
        if isinstance(record, RowBatch):
            # Its rows are counted as records; its partition keys are the typer's constants,
            # and streams with children never get batches (`columnar_deselected`).
            self._item_counter.weight = record.count
            return
        # Streams without children: the SDK would still evaluate the first stream
        # map's filter and build a child context for every record.
        if self.child_streams or not self.fast_records:
            super()._process_record(
                record, child_context=child_context, partition_context=partition_context
            )
            return
        for key, value in (partition_context or {}).items():
            if key not in record:
                record[key] = value


class ItemCounter(metrics.Counter):
    """The SDK's record counter (`Stream.get_record_counter`), where an item may be a batch of
    rows: `weight`, set for the item about to be counted, is what its `increment` adds."""

    weight: int = 1

    def increment(self, value: int = 1) -> None:
        weight, self.weight = self.weight, 1
        super().increment(value * weight)


class ManualState:
    """Mixed into the base stream: bookmark per record (the SDK's way) or by hand."""

    #: False: records never move the bookmark; the stream yields `Checkpoint`s.
    bookmarks_per_record: bool = True

    def _increment_stream_state(self, latest_record: dict, *, context: dict | None = None) -> None:
        if self.bookmarks_per_record and not isinstance(latest_record, RowBatch):
            super()._increment_stream_state(latest_record, context=context)

    def finalize_state(self, context: dict | None) -> None:
        """Clear the SDK's progress markers (signpost, starting value) from a partition's state,
        or the stream's when `context` is None: what `_sync_records` does at its end, for
        streams that sync without it (BATCH messages of their own)."""
        self._finalize_state(self.get_context_state(context) if context else self.stream_state)

    def write_state_now(self) -> None:
        """Emit STATE now, with whatever the stream's state holds."""
        self.state_manager.is_flushed = False
        self._write_state_message()


def write_batch_message(stream: t.Any, encoding: t.Any, manifest: list[str]) -> None:
    """A BATCH message for `manifest`, as the SDK writes one for each batch `get_batches`
    yields (`Stream._sync_batches`), for a stream that must announce files between two."""
    stream._write_batch_message(encoding=encoding, manifest=manifest)


def state_manager_of(stream: t.Any, manager_class: type[StreamStateManager]) -> StreamStateManager:
    """The stream's state manager, made once of `manager_class` (the SDK keeps it privately)."""
    if stream._state_manager is None:
        stream._state_manager = manager_class(
            tap_name=stream.tap_name,
            stream_name=stream.name,
            tap_state=stream.tap_state,
            state_partitioning_keys=stream.state_partitioning_keys,
            is_sorted=stream.is_sorted,
            check_sorted=stream.check_sorted,
        )
    return stream._state_manager


def log_request_duration(
    stream: t.Any, endpoint: str, response: t.Any, context: dict | None
) -> None:
    """The `http_request_duration` metric the SDK writes for the requests it sends itself."""
    stream._write_request_duration_log(
        endpoint=endpoint, response=response, context=context, extra_tags=None
    )


def sibling_streams(stream: t.Any) -> list[t.Any]:
    """Every stream of the tap `stream` belongs to (the SDK keeps the tap privately)."""
    return list(stream._tap.streams.values())


# --- The tap's side: settings from the environment, their validation, the sync's hooks, invoke.
# `class TapBranch(SyncHooks, ValidatedSettings, EnvironmentSettings, Tap)`: each mixin turns one
# private SDK method into a public method of the tap, so that tap.py names nothing private.
# (Imported here, not at the top: the section stays one block.)

from singer_sdk import Tap  # noqa: E402
from singer_sdk.helpers._classproperty import classproperty  # noqa: E402
from singer_sdk.plugin_base import _ConfigInput  # noqa: E402

#: What `--config` gives `invoke`: the files' settings, and whether to read the environment.
ConfigInput = _ConfigInput


class EnvironmentSettings:
    """The SDK reads the `<PREFIX><SETTING>` variables in its private `_env_var_config`; here
    the tap's public `environment_settings(prefix)` does."""

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:  # noqa: N805 - the SDK's classproperty
        return cls.environment_settings(cls._env_var_prefix)


class ValidatedSettings:
    """The SDK validates the settings in its private `_validate_config`, on `self._config`;
    here the tap's public `check_settings(config, schema, raise_errors=)` does, returning the
    settings to keep (the public `config` is a read-only copy of them)."""

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        self._config = self.check_settings(self._config, schema, raise_errors=raise_errors)
        return []


class SyncHooks:
    """`Tap.sync_all` is final in the SDK: the tap's public `before_sync()` runs first, then
    the SDK's sync, then `after_sync(completed=)` in a `finally`, told whether the sync ended
    well (a run may fail at its end only when it did). And the run's end on SIGTERM or
    SIGINT (`_handle_termination`)."""

    def _handle_termination(self, signum: int, frame: t.Any) -> None:
        """The SDK's handler of SIGTERM and SIGINT (`PluginBase`, installed when the tap is
        built) logs "Gracefully shutting down..." and exits 0, as a complete run does. Here
        the signal raises `StopRequested` on the main thread where it is: the cleanup on the
        way out runs (batch files not announced are deleted), and the CLI ends the run with
        the signal's status. A second signal while it winds down ends it at once."""
        signal.signal(signum, signal.SIG_DFL)
        raise StopRequested(signum, syncing=self._syncing)

    #: Whether `sync_all` has begun (a signal before it stops a discovery or a test).
    _syncing = False

    def sync_all(self) -> None:
        self._syncing = True
        self.before_sync()
        completed = False
        try:
            super().sync_all()
            completed = True
        finally:
            self.after_sync(completed=completed)


def config_input(config: dict | None = None, *, parse_env: bool = False) -> ConfigInput:
    """What `--config` gives `invoke`: the settings read from the files, `ENV` or not."""
    return _ConfigInput(config=config, parse_env=parse_env)


def invoke_with(
    tap_class: type[Tap],
    *,
    about: bool,
    about_format: str | None,
    config: ConfigInput | None,
    state: dict | None,
    catalog: t.Any,
) -> None:
    """The SDK's sync command (`Tap.invoke`) with the state and catalog already read and
    parsed: `--about`, the version line, then the tap built with them, and synced. 0.54 has
    no hook to hand over a parsed state or catalog, so this repeats `Tap.invoke` minus its
    reading of the files (tests/unit/output/test_sdk_internals.py fails when the SDK's steps
    change)."""
    super(Tap, tap_class).invoke(about=about, about_format=about_format)
    tap_class.print_version(print_fn=tap_class.logger.info)
    config = config or _ConfigInput()
    tap = tap_class(
        config=config.config,
        state=state,
        catalog=catalog,
        parse_env_config=config.parse_env,
        validate_config=True,
    )
    tap.sync_all()
