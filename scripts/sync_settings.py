"""Write the tap's settings into meltano.yml and the README's settings table.

    python scripts/sync_settings.py          # rewrite both
    python scripts/sync_settings.py --check  # exit 1 if either is out of date

The tap's config schema is the one source of truth; this keeps Meltano's view of
it (kinds, descriptions, secrets marked `sensitive`) and the README from drifting.
"""

from __future__ import annotations

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

_KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}
_SDK_BUILTINS = {
    "stream_maps",
    "stream_map_config",
    "faker_config",
    "flattening_enabled",
    "flattening_max_depth",
    "flattening_max_key_length",
    "flattening_separator",
    "batch_config",
}


def kind_of(schema: dict) -> str:
    types = schema.get("type", "string")
    types = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    if schema.get("format") == "date-time":
        return "date_iso8601"
    return _KINDS.get(types[0] if types else "string", "string")


def settings_block() -> str:
    properties = TapBranch.config_jsonschema["properties"]
    required = set(TapBranch.config_jsonschema.get("required", []))
    lines = []
    for name, schema in properties.items():
        if name in _SDK_BUILTINS:
            continue
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


def replace_between(text: str, begin: str, end: str, block: str) -> str:
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[:start] + block + text[stop:]


def main() -> int:
    targets = [
        (ROOT / "meltano.yml", BEGIN, END, settings_block()),
        (ROOT / "README.md", README_BEGIN, README_END, readme_table()),
    ]
    stale = []
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
