"""What a stream family package exports, and all the tap knows of it.

The tap joins the families of `tap_branch.streams.FAMILIES` and never names one: adding a
family is its package and one line there. Each package's `__init__` exports:

- `SETTINGS`: its config properties (joined into the tap's settings schema);
- `build_streams(tap)`: its stream instances;
- `Cache`: the dataclass its streams share for one run (`RunCaches.of(Cache)`);
- `check_settings(config, streams)`: the checks of its settings that its selected `streams`
  need before any request, beyond their credentials (each stream's `credentials`, checked by
  the tap), raising a config error naming the setting;
- `probes(tap, streams, *, first_run)` and `idle_reasons(tap, streams)`: what it tells the
  connection test (`tap_branch.config.probes`).
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_branch.config.probes import Probe


@t.runtime_checkable
class Family(t.Protocol):
    """A stream family package (`tap_branch.streams.FAMILIES`)."""

    SETTINGS: list
    Cache: type

    def build_streams(self, tap: t.Any) -> list[Stream]: ...

    def check_settings(self, config: t.Mapping[str, t.Any], streams: list[Stream]) -> None: ...

    def probes(self, tap: t.Any, streams: list[Stream], *, first_run: bool) -> list[Probe]: ...

    def idle_reasons(self, tap: t.Any, streams: list[Stream]) -> list[str]: ...
