"""Write the tap's settings into meltano.yml and the docs' settings table
(docs/reference/settings.md), each stream's columns into docs/reference/streams.md, and
the table of the credentials each stream family needs into README.md and
docs/getting-started/real-account.md, and the sandbox's options (the declarations its `--help`
shows) into docs/sandbox.md.

    python scripts/sync_settings.py          # rewrite them all
    python scripts/sync_settings.py --check  # exit 1 if any is out of date

The tap's config schema, stream schemas and the credentials its streams declare are the
one source of truth; this keeps Meltano's view of them (kinds, descriptions, secrets marked
`sensitive`), the docs and the column reference from drifting.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import subprocess
import sys

from tap_branch.tap import TapBranch
from tap_branch_sandbox import cli as sandbox_cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN = "      # BEGIN generated settings (scripts/sync_settings.py)\n"
END = "      # END generated settings\n"
README_BEGIN = "<!-- BEGIN generated settings (scripts/sync_settings.py) -->\n"
README_END = "<!-- END generated settings -->\n"
SETTINGS_DOC = ROOT / "docs" / "reference" / "settings.md"
STREAMS_DOC = ROOT / "docs" / "reference" / "streams.md"
CREDENTIALS_BEGIN = "<!-- BEGIN generated credentials (scripts/sync_settings.py) -->\n"
CREDENTIALS_END = "<!-- END generated credentials -->\n"
CREDENTIALS_DOCS = (ROOT / "README.md", ROOT / "docs" / "getting-started" / "real-account.md")

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
    """docs/reference/streams.md: every stream's key, bookmark and columns, streams that share
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


#: What each kind of credential a stream declares means in settings.
#: (by `Credential.name`; the cohort and organization-wide streams' scope, `app_id` or
#: `organization_id`, is their family's settings check).
CREDENTIAL_SETTINGS = {
    "key and secret": "`branch_key` and `branch_secret` (or `apps`)",
    "key only": "`branch_key` (or `apps`)",
    "key and secret, or user id with app": "`branch_key` and `branch_secret` (or `apps`), or "
    "`user_id` with `app_id`",
    "access token": "`access_token`, and `app_id` or `organization_id`",
    "access token with app": "`access_token` and `app_id` (or `apps` entries with an `app_id`)",
}
#: A family's page in the docs, by the stream's package (and, for daily, its module).
FAMILY_PAGES = {
    "daily.v1": ("Daily exports", "docs/families/daily.md"),
    "daily.v3": ("Daily Exports v3", "docs/families/event-level.md"),
    "custom_exports": ("Custom Exports", "docs/families/event-level.md"),
    "cohort": ("Cohort results", "docs/families/cohort.md"),
    "scheduled": ("Scheduled log exports", "docs/families/scheduled.md"),
    "credits": ("Credits and app config", "docs/families/credits.md"),
    "analytics": ("Aggregate analytics", "docs/families/analytics.md"),
}


def credentials_of(stream) -> str:
    """The kind of credential a stream declares it needs (the one place that reads it)."""
    return stream.credentials.name


def _family_of(stream) -> str:
    """The stream's family package (`daily.v1`/`daily.v3` for the two daily APIs), from the
    first class of its MRO defined in a family (the v3 and Custom Exports classes are made
    per topic at run time)."""
    module = next(cls.__module__ for cls in type(stream).__mro__ if ".streams." in cls.__module__)
    parts = module.split(".")  # tap_branch.streams.<family>[.<module>...]
    family = parts[parts.index("streams") + 1]
    return f"{family}.{parts[-1]}" if f"{family}.{parts[-1]}" in FAMILY_PAGES else family


def _stream_names(names: list[str]) -> str:
    """`links`, `link_clicks`, ... with the streams of one prefix (3 or more) as `prefix*`."""
    clusters: dict[str, list[str]] = {}
    for name in names:
        clusters.setdefault(name.split("_")[0], []).append(name)
    shown = []
    for cluster in clusters.values():
        if len(cluster) < 3:
            shown += [f"`{name}`" for name in cluster]
            continue
        prefix = cluster[0]
        for name in cluster[1:]:
            while not name.startswith(prefix):
                prefix = prefix[:-1]
        shown.append(f"`{prefix}*` ({len(cluster)})")
    return ", ".join(shown)


def credentials_table(doc: pathlib.Path) -> str:
    """Which settings each stream family needs, from the credentials its streams declare
    (every stream of the tap, the report streams with one report each), linking each family's
    page relative to `doc`."""
    tap = TapBranch(
        config={
            "start_date": "2024-01-01",
            "aggregate_reports": [
                {
                    "name": "installs",
                    "data_source": "eo_install",
                    "aggregation": "unique_count",
                    "dimensions": ["user_data_os"],
                }
            ],
        },
        parse_env_config=False,
        validate_config=False,
    )
    rows: dict[tuple[str, str], list[str]] = {}
    for stream in tap.streams.values():
        need = credentials_of(stream)
        if need:
            rows.setdefault((_family_of(stream), need), []).append(stream.name)
    order = list(FAMILY_PAGES)
    lines = [
        "| Family | Streams | Settings it needs |\n",
        "|:--|:--|:--|\n",
    ]
    for (family, need), names in sorted(rows.items(), key=lambda row: order.index(row[0][0])):
        title, page = FAMILY_PAGES[family]
        link = os.path.relpath(ROOT / page, doc.parent)
        lines.append(
            f"| [{title}]({link}) | {_stream_names(names)} | {CREDENTIAL_SETTINGS[need]} |\n"
        )
    lines.append(
        "\n`cohort_<name>`, `query_<name>` and `aggregate_<name>`: one stream per configured "
        "report (shown: the default ones, and one Aggregate Exports report).\n"
    )
    return CREDENTIALS_BEGIN + "".join(lines) + CREDENTIALS_END


def replace_between(text: str, begin: str, end: str, block: str) -> str:
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[:start] + block + text[stop:]


def main() -> int:
    targets = [
        (ROOT / "meltano.yml", BEGIN, END, settings_block()),
        (SETTINGS_DOC, README_BEGIN, README_END, readme_table()),
        *(
            (doc, CREDENTIALS_BEGIN, CREDENTIALS_END, credentials_table(doc))
            for doc in CREDENTIALS_DOCS
        ),
        (
            ROOT / "docs" / "sandbox.md",
            sandbox_cli.BEGIN,
            sandbox_cli.END,
            sandbox_cli.option_tables(),
        ),
    ]
    stale = []
    if not STREAMS_DOC.exists() or STREAMS_DOC.read_text() != streams_doc():
        if "--check" in sys.argv:
            stale.append(STREAMS_DOC.relative_to(ROOT).as_posix())
        else:
            STREAMS_DOC.parent.mkdir(exist_ok=True)
            STREAMS_DOC.write_text(streams_doc())
    for path, begin, end, block in targets:
        text = path.read_text()
        updated = replace_between(text, begin, end, block)
        if updated == text:
            continue
        if "--check" in sys.argv:
            stale.append(path.relative_to(ROOT).as_posix())
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
