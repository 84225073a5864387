"""Shared shape of Branch's per-day file exports (legacy daily export, Daily Exports v3).

For each app and UTC day, one API request returns lists of signed csv.gz URLs,
one list per kind of data. Every stream of the family reads its own list from
the same answer, so the answer is cached per (family, app, day) for the whole
run: Branch is asked once a day, not once a stream.

Bookmarks: the SDK advances a bookmark record by record; here a day's bookmark
moves only once every file of that day has been emitted, so a run that stops
half-way through a day redoes that whole day and never skips part of it. That
is a `Checkpoint` the walk yields (`day_complete`) because the SDK has no notion of a
unit of completeness bigger than a record. Records do not touch state at all.
"""

from __future__ import annotations

import abc
import datetime as dt
import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_branch import clock
from tap_branch.api.stream import BranchStream
from tap_branch.config.apps import BranchApp, app_partitions, find_app
from tap_branch.config.credentials import KEY_AND_SECRET
from tap_branch.config.errors import parse_date
from tap_branch.errors import (
    DownloadError,
    FatalAPIError,
    FileNotReadyError,
    error_in_body,
    json_answer,
)
from tap_branch.files.downloads import FileReader, file_identity, file_label, same_file_in
from tap_branch.files.pipeline import FileSource, csv_items
from tap_branch.records.items import Checkpoint, RowBatch
from tap_branch.records.typers import CATCH_ALL_PROPERTIES, Warnings
from tap_branch.redaction import redact, strip_queries_in_text
from tap_branch.streams.daily.cache import DailyCache, Manifest

EXPORT_DATE_PROPERTY = th.Property(
    "export_date",
    th.DateTimeType,
    required=True,
    description="The UTC day of the export file the row came from, as midnight UTC (the bookmark).",
)
APP_ID_PROPERTY = th.Property(
    "app_id",
    th.StringType,
    required=True,
    description="Branch app id of the row (the branch_key when no app_id is configured).",
)


def parse_manifest(
    response: t.Any, what: str, lists: t.Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """The file lists of one day's answer to `what` (the request, naming day and app), each
    checked, keyed by kind.

    `json_answer` refuses what is no JSON object, or an error object sent with 200 (lists
    beside an error are no day's answer). `lists` maps each kind to the answer's key for it;
    every one must be present. Only a list that is there, empty or not, says what a day
    holds: a missing key, a null or `{}` is an error naming `what` and the keys that came
    back, never their values (signed URLs). `lists` None: every key is a kind (Daily
    Exports v3's topics), and at least one must be there.
    """
    body = json_answer(response, what)
    lists = lists or {key: key for key in body}
    missing = [key for key in lists.values() if key not in body]
    if missing or not lists:
        raise FatalAPIError(
            _unusable_answer(body, what, f"no {', '.join(missing) or 'file lists'}")
        )
    manifest: dict[str, list[str]] = {}
    for kind, key in lists.items():
        urls = body[key]
        if isinstance(urls, str):  # a single URL instead of a list
            urls = [urls]
        if not isinstance(urls, list) or not all(_is_file_url(url) for url in urls):
            raise FatalAPIError(
                _unusable_answer(body, what, f"'{key}' that is not a list of http(s) URLs")
            )
        manifest[kind] = urls
    return manifest


def _is_file_url(url: t.Any) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:  # that, or an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _unusable_answer(body: dict, what: str, problem: str) -> str:
    keys = ", ".join(f"'{key}'" for key in sorted(body)) or "none"
    said = error_in_body(body)  # a `message` beside no lists (`error` ones: `json_answer`)
    return redact(
        f"Branch's answer to {what} has {problem} (keys that came back: {keys}; values not "
        "shown)"
        + (f"; Branch says: {strip_queries_in_text(said)}" if said else "")
        + ". Only lists that are present and empty mean a day without data, so the day is "
        "not passed; run again later, and ask Branch support if it persists."
    )


def midnight(day: dt.date) -> str:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).isoformat()


