"""Branch credits (Public API v1, public-api-v1.md): `credit_history`, `credit_balances`, `app_config`.

The tap only reads: it never calls the endpoints that add, redeem or reconcile
credits, nor those that create links or apps.
"""

from __future__ import annotations

import typing as t
from urllib.parse import parse_qs, urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import BaseAPIPaginator

from tap_branch import clock
from tap_branch.errors import describe_response, json_answer
from tap_branch.records.typers import CATCH_ALL_PROPERTIES
from tap_branch.redaction import redact
from tap_branch.streams.credits.app_config import USER_ID_SETTING, AppConfigStream
from tap_branch.streams.credits.base import PublicApiStream

if t.TYPE_CHECKING:
    import requests

    from tap_branch.config.apps import BranchApp

#: Branch's default `length`: the one page size its documents promise it answers in full.
BRANCH_DEFAULT_LENGTH = 100

SETTINGS = [
    th.Property(
        "credit_identities",
        # One `type` list, not `anyOf`: the SDK adds "null" to an `anyOf` as a bare string,
        # which is no schema (strict validators reject it). "string" first: Meltano's kind.
        th.CustomType({"type": ["string", "array", "null"], "items": {"type": "string"}}),
        description="Credits: the identities (your user ids, as passed to Branch's identify call) whose credit "
        "history and balances are read. A list, or the path of a text file with one identity a line.",
    ),
    th.Property(
        "credit_buckets",
        th.ArrayType(th.StringType),
        description="Credits: only these credit buckets (default: every bucket). The history is then "
        "read and bookmarked bucket by bucket.",
    ),
    th.Property(
        "credit_history_page_size",
        th.IntegerType(minimum=1),
        default=BRANCH_DEFAULT_LENGTH,
        description="Credits: transactions asked for per credit history request (`length`; Branch's default "
        "100). Above 100, a page of 100 or more is followed by one more request, in case Branch caps pages.",
    ),
    th.Property(
        "credit_history_direction",
        th.StringType,
        default="asc",
        allowed_values=["asc", "1"],
        description="Credits: the `direction` value that asks Branch for least recent first. `asc` is the "
        "documented value; Branch's mobile SDKs send the ordinal `1` instead. Set `1` if the tap reports "
        "that Branch answered newest first.",
    ),
    th.Property(
        USER_ID_SETTING,
        th.StringType,
        secret=True,
        description="App config, legacy form: the Branch dashboard user id for `GET /v1/app/{app_id}` "
        "(Branch sends it on request). Used with `app_id` only for apps without a `branch_secret`; "
        "`app_config` reads by `branch_key` + `branch_secret` by default.",
    ),
]

APP_ID_PROPERTY = th.Property(
    "app_id",
    th.StringType,
    required=True,
    description="Branch app id (the branch_key when no app_id is configured).",
)
IDENTITY_PROPERTY = th.Property(
    "identity",
    th.StringType,
    required=True,
    description="The identity (your user id) the credits belong to.",
)

TRANSACTION_TYPES = (
    "0: a reward added automatically (the user completed an action or a referral); "
    "1: a reward added manually; 2: a redemption through Branch's API or SDKs; "
    "3 or 5: credits subtracted automatically because Branch detected fraud; "
    "4: a manual reconciliation (/v1/reconcile)."
)


class BeginAfterIdPaginator(BaseAPIPaginator[int | None]):
    """Credit history pages: the next one begins after the last transaction id of this one.

    Branch's page is full (`length` items) while more may follow; a shorter page is the last.
    Branch documents 100 as its default `length` and no maximum, so a `length` above 100 may
    be capped: a page of 100 or more items is then never taken for the last (one more request
    settles it) rather than skip the rest of the history. Ids are compared as integers: Branch
    sends them as text of varying length.
    """

    def __init__(self, start_value: int | None, page_size: int) -> None:
        super().__init__(start_value)
        self.page_size = page_size

    def has_more(self, response: requests.Response) -> bool:
        return len(history_page(response)) >= min(self.page_size, BRANCH_DEFAULT_LENGTH)

    def get_next(self, response: requests.Response) -> int | None:
        asked = asked_of(response)
        ids = [transaction_id(item, asked) for item in history_page(response)]
        return max(ids) if ids else None


def history_page(response: requests.Response) -> list:
    """The items of one credit history answer; `{}` is an empty page."""
    body = json_answer(
        response, f"the credit history request of {asked_of(response)}", (list, dict)
    )
    if body == {}:
        return []
    if not isinstance(body, list):
        raise FatalAPIError(
            f"Branch's answer to the credit history request of {asked_of(response)} is an object, "
            f"not a list of transactions: {describe_response(response)}"
        )
    return body


