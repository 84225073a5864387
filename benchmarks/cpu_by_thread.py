"""Benchmark: where the CPU of one `events` sync goes, thread by thread.

    python benchmarks/cpu_by_thread.py [--rows 300000] [--output gzip|none|record]

It starts the sandbox with one large events day (`bench_daily_events`), then runs the tap
once with the work of each of its threads timed by `time.thread_time` (CPU time, not wall
time): the main thread (start-up, pyarrow's parsing, writing), the typing threads, the
BATCH files' gzip thread, the gunzip thread and pyarrow's IO thread. It prints each one
beside the process's CPU and wall time, and the floor's time on the same files: the figures
behind what the README says of the BATCH target (issue 13). Figures, not a pass/fail.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

from bench_daily_events import (
    batch_config_in,
    export_urls,
    floor,
    free_port,
    start_sandbox,
    write_config,
    write_events_catalog,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--output", choices=["gzip", "none", "record"], default="gzip")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(port, args.rows, 150_000)
    try:
        day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=2)
        floor(export_urls(base, day))  # materialises the files in the sandbox's cache
        _, floor_time = floor(export_urls(base, day))
        with tempfile.TemporaryDirectory() as workdir:
            batch = None if args.output == "record" else batch_config_in(workdir, args.output)
            config = write_config(base, day, workdir, batch_config=batch)
            catalog = write_events_catalog(config, workdir)
            report = os.path.join(workdir, "cpu.json")
            command = [sys.executable, __file__, "--inside", report, "--config", config]
            with open(os.devnull, "wb") as sink:
                subprocess.run(
                    [*command, "--catalog", catalog], stdout=sink, stderr=sink, check=True
                )
            with open(report) as handle:
                figures = json.load(handle)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    print(f"{args.rows} events rows, output {args.output}; floor {floor_time:.2f} s")
    print(
        f"  tap: wall {figures['wall']:.2f} s (after the interpreter's start), "
        f"CPU {figures['cpu']:.2f} s = {figures['cpu'] / figures['wall']:.2f} cores busy"
    )
    for name, seconds in figures["threads"].items():
        print(f"  {seconds:6.2f} s  {name}")


def inside(report: str) -> None:
    """Run the tap (the rest of the command line) with each thread's work timed."""
    import tap_branch.files.csv_batches as csv_batches
    import tap_branch.files.downloads as downloads
    import tap_branch.output.batch_files as batches
    import tap_branch.records.columnar.typer as records

    spent: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def timed(owner: type, method: str, name: str) -> None:
        work = getattr(owner, method)

        def timed_work(*args, **kwargs):
            started = time.thread_time()
            try:
                return work(*args, **kwargs)
            finally:
                with lock:
                    spent[name] += time.thread_time() - started

        setattr(owner, method, timed_work)

    timed(records.ColumnarTyper, "lines", "typing threads")
    timed(batches._File, "_drain", "BATCH files' gzip (or write) thread")
    timed(downloads.GunzipAhead, "_inflate", "gunzip thread")
    timed(csv_batches._PacedBody, "read", "pyarrow's IO thread (reads, UTF-8 checks)")
    started = time.perf_counter()

    def write_report() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        threads = {"main thread (start-up, parsing, writing)": time.thread_time(), **spent}
        with open(report, "w") as handle:
            json.dump(
                {
                    "wall": time.perf_counter() - started,
                    "cpu": usage.ru_utime + usage.ru_stime,
                    "threads": dict(sorted(threads.items(), key=lambda item: -item[1])),
                },
                handle,
            )

    atexit.register(write_report)
    from tap_branch.tap import TapBranch

    TapBranch.cli()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inside"]:
        report = sys.argv[2]
        sys.argv = ["tap-branch", *sys.argv[3:]]
        inside(report)
    else:
        main()
