"""Event-level exports: Daily Exports v3 (`daily_eo_*`) and Custom Exports (`custom_*`).

Both carry Branch's event ontology (`tap_branch/schemas/ontology.py`); each API lives in its
own module.
"""

from __future__ import annotations

from tap_branch.streams import custom_exports, daily_exports_v3

SETTINGS = [*custom_exports.SETTINGS]


def build_streams(tap) -> list:
    return [*daily_exports_v3.build_streams(tap), *custom_exports.build_streams(tap)]
