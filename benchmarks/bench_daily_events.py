"""Benchmark: the `events` daily export against a floor pipeline, on days of several shapes.

    python benchmarks/bench_daily_events.py [--rows 300000 1000000] [--shapes sandbox isoformat ...]
        [--rows-per-file 150000] [--seed 7] [--repeat 1] [--days DIR] [--paths RECORD ...]

A tap tuned to one file is fast on that file only, so each size is measured on days of
several shapes, made with a seed: the sandbox's own day, and that day rewritten the ways
other exports write it (`SHAPES`): timestamps as Python's `isoformat()` + "Z" (whole
seconds or 6-digit fractions), epoch seconds, `+0000` offsets, forms mixed within each
column; JSON cells widened to 30-50 more keys as `json.dumps` writes them; most cells
empty. The files are served by a small file server of this script, apart from the sandbox
(which only makes the first day), so every shape is read over HTTP the same way. For each
shape, in the same run:

- floor: Python gzip + csv.DictReader + orjson-dumped RECORD lines to /dev/null
  (the least a Python tap can do; no typing, no state, no Singer SDK);
- RECORD: `tap-branch` syncing only `events` for that day, stdout to a file;
- BATCH jsonl.gz and BATCH parquet: the same with `batch_config`, the records in batch
  files and BATCH messages on stdout ("refused" where the tap refuses the setting).

It prints each one's time and CPU time (all threads) as ratios to the floor's, and its peak
RSS, then a table of all shapes. On a loaded machine the CPU ratios move less than the wall
ones: the floor runs on one core, the tap on two. Targets (issue 25), for every shape: RECORD <= 1.3x the floor, BATCH jsonl.gz
<= 0.8x, peak RSS <= 150 MB on a 1M-row day. Figures, not a pass/fail: these machines are
shared and noisy.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import gzip
import http.server
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.parse

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
        "tap_branch_sandbox.cli",
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


def export_urls(base: str, day: dt.date, key: str = KEY) -> list[str]:
    response = requests.get(
        f"{base}/v1/export/{key}",
        params={"branch_secret": SECRET, "export_date": day.isoformat()},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()["events_export_url"]


def floor(urls: list[str]) -> tuple[int, float, float]:
    """(rows, seconds, CPU seconds) of the floor pipeline."""
    rows = 0
    started, cpu = time.perf_counter(), time.process_time()
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
    return rows, time.perf_counter() - started, time.process_time() - cpu


def write_config(base: str, day: dt.date, workdir: str, key: str = KEY, **extra: t.Any) -> str:
    """The path of a tap config (in `workdir`) reading `day` from the sandbox at `base`;
    `extra` settings that are None are left out."""
    config = {
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "branch_key": key,
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
    base: str, day: dt.date, workdir: str, batch_config: dict | None = None, key: str = KEY
) -> tuple[int, float, float, float] | None:
    """(records, seconds, peak RSS in MB, CPU seconds) of the tap syncing `events` for `day`; with
    `batch_config`, the records are counted in the batch files (after the clock stops).
    None when the tap refuses the batch_config."""
    config_path = write_config(base, day, workdir, key, batch_config=batch_config)
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
        refusal="batch_config" if batch_config else None,
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


def batch_config_in(workdir: str, encoding: dict) -> dict:
    root = os.path.join(workdir, "batches")
    os.makedirs(root, exist_ok=True)
    return {
        "encoding": encoding,
        "storage": {"root": "file://" + root},
        "batch_size": 100_000,
    }


def run_counting_records(
    command: list[str], counted: str, name: str, refusal: str | None = None
) -> tuple[int, float, float, float] | None:
    """Run a tap with stdout to `counted`: (RECORD lines, seconds, peak RSS in MB, CPU
    seconds of all its threads); None
    where it fails saying `refusal` (a setting it refuses)."""
    started = time.perf_counter()
    errors = counted + ".err"
    with open(counted, "wb") as out, open(errors, "wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        with open(errors, errors="replace") as err:
            if refusal is not None and refusal in err.read():
                return None
        raise SystemExit(f"{name} failed (status {status}); its output: {counted}, {errors}")
    rows = 0
    with open(counted, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"RECORD"'):
                rows += 1
            elif line.startswith(b'{"type":"BATCH"'):
                rows += sum(_lines_in(url) for url in json.loads(line)["manifest"])
    os.remove(counted)
    cpu = usage.ru_utime + usage.ru_stime
    return rows, elapsed, usage.ru_maxrss / 1024, cpu  # ru_maxrss is in KiB on Linux


def _lines_in(url: str) -> int:
    path = url.removeprefix("file://")
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        count = pq.ParquetFile(path).metadata.num_rows
    else:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            count = sum(1 for _ in handle)
    os.remove(path)
    return count


# --- the days' shapes ---------------------------------------------------------------------

#: The sandbox's timestamps: `2018-07-11T09:43:01`, UTC without a zone.
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
Rewrite = t.Callable[[random.Random, list[str], list[str]], list[str]]


@functools.lru_cache(maxsize=1 << 16)
def _sandbox_time(cell: str) -> dt.datetime:
    return dt.datetime.fromisoformat(cell)


def _epoch_seconds(when: dt.datetime) -> int:
    return (when - _NAIVE_EPOCH) // dt.timedelta(seconds=1)


def _some_microseconds(rng: random.Random, when: dt.datetime) -> dt.datetime:
    """`when` with a fraction half of the time: `isoformat()` then prints 6 digits, or none."""
    return when.replace(microsecond=rng.randrange(1, 1_000_000)) if rng.random() < 0.5 else when


#: The forms a column of the "mixed" day draws from, cell by cell.
_MIXED_FORMS: list[t.Callable[[dt.datetime], str]] = [
    lambda when: when.isoformat(timespec="seconds"),
    lambda when: when.isoformat(timespec="milliseconds") + "Z",
    lambda when: when.isoformat() + "Z",
    lambda when: when.isoformat(" ", "seconds") + "+0000",
    lambda when: str(_epoch_seconds(when)),
    lambda when: str(_epoch_seconds(when) * 1000 + when.microsecond // 1000),
]


def _timestamps(form: t.Callable[[random.Random, dt.datetime], str]) -> Rewrite:
    """Every timestamp cell written in `form` instead."""

    def rewrite(rng: random.Random, header: list[str], row: list[str]) -> list[str]:
        return [
            form(rng, _sandbox_time(cell)) if cell and column.endswith("timestamp") else cell
            for column, cell in zip(header, row, strict=True)
        ]

    return rewrite


def _wide_json(rng: random.Random, header: list[str], row: list[str]) -> list[str]:
    """JSON object cells widened to ~40 keys, written as `json.dumps` writes them (spaces)."""
    out = []
    for cell in row:
        if cell.startswith("{"):
            value = json.loads(cell)
            for number in range(rng.randrange(30, 50)):
                value[f"$custom_{number}"] = rng.choice(
                    [rng.randrange(10**6), round(rng.uniform(0, 100), 2), "value é", True, None]
                )
            cell = json.dumps(value)
        out.append(cell)
    return out


def _empty_cells(rng: random.Random, header: list[str], row: list[str]) -> list[str]:
    """Four cells in five empty (never the key `id` nor the event's `timestamp`)."""
    return [
        cell if column in ("id", "timestamp") or rng.random() < 0.2 else ""
        for column, cell in zip(header, row, strict=True)
    ]


SHAPES: dict[str, Rewrite | None] = {
    "sandbox": None,
    "isoformat": _timestamps(lambda rng, when: _some_microseconds(rng, when).isoformat() + "Z"),
    "epoch-seconds": _timestamps(lambda rng, when: str(_epoch_seconds(when))),
    "offset-0000": _timestamps(lambda rng, when: when.isoformat(" ", "seconds") + "+0000"),
    "mixed-forms": _timestamps(
        lambda rng, when: rng.choice(_MIXED_FORMS)(_some_microseconds(rng, when))
    ),
    "wide-json": _wide_json,
    "empty-cells": _empty_cells,
}


def rewrite_day(source: str, target: str, rewrite: Rewrite, seed: int) -> None:
    """The sandbox's files in `source` rewritten row by row into `target` (seeded; gzip
    level 1 to make them sooner: the floor and the tap read them alike)."""
    if os.path.isdir(target):
        return  # made by an earlier run (`--days`)
    os.makedirs(target + ".part")
    for name in sorted(os.listdir(source)):
        rng = random.Random(f"{seed}/{name}")
        with (
            gzip.open(os.path.join(source, name), "rt", encoding="utf-8", newline="") as inp,
            gzip.open(
                os.path.join(target + ".part", name),
                "wt",
                encoding="utf-8",
                newline="",
                compresslevel=1,
            ) as out,
        ):
            reader = csv.reader(inp)
            writer = csv.writer(out, lineterminator="\n")
            header = next(reader)
            writer.writerow(header)
            for row in reader:
                writer.writerow(rewrite(rng, header, row))
    os.rename(target + ".part", target)


# --- a file server for the shaped days ----------------------------------------------------


def serve(directory: str, port: int) -> None:
    """Answer `/v1/export/key_live_<shape>` with the URLs of `directory/<shape>/`'s files,
    and serve them: the daily export API as far as an `events` sync uses it."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/v1/export/key_live_"):
                shape = path.removeprefix("/v1/export/key_live_")
                names = sorted(os.listdir(os.path.join(directory, shape)))
                base = f"http://127.0.0.1:{port}/files/{shape}/"
                urls = {"links_export_url": [], "clicks_export_url": []}
                urls["events_export_url"] = [base + name for name in names]
                self._send(json.dumps(urls).encode(), "application/json")
            elif path.startswith("/files/"):
                file = os.path.join(directory, *path.removeprefix("/files/").split("/"))
                with open(file, "rb") as handle:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/gzip")
                    self.send_header("Content-Length", str(os.path.getsize(file)))
                    self.end_headers()
                    shutil.copyfileobj(handle, self.wfile, 1 << 20)
            else:
                self.send_error(404)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: t.Any) -> None:
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def start_file_server(directory: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", directory, "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the file server did not start")


def sandbox_day(directory: str, rows: int, rows_per_file: int) -> dt.date:
    """The sandbox's events day of `rows` rows, its files saved in `directory`."""
    port = free_port()
    sandbox = start_sandbox(port, rows, rows_per_file)
    try:
        day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=2)
        if os.path.isdir(directory):
            return day  # made by an earlier run (`--days`)
        os.makedirs(directory + ".part")
        for index, url in enumerate(export_urls(f"http://127.0.0.1:{port}", day)):
            with requests.get(url, stream=True, timeout=600) as response:
                response.raise_for_status()
                with open(os.path.join(directory + ".part", f"{index:03d}.csv.gz"), "wb") as out:
                    shutil.copyfileobj(response.raw, out, 1 << 20)
        os.rename(directory + ".part", directory)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    return day


