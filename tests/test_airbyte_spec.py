"""The settings schema (`tap-branch --about`) and the Airbyte connection specification are valid
JSON Schema, checked by jsonschema's own metaschema check, and accept what the tap accepts."""

from __future__ import annotations

import importlib.metadata
import json
import pathlib
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml

from tap_branch.tap import TapBranch


@pytest.fixture(scope="module")
def about_settings() -> dict:
    about = subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(about.stdout)["settings"]


@pytest.fixture(scope="module")
def airbyte_spec() -> dict:
    spec = subprocess.run(
        [sys.executable, "-m", "tap_branch.airbyte.cli", "spec"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    (line,) = spec.stdout.splitlines()
    message = json.loads(line)
    assert message["type"] == "SPEC"
    return message["spec"]["connectionSpecification"]


def _strict(schema: dict) -> jsonschema.protocols.Validator:
    """The validator the schema's `$schema` names, checked against its metaschema first,
    then also against draft 7 (what Airbyte's platform reads), asserting formats."""
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def test_about_settings_are_valid_json_schema(about_settings):
    _strict(about_settings)
    identities = about_settings["properties"]["credit_identities"]
    assert "null" in identities["type"]  # optional, without a bare "null" schema in an anyOf


def test_the_airbyte_spec_is_valid_json_schema_with_secrets_marked(airbyte_spec):
    _strict(airbyte_spec)
    properties = airbyte_spec["properties"]
    for name in ("branch_secret", "access_token", "user_id"):
        assert properties[name]["airbyte_secret"] is True, name
    app_secret = properties["apps"]["items"]["properties"]["branch_secret"]
    assert app_secret["airbyte_secret"] is True
    assert not {"batch_config", "stream_maps", "flattening_enabled"} & set(properties)


@pytest.mark.parametrize(
    "change",
    [
        {"start_date": "2024-01-01"},
        {"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-01-31"},
        {"credit_identities": ["user-1", "user-2"]},
        {"credit_identities": "identities.txt"},
        {"credit_identities": None},
    ],
)
def test_what_the_tap_accepts_validates_strictly(about_settings, airbyte_spec, change):
    config = {"start_date": "2024-01-01", "branch_key": "key_live_x", **change}
    _strict(about_settings).validate(config)
    _strict(airbyte_spec).validate(config)
    if config.get("credit_identities") != "identities.txt":
        TapBranch(config=config, parse_env_config=False)  # and the tap takes it too


def test_strict_validation_still_refuses(about_settings):
    validator = _strict(about_settings)
    assert not validator.is_valid({"branch_key": "key_live_x"})  # start_date is required
    assert not validator.is_valid({"start_date": "2024-01-01", "credit_identities": 5})


def test_the_image_runs_the_console_script_at_the_package_version():
    """Dockerfile and metadata.yaml are not built here; at least they agree with the package."""
    root = pathlib.Path(__file__).resolve().parent.parent
    dockerfile = (root / "Dockerfile").read_text()
    version = importlib.metadata.version("tap-branch")
    scripts = {
        entry.name: entry.value
        for entry in importlib.metadata.distribution("tap-branch").entry_points
        if entry.group == "console_scripts"
    }
    assert scripts["tap-branch-airbyte"] == "tap_branch.airbyte.cli:main"
    assert 'ENTRYPOINT ["tap-branch-airbyte"]' in dockerfile
    assert re.search(r'^ENV AIRBYTE_ENTRYPOINT="tap-branch-airbyte"$', dockerfile, re.M)
    assert f"LABEL io.airbyte.version={version}" in dockerfile
    metadata = yaml.safe_load((root / "metadata.yaml").read_text())["data"]
    assert metadata["connectorType"] == "source"
    assert metadata["dockerImageTag"] == version
