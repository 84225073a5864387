"""Public API v1: `credit_history`, `credit_balances` and `app_config`.

`base` is the shared per-app, per-identity stream (and how Branch's refusals are read),
`identities` the `credit_identities` setting, `app_config` and `streams` the streams.
"""

from __future__ import annotations

from tap_branch.config.probes import Probe
from tap_branch.streams.credits.app_config import AppConfigStream
from tap_branch.streams.credits.base import PublicApiStream
from tap_branch.streams.credits.cache import CreditsCache as Cache
from tap_branch.streams.credits.identities import SETTING as IDENTITIES_SETTING
from tap_branch.streams.credits.identities import configured_identities
from tap_branch.streams.credits.streams import SETTINGS, build_streams

__all__ = ["SETTINGS", "Cache", "build_streams", "check_settings", "idle_reasons", "probes"]


def check_settings(config, streams: list) -> None:
    """Setting 'credit_identities', when a credit stream is selected: a list, or a file that
    can be read (empty is no error: `idle_reasons` says so)."""
    if any(isinstance(s, PublicApiStream) for s in streams):
        configured_identities(config)


def probes(tap, streams: list, *, first_run: bool) -> list[Probe]:
    """`app_config`'s read of its first app, when it is selected. The credit streams read
    by `branch_key` alone, per identity: their first read is their check."""
    found = []
    for stream in streams:
        if isinstance(stream, AppConfigStream):
            probe = stream.probe()
            if probe is not None:
                found.append(probe)
    return found


def idle_reasons(tap, streams: list) -> list[str]:
    """The credit streams selected while setting 'credit_identities' lists no identity."""
    credit = sorted(s.name for s in streams if isinstance(s, PublicApiStream))
    if credit and not configured_identities(tap.config):
        return [
            f"{', '.join(credit)}: setting '{IDENTITIES_SETTING}' lists no identities, so there "
            "is no one to read credits of (set it, or deselect these streams)"
        ]
    return []
