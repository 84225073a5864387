"""Custom Exports: the last hour Branch has finished loading (`POST /v2/data/ready`).

Data lands 2-6 hours late; walking back hour by hour from now, the first ready hour ends the
run's work, so the bookmark never passes events that have not landed yet. Branch documents
the check for the `eo_*` event topics only (`READINESS_TOPICS`): other report types are not
asked, and are taken as complete up to `custom_exports_assumed_delay_hours` ago.
"""

from __future__ import annotations

import datetime as dt

from singer_sdk.exceptions import FatalAPIError

from tap_branch import clock
from tap_branch.errors import branch_error_message, describe_response, json_answer
from tap_branch.records.schemas.event_topics import READINESS_TOPICS
from tap_branch.streams.custom_exports.cache import CustomExportsCache

_UTC = dt.timezone.utc
_HOUR = dt.timedelta(hours=1)


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def branch_time(moment: dt.datetime) -> str:
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ReadinessChecks:
    """Mixed into `CustomExportStream`: readiness of the hours of one app and report type."""

    def last_ready_end(
        self, app_id: str, start: dt.datetime, limit: dt.datetime
    ) -> dt.datetime | None:
        """The end of the last hour Branch has finished loading (after `start`), at most `limit`."""
        if self.report_type not in READINESS_TOPICS:
            self._note_readiness_unknown("it is documented for the eo_* event topics only")
            return self._assumed_ready_end(limit)
        hour = floor_hour(min(limit, clock.now())) - _HOUR  # the last hour that has ended
        checks = int(self.config.get("custom_exports_ready_max_checks") or 48)
        while hour >= floor_hour(start) and checks > 0:
            checks -= 1
            ready = self.hour_is_ready(app_id, hour)
            if ready is None:
                return self._assumed_ready_end(limit)
            if ready:
                return min(limit, hour + _HOUR)
            hour -= _HOUR
        return None

    def hour_is_ready(self, app_id: str, hour: dt.datetime) -> bool | None:
        """Branch's readiness of one hour; None when it does not know this report type."""
        body = {
            "date": hour.strftime("%Y-%m-%d %H:%M:%S"),
            "warehouse_meta_type": "EVENT",
            "topic": self.report_type,
            "app_id": int(app_id) if app_id.isdigit() else app_id,
        }
        what = f"checking whether Branch has finished {hour:%Y-%m-%d %H}:00 (app {app_id})"
        response = self.send(
            "POST",
            "/v2/data/ready",
            what=what,
            params={"app_id": app_id},
            json=body,
            # A 400 about the topic: Branch does not know it. One about the token is an error.
            tolerate=lambda r: r.status_code == 400 and not self.refuses_token(r),
        )
        if response.status_code == 400:
            self._note_readiness_unknown(str(branch_error_message(response) or 400))
            return None
        ready = json_answer(response, what).get("data_ready")
        if not isinstance(ready, bool):
            # "false" as text, or no data_ready at all, must not read as ready (or as never ready).
            raise FatalAPIError(
                f"{self.name}: Branch's answer to {what} has no JSON boolean 'data_ready': "
                f"{describe_response(response)}"
            )
        return ready

    def _assumed_ready_end(self, limit: dt.datetime) -> dt.datetime:
        delay = float(self.config.get("custom_exports_assumed_delay_hours", 6))
        return min(limit, floor_hour(clock.now() - dt.timedelta(hours=delay)))

    def _note_readiness_unknown(self, why: str) -> None:
        """Once a run per report type: its data is taken as complete up to the assumed delay."""
        seen = self.caches.of(CustomExportsCache).ready_unknown
        if self.report_type in seen:
            return
        seen.add(self.report_type)
        self.logger.warning(
            "%s: Branch's readiness check does not know report type '%s' (%s); taking data "
            "as complete up to %s hours ago (setting custom_exports_assumed_delay_hours).",
            self.name,
            self.report_type,
            why,
            self.config.get("custom_exports_assumed_delay_hours", 6),
        )
