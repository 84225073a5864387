"""Authenticators: the v2 `Access-Token` header and the v1 key/secret in the query or JSON body."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import requests

from tap_branch.api.auth import AccessTokenAuthenticator, BranchKeyAuthenticator
from tap_branch.config.apps import BranchApp
from tap_branch.redaction import redact

APP = BranchApp(
    app_id="app-1", branch_key="key_live_auth_test", branch_secret="secret_live_auth_test_1"
)


def _prepare(
    method: str = "GET", url: str = "https://api.example/v1/thing", **kwargs
) -> requests.PreparedRequest:
    return requests.Request(method, url, **kwargs).prepare()


def test_access_token_goes_in_the_header_only():
    auth = AccessTokenAuthenticator("api_app_auth_test_token")
    request = auth(_prepare(params={"a": "1"}))
    assert request.headers["Access-Token"] == "api_app_auth_test_token"
    assert "api_app_auth_test_token" not in request.url
    # Registered as a secret as soon as it is used.
    assert "api_app_auth_test_token" not in redact("token api_app_auth_test_token in text")


def test_key_and_secret_in_the_query():
    request = BranchKeyAuthenticator(APP)(_prepare(params={"export_date": "2024-01-01"}))
    query = parse_qs(urlsplit(request.url).query)
    assert query == {
        "export_date": ["2024-01-01"],
        "branch_key": [APP.branch_key],
        "branch_secret": [APP.branch_secret],
    }
    assert request.body is None


def test_query_fields_pick_what_is_sent_and_replace_existing_values():
    request = BranchKeyAuthenticator(APP, fields=("branch_secret",))(
        _prepare(url="https://api.example/v1/export/key_live_auth_test?branch_secret=stale&x=1")
    )
    parts = urlsplit(request.url)
    assert parts.path == "/v1/export/key_live_auth_test"
    assert parse_qs(parts.query) == {"x": ["1"], "branch_secret": [APP.branch_secret]}

    public_only = BranchKeyAuthenticator(APP, fields=("branch_key",))(_prepare())
    assert parse_qs(urlsplit(public_only.url).query) == {"branch_key": [APP.branch_key]}
    assert APP.branch_secret not in public_only.url


def test_key_and_secret_merged_into_the_json_body():
    request = BranchKeyAuthenticator(APP, location="json")(
        _prepare("POST", json={"export_date": "2024-01-01", "nested": {"a": [1]}})
    )
    body = json.loads(request.body)
    assert body == {
        "export_date": "2024-01-01",
        "nested": {"a": [1]},
        "branch_key": APP.branch_key,
        "branch_secret": APP.branch_secret,
    }
    assert APP.branch_secret not in request.url
    assert request.headers["Content-Type"] == "application/json"
    assert int(request.headers["Content-Length"]) == len(request.body)


def test_json_location_works_without_a_body():
    request = BranchKeyAuthenticator(APP, location="json", fields=("branch_key",))(_prepare("POST"))
    assert json.loads(request.body) == {"branch_key": APP.branch_key}


def test_the_secret_is_registered_and_never_in_repr():
    BranchKeyAuthenticator(APP)
    assert APP.branch_secret not in repr(APP)
    assert APP.branch_secret not in redact(f"failed with {APP.branch_secret}")
