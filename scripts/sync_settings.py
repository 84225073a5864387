"""Write the tap's settings into meltano.yml and the README's settings table, and
each stream's columns into docs/streams.md.

    python scripts/sync_settings.py          # rewrite all three
    python scripts/sync_settings.py --check  # exit 1 if any is out of date

The tap's config schema and stream schemas are the one source of truth; this keeps
Meltano's view of them (kinds, descriptions, secrets marked `sensitive`), the README
and the column reference from drifting.
"""

from __future__ import annotations

import copy
import json
import pathlib
import subprocess
import sys

from tap_branch.tap import TapBranch

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN = "      # BEGIN generated settings (scripts/sync_settings.py)\n"
END = "      # END generated settings\n"
README_BEGIN = "<!-- BEGIN generated settings (scripts/sync_settings.py) -->\n"
README_END = "<!-- END generated settings -->\n"
STREAMS_DOC = ROOT / "docs" / "streams.md"

_KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def config_schema() -> dict:
    """The tap's settings plus the SDK's built-in ones (stream maps, flattening, batch),
    as `--about` shows them: every one needs its Meltano declaration, or Meltano ignores
    its environment variable."""
    schema = copy.deepcopy(TapBranch.config_jsonschema)
    TapBranch.append_builtin_config(schema)
    return schema


def kind_of(schema: dict) -> str:
    types = schema.get("type", "string")
    types = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    if schema.get("format") == "date-time":
        return "date_iso8601"
    return _KINDS.get(types[0] if types else "string", "string")


def settings_block() -> str:
    config = config_schema()
    properties = config["properties"]
    required = set(config.get("required", []))
    lines = []
    for name, schema in properties.items():
        lines.append(f"      - name: {name}\n")
        lines.append(f"        kind: {kind_of(schema)}\n")
        if schema.get("secret"):
            lines.append("        sensitive: true\n")
        if name in required:
            lines.append("        required: true\n")
        if "default" in schema:
            lines.append(f"        value: {json.dumps(schema['default'])}\n")
        if "description" in schema:
            lines.append(f"        description: {json.dumps(schema['description'])}\n")
    return BEGIN + "".join(lines) + END


def readme_table() -> str:
    """The settings table of `tap-branch --about --format=markdown`."""
    about = subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = about[about.index("## Settings") + len("## Settings") :]
    if "\n## " in table:
        table = table[: table.index("\n## ")]
    return README_BEGIN + table.strip() + "\n" + README_END


def type_of(schema: dict) -> str:
    """A column's JSON schema as one short phrase: `date-time`, `integer`, `array of string`."""
    if "anyOf" in schema:
        kinds = [type_of(option) for option in schema["anyOf"] if isinstance(option, dict)]
        return " or ".join(kind for kind in dict.fromkeys(kinds) if kind != "null")
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else [kind for kind in types if kind != "null"]
    if not types:
        return "any"
    kind = " or ".join(types)
    if schema.get("format"):
        return schema["format"]
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {type_of(schema['items'])}"
    return kind


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def streams_doc() -> str:
    """docs/streams.md: every stream's key, bookmark and columns, streams that share
    a schema (the 14 Daily Exports v3 topics, the Custom Exports event types) together."""
    tap = TapBranch(
        config={"start_date": "2024-01-01"}, parse_env_config=False, validate_config=False
    )
    groups: dict[str, list] = {}
    for stream in tap.streams.values():
        shape = json.dumps(
            [stream.schema, stream.primary_keys, stream.replication_key], sort_keys=True
        )
        groups.setdefault(shape, []).append(stream)
    lines = [
        "# Streams and their columns\n",
        "\n",
        "Generated from the tap's schemas by `scripts/sync_settings.py` (the test command fails "
        "when this file drifts). `tap-branch --discover` prints the same schemas as JSON. "
        "Streams that share one schema are listed together.\n",
    ]
    for streams in groups.values():
        first = streams[0]
        names = ", ".join(f"`{stream.name}`" for stream in streams)
        key = ", ".join(f"`{name}`" for name in first.primary_keys) or "none (append-only)"
        bookmark = f"`{first.replication_key}`" if first.replication_key else "none (full table)"
        if first.parent_stream_type is not None:
            bookmark += f", synced per record of `{first.parent_stream_type.name}`"
        lines += [
            f"\n## {names}\n",
            "\n",
            f"Primary key: {key}. Bookmark: {bookmark}.\n",
            "\n",
            "| Column | Type | Description |\n",
            "|:--|:--|:--|\n",
        ]
        for name, column in first.schema["properties"].items():
            lines.append(
                f"| `{name}` | {type_of(column)} | {_cell(column.get('description', ''))} |\n"
            )
    return "".join(lines)


def replace_between(text: str, begin: str, end: str, block: str) -> str:
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[:start] + block + text[stop:]


def main() -> int:
    targets = [
        (ROOT / "meltano.yml", BEGIN, END, settings_block()),
        (ROOT / "README.md", README_BEGIN, README_END, readme_table()),
    ]
    stale = []
    if not STREAMS_DOC.exists() or STREAMS_DOC.read_text() != streams_doc():
        if "--check" in sys.argv:
            stale.append("docs/streams.md")
        else:
            STREAMS_DOC.parent.mkdir(exist_ok=True)
            STREAMS_DOC.write_text(streams_doc())
    for path, begin, end, block in targets:
        text = path.read_text()
        updated = replace_between(text, begin, end, block)
        if updated == text:
            continue
        if "--check" in sys.argv:
            stale.append(path.name)
        else:
            path.write_text(updated)
    if stale:
        print(
            f"Settings out of date in {', '.join(stale)}: run python scripts/sync_settings.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
