"""What a stream family tells the connection test (`tap_branch.config.connection`), and nothing more.

Every family package in `tap_branch/streams/` exports, beside what else the tap asks of it
(`tap_branch.streams.family.Family`):

- `probes(tap, streams, *, first_run)`: the cheapest read-only calls of its own API that try
  the credentials its selected `streams` use (`first_run`: the start of a sync without
  state, where a probe reuses the answer the stream asks first anyway; else `--test`).
  A family with no such call (cohort: only job creation) returns none: its first real call
  is the check.
- `idle_reasons(tap, streams)`: why selected streams will emit nothing with these settings
  (e.g. `credit_*` without `credit_identities`), one line each.

The connection test knows no family, stream or endpoint by name: it asks every family with
selected streams, and reads each answer (`connection.verdict`).
"""

from __future__ import annotations

import dataclasses
import typing as t

if t.TYPE_CHECKING:
    from singer_sdk import Stream


@dataclasses.dataclass(frozen=True)
class Probe:
    """One read-only call that tries one credential.

    `call` returns None when Branch accepted the credential, or a note when it answered
    without telling (e.g. no app config for that app: "not verified", the stream warned why).
    """

    #: The credential tried, as the user knows it: "access_token", "user_id", ...
    credential: str
    #: Where the user fixes it when Branch refuses it: "setting 'access_token'".
    setting: str
    #: What is asked: "the scheduled export subscriptions of app 123".
    asks: str
    call: t.Callable[[], str | None]
    #: The product this call belongs to: a 403/404/410 without an auth message says this
    #: account lacks it ("Scheduled Log Exports").
    product: str
    #: How to run without the product: "deselect the streams scheduled_export_jobs, ...".
    avoid: str
    #: The family's selected streams, which go when the account lacks the product.
    streams: tuple[Stream, ...] = ()
    #: What the request quotes back that is the user's, not Branch's (an app id, an identity):
    #: cut from Branch's text before it is read for auth words.
    asked: str | None = None
    #: The setting of the host asked, named when nothing answers there.
    url_setting: str = "api_url"


def deselect_advice(streams: t.Iterable[Stream]) -> str:
    """ "deselect the streams a, b": how to run without a family's product."""
    return "deselect the streams " + ", ".join(sorted(s.name for s in streams))