class DailyFileStream(BranchStream, metaclass=abc.ABCMeta):
    """One kind of a per-day file export, partitioned by app, incremental by day."""

    credentials = KEY_AND_SECRET
    replication_key = "export_date"
    bookmarks_per_record = False  # completed days move it (`day_complete`)
    #: Batch files of the items as they come: a day's files announced when it is complete.
    batches_of_items = True
    #: Cache namespace shared by the streams that read the same per-day answer.
    family: str = ""
    #: Branch's name of the API, and the setting of its host, for the connection test.
    product: str = ""
    url_setting: str = "api_url"
    #: This stream's list in the per-day answer.
    kind: str = ""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._warnings = Warnings(self.logger)
        self._reader = FileReader(self)

    @property
    def partitions(self) -> list[dict]:
        return app_partitions(self.config)

    # --- what the family defines ---------------------------------------------

    @abc.abstractmethod
    def request_manifest(self, app: BranchApp, day: dt.date) -> Manifest:
        """Ask Branch for one day's file lists (one HTTP request)."""

    def manifest_is_ready(self, app: BranchApp, manifest: Manifest, day: dt.date) -> bool:
        """Whether a day's answer is final. Default: some list has files, or the day is old enough
        (`empty_day_grace_days`) that empty lists mean a day without data."""
        return any(manifest.values()) or self.past_grace(day)

    def past_grace(self, day: dt.date) -> bool:
        """Whether `day` is older than `empty_day_grace_days`: Branch has long published it."""
        return (clock.today() - day).days > int(self.config.get("empty_day_grace_days", 2))

    def _file_key_columns(self) -> list[str]:
        """The key columns a file must hold (`app_id` and `export_date` are the tap's)."""
        return [k for k in self.primary_keys if k not in ("app_id", "export_date")]

    def records_of_file(
        self, context: dict, app: BranchApp, day: dt.date, index: int, url: str
    ) -> t.Iterator[dict | RowBatch]:
        """Typed records of one csv.gz file (`tap_branch.files.pipeline`); the header decides
        the columns, the stream's schema their types."""
        source = FileSource(
            url,
            f"{self.name} file {index + 1} of {day} ({file_label(url)})",
            constants={"app_id": app.app_id, "export_date": midnight(day)},
            schema_for=lambda header: self.schema,
            key_columns=self._file_key_columns(),
            refresh=lambda: self._fresh_url(app, day, index, url),
        )
        yield from csv_items(
            self._reader,
            source,
            deselected=self.columnar_plan,
            route=self.route,
            warnings=self._warnings,
            logger=self.logger,
        )

    # --- days and bookmarks -------------------------------------------------

    def last_day(self) -> dt.date:
        yesterday = clock.today() - dt.timedelta(days=1)
        if self.config.get("end_date"):
            return min(yesterday, parse_date(str(self.config["end_date"]), "end_date"))
        return yesterday

    def first_day(self, context: dict | None) -> dt.date:
        start = parse_date(str(self.config["start_date"]), "start_date")
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark:
            return max(start, parse_date(str(bookmark), "state") + dt.timedelta(days=1))
        return start

    def day_complete(self, context: dict | None, day: dt.date) -> Checkpoint:
        """Every file of `day` has been read: the bookmark moves to it."""
        return Checkpoint(
            bookmark=midnight(day), done=f"{day} (app {(context or {}).get('app_id')})"
        )

    # --- the shared per-day answer ------------------------------------------

    def manifest(self, app: BranchApp, day: dt.date, *, fresh: bool = False) -> Manifest:
        # Kept for the whole run: the SDK syncs one stream after another, so the
        # next stream of the family walks the same days again later. An answer is
        # a few URLs (kilobytes even for a year's backfill); URLs that expired in
        # the meantime are refreshed on their 403 (`_fresh_url`).
        cache = self.caches.of(DailyCache).manifests
        key = (self.family, app.app_id, day)
        if fresh or key not in cache:
            cache[key] = self._each_file_once(self.request_manifest(app, day), app, day)
        return cache[key]

    def _each_file_once(self, manifest: Manifest, app: BranchApp, day: dt.date) -> Manifest:
        """Each list of a day's answer with every file once (`file_identity`: the URL apart
        from its signature): Branch was seen listing a file twice (signed twice), and read
        twice, its rows would be sent twice. Positions are those of the lists kept (progress
        and fresh URLs use them)."""
        kept: dict[str, list[str]] = {}
        for kind, urls in manifest.items():
            seen: set[tuple] = set()
            kept[kind] = []
            for url in urls:
                if file_identity(url) in seen:
                    self.logger.warning(
                        "Branch's answer for %s (app %s) lists file %s twice in '%s'; it is read "
                        "once.",
                        day,
                        app.app_id,
                        file_label(url),
                        kind,
                    )
                    continue
                seen.add(file_identity(url))
                kept[kind].append(url)
        return kept

    def _fresh_url(self, app: BranchApp, day: dt.date, index: int, url: str) -> str:
        """A fresh signed URL of the file `url` was: found by its URL without query, since
        the fresh answer may list the day's files in another order."""
        files = self.manifest(app, day, fresh=True).get(self.kind) or []
        fresh = same_file_in(files, index, url)
        if fresh is None:
            raise DownloadError(
                f"{self.name}: Branch's fresh answer for {day} (app {app.app_id}) no longer "
                f"lists file {index + 1} ({file_label(url)}); run the sync again to read that "
                "day anew."
            )
        return fresh

    # --- sync ---------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterator[dict | RowBatch | Checkpoint]:
        """Every record of the partition's days from the bookmark on, each day followed by
        its `day_complete` checkpoint once all its files are read; stops at the first day not
        ready."""
        app = find_app(self.config, context["app_id"])
        day, last = self.first_day(context), self.last_day()
        if day > last:
            self.logger.info(
                "%s for app %s is up to date (through %s).", self.name, app.app_id, last
            )
            return
        while day <= last:
            manifest = self.manifest(app, day)
            if not self.manifest_is_ready(app, manifest, day):
                self._log_not_ready(app, day)
                return
            if self.kind not in manifest:  # only a list that is there, empty or not, says
                raise FatalAPIError(self._no_list(app, day, manifest))
            files = list(manifest[self.kind])
            try:
                for index, url in enumerate(files):
                    yield from self.records_of_file(context, app, day, index, url)
            except FileNotReadyError as exc:
                if self.past_grace(day):
                    raise self._never_ready(app, day, index, url, exc) from None
                self._log_not_ready(app, day)
                return
            yield self.day_complete(context, day)
            day += dt.timedelta(days=1)

    def _no_list(self, app: BranchApp, day: dt.date, manifest: Manifest) -> str:
        keys = ", ".join(f"'{key}'" for key in sorted(manifest)) or "none"
        return (
            f"{self.name}: Branch's answer for {day} (app {app.app_id}) has no '{self.kind}' "
            f"list (lists that came back: {keys}). Only a list that is present and empty means "
            "a day without data, so the day is not passed; run again later. Should Branch no "
            f"longer export '{self.kind}', deselect stream {self.name}."
        )

    def _never_ready(
        self, app: BranchApp, day: dt.date, index: int, url: str, exc: Exception
    ) -> DownloadError:
        """A file still "not ready" (400) past the grace period: Branch published that day
        long ago, so the file is broken, not late. Passing the day would lose its rows."""
        return DownloadError(
            f"{self.name}: file {index + 1} of {day} (app {app.app_id}, {file_label(url)}) still "
            f'answers 400 "not ready" more than {self.config.get("empty_day_grace_days", 2)} days '
            "later (empty_day_grace_days); the bookmark stays before that day. Ask Branch support "
            f"about that day's export. ({exc})"
        )

    def _log_not_ready(self, app: BranchApp, day: dt.date) -> None:
        self.logger.info(
            "%s: Branch's files for %s (app %s) are not ready yet; stopping here. "
            "The next run starts again from %s.",
            self.name,
            day,
            app.app_id,
            day,
        )

    @classmethod
    def schema_for(
        cls,
        columns: t.Mapping[str, th.JSONTypeHelper],
        descriptions: t.Mapping[str, str] | None = None,
    ) -> dict:
        descriptions = descriptions or {}
        return th.PropertiesList(
            APP_ID_PROPERTY,
            EXPORT_DATE_PROPERTY,
            *(
                th.Property(name, type_, description=descriptions.get(name))
                for name, type_ in columns.items()
            ),
            *CATCH_ALL_PROPERTIES,
        ).to_dict()
