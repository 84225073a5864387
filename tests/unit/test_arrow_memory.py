"""pyarrow's allocator options: read once, when pyarrow loads, so set before any import of it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_pyarrow_loads_with_the_taps_allocator_options():
    # Whichever module of the tap imports pyarrow first (a relayout once made it one that
    # did not set them), jemalloc must find the options set: they are worth ~20 MB of RSS.
    code = textwrap.dedent(
        """
        import os, sys
        seen = []
        def hook(event, args):
            if event == "import" and args[0] == "pyarrow" and not seen:
                seen.append(os.environ.get("JE_ARROW_MALLOC_CONF"))
        sys.addaudithook(hook)
        import tap_branch.tap
        print(seen[0])
        """
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("JE_ARROW_MALLOC_CONF", "ARROW_DEFAULT_MEMORY_POOL")
    }
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["narenas:1,tcache:false,muzzy_decay_ms:0"]
