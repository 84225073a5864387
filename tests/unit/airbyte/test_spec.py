"""The settings schema (`tap-branch --about`) and the Airbyte connection specification are valid
JSON Schema, checked by jsonschema's own metaschema check, and accept what the tap accepts."""

from __future__ import annotations

import collections
import importlib.metadata
import json
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml

from tap_branch.airbyte.inputs import InputError
from tap_branch.airbyte.spec import DOCUMENTATION_URL, tap_config
from tap_branch.tap import TapBranch
from tests.support import ROOT


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
        {"start_date": "2024-01-01", "end_date": "2024-01-31"},
        {"credit_identities": ["user-1", "user-2"]},
        {"credit_identities": None},
        {"custom_exports_filter": '["eq", "attributed", "true"]'},
        {"custom_exports_fields": '{"default": ["name", "timestamp"]}'},
        {
            "cohort_reports": [
                {"name": "by_os", "measures": ["users"], "filters": '{"user_data_os": ["IOS"]}'}
            ]
        },
    ],
)
def test_what_the_airbyte_form_gives_the_tap_takes(about_settings, airbyte_spec, change):
    """The form's shapes (dates, one type, JSON text) become the tap's config."""
    config = {"start_date": "2024-01-01", "branch_key": "key_live_x", **change}
    _strict(airbyte_spec).validate(config)
    given = tap_config(config)
    _strict(about_settings).validate(given)
    TapBranch(config=given, parse_env_config=False)  # and the tap takes it too
    if "custom_exports_filter" in change:
        assert given["custom_exports_filter"] == ["eq", "attributed", "true"]
    if "cohort_reports" in change:
        assert given["cohort_reports"][0]["filters"] == {"user_data_os": ["IOS"]}


def test_json_text_that_is_not_json_names_the_setting():
    with pytest.raises(InputError, match=r"'custom_exports_filter' is not JSON text"):
        tap_config({"custom_exports_filter": "[eq, attributed]"})


def test_json_text_of_a_list_entry_that_is_not_json_names_the_entry():
    """Of several reports, the one whose filters are not JSON: its position and name."""
    good = {"name": "good", "filters": '{"user_data_os": ["IOS"]}'}
    bad = {"name": "by_os", "filters": "{user_data_os: IOS}"}
    with pytest.raises(
        InputError, match=r"'cohort_reports\[1\]\.filters' \(entry 'by_os'\) is not JSON text"
    ):
        tap_config({"cohort_reports": [good, bad]})


def test_the_form_has_what_airbytes_ui_needs(airbyte_spec):
    """Every setting titled, grouped and ordered; one type (or one and null); objects with
    properties; dates with a picker; the credentials saying which streams need them."""
    groups = [group["id"] for group in airbyte_spec["groups"]]
    assert groups == ["credentials", "sync", "tuning"]
    properties = airbyte_spec["properties"]
    orders = collections.defaultdict(list)
    for name, setting in properties.items():
        assert setting["title"] and setting["group"] in groups, name
        orders[setting["group"]].append(setting["order"])
    for group, numbers in orders.items():
        assert sorted(numbers) == list(range(len(numbers))), group
    assert properties["branch_secret"]["group"] == "credentials"
    assert properties["start_date"]["group"] == "sync"
    for name in ("branch_key", "branch_secret", "access_token", "app_id", "user_id"):
        assert "Needed by:" in properties[name]["description"], name

    def check(schema: dict, where: str) -> None:
        kind = schema.get("type")
        assert kind is not None, f"{where}: no type"
        if isinstance(kind, list):
            assert len(kind) == 2 and kind[1] == "null", f"{where}: {kind}"
        kinds = kind if isinstance(kind, list) else [kind]
        if "object" in kinds:
            assert schema.get("properties"), f"{where}: an object without properties"
        if "array" in kinds:
            check(schema["items"], f"{where}[]")
        for name, nested in (schema.get("properties") or {}).items():
            check(nested, f"{where}.{name}")

    for name, setting in properties.items():
        check(setting, name)
    for name in ("start_date", "end_date"):
        assert properties[name]["format"] == "date" and properties[name]["pattern"], name
        assert all(re.match(properties[name]["pattern"], e) for e in properties[name]["examples"])


def test_the_docs_the_spec_and_metadata_point_at_are_the_projects():
    root = ROOT
    metadata = yaml.safe_load((root / "metadata.yaml").read_text())["data"]
    assert metadata["documentationUrl"] == DOCUMENTATION_URL
    # the project's repository, its main branch: the file is this checkout's
    path = DOCUMENTATION_URL.split("/blob/main/", 1)[1]
    assert (root / path).is_file()


def test_strict_validation_still_refuses(about_settings):
    validator = _strict(about_settings)
    assert not validator.is_valid({"branch_key": "key_live_x"})  # start_date is required
    assert not validator.is_valid({"start_date": "2024-01-01", "credit_identities": 5})


def test_the_image_runs_the_console_script_at_the_package_version():
    """Dockerfile and metadata.yaml are not built here; at least they agree with the package."""
    root = ROOT
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
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")  # the connector runs unprivileged
    metadata = yaml.safe_load((root / "metadata.yaml").read_text())["data"]
    assert metadata["connectorType"] == "source"
    assert metadata["dockerImageTag"] == version
