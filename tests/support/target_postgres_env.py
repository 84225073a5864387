"""A virtualenv with meltanolabs-target-postgres, the Singer target the BATCH tests load into
PostgreSQL with, run as a user runs it: its own executable, fed the tap's stdout.

It pins its own singer-sdk, psycopg and SQLAlchemy, so it gets its own virtualenv inside the
project's (`<venv>/target-postgres-<version>`), built once with uv (a test dependency; it
caches wheels, so a fresh CI virtualenv takes seconds). pyarrow is added so the target can read
parquet BATCH files (the SDK's reader needs it; the target does not pull it in), and s3fs so it
reads batch files named by s3:// URLs:

    python tests/support/target_postgres_env.py   # prints the target's executable; ./scripts/test.sh runs this first
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

TARGET_POSTGRES_VERSION = "0.8.1"
PYARROW_VERSION = "26.0.1"
S3FS_VERSION = "2026.9.0"
REQUIREMENTS = (
    f"meltanolabs-target-postgres=={TARGET_POSTGRES_VERSION}",
    f"pyarrow=={PYARROW_VERSION}",
    f"s3fs=={S3FS_VERSION}",
)


def target_postgres() -> pathlib.Path:
    """The target-postgres executable of its virtualenv, built if missing."""
    home = pathlib.Path(sys.prefix) / f"target-postgres-{TARGET_POSTGRES_VERSION}"
    executable = home / "bin" / "target-postgres"
    done = home / ".installed"  # holds the requirements: a virtualenv built for others is rebuilt
    if done.exists() and done.read_text() == "\n".join(REQUIREMENTS):
        return executable
    uv = [sys.executable, "-m", "uv"]
    subprocess.run(
        [*uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(home)], check=True
    )
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--python", str(home / "bin" / "python"), *REQUIREMENTS],
        check=True,
    )
    done.write_text("\n".join(REQUIREMENTS))
    return executable


if __name__ == "__main__":
    print(target_postgres())