def asked_of(response: requests.Response) -> str:
    """The identity (and bucket) a credit request asked for, for errors."""
    query = parse_qs(urlsplit(response.request.url).query)
    asked = f"identity {query.get('identity', [''])[0]!r}"
    if query.get("bucket"):
        asked += f", bucket {query['bucket'][0]!r}"
    return asked


def transaction_id(item: t.Any, asked: str) -> int:
    try:
        return int(str(item["transaction"]["id"]))
    except (TypeError, KeyError, ValueError):
        raise FatalAPIError(
            f"Branch's credit history of {asked} has a transaction without an integer id: "
            f"{redact(str(item)[:200])}"
        ) from None


def flatten_transaction(item: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """One credit history item as a flat record; fields the docs do not name go to `extra_columns`."""
    transaction = dict(item.get("transaction") or {})  # a dict: `transaction_id` checked it
    raw_event = item.get("event")
    # An event that is not an object is kept whole, as text in `extra_columns` ('event').
    event = dict(raw_event) if isinstance(raw_event, dict) else {}
    flat: dict[str, t.Any] = {
        "transaction_id": transaction.pop("id", None),
        "date": transaction.pop("date", None),
        "bucket": transaction.pop("bucket", None),
        "type": transaction.pop("type", None),
        "amount": transaction.pop("amount", None),
        "identity_id": transaction.pop("identity_id", None),
        "event_name": event.pop("name", None),
        "event_metadata": event.pop("metadata", None),
    }
    flat.update({f"transaction_{key}": value for key, value in transaction.items()})
    flat.update({f"event_{key}": value for key, value in event.items()})
    flat.update({key: value for key, value in item.items() if key not in ("transaction", "event")})
    if raw_event is not None and not isinstance(raw_event, dict):
        flat["event"] = raw_event
    return flat


class CreditHistoryStream(PublicApiStream):
    """`GET /v1/credithistory`: each identity's credit transactions, least recent first.

    Incremental by transaction id per (app, identity): each request begins after
    the last id seen. The whole history is read on the first run: Branch pages it
    by id, not by date, so `start_date` does not apply.
    """

    name = "credit_history"
    path = "/v1/credithistory"
    primary_keys = ("app_id", "identity", "transaction_id")
    replication_key = "transaction_id"
    is_sorted = True
    schema = th.PropertiesList(
        APP_ID_PROPERTY,
        IDENTITY_PROPERTY,
        th.Property(
            "transaction_id",
            th.IntegerType,
            required=True,
            description="Branch's credit transaction id (sent as text; ids grow with time). The bookmark.",
        ),
        th.Property("date", th.DateTimeType, description="When the transaction happened (UTC)."),
        th.Property(
            "bucket", th.StringType, description="The credit bucket ('default' unless named)."
        ),
        th.Property("type", th.IntegerType, description="Transaction type. " + TRANSACTION_TYPES),
        th.Property(
            "amount", th.IntegerType, description="Credits added (positive) or taken (negative)."
        ),
        th.Property(
            "identity_id", th.StringType, description="Branch's own id of the identity, when sent."
        ),
        th.Property(
            "event_name", th.StringType, description="The event that triggered the transaction."
        ),
        th.Property(
            "event_metadata",
            th.ObjectType(additional_properties=True),
            description="The event's metadata.",
        ),
        th.Property(
            "referrer", th.StringType, description="Your user id of the referring user, if any."
        ),
        th.Property(
            "referree", th.StringType, description="Your user id of the referred user, if any."
        ),
        *CATCH_ALL_PROPERTIES,
    ).to_dict()

    def partition_extras(self) -> list[dict]:
        return [{"bucket": bucket} for bucket in self.config.get("credit_buckets") or []] or [{}]

    @property
    def page_size(self) -> int:
        # At least 1: the config schema's `minimum` refuses anything less, naming the setting.
        return int(self.config.get("credit_history_page_size", 100))

    def get_new_paginator(self) -> BeginAfterIdPaginator:
        return BeginAfterIdPaginator(self._begin_after, self.page_size)

    def get_url_params(self, context: dict | None, next_page_token: int | None) -> dict[str, t.Any]:
        params = {
            **super().get_url_params(context, next_page_token),
            "direction": self.config.get("credit_history_direction") or "asc",
            "length": self.page_size,
        }
        if context.get("bucket"):
            params["bucket"] = context["bucket"]
        if next_page_token is not None:
            params["begin_after_id"] = str(next_page_token)
        return params

    def bookmark(self, context: dict) -> int | None:
        """The last transaction id read for this partition; None before the first run.

        Without a bookmark the SDK offers `start_date` here, which is not an id.
        """
        value = self.get_starting_replication_key_value(context)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            # A hand-edited state may hold the id as text; the SDK compares the next ones as integers.
            self.get_context_state(context)["replication_key_value"] = int(value)
            return int(value)
        return None

    def records_of_identity(self, app: BranchApp, context: dict) -> t.Iterator[dict]:
        self._begin_after = self.bookmark(context)
        self._typer = self.identity_typer(app, context)
        count = 0
        for record in self.request_records(context):
            count += 1
            yield record
        if count == 0 and self._begin_after is None:
            if context.get("bucket"):
                # An empty bucket is ordinary; only a wholly empty history hints at an unknown identity.
                self.logger.info(
                    "%s: no credit history in bucket %r for identity %r (app %s).",
                    self.name,
                    context["bucket"],
                    context["identity"],
                    app.app_id,
                )
                return
            self.warn_nothing_for_identity("credit history", app, context)

    def parse_response(self, response: requests.Response) -> t.Iterator[dict]:
        items = history_page(response)
        asked = asked_of(response)
        ids = [transaction_id(item, asked) for item in items]
        direction = self.config.get("credit_history_direction") or "asc"
        if any(later <= earlier for earlier, later in zip(ids, ids[1:], strict=False)):
            raise FatalAPIError(
                f"{self.name} of {asked} (app {self._app.app_id}): Branch answered newest first "
                f"although the tap asked for least recent first with direction={direction}. Set "
                "'credit_history_direction' to the other value ('asc' or '1') that this account understands."
            )
        after = _begin_after_id(response)
        early = [item_id for item_id in ids if after is not None and item_id <= after]
        if early:
            # Whatever the cause, the next pages cannot be trusted to hold every transaction
            # after the bookmark: a page of one item, or one of old items, hides the order.
            raise FatalAPIError(
                f"{self.name} of {asked} (app {self._app.app_id}): asked for the transactions after "
                f"begin_after_id={after}, Branch answered transaction {early[0]}, which is not after it: "
                f"Branch ignores begin_after_id or answers newest first (direction={direction}). "
                "Set 'credit_history_direction' to the other value ('asc' or '1') that this account "
                "understands."
            )
        for item in items:
            yield self._typer(flatten_transaction(item))


def _begin_after_id(response: requests.Response) -> int | None:
    values = parse_qs(urlsplit(response.request.url).query).get("begin_after_id")
    return int(values[0]) if values else None


class CreditBalancesStream(PublicApiStream):
    """`GET /v1/credits`: each identity's balance per bucket, read again in full every run."""

    name = "credit_balances"
    path = "/v1/credits"
    primary_keys = ("app_id", "identity", "bucket")
    #: Full table: partitions only drive the requests; no per-identity state is kept.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema = th.PropertiesList(
        APP_ID_PROPERTY,
        IDENTITY_PROPERTY,
        th.Property("bucket", th.StringType, required=True, description="The credit bucket."),
        th.Property("balance", th.IntegerType, description="Credits in the bucket when read."),
        th.Property("read_at", th.DateTimeType, description="When the tap read the balance (UTC)."),
        *CATCH_ALL_PROPERTIES,
    ).to_dict()

    def get_new_paginator(self) -> None:
        return None

    def records_of_identity(self, app: BranchApp, context: dict) -> t.Iterator[dict]:
        self._typer = self.identity_typer(app, context)
        count = 0
        for record in self.request_records(context):
            count += 1
            yield record
        if count == 0:
            self.warn_nothing_for_identity("credit balance", app, context)

    def parse_response(self, response: requests.Response) -> t.Iterator[dict]:
        what = f"the credit balance request of {asked_of(response)}"
        body = json_answer(response, what, (dict, list))
        if body == []:
            return
        if not isinstance(body, dict):
            raise FatalAPIError(
                f"Branch's answer to {what} is a list, not an object of balances by bucket: "
                f"{describe_response(response)}"
            )
        read_at = clock.now().isoformat()
        wanted = set(self.config.get("credit_buckets") or [])
        for bucket, balance in body.items():
            if not wanted or bucket in wanted:
                yield self._typer({"bucket": bucket, "balance": balance, "read_at": read_at})


def build_streams(tap) -> list:
    return [CreditHistoryStream(tap), CreditBalancesStream(tap), AppConfigStream(tap)]
