"""Which Branch apps a run reads: the one resolver every stream family asks.

The rule (docs/getting-started/real-account.md, "Several Branch apps"):
- The apps are the `apps` entries, or else one app made of the flat `branch_key`,
  `branch_secret` and `app_id`. With `apps` the flat settings describe no further app: a flat
  `app_id` or `branch_key` must name one of the entries (it is a contradiction otherwise).
- v1 streams (daily exports, Daily Exports v3, credits) read every app that has a
  `branch_key`; their state and records carry the app's `app_id`, or its branch_key when it
  has none (the key is public, the secret never is).
- v2 per-app streams (Custom Exports, scheduled exports, `app_config`) read every app by its
  `app_id`: the v2 APIs know no branch_key, so an app without `app_id` is a config error for
  them.
- Where one app is meant (cohort queries scoped by app, the default app of a
  `scheduled_exports` entry): the flat `app_id`, else the app when there is exactly one.
- Branch's v2 analytics jobs (cohorts, Aggregate Exports) take `organization_id` or `app_id`:
  with `organization_id` set they are asked for the organization (`scope_field`).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_branch.config.errors import invalid_setting


@dataclass(frozen=True)
class BranchApp:
    """One Branch app's v1 credentials.

    `app_id` is the partition key of every v1 stream. With no `app_id` configured, the
    (public) branch_key stands in for it and `has_app_id` is False.
    """

    app_id: str
    branch_key: str
    branch_secret: str = ""
    has_app_id: bool = True

    def __repr__(self) -> str:  # never print the secret
        return f"BranchApp(app_id={self.app_id!r}, branch_key={self.branch_key!r})"


def _app(app_id: t.Any, branch_key: str, branch_secret: t.Any) -> BranchApp:
    return BranchApp(
        app_id=str(app_id or branch_key),
        branch_key=branch_key,
        branch_secret=branch_secret or "",
        has_app_id=bool(app_id),
    )


def configured_apps(config: t.Mapping[str, t.Any]) -> list[BranchApp]:
    """The apps the v1 streams read, in the order given; empty when no branch_key is set."""
    apps = config.get("apps") or []
    if apps:
        return [
            _app(app.get("app_id"), app["branch_key"], app.get("branch_secret")) for app in apps
        ]
    if config.get("branch_key"):
        return [_app(config.get("app_id"), config["branch_key"], config.get("branch_secret"))]
    return []


def secret_setting(config: t.Mapping[str, t.Any], app_id: str) -> str:
    """Where the user fixes an app's `branch_key` + `branch_secret` that Branch refused."""
    if config.get("apps"):
        return f"the 'apps' entry of app {app_id}"
    return "settings 'branch_key' and 'branch_secret'"


def v2_app_ids(config: t.Mapping[str, t.Any], stream_names: t.Sequence[str] = ()) -> list[str]:
    """The app ids the v2 per-app streams read; a config error for an `apps` entry without one."""
    apps = config.get("apps") or []
    if not apps:
        return [str(config["app_id"])] if config.get("app_id") else []
    missing = [app for app in configured_apps(config) if not app.has_app_id]
    if missing:
        streams = (
            f"Streams {', '.join(sorted(stream_names))} read" if stream_names else "v2 streams read"
        )
        raise invalid_setting(
            f"{streams} apps by their app_id (Branch's v2 APIs know no branch_key): set 'app_id' in "
            f"the 'apps' entries with branch_key {', '.join(repr(a.branch_key) for a in missing)}."
        )
    return [app.app_id for app in configured_apps(config)]


def scope_field(config: t.Mapping[str, t.Any]) -> str:
    """Which id Branch's v2 analytics jobs (cohorts, Aggregate Exports) are scoped by: the
    organization when `organization_id` is set, else the app."""
    return "organization_id" if config.get("organization_id") else "app_id"


def default_app_id(config: t.Mapping[str, t.Any]) -> str | None:
    """The one app meant where a single app is asked for: the flat `app_id`, else the only app's."""
    if config.get("app_id"):
        return str(config["app_id"])
    apps = configured_apps(config)
    return apps[0].app_id if len(apps) == 1 and apps[0].has_app_id else None


def check_apps(config: t.Mapping[str, t.Any]) -> None:
    """Config errors for settings that contradict each other about which apps to read: an app
    listed twice (it would share one bookmark), a flat app_id or branch_key naming no entry."""
    apps = configured_apps(config) if config.get("apps") else []
    if not apps:
        return
    first_entry: dict[str, int] = {}
    for number, app in enumerate(apps, start=1):
        if app.app_id in first_entry:
            raise invalid_setting(
                f"Setting 'apps': entries {first_entry[app.app_id]} and {number} have the same "
                f"app_id '{app.app_id}' (an entry without app_id uses its branch_key). "
                "Each app's state is kept under its app_id: give every entry its own."
            )
        first_entry[app.app_id] = number
    app_ids = [app.app_id for app in apps if app.has_app_id]
    if config.get("app_id") and str(config["app_id"]) not in app_ids:
        raise invalid_setting(
            f"Setting 'app_id' ({config['app_id']}) is none of the 'apps' entries' app_id "
            f"({', '.join(app_ids) or 'none set'}): with 'apps', set each app's app_id in its entry "
            "and leave 'app_id' unset (or set it to the entry the cohort streams should query)."
        )
    if config.get("branch_key") and config["branch_key"] not in {app.branch_key for app in apps}:
        raise invalid_setting(
            "Setting 'branch_key' is none of the 'apps' entries' branch_key: with 'apps', set each "
            "app's branch_key and branch_secret in its entry and leave the flat ones unset."
        )


def app_partitions(config: t.Mapping[str, t.Any]) -> list[dict]:
    """State partitions of a per-app v1 stream: one `{"app_id": ...}` per app."""
    return [{"app_id": app.app_id} for app in configured_apps(config)]


def find_app(config: t.Mapping[str, t.Any], app_id: str) -> BranchApp:
    for app in configured_apps(config):
        if app.app_id == app_id:
            return app
    raise KeyError(f"no configured Branch app with app_id {app_id!r}")
