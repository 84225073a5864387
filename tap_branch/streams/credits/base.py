"""What the Public API v1 credit reads share: one request sequence per (app, identity).

Branch answers these reads per identity, and a 4xx can mean four different
things, which the tap must not confuse:
- the app's key is wrong: a clear error naming the setting (nothing can be read);
- the endpoint is gone for this account (Branch removed these pages from its
  docs in 2021; 410, or a 404 that is not about the identity): a warning, and
  the app's other identities are not asked again;
- Branch does not know this identity (a 404 about the identity; Branch documents
  no error for it, and answers an unknown identity with an empty list or object):
  a warning, and the next identity;
- anything else (400, 408, 409, 422, ...): Branch refused this request, for a reason
  the tap cannot read as "nothing to read": an error naming the request.
The SDK has no notion of a per-partition error, hence `PublicApiStream.get_records`.
"""

from __future__ import annotations

import typing as t
from functools import cached_property

from singer_sdk.exceptions import FatalAPIError

from tap_branch.api.auth import BranchKeyAuthenticator
from tap_branch.api.stream import BranchStream
from tap_branch.config.apps import BranchApp, configured_apps, find_app
from tap_branch.config.credentials import KEY_ONLY
from tap_branch.errors import (
    CREDENTIALS,
    REFUSED,
    UNAVAILABLE,
    RequestRejected,
    branch_error_message,
    describe_response,
    rejection_kind,
)
from tap_branch.output.sdk_internals import StreamStateManager, state_manager_of
from tap_branch.records.typers import DictTyper
from tap_branch.redaction import redact
from tap_branch.streams.credits.identities import SETTING as IDENTITIES_SETTING
from tap_branch.streams.credits.identities import configured_identities

if t.TYPE_CHECKING:
    import requests


def key_setting(config: t.Mapping[str, t.Any], app: BranchApp) -> str:
    """Where the user sets this app's key, for error messages."""
    if config.get("apps"):
        return f"the 'apps' entry with app_id '{app.app_id}' (its 'branch_key')"
    return "'branch_key'"


class IndexedStateManager(StreamStateManager):
    """The SDK's state manager, finding a partition's state by key instead of by a scan.

    The SDK scans every partition's state several times per partition (and once
    per record while bookmarking): quadratic, minutes with thousands of identities.
    Same entries, same layout; only the lookup differs.
    """

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self._index: dict[tuple, dict] = {}
        self._indexed: list | None = None

    def get_context_state(self, context: dict | None) -> dict:
        partition = self.get_state_partition_context(context)
        if not partition:
            return super().get_context_state(context)
        partitions = self.stream_state.setdefault("partitions", [])
        if partitions is not self._indexed or len(partitions) != len(self._index):
            self._index = {_partition_key(p["context"]): p for p in partitions}
            self._indexed = partitions
        key = _partition_key(partition)
        state = self._index.get(key)
        if state is None:
            state = {"context": dict(partition)}
            partitions.append(state)
            self._index[key] = state
        return state


def _partition_key(context: t.Mapping[str, t.Any]) -> tuple:
    return tuple(sorted(context.items()))


