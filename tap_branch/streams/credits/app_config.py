"""`app_config`: one record per app, from Branch's App API (public-api-v1.md).

Branch's migration note replaced `app_id` and `user_id` by `branch_key` and `branch_secret`,
and Branch's own client reads `GET /v1/app/{branch_key}?branch_secret=...`: that form is used
for every app with a key and secret. The document's older `GET /v1/app/{app_id}?user_id=...`
is the fallback for an app with an explicit `app_id` but no secret, when the (secret)
dashboard `user_id` is set. The stream is optional: without either it logs why and emits
nothing. Branch's answer can carry the app's `branch_secret`: fields that look like
credentials are dropped from the record and their values registered for log redaction.
"""

from __future__ import annotations

import functools
import typing as t
from urllib.parse import quote

from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.exceptions import FatalAPIError

from tap_branch.api.auth import BranchKeyAuthenticator
from tap_branch.api.stream import BranchStream
from tap_branch.config.apps import BranchApp, configured_apps, secret_setting, v2_app_ids
from tap_branch.config.probes import Probe, deselect_advice
from tap_branch.errors import (
    CREDENTIALS,
    UNAVAILABLE,
    RequestRejected,
    branch_error_message,
    describe_response,
    json_answer,
    refuses_credentials,
    rejection_kind,
)
from tap_branch.records.typers import CATCH_ALL_PROPERTIES, DictTyper
from tap_branch.redaction import SECRETS, SENSITIVE_QUERY_KEYS, redact
from tap_branch.streams.credits.credential import APP_CONFIG

if t.TYPE_CHECKING:
    import requests

USER_ID_SETTING = "user_id"

_TEXT_FIELDS = {
    "app_key": "The app's key.",
    "branch_key": "The app's Branch key (public).",
    "app_name": "Name of the app.",
    "dev_name": "Main contact name.",
    "dev_email": "Main contact email.",
    "dev_phone_number": "Main contact phone.",
    "android_url": "Android store URL, or the package namespace.",
    "android_uri_scheme": "The Android URI scheme.",
    "ios_url": "iOS store URL, or the app id (id512451233).",
    "ios_uri_scheme": "The iOS URI scheme.",
    "ios_store_country": "Country code of the app's store (default US).",
    "web_url": "Backup website if the URLs are null.",
    "short_url_domain": "White-labeled domain of short links.",
    "text_message": "Text-me message; {{ link }} is replaced with the short link.",
    "og_app_id": "Default Open Graph app id.",
    "og_title": "Default OG title.",
    "og_image_url": "Default OG image URL.",
    "og_description": "Default OG description.",
}


def is_credential_field(name: str) -> bool:
    lowered = name.lower()
    return "secret" in lowered or lowered in SENSITIVE_QUERY_KEYS


def without_credentials(value: t.Any) -> t.Any:
    """`value` without credential-like fields at any depth (objects inside objects or lists);
    their values are registered for log redaction. Branch's answer nests settings objects."""
    if isinstance(value, dict):
        kept = {}
        for name, item in value.items():
            if is_credential_field(str(name)):
                SECRETS.add(item)
            else:
                kept[name] = without_credentials(item)
        return kept
    if isinstance(value, list):
        return [without_credentials(item) for item in value]
    return value


