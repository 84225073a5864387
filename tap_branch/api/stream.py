"""The base stream every tap-branch stream builds on.

It adds to the SDK's `RESTStream`:
- Branch's error handling: 429 waits as long as Branch says (header or body),
  5xx and connection errors are retried with backoff, and every error message
  is free of secrets.
- A lean record path (`tap_branch.output.sdk_internals.FastRecordMixin`).
- One request sender (`send`); its state moves where it yields a `Checkpoint`.
"""

from __future__ import annotations

import contextlib
import functools
import random
import typing as t
from functools import cached_property

import backoff
import requests
from singer_sdk import RESTStream, metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_branch import clock
from tap_branch.api import ratelimit
from tap_branch.errors import (
    NoAnswerError,
    RateLimitedError,
    RateLimitTooLongError,
    RequestRejected,
    branch_error_message,
    describe_response,
    no_answer_reason,
    refuses_credentials,
    retry_after_seconds,
)
from tap_branch.output.batch_files import BatchFiles
from tap_branch.output.sdk_internals import (
    FastRecordMixin,
    ManualState,
    log_request_duration,
    write_batch_message,
)
from tap_branch.output.writer import Output
from tap_branch.records.items import Checkpoint
from tap_branch.records.route import BATCH_FILES, RECORDS, Route
from tap_branch.redaction import redact, strip_query

if t.TYPE_CHECKING:
    from tap_branch.api.run_caches import RunCaches
    from tap_branch.config.credentials import Credential


