"""SIGTERM (a scheduler cancelling the run, `docker stop`) ends a run the way a failure does:
the batch files of the day being read, not announced, are deleted instead of left in the
storage, the state stays behind that day, and the tap says why it stopped (status 143)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.support import TAP
from tests.support.sandbox import days_back
from tests.support.tap_runner import select_only


def _catalog_of(config: Path, stream: str, tmp_path: Path) -> Path:
    discovered = subprocess.run(
        [TAP, "--config", str(config), "--discover"], capture_output=True, check=True
    )
    catalog = select_only(json.loads(discovered.stdout), (stream,))
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def test_sigterm_mid_day_deletes_the_days_files_and_says_so(sandbox, base_config, tmp_path):
    storage = tmp_path / "batches"
    first_day = days_back(3)[0]
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                **base_config,
                "start_date": first_day.isoformat(),
                "batch_config": {
                    "encoding": {"format": "jsonl", "compression": "gzip"},
                    "storage": {"root": storage.as_uri()},
                },
            }
        )
    )
    catalog = _catalog_of(config, "links", tmp_path)
    sandbox.options(daily_rows={"links": 40}, daily_rows_per_file=20)
    # The first day's second file answers after 20 s: the run is then inside that day, its
    # first file written into a batch file that is not announced.
    sandbox.fault(kind="slow", path=f"/{first_day.isoformat()}/links/1-", delay=20, times=1)
    out = tmp_path / "out.jsonl"
    with out.open("wb") as stdout:
        tap = subprocess.Popen(
            [TAP, "--config", str(config), "--catalog", str(catalog)],
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while not (storage.is_dir() and any(storage.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(storage.iterdir()), "the first file never reached a batch file"
        tap.send_signal(signal.SIGTERM)
        _, errors = tap.communicate(timeout=15)
    log = errors.decode()
    assert tap.returncode == 128 + signal.SIGTERM, log
    assert "Stopped by SIGTERM before the end of the run" in log
    assert "Traceback" not in log
    messages = [json.loads(line) for line in out.read_text().splitlines()]
    assert not [m for m in messages if m["type"] == "BATCH"]
    assert list(storage.iterdir()) == []  # the day's file: deleted, not left behind
    assert first_day.isoformat() not in json.dumps([m for m in messages if m["type"] == "STATE"])
