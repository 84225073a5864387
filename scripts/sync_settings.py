"""Write the tap's settings into meltano.yml (between the generated markers), from `--about`.

    python scripts/meltano_settings.py          # rewrite meltano.yml
    python scripts/meltano_settings.py --check  # exit 1 if meltano.yml is out of date

The tap's config schema is the one source of truth; this keeps Meltano's view of
it (kinds, descriptions, secrets marked `sensitive`) from drifting.
"""

from __future__ import annotations

import json
import pathlib
import sys

from tap_branch.tap import TapBranch

BEGIN = "      # BEGIN generated settings (scripts/meltano_settings.py)\n"
END = "      # END generated settings\n"
MELTANO_YML = pathlib.Path(__file__).resolve().parent.parent / "meltano.yml"

_KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean", "array": "array", "object": "object"}
_SDK_BUILTINS = {"stream_maps", "stream_map_config", "faker_config", "flattening_enabled", "flattening_max_depth",
                 "flattening_max_key_length", "flattening_separator", "batch_config"}


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
        if "description" in schema:
            lines.append(f"        description: {json.dumps(schema['description'])}\n")
    return BEGIN + "".join(lines) + END


def main() -> int:
    text = MELTANO_YML.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    updated = text[:start] + settings_block() + text[end:]
    if "--check" in sys.argv:
        if updated != text:
            print("meltano.yml settings are out of date: run python scripts/meltano_settings.py", file=sys.stderr)
            return 1
        return 0
    MELTANO_YML.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
