"""A target that stops reading (it failed, or was stopped) closes the tap's stdout: the tap
ends with status 1 and says so, instead of click's silent exit after the SDK's "An unhandled
error occurred"."""

from __future__ import annotations

import json
import subprocess

from tests.support import TAP


def test_a_target_that_stops_reading_is_named(sandbox, base_config, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(base_config))
    tap = subprocess.Popen(
        [TAP, "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert tap.stdout.readline().startswith(b"{")  # the tap writes its messages
    tap.stdout.close()  # and the target stops reading them
    _, errors = tap.communicate(timeout=300)
    log = errors.decode()
    assert tap.returncode == 1, log
    assert "The tap's output (stdout) was closed while it was written" in log
    assert "Traceback" not in log and "Exception ignored" not in log
