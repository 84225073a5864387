"""Benchmark: a 2-year backfill of 3 cohort reports against a time-scaled sandbox.

    python benchmarks/cohort_backfill.py [--time-scale 60] [--latency 60] [--days 729]

Starts `tap-branch-sandbox` in its own process (so its clock is not slowed by the
tap's work) with the documented rate limits (2/s, 5/min, 150/h in sandbox time)
and a job latency, then runs `tap-branch` with 3 reports and every duration of a real
run scaled to real seconds the same way: the limits, the poll intervals, and the margin
the limiter adds to every window (`cohort_rate_limit_margin`: 50 ms of a real minute
window, 0.8 ms of its 1 s stand-in here; unscaled, it would weigh 60 times more than in
a real run). Prints: API calls, 429s seen (must be 0), wall time, the bound the rate
limits impose on that many calls, and what running the jobs one after another would
have cost on top. Also the CPU seconds of the tap and of the
sandbox: the run measures the rate limits only when both fit well inside the wall
time; on a loaded machine the records' processing, not the limits, sets the pace.

The wall time is then split, from the tap's log (its request metrics), into: the time
until its first API call (interpreter, imports, tap setup), the first to the last call
(what the limits and the pipelining decide; the limiter's own floor adds its margins
to every window, and counts each call from its answer), and the time after the last
call (the last results' records, exit). At this time scale the first and the last are
fixed costs ~60 times larger, relative to the bound, than in a real backfill.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

import requests

from tap_branch.api.ratelimit import DEFAULT_MARGIN_SECONDS, padded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds a running process has used (Linux's /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def call_times(log: bytes) -> tuple[float, float] | None:
    """(first, last) moment a cohort API call was sent (epoch seconds), from the request
    metrics in the tap's log (logged at the answer, with the duration); None without them."""
    sent = []
    for line in log.decode(errors="replace").splitlines():
        if "http_request_duration" not in line or '"/v2/analytics' not in line:
            continue
        at = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time
        metric = json.loads(line.split("METRIC: ", 1)[1])
        sent.append(at - float(metric["value"]))
    return (min(sent), max(sent)) if sent else None


