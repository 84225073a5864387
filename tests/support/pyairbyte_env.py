"""A virtualenv with PyAirbyte (PyPI `airbyte`), the Airbyte client the tests drive
tap-branch-airbyte with, as a user would: from another Python environment.

PyAirbyte pins much of its world (pydantic, SQLAlchemy, DuckDB, the Airbyte CDK), so it
gets its own virtualenv inside the project's (`<venv>/pyairbyte-<version>`), built once
with uv (a test dependency; it caches wheels, so a fresh CI virtualenv takes seconds):

    python tests/support/pyairbyte_env.py     # prints its python; ./scripts/test.sh runs this first

PyAirbyte supports Python 3.10 to 3.12. On another Python uv is asked for a 3.12 (one on
the machine, or one it downloads); when it cannot get one, there is no PyAirbyte
virtualenv and the PyAirbyte test is skipped, saying why.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

PYAIRBYTE_VERSION = "0.71.3"
SUPPORTED_PYTHONS = ((3, 10), (3, 12))


def pyairbyte_python() -> pathlib.Path | None:
    """The python of the PyAirbyte virtualenv, built if missing; None when it cannot be."""
    return uv_virtualenv(f"pyairbyte-{PYAIRBYTE_VERSION}", [f"airbyte=={PYAIRBYTE_VERSION}"])


def uv_virtualenv(name: str, requirements: list[str]) -> pathlib.Path | None:
    """The python of virtualenv `<venv>/<name>` with `requirements`, built with uv if missing
    (on a Python 3.10 to 3.12); None when uv can get no such Python."""
    home = pathlib.Path(sys.prefix) / name
    python = home / "bin" / "python"
    done = home / ".installed"
    if done.exists():
        return python
    low, high = SUPPORTED_PYTHONS
    supported = low <= sys.version_info[:2] <= high
    interpreter = sys.executable if supported else "{}.{}".format(*high)
    uv = [sys.executable, "-m", "uv"]
    made = subprocess.run([*uv, "venv", "--quiet", "--clear", "--python", interpreter, str(home)])
    if made.returncode != 0:
        if supported:
            raise SystemExit(f"uv could not create {home}")
        return None
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--python", str(python), *requirements], check=True
    )
    done.touch()
    return python


if __name__ == "__main__":
    found = pyairbyte_python()
    if found is None:
        print("No PyAirbyte virtualenv: uv found no Python 3.10-3.12 for it.", file=sys.stderr)
    else:
        print(found)
