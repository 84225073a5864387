"""Run TapBranch in this process and collect what it writes: messages, records, state, logs."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import subprocess
import sys
import typing as t

from tap_branch.tap import TapBranch

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Catalog


@dataclasses.dataclass
class TapRun:
    messages: list[dict]
    logs: str
    error: BaseException | None = None
    #: The tap's stdout as written, byte for byte.
    stdout: bytes = b""

    def records(self, stream: str) -> list[dict]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def streams_with_records(self) -> set[str]:
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    @property
    def state(self) -> dict:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}

    @property
    def raw_output(self) -> str:
        return "\n".join(json.dumps(m) for m in self.messages)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def run_tap(
    config: dict,
    *,
    state: dict | None = None,
    catalog: dict | Catalog | None = None,
    select: t.Iterable[str] | None = None,
    expect_error: bool = False,
    log_level: int = logging.INFO,
) -> TapRun:
    """Sync like `tap-branch --config ... --state ...`, in process.

    `select`: stream names to select (all others deselected). With `expect_error`,
    an exception is returned in `TapRun.error` instead of raised, and logged
    with its traceback (as the CLI does), so `TapRun.logs` holds it too.
    """
    handler = _Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(log_level)
    out = io.BytesIO()
    fake_stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    error = None
    try:
        with contextlib.redirect_stdout(fake_stdout):
            # With `select`, the stream maps are set up once the selection is made, as a
            # catalog's is at start: they take each stream's selected properties.
            tap = TapBranch(
                config=config,
                state=state,
                catalog=catalog,
                parse_env_config=False,
                setup_mapper=select is None,
            )
            if select is not None:
                wanted = set(select)
                for name, stream in tap.streams.items():
                    stream.selected = name in wanted
                tap.setup_mapper()
            try:
                tap.sync_all()
            except BaseException as exc:  # noqa: BLE001 - the test decides
                if not expect_error:
                    raise
                error = exc
                logging.getLogger("tap-branch").exception(str(exc))
            fake_stdout.flush()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    sys.stdout.flush()
    messages = [json.loads(line) for line in out.getvalue().decode().splitlines() if line.strip()]
    return TapRun(
        messages=messages, logs="\n".join(handler.lines), error=error, stdout=out.getvalue()
    )


def select_only(catalog: dict, selected: t.Collection[str]) -> dict:
    """`catalog` (a Singer catalog as JSON) with the streams in `selected` selected and every
    other one deselected; returned, for a call in an expression."""
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in selected
    return catalog


def run_cli_test(config: dict, tmp_path: t.Any) -> subprocess.CompletedProcess:
    """`tap-branch --config ... --test` in its own process: what Meltano's config test runs."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--config", str(path), "--test"],
        capture_output=True,
        text=True,
        timeout=120,
    )
