"""What the daily streams of one run share (`RunCaches.of(DailyCache)`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

#: A day's answer: its file URLs by kind (v1: the stream; v3: the topic).
Manifest = t.Mapping[str, t.Sequence[str]]


@dataclasses.dataclass
class DailyCache:
    #: A day's file lists by (API, app id, day): the SDK syncs one stream after another, and
    #: every stream of an API walks the same days (`DailyFileStream.manifest`).
    manifests: dict[tuple[str, str, dt.date], Manifest] = dataclasses.field(default_factory=dict)
    #: GET /v1/export answered 404 or 405: the documented POST form from then on.
    use_post: bool = False
    #: Daily Exports v3 topics without a stream, warned about once a run.
    unknown_v3_topics: set[str] = dataclasses.field(default_factory=set)