# --- measuring ----------------------------------------------------------------------------


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
        "--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES), help="default: all"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the shapes' rewriting")
    parser.add_argument(
        "--days",
        help="keep the days made in this directory and reuse them in later runs (default: "
        "a temporary directory; making a 1M-row day of every shape takes minutes)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each side this many times, keep the best"
    )
    parser.add_argument(
        "--paths", nargs="+", choices=list(PATHS), default=list(PATHS), help="default: all"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the file server's own process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    for rows in args.rows:
        if args.days:
            days = os.path.join(args.days, f"{rows}-{args.rows_per_file}-{args.seed}")
            measure(days, rows, args.rows_per_file, args.shapes, args.seed, args.repeat, args.paths)
            continue
        with tempfile.TemporaryDirectory() as days:
            measure(days, rows, args.rows_per_file, args.shapes, args.seed, args.repeat, args.paths)


PATHS: dict[str, dict | None] = {
    "RECORD": None,
    "BATCH jsonl.gz": {"format": "jsonl", "compression": "gzip"},
    "BATCH parquet": {"format": "parquet", "compression": "gzip"},
}
TARGETS = {"RECORD": 1.3, "BATCH jsonl.gz": 0.8}
RSS_TARGET_MB = 150


def measure(
    days: str,
    rows: int,
    rows_per_file: int,
    shapes: list[str],
    seed: int,
    repeat: int,
    paths: list[str],
) -> None:
    started = time.perf_counter()
    day = sandbox_day(os.path.join(days, "sandbox"), rows, rows_per_file)
    for shape in shapes:
        if SHAPES[shape] is not None:
            rewrite_day(
                os.path.join(days, "sandbox"), os.path.join(days, shape), SHAPES[shape], seed
            )
    print(
        f"day {day}: {rows} events rows a shape, {rows_per_file} a file; days made in "
        f"{time.perf_counter() - started:.0f} s. Ratios are to the floor of the same shape, "
        "measured in this run.",
        flush=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_file_server(days, port)
    summary = []
    try:
        for shape in shapes:
            summary.append((shape, measure_shape(base, day, shape, rows, repeat, paths)))
    finally:
        server.terminate()
        server.wait(10)
    floor_name = "orjson" if orjson else "json: orjson not installed"
    print(
        f"\n{rows:,}-row day, floor ({floor_name}) = 1; each cell: wall-time ratio "
        "(CPU-time ratio, peak RSS)"
    )
    print("| Shape | floor | " + " | ".join(paths) + " |")
    print("|:--|--:|" + "--:|" * len(paths))
    for shape, figures in summary:
        cells = []
        for name in paths:
            if figures[name] is None:
                cells.append("refused")
            else:
                ratio, cpu_ratio, rss = figures[name]
                cells.append(f"{ratio:.2f}x ({cpu_ratio:.2f}x, {rss:.0f} MB)")
        print(f"| {shape} | {figures['floor']:.1f} s | " + " | ".join(cells) + " |")


def measure_shape(
    base: str, day: dt.date, shape: str, rows: int, repeat: int, paths: list[str]
) -> dict[str, t.Any]:
    """The floor's and each of `paths`' best time and CPU time, and the largest peak RSS, of
    `repeat` runs on `shape`'s day."""
    key = "key_live_" + shape
    best = {name: float("inf") for name in ["floor", *paths]}
    cpu = {name: float("inf") for name in ["floor", *paths]}
    rss = dict.fromkeys(paths, 0.0)
    refused: set[str] = set()
    for _ in range(repeat):
        floor_rows, floor_time, floor_cpu = floor(export_urls(base, day, key))
        best["floor"] = min(best["floor"], floor_time)
        cpu["floor"] = min(cpu["floor"], floor_cpu)
        for name in paths:
            encoding = PATHS[name]
            if name in refused:
                continue
            with tempfile.TemporaryDirectory() as workdir:
                batch = batch_config_in(workdir, encoding) if encoding else None
                measured = tap(base, day, workdir, batch, key)
            if measured is None:
                refused.add(name)
                continue
            tap_rows, tap_time, tap_rss, tap_cpu = measured
            if tap_rows != floor_rows:
                raise SystemExit(f"{shape}, {name}: {tap_rows} records, the floor {floor_rows}")
            best[name] = min(best[name], tap_time)
            cpu[name] = min(cpu[name], tap_cpu)
            rss[name] = max(rss[name], tap_rss)
    print(
        f"{shape}: floor {best['floor']:.2f} s ({rows / best['floor']:,.0f} rows/s), "
        f"CPU {cpu['floor']:.2f} s"
    )
    figures: dict[str, t.Any] = {"floor": best["floor"]}
    for name in paths:
        if name in refused:
            print(f"  {name}: refused")
            figures[name] = None
            continue
        ratio, cpu_ratio = best[name] / best["floor"], cpu[name] / cpu["floor"]
        target = f" (target <= {TARGETS[name]}x)" if name in TARGETS else ""
        print(
            f"  {name}: {best[name]:.2f} s = {ratio:.2f}x the floor{target}; CPU {cpu[name]:.2f} s"
            f" = {cpu_ratio:.2f}x; peak RSS {rss[name]:.0f} MB (target <= {RSS_TARGET_MB} MB)",
            flush=True,
        )
        figures[name] = (ratio, cpu_ratio, rss[name])
    return figures


if __name__ == "__main__":
    main()
