"""A virtualenv with PyAirbyte (PyPI `airbyte`), the Airbyte client the tests drive
tap-branch-airbyte with, as a user would: from another Python environment.

PyAirbyte pins much of its world (pydantic, SQLAlchemy, DuckDB, the Airbyte CDK), so it
gets its own virtualenv inside the project's (`<venv>/pyairbyte-<version>`), built once
with uv (a test dependency; it caches wheels, so a fresh CI virtualenv takes seconds):

    python tests/pyairbyte_env.py     # prints its python; ./scripts/test.sh runs this first
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

PYAIRBYTE_VERSION = "0.71.3"


def pyairbyte_python() -> pathlib.Path:
    """The python of the PyAirbyte virtualenv, built if missing."""
    home = pathlib.Path(sys.prefix) / f"pyairbyte-{PYAIRBYTE_VERSION}"
    python = home / "bin" / "python"
    done = home / ".installed"
    if not done.exists():
        uv = [sys.executable, "-m", "uv"]
        subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(home)], check=True)
        subprocess.run(
            [
                *uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(python),
                f"airbyte=={PYAIRBYTE_VERSION}",
            ],
            check=True,
        )
        done.touch()
    return python


if __name__ == "__main__":
    print(pyairbyte_python())
