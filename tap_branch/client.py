"""The base stream every tap-branch stream builds on.

It adds to the SDK's `RESTStream`:
- Branch's error handling: 429 waits as long as Branch says (header or body),
  5xx and connection errors are retried with backoff, and every error message
  is free of secrets.
- A lean record path (`FastRecordMixin`), see below.
"""

from __future__ import annotations

import functools
import random
import typing as t
from functools import cached_property

import backoff
import msgspec
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_branch import ratelimit
from tap_branch.errors import RateLimitedError, describe_response, retry_after_seconds
from tap_branch.writer import OUTPUT

if t.TYPE_CHECKING:
    import requests

_RECORD_CLOCK_EVERY = 1024

_encoder = msgspec.json.Encoder(
    enc_hook=lambda obj: obj.isoformat() if hasattr(obj, "isoformat") else str(obj)
)


class FastRecordMixin:
    """Emit RECORD messages with the per-record work done once per stream.

    The SDK's record path, per record: copies the record to pop deselected
    properties, conforms every value recursively, loops over stream maps,
    builds a message object, reads the clock, and flushes stdout. For exports
    of millions of rows that is most of the run. Here:
    - the deselected top-level properties are computed once and popped
      (nested selection falls back to the SDK's walk);
    - values are already typed by `tap_branch.typing`, so conformance is off;
    - when the only stream map is the SDK's identity map without flattening,
      the message is encoded straight to stdout's buffer; any other stream map
      configuration takes the SDK's own path, so mapping keeps working;
    - `time_extracted` is read every 1024 records rather than every record;
    - lines go to the tap writer's batch (`tap_branch.writer.OUTPUT`), written
      in large chunks and drained before every STATE, so STATE never overtakes
      the records before it.
    """

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

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

    def _write_record_message(self, record: dict) -> None:
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
            self._time_extracted = utc_now().isoformat()
            count = 0
        self._records_since_clock = count + 1
        message = OUTPUT.envelope.message(
            self.name, record, self._time_extracted, self._stream_version
        )
        buffer = OUTPUT.buffer
        _encoder.encode_into(message, buffer, len(buffer))
        buffer += b"\n"
        OUTPUT.line_added()
        self.state_manager.is_flushed = False

    def _generate_record_messages_after_selection(self, record: dict):
        import singer_sdk.singerlib as singer

        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    def _process_record(self, record, child_context=None, partition_context=None) -> None:
        # Streams without children: the SDK would still evaluate the first stream
        # map's filter and build a child context for every record.
        if self.child_streams:
            super()._process_record(
                record, child_context=child_context, partition_context=partition_context
            )
            return
        for key, value in (partition_context or {}).items():
            if key not in record:
                record[key] = value


class BranchStream(FastRecordMixin, RESTStream):
    """A Branch API stream on the v1 host (`api_url`)."""

    #: Extra tries for 5xx, resets and timeouts (the SDK's backoff); 429s are separate.
    DEFAULT_MAX_TRIES = 6

    @property
    def url_base(self) -> str:
        return self.config.get("api_url", "https://api.branch.io").rstrip("/")

    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout") or 300)

    @property
    def http_headers(self) -> dict:
        return {"User-Agent": self.user_agent, **super().http_headers}

    @cached_property
    def user_agent(self) -> str:
        from tap_branch import __version__

        return self.config.get("user_agent") or f"tap-branch/{__version__}"

    # --- errors and retries -------------------------------------------------

    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 429:
            raise RateLimitedError(describe_response(response), retry_after_seconds(response))
        if response.status_code >= 500 or response.status_code in self.extra_retry_statuses:
            raise RetriableAPIError(describe_response(response), response)
        if response.status_code >= 400:
            raise FatalAPIError(describe_response(response))

    def response_error_message(self, response: requests.Response) -> str:
        return describe_response(response)

    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries") or self.DEFAULT_MAX_TRIES)

    def backoff_wait_generator(self) -> t.Generator[float, None, None]:
        factor = float(self.config.get("backoff_factor", 2))
        return backoff.expo(factor=factor, max_value=60)

    def backoff_jitter(self, value: float) -> float:
        """Up to 10% more than the wait: the SDK adds up to a whole second, which
        would make small `backoff_factor` values meaningless."""
        return value * (1 + random.random() * 0.1)

    def backoff_handler(self, details: dict) -> None:
        exc = details.get("exception")
        self.logger.warning(
            "Retrying in %.1f s (attempt %d of %d): %s",
            details.get("wait") or 0,
            details.get("tries") or 0,
            self.backoff_max_tries(),
            exc,
        )

    def request_decorator(self, func: t.Callable) -> t.Callable:
        """The SDK's retries for transient errors, inside a wait-and-retry for 429s."""
        retried = super().request_decorator(func)

        @functools.wraps(func)
        def waiting_out_rate_limits(*args: t.Any, **kwargs: t.Any) -> t.Any:
            most = float(self.config.get("rate_limit_max_wait") or 6 * 3600)
            waits = self._rate_limit_waits()
            next(waits)
            waited = 0.0
            while True:
                try:
                    return retried(*args, **kwargs)
                except RateLimitedError as exc:
                    wait = waits.send(exc)
                    if waited + wait > most:
                        raise FatalAPIError(
                            f"Branch still rate-limits after {waited:.0f} s of waiting, and it "
                            f"asks for {wait:.0f} s more: past setting 'rate_limit_max_wait' "
                            f"({most:g} s). {exc}"
                        ) from None
                    # Logged under this stream, at least once a minute while it lasts.
                    ratelimit.wait_out(wait, self.logger, _rate_limit_line(wait, exc))
                    waited += wait

        return waiting_out_rate_limits

    def _rate_limit_waits(self) -> t.Generator[float, t.Any, None]:
        """Wait what the 429 asked for; without a hint, 10 s doubling to 5 minutes."""
        fallback = backoff.expo(base=2, factor=10, max_value=300)
        next(fallback)
        exception = yield  # primed by next()
        while True:
            hint = getattr(exception, "retry_after", None)
            exception = yield (hint + 0.5 if hint is not None else next(fallback))


def _rate_limit_line(wait: float, exc: Exception) -> t.Callable[[float], str]:
    def line(left: float) -> str:
        if left >= wait:
            return f"Branch rate limit reached; waiting {wait:.1f} s before retrying ({exc})"
        return f"Branch rate limit: still waiting, {left:.0f} s of {wait:.0f} s left ({exc})"

    return line


class Branch2Stream(BranchStream):
    """A Branch API stream on the v2 host (`api2_url`)."""

    @property
    def url_base(self) -> str:
        return self.config.get("api2_url", "https://api2.branch.io").rstrip("/")
