"""A settings-schema refusal's text (`describe`): the validator's message and where it is."""

import pytest
from singer_sdk.plugin_base import JSONSchemaValidator

from tap_branch.config.validation import describe
from tap_branch.tap import TapBranch


def _refusals(config: dict) -> list[str]:
    schema = TapBranch.config_jsonschema
    TapBranch.append_builtin_config(schema)
    return sorted(describe(error) for error in JSONSchemaValidator(schema).iter_errors(config))


@pytest.mark.parametrize(
    ("config", "texts"),
    [
        ({}, ["'start_date' is a required property"]),
        ({"start_date": 5}, ["5 is not of type 'string' in config['start_date']"]),
        (
            {"start_date": "x", "apps": [{"branch_key": 3}, "s"]},
            [
                "'s' is not of type 'object' in config['apps'][1]",
                "3 is not of type 'string' in config['apps'][0]['branch_key']",
            ],
        ),
        (
            {"start_date": "x", "apps": [{"nope": 3}]},
            ["'branch_key' is a required property in config['apps'][0]"],
        ),
        (
            {"start_date": "x", "batch_config": {"encoding": {"format": 1}}},
            [
                "1 is not of type 'string', 'null' in config['batch_config']['encoding']['format']",
                "1 is not one of ['jsonl', 'parquet'] in config['batch_config']['encoding']['format']",
            ],
        ),
        (
            {"start_date": "x", "request_timeout": 0, "max_retries": "three"},
            [
                "'three' is not of type 'integer', 'null' in config['max_retries']",
                "0 is less than the minimum of 1 in config['request_timeout']",
            ],
        ),
    ],
)
def test_a_refusal_names_the_setting_as_the_sdks_validation_did(config, texts):
    assert _refusals(config) == texts
