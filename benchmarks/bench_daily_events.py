"""Benchmark: the `events` daily export against a floor pipeline, on the same sandbox files.

    python benchmarks/bench_daily_events.py [--rows 300000 1000000] [--rows-per-file 150000] [--repeat 1]

For each size it starts the sandbox with one large events day, fetches the day's files
once (so the sandbox has them on disk and no side pays for generating them), then
measures, on this machine, in the same run:

- floor: Python gzip + csv.DictReader + orjson-dumped RECORD lines to /dev/null
  (the least a Python tap can do; no typing, no state, no Singer SDK);
- RECORD: `tap-branch` syncing only `events` for that day, stdout to a file;
- BATCH jsonl.gz / jsonl: the same with `batch_config`, the records in batch files
  (gzip, or plain) and BATCH messages on stdout. Parquet is refused for `events`
  (its JSON object fields; see the README), so it is not measured.

It prints rows/s of each, each one's time as a ratio to the floor's, and peak RSS.
Targets (issue 13): RECORD <= 1.2x the floor, BATCH <= 0.5x, peak RSS <= 150 MB on a
1M-row day. Figures, not a pass/fail: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import typing as t

import requests

try:
    import orjson

    def dumps(obj: object) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # the floor is then a little slower than it should be: say so
    orjson = None

    def dumps(obj: object) -> bytes:
        return json.dumps(obj).encode()


KEY, SECRET = "key_live_sandbox", "secret_live_sandbox"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(port: int, rows: int, rows_per_file: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "tap_branch.sandbox.cli",
        "--port",
        str(port),
        "--quiet",
        "--option",
        "daily_rows=" + json.dumps({"links": 0, "link_clicks": 0, "events": rows}),
        "--option",
        f"daily_rows_per_file={rows_per_file}",
        "--option",
        "daily_volume_jitter=0",
    ]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sandbox did not start")


def export_urls(base: str, day: dt.date) -> list[str]:
    response = requests.get(
        f"{base}/v1/export/{KEY}",
        params={"branch_secret": SECRET, "export_date": day.isoformat()},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()["events_export_url"]


def floor(urls: list[str]) -> tuple[int, float]:
    rows = 0
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        for url in urls:
            with requests.get(url, stream=True, timeout=300) as response:
                response.raise_for_status()
                text = io.TextIOWrapper(
                    gzip.GzipFile(fileobj=response.raw), encoding="utf-8", newline=""
                )
                for row in csv.DictReader(text):
                    sink.write(dumps({"type": "RECORD", "stream": "events", "record": row}) + b"\n")
                    rows += 1
    return rows, time.perf_counter() - started


def write_config(base: str, day: dt.date, workdir: str, **extra: t.Any) -> str:
    """The path of a tap config (in `workdir`) reading `day` from the sandbox at `base`;
    `extra` settings that are None are left out."""
    config = {
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "branch_key": KEY,
        "branch_secret": SECRET,
        "api_url": base,
        "api2_url": base,
        **{key: value for key, value in extra.items() if value is not None},
    }
    path = os.path.join(workdir, "config.json")
    with open(path, "w") as handle:
        json.dump(config, handle)
    return path


def tap(
    base: str, day: dt.date, workdir: str, batch_config: dict | None = None
) -> tuple[int, float, float]:
    """(records, seconds, peak RSS in MB) of the tap syncing `events` for `day`; with
    `batch_config`, the records are counted in the batch files (after the clock stops)."""
    config_path = write_config(base, day, workdir, batch_config=batch_config)
    catalog_path = write_events_catalog(config_path, workdir)
    return run_counting_records(
        [
            sys.executable,
            "-m",
            "tap_branch.tap",
            "--config",
            config_path,
            "--catalog",
            catalog_path,
        ],
        os.path.join(workdir, "out.jsonl"),
        "tap-branch",
    )


def write_events_catalog(config_path: str, workdir: str) -> str:
    """The path of a catalog (in `workdir`) selecting only `events`."""
    catalog = json.loads(
        subprocess.run(
            [sys.executable, "-m", "tap_branch.tap", "--config", config_path, "--discover"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == "events"
    catalog_path = os.path.join(workdir, "catalog.json")
    with open(catalog_path, "w") as handle:
        json.dump(catalog, handle)
    return catalog_path


def batch_config_in(workdir: str, compression: str) -> dict:
    root = os.path.join(workdir, "batches")
    os.makedirs(root, exist_ok=True)
    return {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": "file://" + root},
        "batch_size": 100_000,
    }


def run_counting_records(command: list[str], counted: str, name: str) -> tuple[int, float, float]:
    """Run a tap with stdout to `counted`: (RECORD lines, seconds, peak RSS in MB)."""
    started = time.perf_counter()
    with open(counted, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{name} failed (status {status}); its output: {counted}")
    rows = 0
    with open(counted, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"RECORD"'):
                rows += 1
            elif line.startswith(b'{"type":"BATCH"'):
                rows += sum(_lines_in(url) for url in json.loads(line)["manifest"])
    os.remove(counted)
    return rows, elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def _lines_in(url: str) -> int:
    path = url.removeprefix("file://")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        count = sum(1 for _ in handle)
    os.remove(path)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[300_000],
        help="events rows in the day (default 300000)",
    )
    parser.add_argument(
        "--rows-per-file", type=int, default=150_000, help="rows per csv.gz file (default 150000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each side this many times, keep the best"
    )
    args = parser.parse_args()
    for rows in args.rows:
        measure(rows, args.rows_per_file, args.repeat)


PATHS = {
    "RECORD": None,
    "BATCH jsonl.gz": "gzip",
    "BATCH jsonl": "none",
}
TARGETS = {"RECORD": 1.2, "BATCH jsonl.gz": 0.5, "BATCH jsonl": 0.5}


def measure(rows: int, rows_per_file: int, repeat: int) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(port, rows, rows_per_file)
    try:
        day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=2)
        urls = export_urls(base, day)
        print(f"day {day}: {rows} rows in {len(urls)} events files; generating them...", flush=True)
        floor(urls)  # also materialises the files in the sandbox's cache
        best = {name: float("inf") for name in ["floor", *PATHS]}
        rss = dict.fromkeys(PATHS, 0.0)
        for _ in range(repeat):
            floor_rows, floor_time = floor(export_urls(base, day))
            best["floor"] = min(best["floor"], floor_time)
            for name, compression in PATHS.items():
                with tempfile.TemporaryDirectory() as workdir:
                    batch = batch_config_in(workdir, compression) if compression else None
                    tap_rows, tap_time, tap_rss = tap(base, day, workdir, batch)
                if tap_rows != floor_rows:
                    raise SystemExit(f"{name}: {tap_rows} records, the floor {floor_rows}")
                best[name] = min(best[name], tap_time)
                rss[name] = max(rss[name], tap_rss)
        floor_name = "orjson" if orjson else "json: orjson not installed"
        print(f"  floor ({floor_name}): {rows / best['floor']:,.0f} rows/s ({best['floor']:.2f} s)")
        for name in PATHS:
            print(
                f"  {name}: {rows / best[name]:,.0f} rows/s ({best[name]:.2f} s, process start "
                f"included) = {best[name] / best['floor']:.2f}x the floor (target <= "
                f"{TARGETS[name]}x), peak RSS {rss[name]:.0f} MB"
            )
    finally:
        sandbox.terminate()
        sandbox.wait(10)


if __name__ == "__main__":
    main()
