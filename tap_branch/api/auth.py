"""Authenticators for Branch's two credential schemes.

- v2 APIs (cohort, custom exports, scheduled exports): an `Access-Token` header,
  which the SDK's `APIKeyAuthenticator` does as it is.
- v1 APIs (daily export, credits, app config): the app's `branch_key` and
  `branch_secret`, in the query string or the JSON body depending on the
  endpoint. The SDK has no authenticator that writes into a JSON body, hence
  `BranchKeyAuthenticator`.
"""

from __future__ import annotations

import json
import typing as t
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from singer_sdk.authenticators import APIAuthenticatorBase, APIKeyAuthenticator

from tap_branch.redaction import SECRETS

if t.TYPE_CHECKING:
    import requests

    from tap_branch.config.apps import BranchApp

Location = t.Literal["query", "json"]


class AccessTokenAuthenticator(APIKeyAuthenticator):
    """`Access-Token: <token>` on every request (Branch's v2 APIs)."""

    def __init__(self, token: str) -> None:
        super().__init__(key="Access-Token", value=token, location="header")
        SECRETS.add(token)


class BranchKeyAuthenticator(APIAuthenticatorBase):
    """Adds an app's `branch_key` (and `branch_secret` when the endpoint needs it).

    `location="query"` appends them to the query string, `location="json"` merges
    them into the JSON request body. `fields` picks what is sent: read endpoints
    that do not ask for the secret get the public key only (a secret not sent
    cannot leak), and the daily export's GET form has the key in its path.
    """

    def __init__(
        self,
        app: BranchApp,
        *,
        location: Location = "query",
        fields: t.Sequence[str] = ("branch_key", "branch_secret"),
    ) -> None:
        super().__init__()
        self.app = app
        self.location = location
        self.fields = tuple(fields)
        SECRETS.add(app.branch_secret)

    @property
    def credentials(self) -> dict[str, str]:
        values = {"branch_key": self.app.branch_key, "branch_secret": self.app.branch_secret}
        return {field: values[field] for field in self.fields}

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.location == "json":
            body = json.loads(request.body or b"{}")
            body.update(self.credentials)
            request.prepare_body(data=None, files=None, json=body)
        else:
            parts = urlsplit(request.url)
            query = [
                (k, v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if k not in self.credentials
            ]
            query.extend(self.credentials.items())
            request.url = urlunsplit(parts._replace(query=urlencode(query)))
        return request