class AppConfigStream(BranchStream):
    name = "app_config"
    _app_key: BranchApp | None = None
    path = "/v1/app/{app_id}"
    primary_keys = ("app_id",)
    #: Selected without a way to read it (`APP_CONFIG.check`), the run fails.
    credentials = APP_CONFIG
    #: Full table: partitions (one per app) only drive the requests; no state is kept.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema = th.PropertiesList(
        th.Property("app_id", th.StringType, required=True, description="Branch app id."),
        th.Property("creation_date", th.DateTimeType, description="When the app was created."),
        *(
            th.Property(name, th.StringType, description=text)
            for name, text in _TEXT_FIELDS.items()
        ),
        *CATCH_ALL_PROPERTIES,
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: App id -> the records the connection test read (`probe`), for this run's own read.
        self._probed: dict[str, list[dict]] = {}

    @property
    def partitions(self) -> list[dict]:
        return [{"app_id": app_id} for app_id in self._apps()]

    def _apps(self) -> dict[str, BranchApp | None]:
        """App id -> the app's key and secret, or None where only the legacy form can read it."""
        keyed: dict[str, BranchApp | None] = {
            app.app_id: app for app in configured_apps(self.config) if app.branch_secret
        }
        if self.config.get(USER_ID_SETTING):
            # The legacy form reads an app by its app_id (tap_branch.config.apps: the v2 rule).
            for app_id in v2_app_ids(self.config, [self.name]):
                keyed.setdefault(app_id, None)
        return keyed

    def get_url(self, context: dict | None) -> str:
        app = self._app_key
        segment = app.branch_key if app is not None else str((context or {})["app_id"])
        return f"{self.url_base}/v1/app/{quote(segment, safe='')}"

    @property
    def authenticator(self) -> APIKeyAuthenticator | BranchKeyAuthenticator:
        if self._app_key is not None:
            return BranchKeyAuthenticator(self._app_key, fields=("branch_secret",))
        SECRETS.add(self.config[USER_ID_SETTING])
        return APIKeyAuthenticator(
            key="user_id", value=self.config[USER_ID_SETTING], location="params"
        )

    def get_new_paginator(self) -> None:
        return None

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status in (401, 403, 404, 410) or (
            status == 400
            and rejection_kind(400, _detail(response), asked=self._app_id) == CREDENTIALS
        ):
            raise RequestRejected(describe_response(response), status, _detail(response))
        super().validate_response(response)

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        if not context:
            self.logger.info(
                "app_config is read only for apps with 'branch_key' and 'branch_secret', or when "
                "settings 'user_id' and 'app_id' (or 'apps' entries with an app_id) are set; skipping it."
            )
            return
        self._app_id = context["app_id"]
        self._app_key = self._apps().get(self._app_id)
        probed = self._probed.pop(self._app_id, None)
        if probed is not None:  # the connection test's answer, this run's: asked once
            yield from probed
            return
        try:
            yield from self.request_records(context)
        except RequestRejected as exc:
            kind = rejection_kind(exc.status, exc.detail, asked=context["app_id"])
            if kind == CREDENTIALS:
                setting = (
                    "'branch_secret' (or the 'apps' entry's)"
                    if self._app_key is not None
                    else f"'{USER_ID_SETTING}'"
                )
                raise FatalAPIError(
                    f"Branch rejected the credentials of app '{context['app_id']}' for its app "
                    f"config ({exc}). Check setting {setting}."
                ) from None
            self.logger.warning(
                "app_config: Branch answered HTTP %s for app '%s'. Either the app id is wrong (setting "
                "'app_id' or the 'apps' entries) or %s: Branch removed the App API from its public docs "
                "in 2021. Skipping this app. Branch said: %s",
                exc.status,
                context["app_id"],
                "the App API is not available to this account"
                if kind == UNAVAILABLE
                else "it is not readable",
                exc.detail,
            )

    def probe(self) -> Probe | None:
        """The connection test's call: the config of the first app this stream reads, with the
        credential it reads it by (an app's key and secret first; else `user_id`)."""
        apps = self._apps()
        app_id = next((a for a, key in apps.items() if key is not None), None)
        app_id = app_id or next(iter(apps), None)
        if app_id is None:
            return None
        key = apps[app_id]
        if key is None:
            credential, setting = USER_ID_SETTING, f"setting '{USER_ID_SETTING}'"
        else:
            credential = f"branch_key/branch_secret of app {app_id}"
            setting = secret_setting(self.config, app_id)
        return Probe(
            credential=credential,
            setting=setting,
            asks=f"the app config of app {app_id}",
            call=functools.partial(self._read_one, app_id),
            product="Branch's App API",
            avoid=deselect_advice([self]),
            streams=(self,),
            asked=app_id,
        )

    def _read_one(self, app_id: str) -> str | None:
        """One app's config; a note when Branch gives none without refusing the credential
        (as `get_records`, which skips such an app with a warning)."""
        self._app_id = app_id
        self._app_key = self._apps().get(app_id)
        try:
            records = list(self.request_records({"app_id": app_id}))  # one record, at most
        except RequestRejected as exc:
            if refuses_credentials(exc.status, exc.detail, asked=app_id):
                raise
            return (
                f"no app config of app {app_id}: Branch answered HTTP {exc.status}, "
                f"{exc.detail}; app_config skips that app"
            )
        # kept for the stream's own read of that app, later in this run (`get_records`)
        self._probed[app_id] = records
        return None

    def parse_response(self, response: requests.Response) -> t.Iterator[dict]:
        body = without_credentials(
            json_answer(response, f"the app config request of app '{self._app_id}'")
        )
        body.pop("app_id", None)  # the partition's app id is the key
        typer = DictTyper(
            self.schema,
            source=f"app_config of app '{self._app_id}'",
            constants={"app_id": self._app_id},
            logger=self.logger,
        )
        yield typer(body)


def _detail(response: requests.Response) -> str:
    return redact(branch_error_message(response) or (response.text or "")[:500])
