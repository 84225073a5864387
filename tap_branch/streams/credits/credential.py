"""`app_config`'s credential: Branch's App API takes an app's key and secret, or (the older
form) an explicit app id with the dashboard user id."""

from __future__ import annotations

import typing as t

from tap_branch.config.apps import configured_apps
from tap_branch.config.credentials import Credential, stream_list
from tap_branch.config.errors import invalid_setting


def _key_and_secret_or_user(config: t.Mapping[str, t.Any], stream_names: t.Sequence[str]) -> None:
    apps = config.get("apps") or []
    # The `apps` entries' app_ids win over the flat one.
    with_secret = any(app.branch_secret for app in configured_apps(config))
    app_ids = any(app.get("app_id") for app in apps) if apps else config.get("app_id")
    if not with_secret and not (config.get("user_id") and app_ids):
        raise invalid_setting(
            f"Streams {stream_list(stream_names)} need 'branch_key' and 'branch_secret' (or "
            "'apps' entries with both), or 'user_id' (the Branch dashboard user id) with 'app_id'."
        )


#: A key and secret, or the dashboard `user_id` with app ids.
APP_CONFIG = Credential(
    "key and secret, or user id with app",
    ("user_id", "app_id"),
    _key_and_secret_or_user,
    instead=("branch_key", "branch_secret", "apps"),
)
