"""Helpers the tests import: the sandbox's client and facts, the tap runner, and the external
programs' environments (PostgreSQL, S3, PyAirbyte, airbyte-cdk, target-postgres)."""

import pathlib
import sys

#: The project's root directory (README.md, meltano.yml, pyproject.toml).
ROOT = pathlib.Path(__file__).resolve().parents[2]
#: The `tap-branch` command of the environment running the tests (its console script).
TAP = pathlib.Path(sys.executable).parent / "tap-branch"
