"""Public API v1: `credit_history`, `credit_balances` and `app_config`.

`base` is the shared per-app, per-identity stream (and how Branch's refusals are read),
`identities` the `credit_identities` setting, `app_config` and `streams` the streams.
"""

from tap_branch.streams.credits.streams import SETTINGS, build_streams

__all__ = ["SETTINGS", "build_streams"]
