"""Daily Exports v3: one day of Branch's event-level data per request, as csv.gz files per topic.

`POST {api2_url}/v3/export` with `{branch_key, branch_secret, export_date}` answers an object
keyed by topic (`eo_click`, `eo_open`, ...), each a list of csv.gz URLs (~200k rows each).
The shape is the legacy daily export's, so the family builds on `DailyFileStream`: per-app
partitions, one request per app and day shared by every topic stream, a day's bookmark moved
once all its files are read. What v3 adds:

- Only the last 7 days exist: an older start (or bookmark) is clamped, with a warning naming
  the days that can no longer be fetched.
- Until a day is published (usually 07:00-08:00 UTC the next day, sometimes much later) all
  its lists are empty. Empty lists therefore mean "not ready" and end the sync there, unless
  Branch already publishes a later day: then the empty day really had no data.
- Progress inside a day: after each file the stream's state records the files done
  (`day_in_progress`), so a run killed between files resumes without re-reading them.
  Files are named by URL without the signed query (stable, secret-free).
- A topic Branch lists that no stream knows is reported once, never silently dropped.

Stream names are `daily_<topic>` (`daily_eo_click`): the topic keeps Branch's name, the
prefix tells this API's streams from Custom Exports' (`custom_eo_click`), which carry the
same events from another API and state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from singer_sdk import typing as th

from tap_branch import clock
from tap_branch.api.auth import BranchKeyAuthenticator
from tap_branch.config.apps import BranchApp
from tap_branch.config.retention import clamp_to_retention
from tap_branch.config.state_checks import ISO_MOMENT
from tap_branch.files.downloads import file_done_entry, file_label, files_to_read
from tap_branch.records.items import Checkpoint, RowBatch
from tap_branch.records.schemas.event_topics import EO_TOPICS
from tap_branch.records.schemas.ontology import ontology_properties
from tap_branch.records.typers import CATCH_ALL_PROPERTIES
from tap_branch.streams.daily.cache import DailyCache
from tap_branch.streams.daily.files import (
    APP_ID_PROPERTY,
    EXPORT_DATE_PROPERTY,
    DailyFileStream,
    Manifest,
    parse_manifest,
)

#: Topics Branch documents for Daily Exports v3 (each gets a `daily_<topic>` stream).
TOPICS = EO_TOPICS
#: Branch keeps a rolling window of this many days before today (UTC).
AVAILABLE_DAYS = 7
PROGRESS = "day_in_progress"

SCHEMA = th.PropertiesList(
    APP_ID_PROPERTY, EXPORT_DATE_PROPERTY, *ontology_properties(), *CATCH_ALL_PROPERTIES
).to_dict()


class DailyV3Stream(DailyFileStream):
    """One `eo_*` topic of Daily Exports v3."""

    family = "daily_export_v3"
    product = "Daily Exports v3"
    url_setting = "api2_url"
    path = "/v3/export"
    primary_keys = ("app_id", "id")
    schema = SCHEMA
    #: Checked when a --state is loaded (`tap_branch.config.state_checks`).
    state_keys: t.ClassVar[dict] = {
        PROGRESS: {
            "type": "object",
            "required": ["day", "files_done"],
            "properties": {
                "day": ISO_MOMENT,
                "files_done": {"type": "array", "items": {"type": "string"}},
            },
        }
    }

    @property
    def url_base(self) -> str:
        return self.config.get("api2_url", "https://api2.branch.io").rstrip("/")

    # --- the per-day answer -------------------------------------------------

    def request_manifest(self, app: BranchApp, day: dt.date) -> Manifest:
        response = self.send(
            "POST",
            self.path,
            what=f"asking for the Daily Exports v3 files of {day} (app {app.app_id})",
            json={"export_date": day.isoformat()},
            auth=BranchKeyAuthenticator(app, location="json"),
        )
        # Every topic comes with its list, empty on a day without data (`walk` checks the
        # stream's own); anything but lists is an error.
        manifest = parse_manifest(
            response, f"the request for the Daily Exports v3 files of {day} (app {app.app_id})"
        )
        self._report_unknown_topics(manifest, day)
        return manifest

    def _report_unknown_topics(self, manifest: Manifest, day: dt.date) -> None:
        seen = self.caches.of(DailyCache).unknown_v3_topics
        for topic, urls in manifest.items():
            if urls and topic not in TOPICS and topic not in seen:
                seen.add(topic)
                self.logger.warning(
                    "Daily Exports v3 lists topic '%s' (first on %s) that this tap has no stream for; "
                    "its files are not read. Please report it so a stream can be added.",
                    topic,
                    day,
                )

    def manifest_is_ready(self, app: BranchApp, manifest: Manifest, day: dt.date) -> bool:
        """Files for some topic: ready. All lists empty: not published yet, unless a later day
        already is (then this day had no data)."""
        if any(manifest.values()):
            return True
        later = day + dt.timedelta(days=1)
        if later > self.last_day():
            return False
        return any(self.manifest(app, later).values())

    # --- days ---------------------------------------------------------------

    def first_day(self, context: dict | None) -> dt.date:
        earliest = clock.today() - dt.timedelta(days=AVAILABLE_DAYS)
        return clamp_to_retention(
            super().first_day(context),
            earliest,
            logger=self.logger,
            where=f"{self.name} (app {context['app_id'] if context else '?'})",
            kept=f"Daily Exports v3 keeps only the last {AVAILABLE_DAYS} days",
            last_lost=earliest - dt.timedelta(days=1),
        )

    def day_complete(self, context: dict | None, day: dt.date) -> Checkpoint:
        done = super().day_complete(context, day)
        return dataclasses.replace(done, entries={PROGRESS: None})

    # --- files --------------------------------------------------------------

    def records_of_file(
        self, context: dict, app: BranchApp, day: dt.date, index: int, url: str
    ) -> t.Iterator[dict | RowBatch | Checkpoint]:
        """The file's records, unless an earlier run read the file already (this day's
        progress says so); then the file is recorded in the progress."""
        state = self.get_context_state(context)
        progress = state.get(PROGRESS) or {}
        done = (
            list(progress.get("files_done") or []) if progress.get("day") == day.isoformat() else []
        )
        if done and index not in files_to_read(self.manifest(app, day)[self.kind], done):
            self.logger.info(
                "%s: %s was read before this run stopped; not read again.",
                self.name,
                file_label(url),
            )
            return
        yield from super().records_of_file(context, app, day, index, url)
        # Every row of this file has been emitted: remember it, so a stop before the day's
        # end does not read it again. Not while batch files are written (`ends_unit`): a
        # day's are announced once the day is whole, and discarded if the run stops before,
        # its files read again, so none may be marked read.
        entry = file_done_entry(index, url)
        yield Checkpoint(
            entries={PROGRESS: {"day": day.isoformat(), "files_done": [*done, entry]}},
            ends_unit=False,
        )


def _stream_class(topic: str) -> type[DailyV3Stream]:
    return type(
        f"DailyV3_{topic}",
        (DailyV3Stream,),
        {"name": f"daily_{topic}", "kind": topic, "__doc__": f"Daily Exports v3 topic `{topic}`."},
    )


STREAM_CLASSES = [_stream_class(topic) for topic in TOPICS]


def build_streams(tap) -> list:
    return [cls(tap) for cls in STREAM_CLASSES]