class PublicApiStream(BranchStream):
    """A Public API v1 read, partitioned by (app_id, identity), sending the public branch_key only.

    `credentials = KEY_ONLY`: these reads document only `branch_key` and `identity`; a
    `branch_secret` not sent cannot leak, so it is not required either.
    """

    credentials = KEY_ONLY
    # Opt-in, as Custom Exports: without `credit_identities` (your own user ids, which no
    # default can guess) these streams read nothing, so a default selection would load empty
    # tables. Select them with the identities set.
    selected_by_default = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._app: BranchApp | None = None
        self._authenticators: dict[str, BranchKeyAuthenticator] = {}
        self._unavailable_apps: set[str] = set()
        self._warned_no_identities = False

    # --- partitions and auth -----------------------------------------------------------

    @cached_property
    def identities(self) -> list[str]:
        return configured_identities(self.config)

    def partition_extras(self) -> list[dict]:
        """More partition keys per (app, identity); [{}] for none."""
        return [{}]

    @cached_property
    def _partitions(self) -> list[dict]:
        extras = self.partition_extras()
        return [
            {"app_id": app.app_id, "identity": identity, **extra}
            for app in configured_apps(self.config)
            for identity in self.identities
            for extra in extras
        ]

    @property
    def partitions(self) -> list[dict]:
        # Cached: the SDK reads this more than once a run, and it may come from a file.
        return self._partitions

    @property
    def state_manager(self) -> StreamStateManager:
        return state_manager_of(self, IndexedStateManager)

    @property
    def authenticator(self) -> BranchKeyAuthenticator:
        app = self._app
        if app is None:  # pragma: no cover - get_records sets it before any request
            raise RuntimeError(f"{self.name}: no app selected before a request")
        if app.app_id not in self._authenticators:
            self._authenticators[app.app_id] = BranchKeyAuthenticator(
                app, location="query", fields=("branch_key",)
            )
        return self._authenticators[app.app_id]

    def get_url_params(self, context: dict | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"identity": context["identity"]}

    # --- errors ------------------------------------------------------------------------

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if 400 <= status < 500 and status != 429 and status not in self.extra_retry_statuses:
            detail = branch_error_message(response) or (response.text or "")[:500]
            raise RequestRejected(describe_response(response), status, redact(detail))
        super().validate_response(response)

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        if not context:
            if not self._warned_no_identities:
                self._warned_no_identities = True
                self.logger.warning(
                    "%s is selected but setting '%s' lists no identities: nothing to read. "
                    "Set it (a list, or a file with one identity a line) or deselect the stream.",
                    self.name,
                    IDENTITIES_SETTING,
                )
            return
        app = find_app(self.config, context["app_id"])
        if app.app_id in self._unavailable_apps:
            return
        self._app = app
        try:
            yield from self.records_of_identity(app, context)
        except RequestRejected as exc:
            self._handle_rejection(exc, app, context)

    def records_of_identity(self, app: BranchApp, context: dict) -> t.Iterator[dict]:
        """The records of one partition; the default is the SDK's request loop."""
        yield from self.request_records(context)

    def identity_typer(self, app: BranchApp, context: dict) -> DictTyper:
        """Types one partition's records, each stamped with its app and identity."""
        return DictTyper(
            self.schema,
            source=f"{self.name} of identity {context['identity']!r} (app {app.app_id})",
            constants={"app_id": app.app_id, "identity": context["identity"]},
            logger=self.logger,
        )

    def warn_nothing_for_identity(self, what: str, app: BranchApp, context: dict) -> None:
        self.logger.warning(
            "%s: Branch returned no %s for identity %r (app %s); an identity Branch "
            "does not know is answered so. Going on with the next identity.",
            self.name,
            what,
            context["identity"],
            app.app_id,
        )

    def _handle_rejection(self, exc: RequestRejected, app: BranchApp, context: dict) -> None:
        kind = rejection_kind(exc.status, exc.detail, asked=context["identity"])
        if kind == CREDENTIALS:
            raise FatalAPIError(
                f"Branch rejected the Branch key of app '{app.app_id}' ({exc}). "
                f"Check setting {key_setting(self.config, app)}."
            ) from None
        if kind == UNAVAILABLE:
            self._unavailable_apps.add(app.app_id)
            self.logger.warning(
                "%s: Branch answered HTTP %s for %s (app %s): this Public API v1 endpoint is not available "
                "to this account (Branch removed it from its public docs in 2021). Skipping %s for this app. "
                "Branch said: %s",
                self.name,
                exc.status,
                self.path,
                app.app_id,
                self.name,
                exc.detail,
            )
            return
        if kind == REFUSED:
            raise FatalAPIError(
                f"{self.name}: Branch refused the request for identity {context['identity']!r} "
                f"(app {app.app_id}): {exc}. Only an empty answer or a 404 about the identity is "
                "read as an identity Branch does not know; this answer is not, so the run stops "
                "rather than skip the identity's credits."
            ) from None
        self.logger.warning(
            "%s: Branch does not know identity %r (app %s): %s. Going on with the next identity.",
            self.name,
            context["identity"],
            app.app_id,
            exc,
        )
