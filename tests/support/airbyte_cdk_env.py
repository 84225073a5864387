"""A virtualenv with a pinned airbyte-cdk, whose standard source tests run against
tap-branch-airbyte (tests/support/airbyte_standard/suite.py), and Airbyte's metadata models.

Like PyAirbyte's (tests/support/pyairbyte_env.py, whose builder it shares), it lives inside the
project's virtualenv (`<venv>/airbyte-cdk-<version>`), is built once with uv, and is
missing (the test then skipped, saying why) only when uv finds no Python 3.10 to 3.12:

    python tests/support/airbyte_cdk_env.py     # prints its python; ./scripts/test.sh runs this first
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # run as a script

from tests.support.pyairbyte_env import uv_virtualenv  # noqa: E402

AIRBYTE_CDK_VERSION = "7.39.1"
REQUIREMENTS = [
    f"airbyte-cdk=={AIRBYTE_CDK_VERSION}",
    "airbyte-connector-models==0.1.12",
    "pytest>=8",
]


def airbyte_cdk_python() -> pathlib.Path | None:
    return uv_virtualenv(f"airbyte-cdk-{AIRBYTE_CDK_VERSION}", REQUIREMENTS)


if __name__ == "__main__":
    found = airbyte_cdk_python()
    if found is None:
        print("No airbyte-cdk virtualenv: uv found no Python 3.10-3.12 for it.", file=sys.stderr)
    else:
        print(found)