class BranchStream(ManualState, FastRecordMixin, RESTStream):
    """A Branch API stream on the v1 host (`api_url`)."""

    #: Extra tries for 5xx, resets and timeouts (the SDK's backoff); 429s are separate.
    DEFAULT_MAX_TRIES = 6
    #: Retried like a 5xx: 408 (a proxy or load balancer that gave up waiting) is transient.
    extra_retry_statuses: t.Sequence[int] = (429, 408)
    #: Where the records go (`tap_branch.records.route`): batch files while `get_batches` runs.
    route: Route = RECORDS
    #: Whether `get_batches` takes `get_records`' items itself rather than through the SDK's
    #: record loop: for a stream without child streams whose state only its `Checkpoint`s
    #: move, whose units' files are announced at their checkpoints.
    batches_of_items: bool = False
    #: A unit complete while batching: the files so far are announced before the next record.
    _checkpointed: bool = False
    #: The files `get_batches` is writing (row path), for `checkpoint` to announce.
    _batch_files: BatchFiles | None = None
    _batch_encoding: t.Any = None
    #: Where the user fixes the credential this stream's requests carry ("setting
    #: 'access_token'"), named when Branch refuses it: for streams without a connection probe,
    #: whose first request (a job) is the check (`tap_branch.config.probes`).
    refused_credential_setting: str | None = None
    #: The kind of credential this stream's requests need (`tap_branch.config.credentials`),
    #: checked before any request for the selected streams.
    credentials: Credential | None = None

    def __init__(self, tap: t.Any, *args: t.Any, **kwargs: t.Any) -> None:
        #: What the streams of one run share (`TapBranch.caches`): its family's cache
        #: (`caches.of(DailyCache)`), its rate limiters. Given at construction.
        self.caches: RunCaches = tap.caches
        #: Where the stream's records go: the output of the tap's message writer. A writer
        #: without one (the SDK's own) writes every record itself: the fast paths are off.
        output = getattr(tap.message_writer, "output", None)
        if output is None:
            output, self.fast_records = Output(), False
        self.output: Output = output
        super().__init__(tap, *args, **kwargs)

    @property
    def effective_schema(self) -> dict:
        """The catalog's schema of this stream, or its own where the catalog's entry has none
        (a deselected stream's: `catalog_checks.catalog_file`)."""
        return super().effective_schema or self.schema

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

    def get_replication_key_signpost(self, context: dict | None = None) -> t.Any:
        """The SDK's signpost (no bookmark beyond the run's start), read from the tap's clock."""
        return clock.now() if self.is_timestamp_replication_key else None

    # --- requests -------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict | None = None,
        json: t.Any = None,
        auth: t.Callable[[requests.PreparedRequest], requests.PreparedRequest] | None = None,
        limiter: t.Any = None,
        tolerate: t.Collection[int] | t.Callable[[requests.Response], bool] = (),
        context: dict | None = None,
    ) -> requests.Response:
        """One API request, the one way every stream sends its own (beside the SDK's
        `request_records` loop): `path` on this stream's host, authenticated by `auth` (default
        the stream's authenticator), through `limiter` on every attempt when given (each counted
        from its answer: `Limiter.answered`), with the base stream's retries (5xx, resets, 429
        waits). An answer `tolerate`d (statuses, or a predicate) is returned for the caller to
        read; any other error fails, naming `what`.
        Counted and timed in the SDK's request metrics like the SDK's own requests."""
        request = self.build_prepared_request(
            method=method,
            url=f"{self.url_base}{path}",
            params=params,
            json=json,
            headers=self.http_headers,
        )
        authenticate = auth or self.authenticator
        accept = tolerate if callable(tolerate) else (lambda r: r.status_code in tolerate)

        def attempt() -> requests.Response:
            if limiter is not None:
                limiter.acquire(what, self.logger)  # every attempt counts, retries included
            try:
                response = self.requests_session.send(
                    authenticate(request),
                    timeout=self.timeout,
                    allow_redirects=self.allow_redirects,
                )
            finally:
                if limiter is not None:
                    limiter.answered()  # counted from its answer: never before Branch counted it
            log_request_duration(self, path, response, context)
            if not accept(response):
                try:
                    self.validate_response(response)
                except RequestRejected as exc:
                    if type(exc) is not RequestRejected:
                        raise
                    message = f"{self.name}: {what} failed: {exc}"
                    raise RequestRejected(message, exc.status, exc.detail) from None
                except FatalAPIError as exc:
                    if type(exc) is not FatalAPIError:
                        raise
                    raise FatalAPIError(f"{self.name}: {what} failed: {exc}") from None
            return response

        with metrics.http_request_counter(self.name, endpoint=path) as counter:
            counter.with_context(context)
            try:
                response = self.request_decorator(attempt)()
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
                raise NoAnswerError(
                    f"{self.name}: {what} ({method} {strip_query(request.url or '')}): no answer "
                    f"after {self.backoff_max_tries()} tries "
                    f"({no_answer_reason(exc, self.timeout)})",
                    timed_out=isinstance(exc, requests.exceptions.Timeout),
                ) from None
            counter.increment()
        return response

    # --- state ----------------------------------------------------------------

    def post_process(self, row: t.Any, context: dict | None = None) -> t.Any:
        """A `Checkpoint` the stream yielded is applied here by the route (`route.apply`),
        in the SDK's record loop right after the records before it, and goes no further
        (None: not a record). Records and batches of rows pass."""
        if isinstance(row, Checkpoint):
            self.route.apply(self, context, row)
            return None
        return row

    def unit_complete(self) -> None:
        """While batch files are written: the records added so far make whole units, whose
        files are announced before the next record (with the STATE the SDK writes after)."""
        self.state_manager.is_flushed = False
        if self.child_streams and self._batch_files is not None:
            # Now, not before the next record: the SDK syncs a record's children before
            # the record reaches `get_batches`, and their STATE carries this one.
            self._announce_now()
        else:
            self._checkpointed = True

    @property
    def columnar_plan(self) -> tuple[str, ...] | None:
        """The deselected properties for the columnar file path (`tap_branch.records.columnar`), or
        None when records take the row path: the `columnar_files` setting is false, or the
        SDK's path needs dicts (`columnar_deselected`)."""
        if not self.config.get("columnar_files", True):
            return None
        return self.columnar_deselected

    def get_batches(self, batch_config, context: dict | None = None):
        """Batch files of the stream's records (`tap_branch.output.batch_files`: jsonl, or
        parquet with the stream's own Arrow schema), announced where the STATE the SDK writes
        after each BATCH message covers exactly the records in the files announced so far.
        (The SDK's batcher announces a file as it is full: a STATE then lags behind the
        half-read unit, and a run resumed from it sends that unit's rows again.)

        A stream of `batches_of_items` whose records may be written as built JSON
        (`BatchFiles.for_stream`): its items as they come, each unit's files announced at its
        `Checkpoint` (`_batches_of_items`). Any other: the records of the SDK's record loop
        (`_batches_of_records`)."""
        files = BatchFiles.for_stream(self, batch_config) if self.batches_of_items else None
        self.route = BATCH_FILES
        try:
            if files is None:
                yield from self._batches_of_records(batch_config, context)
            else:
                yield from self._batches_of_items(files, batch_config, context)
        finally:
            self.route = RECORDS

    def _batches_of_items(self, files: BatchFiles, batch_config, context: dict | None):
        """The items of `get_records`, partition by partition: records and batches of rows
        into the files, and at each `Checkpoint` that ends a unit, the unit's files announced
        with the state it moves to (the SDK writes the BATCH message, then STATE: a unit is
        done once its files are announced, never before). Progress inside a unit is dropped
        (`BATCH_FILES`): the unit's files are announced whole, or read again."""
        try:
            for partition in [context] if context else self.partitions:
                for item in self.get_records(partition):
                    if not isinstance(item, Checkpoint):
                        files.add(item)
                        continue
                    if not item.ends_unit:
                        continue
                    manifest = files.finish()
                    self.route.apply(self, partition, item)
                    if manifest:
                        yield batch_config.encoding, manifest
                files.discard()  # a partition that stopped mid-unit: its files never announced
                self.finalize_state(partition)
            if not context:
                self.finalize_state(None)
        except BaseException:
            with contextlib.suppress(Exception):  # the run's own error is the one raised
                files.discard()  # the failed unit's files: never announced, not left behind
            raise

    def _batches_of_records(self, batch_config, context: dict | None):
        """The records the SDK's record loop gives (`records_to_batch`: children synced,
        checkpoints applied) into the files, announced as each file is full for a stream
        whose bookmark moves with every record, at each unit complete (`unit_complete`: a
        job's file, a window) for a stream that moves it by hand or has none (whose STATE
        then holds no more than its progress markers), and at the end."""
        self._checkpointed = False
        files = self._batch_files = BatchFiles(self, batch_config)
        self._batch_encoding = batch_config.encoding
        try:
            for record in self.records_to_batch(context):
                if self._checkpointed:  # the records added so far make whole units
                    self._checkpointed = False
                    if manifest := files.finish():
                        yield batch_config.encoding, manifest
                files.add(record)
                if self._bookmark_per_record and (manifest := files.filled()):
                    yield batch_config.encoding, manifest
            if manifest := files.finish():
                yield batch_config.encoding, manifest
        except BaseException:
            with contextlib.suppress(Exception):  # the run's own error is the one raised
                files.discard()  # files not announced: never left behind
            raise
        finally:
            self._batch_files = None

    def _announce_now(self) -> None:
        """A BATCH message for the files written so far, then STATE: as `get_batches` yields
        them, from inside the record loop."""
        if manifest := self._batch_files.finish():
            write_batch_message(self, self._batch_encoding, manifest)
        self.write_state_now()

    @property
    def _bookmark_per_record(self) -> bool:
        """Whether each record moves the stream's state (the SDK's incremental way)."""
        return self.bookmarks_per_record and bool(self.replication_key)

    # --- errors and retries -------------------------------------------------

    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 429:
            raise RateLimitedError(describe_response(response), retry_after_seconds(response))
        if response.status_code >= 500 or response.status_code in self.extra_retry_statuses:
            raise RetriableAPIError(describe_response(response), response)
        if response.status_code >= 400:
            detail = branch_error_message(response) or (response.text or "")[:500]
            message = describe_response(response)
            if self.refused_credential_setting and refuses_credentials(
                response.status_code, detail
            ):
                message += (
                    f". Branch refused the credential: check {self.refused_credential_setting}."
                )
            raise RequestRejected(message, response.status_code, redact(detail))

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
                        raise RateLimitTooLongError(
                            f"Branch still rate-limits after {waited:.0f} s of waiting, and it "
                            f"asks for {wait:.0f} s more: past setting 'rate_limit_max_wait' "
                            f"({most:g} s). {exc}"
                        ) from None
                    # Logged under this stream, at least once a minute while it lasts.
                    ratelimit.wait_out(wait, self.logger, _rate_limit_line(wait, exc))
                    waited += wait
                except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
                    if not (args and isinstance(args[0], requests.PreparedRequest)):
                        raise  # `send` and the file downloads name what they asked themselves
                    raise NoAnswerError(  # the SDK's own requests (`request_records`)
                        f"{self.name}: {args[0].method} {strip_query(args[0].url or '')}"
                        f"{f' for {args[1]}' if len(args) > 1 and args[1] else ''}: no answer "
                        f"after {self.backoff_max_tries()} tries "
                        f"({no_answer_reason(exc, self.timeout)})",
                        timed_out=isinstance(exc, requests.exceptions.Timeout),
                    ) from None

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
