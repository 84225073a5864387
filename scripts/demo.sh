#!/usr/bin/env bash
# The demo: install, start the local Branch sandbox, run `meltano run tap-branch target-duckdb`,
# stop the sandbox, print the row count of each loaded table.
#   ./scripts/demo.sh
# Loads the last DEMO_DAYS (default 7) days into output/demo.duckdb. A second run is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
DEMO_DAYS="${DEMO_DAYS:-7}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.tap-branch-demo-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e . 'meltano>=3.5'
  touch "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
# Only the two plugins the demo runs (meltano.yml's target-postgres is there for your own runs).
meltano install tap-branch target-duckdb

mkdir -p output
SANDBOX_PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SANDBOX_PORT
tap-branch-sandbox --port "$SANDBOX_PORT" --quiet > output/sandbox.log 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$SANDBOX_PORT/_sandbox/health')" 2>/dev/null; then
    break
  fi
  sleep 0.2
done

DEMO_START_DATE="$(date -u -d "-$DEMO_DAYS days" +%F 2>/dev/null || "$VENV/bin/python" -c "import datetime as d; print(d.date.today() - d.timedelta(days=$DEMO_DAYS))")"
export DEMO_START_DATE
echo "Running tap-branch (from $DEMO_START_DATE) -> target-duckdb against the sandbox on port $SANDBOX_PORT"
meltano run tap-branch target-duckdb

kill "$sandbox_pid" 2>/dev/null || true
trap - EXIT
.meltano/loaders/target-duckdb/venv/bin/python scripts/demo_counts.py output/demo.duckdb
