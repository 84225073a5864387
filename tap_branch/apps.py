"""The Branch apps a tap instance reads: flat settings or the `apps` list."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass


@dataclass(frozen=True)
class BranchApp:
    """One Branch app's v1 credentials.

    `app_id` is the partition key of every v1 stream. With the flat settings and
    no `app_id`, the (public) branch_key stands in for it.
    """

    app_id: str
    branch_key: str
    branch_secret: str = ""

    def __repr__(self) -> str:  # never print the secret
        return f"BranchApp(app_id={self.app_id!r}, branch_key={self.branch_key!r})"


def configured_apps(config: t.Mapping[str, t.Any]) -> list[BranchApp]:
    """All apps of the config, in the order given; empty when no v1 credentials are set."""
    apps = config.get("apps") or []
    if apps:
        return [
            BranchApp(
                app_id=str(app.get("app_id") or app["branch_key"]),
                branch_key=app["branch_key"],
                branch_secret=app.get("branch_secret") or "",
            )
            for app in apps
        ]
    if config.get("branch_key"):
        return [
            BranchApp(
                app_id=str(config.get("app_id") or config["branch_key"]),
                branch_key=config["branch_key"],
                branch_secret=config.get("branch_secret") or "",
            )
        ]
    return []


def app_partitions(config: t.Mapping[str, t.Any]) -> list[dict]:
    """State partitions of a per-app stream: one `{"app_id": ...}` per app."""
    return [{"app_id": app.app_id} for app in configured_apps(config)]


def find_app(config: t.Mapping[str, t.Any], app_id: str) -> BranchApp:
    for app in configured_apps(config):
        if app.app_id == app_id:
            return app
    raise KeyError(f"no configured Branch app with app_id {app_id!r}")
