"""The connection test: each selected family's own cheap, read-only probe of its credentials.

`tap-branch --test` and `tap-branch-airbyte check` run it (`test_connection`), and so does the
start of a sync for the families without bookmarks (`test_credentials_of_selected_streams`: a
first run, `meltano config test`, which calls the config valid at the first record, which a
family that does not use a wrong credential would send). What each family asks is its own
business (`tap_branch.config.probes`): this module knows no family, stream or endpoint by name.

An answer is read in one way (`verdict`):
- Branch refuses the credential (401, or its auth message: "Authentication failed !"): a config
  error naming the setting, with Branch's answer;
- a 403/404/410 without an auth message: this account lacks the family's product. That family
  only is reported (`Unavailable`, naming the product and how to run without it), the others
  go on;
- anything else (a 5xx or a timeout after the retries every request gets, a body that is not
  what Branch documents, an error object sent with 200): a `BranchFault` saying what came
  back and from where. It is not the settings' fault, and is never reported as such.
"""

from __future__ import annotations

import dataclasses
import typing as t

import requests
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from tap_branch import streams as families
from tap_branch.config.errors import invalid_setting
from tap_branch.errors import (
    NoAnswerError,
    RateLimitTooLongError,
    RequestRejected,
    refuses_credentials,
)
from tap_branch.redaction import redact, strip_queries_in_text

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap  # the SDK's Tap: tap.py imports this module

    from tap_branch.config.probes import Probe
    from tap_branch.streams.family import Family


class BranchFault(Exception):
    """Branch (or what stands between) answered the connection test with something that says
    nothing about the settings: a server error, a timeout, an undocumented body."""


@dataclasses.dataclass(frozen=True)
class Unavailable:
    """A family's product this account lacks (its probe's 403/404/410 without auth words)."""

    probe: Probe
    answer: str

    def __str__(self) -> str:
        return (
            f"{self.probe.product} is not available to this account (or to the user of "
            f"{self.probe.setting}): Branch answered the request for {self.probe.asks} with "
            f"{self.answer}. To run without it, {self.probe.avoid}."
        )


@dataclasses.dataclass
class Outcome:
    """What the connection test found: lines on what Branch accepted, the families' products
    this account lacks, and why selected streams will emit nothing."""

    accepted: list[str] = dataclasses.field(default_factory=list)
    unavailable: list[Unavailable] = dataclasses.field(default_factory=list)
    idle: list[str] = dataclasses.field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [
            *self.accepted,
            *(f"not run: {gone}" for gone in self.unavailable),
            *(f"will emit nothing: {why}" for why in self.idle),
        ]


def selected_families(tap: Tap) -> list[tuple[Family, list[Stream]]]:
    """Each family with its selected streams (a family's streams: those of a class its
    package defines, or derived from one)."""
    found = []
    for family in families.FAMILIES:
        prefix = family.__name__ + "."
        streams = [
            stream
            for stream in tap.streams.values()
            if (stream.selected or stream.has_selected_descendents)
            and any(cls.__module__.startswith(prefix) for cls in type(stream).__mro__)
        ]
        if streams:
            found.append((family, streams))
    return found


def test_connection(tap: Tap) -> Outcome:
    """`--test`: the probes of every family with streams selected by default (`--test` runs
    before a `--catalog` is read), each with the credentials it is configured with.

    Raises a config error naming the setting of the first credential Branch refuses, and
    one when no credential was tried at all; a `BranchFault` for any other failure.
    """
    outcome = _run(tap, first_run=False)
    if not outcome.accepted and not outcome.unavailable:
        raise invalid_setting(
            "No credential to test: set 'branch_key' and 'branch_secret' (or 'apps'), and/or "
            "'access_token' with 'app_id'."
        )
    return outcome


def test_credentials_of_selected_streams(tap: Tap) -> Outcome:
    """The start of a sync without input state: the probes of the selected families, before
    any record, so that a wrong credential fails the run (and `meltano config test`) naming
    its setting before an export job. A probe reuses the answer its stream asks first anyway
    (the first day's file list, the subscriptions), so a right credential costs no request.

    Only the families without a bookmark in the input state are asked (their first run: a
    family just added to the selection too); the others' credentials worked before, and their
    first request is their check. A family whose product this account lacks is in
    `unavailable`: the caller runs the others.
    """
    bookmarks = (tap.state or {}).get("bookmarks") or {}
    return _run(tap, first_run=True, bookmarked=lambda name: bool(bookmarks.get(name)))


def _run(
    tap: Tap, *, first_run: bool, bookmarked: t.Callable[[str], bool] = lambda name: False
) -> Outcome:
    outcome = Outcome()
    for family, streams in selected_families(tap):
        if any(bookmarked(stream.name) for stream in streams):
            continue
        outcome.idle += family.idle_reasons(tap, streams)
        for probe in family.probes(tap, streams, first_run=first_run):
            if any(probe.product == gone.probe.product for gone in outcome.unavailable):
                continue
            found = verdict(probe)
            if isinstance(found, Unavailable):
                outcome.unavailable.append(found)
            else:
                outcome.accepted.append(found)
    return outcome


def verdict(probe: Probe) -> str | Unavailable:
    """Run one probe: a line on what Branch accepted, or the product this account lacks.
    A refused credential raises a config error naming its setting; anything else that is
    not an accepted answer raises a `BranchFault`."""
    try:
        note = probe.call()
    except (ConfigValidationError, RateLimitTooLongError):
        raise  # they name their setting; a rate limit says nothing about the credential
    except RequestRejected as exc:
        if refuses_credentials(exc.status, exc.detail, asked=probe.asked):
            # the stream's own message (what was asked, Branch's answer) first, then the setting
            raise invalid_setting(
                f"{exc} Branch refused the credential asking for {probe.asks}: check "
                f"{probe.setting}."
            ) from None
        if exc.status in (403, 404, 410):
            return Unavailable(probe, f"HTTP {exc.status}: {exc.detail}")
        raise _fault(probe, exc, f"a refusal that names no credential, HTTP {exc.status}") from None
    except (requests.Timeout, requests.ConnectionError, NoAnswerError) as exc:
        # `send` and the SDK's loop raise NoAnswerError once their tries are spent
        if isinstance(exc, requests.Timeout) or getattr(exc, "timed_out", False):
            raise _fault(probe, exc, "no answer in time (setting 'request_timeout')") from None
        # nothing answers at that address: the URL setting is what to look at
        raise invalid_setting(
            f"Could not reach Branch for {probe.asks} (check setting '{probe.url_setting}'; "
            f"retries exhausted): {_shown(exc)}"
        ) from None
    except (FatalAPIError, RetriableAPIError, requests.RequestException) as exc:
        raise _fault(probe, exc) from None
    if note:
        return f"{probe.credential}: not verified ({note})"
    return f"{probe.credential}: accepted ({probe.asks})"


def _fault(probe: Probe, exc: Exception, what: str | None = None) -> BranchFault:
    request = getattr(exc, "request", None)  # a requests error's; a FatalAPIError names its URL
    url = getattr(request, "url", None)
    where = f" from {redact(strip_queries_in_text(url))}" if url else ""
    return BranchFault(
        f"Branch's answer to the request for {probe.asks} is not one Branch documents, after "
        f"the retries every request gets ({what or 'a server error or an unexpected body'}); "
        f"the run stops without reading anything. What came back{where}: {_shown(exc)}"
    )


def _shown(exc: Exception) -> str:
    """An exception's text without URL queries (credentials, signatures) or secrets."""
    return redact(strip_queries_in_text(str(exc)))
