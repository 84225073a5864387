"""Sandbox: the event-level exports, Daily Exports v3 (`daily_v3`) and Custom Exports (`custom_exports`)."""

from __future__ import annotations

from tap_branch_sandbox import custom_exports, daily_v3
from tap_branch_sandbox.server import Sandbox


def register(sandbox: Sandbox) -> None:
    daily_v3.register(sandbox)
    custom_exports.register(sandbox)
