"""Print the row count of every table the demo loaded (run with target-duckdb's own Python,
so the duckdb library that reads the file is the one that wrote it)."""

from __future__ import annotations

import sys

import duckdb


def main(path: str) -> int:
    connection = duckdb.connect(path, read_only=True)
    tables = connection.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('information_schema', 'pg_catalog') order by 1, 2"
    ).fetchall()
    if not tables:
        print(f"{path}: no tables loaded", file=sys.stderr)
        return 1
    width = max(len(f"{schema}.{name}") for schema, name in tables)
    print(f"Rows loaded into {path}:")
    for schema, name in tables:
        (count,) = connection.execute(f'select count(*) from "{schema}"."{name}"').fetchone()
        print(f"  {schema + '.' + name:<{width}}  {count:>9,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "output/demo.duckdb"))
