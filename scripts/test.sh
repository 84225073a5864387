#!/usr/bin/env bash
# The test command: set up (once) a virtualenv with the project and its test extras, then lint and test.
#   ./scripts/test.sh [pytest args...]       e.g. ./scripts/test.sh tests/unit/test_clock.py
# VENV=path picks the virtualenv (default .venv); CI passes a fresh one.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.tap-branch-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[test]'
  touch "$stamp"
fi
# PyAirbyte, the Airbyte client of tests/external/test_pyairbyte.py, in a virtualenv of its own
# inside $VENV (it pins many packages); built once, with uv's wheel cache.
"$VENV/bin/python" tests/support/pyairbyte_env.py >/dev/null
# airbyte-cdk (pinned), whose standard source tests tests/external/test_airbyte_standard.py runs, likewise.
"$VENV/bin/python" tests/support/airbyte_cdk_env.py >/dev/null
# meltanolabs-target-postgres, the BATCH-reading target of tests/external/test_postgres.py, likewise.
"$VENV/bin/python" tests/support/target_postgres_env.py >/dev/null
"$VENV/bin/ruff" check tap_branch tap_branch_sandbox tests benchmarks scripts
"$VENV/bin/ruff" format --check tap_branch tap_branch_sandbox tests benchmarks scripts
"$VENV/bin/python" scripts/sync_settings.py --check
# The docs site (mkdocs.yml): --strict fails on a broken link or a page missing from nav. Built
# into a temporary directory, never into the repository.
site="$(mktemp -d)"
trap 'rm -rf "$site"' EXIT
NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --quiet --site-dir "$site"
# pytest-xdist workers: one more than the cores, up to 3 (as on CI's two): a fifth of the suite's
# time is spent waiting (sandbox jobs, Meltano, PostgreSQL), which a third worker fills (measured
# on 2 cores: 5:51 against 6:31 on two workers). pyproject's addopts say how they share the
# tests (tests/support/scheduling.py). `-n 0` among the arguments runs one process.
workers=0
cores="$(nproc)"
if [ "$cores" -ge 2 ]; then workers=$((cores + 1 < 3 ? cores + 1 : 3)); fi
"$VENV/bin/python" -m pytest -n "$workers" "$@"
