"""The credits family's pure rules: how a 4xx is read, how identities are given."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.errors import (
    CREDENTIALS,
    IDENTITY,
    REFUSED,
    UNAVAILABLE,
    rejection_kind,
)
from tap_branch.streams.credits.identities import configured_identities


@pytest.mark.parametrize(
    ("status", "detail", "kind"),
    [
        (400, "Authentication failed !", CREDENTIALS),
        (401, "", CREDENTIALS),
        (403, "Forbidden", CREDENTIALS),
        (400, "Invalid branch_key", CREDENTIALS),
        (410, "Gone", UNAVAILABLE),
        (404, "Not found: /v1/credithistory", UNAVAILABLE),
        (404, "<html>Cannot GET /v1/credits</html>", UNAVAILABLE),
        (404, "Identity not found: ghost", IDENTITY),
        (404, "User does not exist", IDENTITY),
        (400, "Identity not found: ghost", REFUSED),
        (422, "bad identity", REFUSED),
        (400, "Invalid value for direction: asc", REFUSED),
        (408, "Request Timeout", REFUSED),
    ],
)
def test_rejection_kind(status, detail, kind):
    assert rejection_kind(status, detail) == kind


@pytest.mark.parametrize(("status", "kind"), [(400, REFUSED), (404, IDENTITY)])
def test_words_of_the_identity_itself_are_not_branchs(status, kind):
    """Branch quotes the identity; an identity like 'author@...' is no credentials problem."""
    detail = "Identity not found: author@example.com"
    assert rejection_kind(status, detail, asked="author@example.com") == kind
    assert rejection_kind(status, "Invalid branch_key", asked="author@example.com") == CREDENTIALS


def test_identities_list_is_cleaned_in_order():
    config = {"credit_identities": [" user-2", "user-1", "user-2", "", 42]}
    assert configured_identities(config) == ["user-2", "user-1", "42"]
    assert (
        configured_identities({}) == [] and configured_identities({"credit_identities": []}) == []
    )


@pytest.mark.parametrize("value", ['["user-1", ', [None], [True], {"a": 1}])
def test_bad_identities_setting_names_it(value):
    with pytest.raises(ConfigValidationError, match="credit_identities"):
        configured_identities({"credit_identities": value})
