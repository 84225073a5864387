"""Benchmark: the Airbyte path (`tap-branch-airbyte read`) against the Singer path (`tap-branch`)
on the daily-events workload of `bench_daily_events.py`, in the same run.

    python benchmarks/bench_airbyte.py [--rows 300000] [--rows-per-file 150000] [--repeat 2]

The sandbox and its large events day come from `bench_daily_events` (imported, not copied);
the day's files are read once first, so neither side pays for generating them. Then, alternating,
each side syncs only `events` for that day with stdout to a file, and its RECORD lines are
counted. It prints rows/s of each, the Airbyte/Singer time ratio (target <= 1.3x) and both peak
RSS. Figures, not a pass/fail: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile

from bench_daily_events import (
    export_urls,
    floor,
    free_port,
    run_counting_records,
    start_sandbox,
    write_config,
)
from bench_daily_events import tap as singer_tap


def airbyte_tap(base: str, day: dt.date, workdir: str) -> tuple[int, float, float]:
    """(rows, seconds, peak RSS in MB) of one `tap-branch-airbyte read` of `events` for `day`."""
    command = [sys.executable, "-m", "tap_branch.airbyte.cli"]
    config_path = write_config(base, day, workdir)
    discovered = subprocess.run(
        [*command, "discover", "--config", config_path], capture_output=True, check=True, text=True
    ).stdout
    catalog = next(
        json.loads(line)["catalog"]
        for line in discovered.splitlines()
        if line.startswith('{"type":"CATALOG"')
    )
    events = next(s for s in catalog["streams"] if s["name"] == "events")
    configured = {
        "streams": [
            {"stream": events, "sync_mode": "incremental", "destination_sync_mode": "append"}
        ]
    }
    catalog_path = os.path.join(workdir, "configured_catalog.json")
    with open(catalog_path, "w") as handle:
        json.dump(configured, handle)
    return run_counting_records(
        [*command, "read", "--config", config_path, "--catalog", catalog_path],
        os.path.join(workdir, "airbyte.jsonl"),
        "tap-branch-airbyte",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=300_000, help="events rows in the day")
    parser.add_argument("--rows-per-file", type=int, default=150_000, help="rows per csv.gz file")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side; the best counts")
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(port, args.rows, args.rows_per_file)
    try:
        day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=2)
        print(f"day {day}: generating {args.rows} events rows in the sandbox...", flush=True)
        floor(export_urls(base, day))  # materialises the files in the sandbox's cache
        best = {"singer": float("inf"), "airbyte": float("inf")}
        rows: dict[str, int] = {}
        rss = {"singer": 0.0, "airbyte": 0.0}
        for _ in range(args.repeat):
            for side, run in (("singer", singer_tap), ("airbyte", airbyte_tap)):
                with tempfile.TemporaryDirectory() as workdir:
                    count, seconds, peak = run(base, day, workdir)
                rows[side] = count
                best[side] = min(best[side], seconds)
                rss[side] = max(rss[side], peak)
                print(f"  {side}: {count} rows in {seconds:.2f} s", flush=True)
        if rows["singer"] != rows["airbyte"]:
            raise SystemExit(f"row counts differ: {rows}")
        for side, name in (("singer", "tap-branch"), ("airbyte", "tap-branch-airbyte")):
            print(
                f"{name}: {rows[side]} rows in {best[side]:.2f} s = "
                f"{rows[side] / best[side]:,.0f} rows/s, peak RSS {rss[side]:.0f} MB "
                "(process start included)"
            )
        print(f"ratio airbyte/singer: {best['airbyte'] / best['singer']:.2f}x (target <= 1.3x)")
    finally:
        sandbox.terminate()
        sandbox.wait(10)


if __name__ == "__main__":
    main()