def cohort_only(bin_dir: str, config_path: str) -> dict:
    """The discovered catalog with the cohort streams selected and every other stream not."""
    found = subprocess.run(
        [os.path.join(bin_dir, "tap-branch"), "--config", config_path, "--discover"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    catalog = json.loads(found.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"].startswith("cohort_")
    return catalog


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--time-scale", type=float, default=60.0, help="sandbox seconds per real second"
    )
    parser.add_argument(
        "--latency", type=float, default=60.0, help="sandbox seconds a cohort job takes"
    )
    parser.add_argument("--days", type=int, default=729, help="days to backfill (up to yesterday)")
    parser.add_argument(
        "--rows-per-day", type=int, default=3, help="dimension combinations per cohort day"
    )
    parser.add_argument("--log", help="write the tap's stderr (its log) to this file")
    args = parser.parse_args()
    scale = args.time_scale
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bin_dir = os.path.dirname(sys.executable)
    sandbox = subprocess.Popen(
        [
            os.path.join(bin_dir, "tap-branch-sandbox"),
            "--port",
            str(port),
            "--time-scale",
            str(scale),
            "--quiet",
            "--option",
            f"cohort_job_latency={args.latency}",
            "--option",
            f"cohort_rows_per_day={args.rows_per_day}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                requests.get(f"{url}/_sandbox/health", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.1)
        today = dt.datetime.now(dt.timezone.utc).date()
        reports = [
            {
                "name": "installs",
                "measures": ["users", "revenue", "OPEN"],
                "dimensions": [
                    "install_activity_touch_data_tilde_campaign",
                    "install_activity_touch_data_tilde_channel",
                ],
            },
            {
                "name": "installs_by_partner",
                "measures": ["OPEN"],
                "granularity": "week",
                "granularity_band_count": 8,
                "dimensions": ["install_activity_touch_data_tilde_advertising_partner_name"],
            },
            {
                "name": "reengagement",
                "data_source": "reengagement_cohort",
                "measures": ["OPEN", "revenue"],
                "dimensions": ["reengagement_activity_touch_data_tilde_channel"],
            },
        ]
        config = {
            "start_date": (today - dt.timedelta(days=args.days)).isoformat(),
            "access_token": "api_app_sandbox",
            "organization_id": "sandbox-org",
            "api_url": url,
            "api2_url": url,
            "cohort_reports": reports,
            "cohort_rate_limits": [
                {"requests": 2, "seconds": 1 / scale},
                {"requests": 5, "seconds": 60 / scale},
                {"requests": 150, "seconds": 3600 / scale},
            ],
            "cohort_rate_limit_margin": DEFAULT_MARGIN_SECONDS / scale,
            "cohort_poll_interval": 5 / scale,
            "cohort_poll_max_interval": 60 / scale,
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(config, handle)
        catalog_path = handle.name + ".catalog"
        with open(catalog_path, "w") as out:
            out.write(json.dumps(cohort_only(bin_dir, handle.name)))
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        started_epoch = time.time()
        # Output to files, read afterwards: the wall time ends when the tap does. Captured
        # through pipes, it also counted this process joining ~150 MB of them (~60 ms).
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            tap = subprocess.run(
                [
                    os.path.join(bin_dir, "tap-branch"),
                    "--config",
                    handle.name,
                    "--catalog",
                    catalog_path,
                ],
                stdout=stdout,
                stderr=stderr,
                check=False,
            )
            wall = time.monotonic() - started
            stdout.seek(0)
            stderr.seek(0)
            tap.stdout, tap.stderr = stdout.read(), stderr.read()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        tap_cpu = (children.ru_utime - children_before.ru_utime) + (
            children.ru_stime - children_before.ru_stime
        )
        os.unlink(handle.name)
        os.unlink(catalog_path)
        if args.log:
            with open(args.log, "wb") as log_file:
                log_file.write(tap.stderr)
        if tap.returncode != 0:
            sys.exit(f"tap failed:\n{tap.stderr.decode()[-3000:]}")
        records = sum(1 for line in tap.stdout.splitlines() if line.startswith(b'{"type":"RECORD"'))
        log = requests.get(f"{url}/_sandbox/requests", timeout=10).json()
        api = [r for r in log if r["path"].startswith("/v2/analytics")]
        posts = sum(1 for r in api if r["method"] == "POST")
        rate_limited = sum(1 for r in api if r["status"] == 429)
        waits = sum(1 for line in tap.stderr.splitlines() if b"window is full" in line)
        span = call_times(tap.stderr)
        sandbox_cpu = cpu_seconds(sandbox.pid)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    # The tightest window for this many calls: 5 a minute (150 an hour binds only past 150 calls).
    calls = len(api)
    bound = max((calls - 1) // 5 * 60, (calls - 1) // 150 * 3600) / scale
    latency = args.latency / scale
    print(
        f"time scale            : {scale:g} sandbox s per real s (job latency {args.latency:g} sandbox s = {latency:.2f} s)"
    )
    print(
        f"backfill              : {args.days} days x 3 reports -> {posts} jobs, {records} records"
    )
    print(f"tap throughput        : {records / wall:,.0f} records/s over the whole run")
    print(f"API calls             : {calls} ({posts} submissions, {calls - posts} polls)")
    print(f"429s seen             : {rate_limited}")
    print(f"limiter waits logged  : {waits}")
    print(f"wall time             : {wall:.2f} s = {wall * scale / 60:.1f} sandbox minutes")
    sandbox_part = f", sandbox {sandbox_cpu:.2f} s" if sandbox_cpu is not None else ""
    print(f"CPU                   : tap {tap_cpu:.2f} s{sandbox_part} (user + system)")
    print(
        f"rate-limit bound      : {bound:.2f} s for {calls} calls at 5/min ({bound * scale / 60:.1f} sandbox minutes)"
    )
    print(
        f"bound + 1 job latency : {bound + latency:.2f} s; jobs one after another would add {posts * latency:.2f} s of latency"
    )
    print(f"wall / bound          : {wall / bound:.2f}" if bound else "")
    if span and bound:
        first, last = span[0] - started_epoch, span[1] - started_epoch
        # The limiter widens every window by its margins (`ratelimit.padded`).
        floor = max((calls - 1) // 5 * padded(60 / scale, DEFAULT_MARGIN_SECONDS / scale), bound)
        print(f"until the first call  : {first:.2f} s (interpreter, imports, tap setup)")
        print(
            f"first to last call    : {last - first:.2f} s = {(last - first) / bound:.2f}x the bound "
            f"(the limiter's floor, its margins included: {floor:.2f} s)"
        )
        print(f"after the last call   : {wall - last:.2f} s (the last results' records, exit)")


if __name__ == "__main__":
    main()
