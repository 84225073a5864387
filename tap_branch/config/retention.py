"""What Branch no longer keeps: a start before it is moved up, with a warning naming the loss.

Daily Exports v3 keeps the last 7 days, Custom Exports reach back 120 days, a scheduled
export's files live 7 days. A start (`start_date`, or a bookmark where the family allows)
before that would fail every run on answers that can never come: the stream starts at the
first moment Branch still keeps, and one warning names the period that cannot be fetched.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    import logging

_Moment = t.TypeVar("_Moment")


def clamp_to_retention(
    wanted: _Moment,
    earliest: _Moment,
    *,
    logger: logging.Logger,
    where: str,
    kept: str,
    last_lost: _Moment | None = None,
    show: t.Callable[[_Moment], str] = str,
) -> _Moment:
    """`wanted`, or `earliest` (the first day or moment Branch still keeps) when it is later,
    with a warning: `where` names the stream and partition, `kept` what Branch keeps,
    `last_lost` the end of the lost period when not `earliest` itself (the day before it)."""
    if wanted >= earliest:  # type: ignore[operator]
        return wanted
    logger.warning(
        "%s: %s; the period %s to %s can no longer be fetched and is skipped. Starting at %s.",
        where,
        kept,
        show(wanted),
        show(earliest if last_lost is None else last_lost),
        show(earliest),
    )
    return earliest
