"""Date windows of Branch's aggregate jobs, shared by the families that run them (cohorts,
Aggregate Exports): a window whose result reached the row cap is asked again in halves."""

from __future__ import annotations

import datetime as dt


def halves(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end] (both included) cut in two: the first half the longer by a day when odd."""
    middle = start + dt.timedelta(days=(end - start).days // 2)
    return [(start, middle), (middle + dt.timedelta(days=1), end)]
