"""Run by PyAirbyte's python (tests/support/pyairbyte_env.py), never imported by the tests.

    python pyairbyte_driver.py SNIPPET.py RESULT.json BAD_SETTINGS.json

Runs the docs' PyAirbyte snippet (docs/getting-started/airbyte.md) as a user would (check, read into the default
DuckDB cache), then reads again with the state PyAirbyte kept, then checks the
connection once per wrong credential in BAD_SETTINGS (`{"setting": "wrong value"}`),
and writes what it saw to RESULT.json.
"""

import json
import sys

import airbyte as ab  # noqa: F401 - the snippet imports it too; fail early here if missing

snippet_path, result_path, bad_path = sys.argv[1:4]
namespace: dict = {}
with open(snippet_path) as handle:
    exec(compile(handle.read(), snippet_path, "exec"), namespace)  # noqa: S102 - the docs' code
source = namespace["source"]
result = namespace["result"]
config = source.get_config()
first_rows = {name: len(dataset) for name, dataset in result.streams.items()}

again = source.read()
second_records = dict(again._progress_tracker.stream_read_counts)  # noqa: SLF001 - per-stream count
second_rows = {
    name: len(dataset) for name, dataset in again.cache.streams.items() if name in first_rows
}

with open(bad_path) as handle:
    bad_settings = json.load(handle)
refused = {}
for setting, value in bad_settings.items():
    source.set_config({**config, setting: value})
    try:
        source.check()
        refused[setting] = None
    except Exception as exc:  # noqa: BLE001 - the test looks at what PyAirbyte raised
        refused[setting] = {
            "error": type(exc).__name__,
            "reason": (getattr(exc, "context", None) or {}).get("failure_reason"),
            "text": str(exc),
        }

with open(result_path, "w") as handle:
    json.dump(
        {
            "config": config,
            "first_rows": first_rows,
            "first_records": dict(result._progress_tracker.stream_read_counts),  # noqa: SLF001
            "second_records": second_records,
            "second_rows": second_rows,
            "refused": refused,
        },
        handle,
    )
