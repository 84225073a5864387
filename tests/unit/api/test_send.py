"""The one request sender (`BranchStream.send`): its requests are in the SDK's request metrics,
and an error it raises says what was being asked."""

from __future__ import annotations

import json
import logging
import typing as t

from singer_sdk import metrics

from tests.support.sandbox import days_back
from tests.support.tap_runner import run_tap


class _Points(logging.Handler):
    """The metric points the SDK logs (`METRIC: {json}` lines of its metrics logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.points: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("METRIC: "):
            self.points.append(json.loads(message[len("METRIC: ") :]))


def _metrics_of(run: t.Callable[[], t.Any]) -> list[dict]:
    handler = _Points()
    logger = metrics.get_metrics_logger()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        run()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return handler.points


def test_requests_sent_by_the_tap_itself_are_counted_and_timed(sandbox, base_config):
    config = {**base_config, "start_date": days_back(3)[0].isoformat()}
    points = _metrics_of(lambda: run_tap(config, select=["links"]))
    sent = [r for r in sandbox.requests_log() if r["path"].startswith("/v1/export/")]
    assert len(sent) == 3  # one per day: the three days before today
    of_links = [p for p in points if p["tags"].get("stream") == "links"]
    counted = [p for p in of_links if p["metric"] == "http_request_count"]
    timed = [p for p in of_links if p["metric"] == "http_request_duration"]
    assert sum(p["value"] for p in counted) == len(sent)
    assert len(timed) == len(sent)
    assert {p["tags"]["http_status_code"] for p in timed} == {200}


def test_a_refused_request_fails_naming_what_was_asked(sandbox, base_config):
    config = {**base_config, "branch_secret": "secret_live_wrong"}
    run = run_tap(config, select=["events"], expect_error=True)
    message = str(run.error)
    assert message.startswith("events: asking for the daily export files of ")
    assert "Authentication failed" in message
    assert "secret_live_wrong" not in message
