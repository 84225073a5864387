"""Airbyte's standard source tests (`airbyte_cdk.test.standard_tests.SourceTestSuiteBase`)
against `tap-branch-airbyte`, the executable, and the sandbox; and `metadata.yaml` against
Airbyte's metadata models.

Run by tests/external/test_airbyte_standard.py in the virtualenv of a pinned airbyte-cdk
(tests/support/airbyte_cdk_env.py), not collected by the project's own pytest run (its name has
no `test_` prefix): the CDK pins pydantic, serpyco and more. That test starts the sandbox,
writes the configs the project's `acceptance-test-config.yml` names into a directory of its
own, and hands over through the environment:

- `TAP_BRANCH_AIRBYTE`: the executable to test;
- `AIRBYTE_STANDARD_ROOT`: the connector root the suite reads (that config file, the configs).

The CDK runs a Python `Source` in process; `TapBranchAirbyte` is one whose `spec`, `check`,
`discover` and `read` run the executable and hand back the messages it wrote, so the suite
sees what an Airbyte platform would. The docker image tests are deselected: this project's
machines have no container tooling (docs/airbyte.md).
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import tempfile
import typing as t

import yaml
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConnectorSpecification,
    Type,
)
from airbyte_cdk.models.connector_metadata import MetadataFile
from airbyte_cdk.sources import Source
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import (
    ConnectorMetadataDefinitionV0,
)

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

PROJECT = pathlib.Path(__file__).resolve().parents[3]
EXECUTABLE = os.environ.get("TAP_BRANCH_AIRBYTE", "tap-branch-airbyte")
ROOT = pathlib.Path(os.environ.get("AIRBYTE_STANDARD_ROOT", PROJECT))


class ExecutableFailed(RuntimeError):
    """The executable exited non-zero without a TRACE error message: not the protocol."""


class TapBranchAirbyte(Source):
    """tap-branch-airbyte as a CDK source: every command runs the executable."""

    _spec: t.ClassVar[ConnectorSpecification | None] = None

    def _run(self, command: str, **files: t.Any) -> t.Iterator[AirbyteMessage]:
        with tempfile.TemporaryDirectory() as directory:
            argv = [EXECUTABLE, command]
            for option, content in files.items():
                if content is None:
                    continue
                path = pathlib.Path(directory, f"{option}.json")
                path.write_text(json.dumps(content))
                argv += [f"--{option}", str(path)]
            with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as process:
                assert process.stdout is not None
                failed = False
                for line in process.stdout:
                    message = AirbyteMessageSerializer.load(json.loads(line))
                    failed |= message.type == Type.TRACE and message.trace.error is not None
                    yield message
            if process.returncode != 0 and not failed:
                raise ExecutableFailed(f"{argv[:2]} exited {process.returncode} without a trace")

    def _one(self, command: str, kind: Type, **files: t.Any) -> t.Any:
        messages = list(self._run(command, **files))
        found = [m for m in messages if m.type == kind]
        assert len(found) == 1, f"{command}: {len(found)} {kind.value} messages: {messages}"
        return found[0]

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        if TapBranchAirbyte._spec is None:  # the entrypoint asks for it before every command
            TapBranchAirbyte._spec = self._one("spec", Type.SPEC).spec
        return TapBranchAirbyte._spec

    def check(
        self, logger: logging.Logger, config: t.Mapping[str, t.Any]
    ) -> AirbyteConnectionStatus:
        return self._one("check", Type.CONNECTION_STATUS, config=config).connectionStatus

    def discover(self, logger: logging.Logger, config: t.Mapping[str, t.Any]) -> AirbyteCatalog:
        return self._one("discover", Type.CATALOG, config=config).catalog

    def read_catalog(self, catalog_path: str) -> t.Any:
        """As written: a catalog the CDK could not parse is for the executable to refuse."""
        return json.loads(pathlib.Path(catalog_path).read_text())

    def read_state(self, state_path: str | None) -> t.Any:
        return json.loads(pathlib.Path(state_path).read_text()) if state_path else None

    def read(
        self, logger: logging.Logger, config: t.Mapping[str, t.Any], catalog: t.Any, state: t.Any
    ) -> t.Iterator[AirbyteMessage]:
        yield from self._run("read", config=config, catalog=catalog, state=state)


class TestTapBranchAirbyte(SourceTestSuiteBase):
    connector = TapBranchAirbyte
    connector_name = "source-branch"

    @classmethod
    def get_connector_root_dir(cls) -> pathlib.Path:
        return ROOT


def test_metadata_is_valid_for_airbytes_metadata_models():
    path = PROJECT / "metadata.yaml"
    metadata = ConnectorMetadataDefinitionV0.model_validate(yaml.safe_load(path.read_text()))
    assert metadata.data.github_issue_label
    assert metadata.data.allowed_hosts and "api2.branch.io" in metadata.data.allowed_hosts.hosts
    assert (PROJECT / metadata.data.icon).is_file()
    assert MetadataFile.from_file(path).data.dockerRepository.count("/") == 1
    spec = TapBranchAirbyte().spec(logging.getLogger())
    assert spec.documentationUrl == str(metadata.data.documentation_url)
