"""The kinds of Branch credentials a stream can need, as objects.

A stream declares `credentials = <Credential>`; before any request the tap checks each kind
the selected streams need, once for all the streams needing it (`Credential.check`), and an
error names the settings to set. A family with a rule of its own declares its own
`Credential` in its package (`app_config`'s, in `tap_branch.streams.credits`).

`name` and `settings` say, for people (docs, the README's table), what a kind asks for:
`settings` the settings it is given by, `instead` those that can stand in for them (`apps`).
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_branch.config.apps import configured_apps, v2_app_ids
from tap_branch.config.errors import invalid_setting

#: A kind's check: the config and the names of the selected streams needing it; raises a
#: config error naming the settings to set.
Check = t.Callable[[t.Mapping[str, t.Any], t.Sequence[str]], None]


@dataclasses.dataclass(frozen=True, eq=False)
class Credential:
    """One kind of Branch credential (compared by identity: one object per kind).

    `check(config, stream_names)` fails before syncing when the settings lack it."""

    name: str
    settings: tuple[str, ...]
    check: Check
    instead: tuple[str, ...] = ()


def stream_list(stream_names: t.Sequence[str]) -> str:
    return ", ".join(sorted(stream_names))


def _key_and_secret(config: t.Mapping[str, t.Any], stream_names: t.Sequence[str]) -> None:
    names = stream_list(stream_names)
    apps = configured_apps(config)
    if not apps:
        raise invalid_setting(
            f"Streams {names} need Branch app credentials: set 'branch_key' and 'branch_secret' "
            "(or the 'apps' list)."
        )
    for app in apps:
        if not app.branch_secret:
            where = (
                "'apps' entry for app " + app.app_id if config.get("apps") else "'branch_secret'"
            )
            raise invalid_setting(f"Streams {names} need the Branch secret: set {where}.")


def _key_only(config: t.Mapping[str, t.Any], stream_names: t.Sequence[str]) -> None:
    if not configured_apps(config):
        raise invalid_setting(
            f"Streams {stream_list(stream_names)} need a Branch key: set 'branch_key' (or the "
            "'apps' list)."
        )


def _access_token(config: t.Mapping[str, t.Any], stream_names: t.Sequence[str]) -> None:
    if not config.get("access_token"):
        raise invalid_setting(
            f"Streams {stream_list(stream_names)} need setting 'access_token' (Branch API access "
            "token)."
        )


def _access_token_with_app(config: t.Mapping[str, t.Any], stream_names: t.Sequence[str]) -> None:
    _access_token(config, stream_names)
    if not v2_app_ids(config, stream_names):
        raise invalid_setting(f"Streams {stream_list(stream_names)} need setting 'app_id'.")


#: The v1 reads of files and reports: each app's key and secret.
KEY_AND_SECRET = Credential(
    "key and secret", ("branch_key", "branch_secret"), _key_and_secret, instead=("apps",)
)
#: Reads that send the public key only (a secret not sent cannot leak: not required either).
KEY_ONLY = Credential("key only", ("branch_key",), _key_only, instead=("apps",))
#: The v2 APIs asked per organization or app (cohorts): the access token.
ACCESS_TOKEN = Credential("access token", ("access_token",), _access_token)
#: The v2 APIs asked per app: the access token and the apps' ids.
ACCESS_TOKEN_WITH_APP = Credential(
    "access token with app", ("access_token", "app_id"), _access_token_with_app, instead=("apps",)
)
