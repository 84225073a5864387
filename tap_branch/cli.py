"""The `tap-branch` command: the SDK's CLI (`TapBranch.cli`), without the garbage collector's
work on objects that live until the process ends.

Importing the tap builds ~100k objects (the SDK, jsonschema, pyarrow, the tap's schemas)
that stay alive until exit. Python's cyclic collector scans them again and again during
the imports (~70 ms on 2 shared cores, finding next to nothing: imports make little
garbage) and once more while the interpreter shuts down (~120 ms, to free memory the
process gives back anyway). Frozen (`gc.freeze`), they are left out of every later
collection; records and other short-lived objects are collected as usual.
"""

from __future__ import annotations

import atexit
import gc


def main() -> None:
    # Registered before the tap's own handlers, so it runs after them (atexit runs in
    # reverse): whatever is alive then is left to the end of the process, not scanned.
    atexit.register(gc.freeze)
    gc.disable()
    try:
        from tap_branch.output.progress import quiet_metrics
        from tap_branch.tap import TapBranch
    finally:
        gc.freeze()
        gc.enable()
    quiet_metrics()  # METRIC lines are for machines: not on the console by default
    TapBranch.cli()
