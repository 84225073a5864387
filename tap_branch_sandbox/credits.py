"""Sandbox: Branch's Public API v1 reads for credits and the app config (public-api-v1.md).

- `GET /v1/credithistory?branch_key&identity&bucket&begin_after_id&length&direction`
- `GET /v1/credits?branch_key&identity`
- `GET /v1/app/<branch_key>?branch_secret=...` (the form Branch's own client uses, after the
  migration note that replaced `app_id`/`user_id` by `branch_key`/`branch_secret`), and the
  legacy `GET /v1/app/<app_id>?user_id=...` the document's endpoint line still shows

Every app has a deterministic credit ledger per identity: `user-1` .. `user-100`
by default, the same for a given seed on every run. Transactions happen from
2024-01-01 on and become visible once their UTC day is before the sandbox's
today, so advancing the sandbox clock adds transactions between two runs.
Transaction ids grow with time and cross from 17 to 18 digits at 2025-01-01,
so their string order differs from their numeric order, as Branch's can.
Balances are the sums of the visible ledger by bucket.

Options (flag `--option name=value` or `POST /_sandbox/options`):
- `credits_identity_count`: how many identities (`user-1` .. `user-N`) Branch knows (default 100)
- `credits_per_year`: average transactions a year per identity (default 12; every 25th identity has 10x)
- `credits_unknown_identity`: how an unknown identity is answered: `"empty"` (default: `[]` and `{}`)
  or an HTTP status (e.g. 400) with Branch's error body
- `credits_direction_values`: the `direction` values read as least recent first
  (default `["asc", "1"]`; anything else is most recent first, Branch's default)
- `credits_ignore_begin_after_id`: true answers every page from the start (a server that ignores it)
- `credits_page_cap`: the most transactions one answer holds, whatever `length` asks (default 100:
  Branch documents 100 as the default length and no maximum, so the sandbox takes the harsher
  variant, a cap at the default)
- `credits_rate_limit`: `[[requests, window seconds], ...]` per branch_key (default `[[1000, 60]]`)
- `app_config_user_id`: the dashboard user id `/v1/app` accepts (default `dashboard_user_sandbox`)

`state["credits"]` counts requests that carried a `branch_secret` (these reads never need it).
"""

from __future__ import annotations

import datetime as dt
import functools
import typing as t

from werkzeug.wrappers import Request, Response

from tap_branch_sandbox import synthetic as syn
from tap_branch_sandbox.server import Sandbox, json_response

DEFAULT_USER_ID = "dashboard_user_sandbox"
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
#: Ids are `ID_OFFSET + (milliseconds since EPOCH << 12) + identity number`: 18 digits from here on.
DIGITS_CROSSING = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
ID_SHIFT = 12
ID_OFFSET = 10**17 - (int((DIGITS_CROSSING - EPOCH).total_seconds() * 1000) << ID_SHIFT)
BUCKETS = ["default"] * 7 + ["bonus"] * 2 + ["other bucket"]
REWARD_EVENTS = ["install", "referral_signup", "purchase", "share_completed", "level_up"]
DEFAULT_RATE_LIMIT = [[1000, 60.0]]
LEAST_RECENT_FIRST = ["asc", "1"]
#: Branch's default `length`, the one page size its documents promise.
DEFAULT_PAGE_CAP = 100


def register(sandbox: Sandbox) -> None:
    def credit_history(request: Request) -> Response:
        ledger = _ledger_of_request(sandbox, request, empty=[])
        if isinstance(ledger, Response):
            return ledger
        args = request.args
        ascending = args.get("direction", "") in sandbox.option(
            "credits_direction_values", LEAST_RECENT_FIRST
        )
        try:
            after = int(args["begin_after_id"]) if args.get("begin_after_id") else None
            length = int(args.get("length") or 100)
        except ValueError:
            return _error("begin_after_id and length must be integers", 400)
        items = [
            tx
            for tx in ledger
            if not args.get("bucket") or tx["transaction"]["bucket"] == args["bucket"]
        ]
        if not ascending:
            items = items[::-1]
        if after is not None and not sandbox.option("credits_ignore_begin_after_id", False):
            items = [tx for tx in items if (int(tx["transaction"]["id"]) > after) == ascending]
        cap = int(sandbox.option("credits_page_cap", DEFAULT_PAGE_CAP))
        return json_response(items[: max(0, min(length, cap))])

    def credits(request: Request) -> Response:
        ledger = _ledger_of_request(sandbox, request, empty={})
        if isinstance(ledger, Response):
            return ledger
        balances: dict[str, int] = {"default": 0}
        for item in ledger:
            bucket = item["transaction"]["bucket"]
            balances[bucket] = balances.get(bucket, 0) + item["transaction"]["amount"]
        return json_response(balances)

    def app_config(request: Request, app_id: str) -> Response:
        if "branch_secret" in request.args:  # app_id is the branch_key here
            app = sandbox.app_for_key(app_id, request.args.get("branch_secret"))
            if app is None:
                return sandbox.auth_failed()
            return json_response(_app_config(sandbox, app))
        if request.args.get("user_id") != sandbox.option("app_config_user_id", DEFAULT_USER_ID):
            return sandbox.auth_failed()
        app = next((a for a in sandbox.config.apps if a.app_id == app_id), None)
        if app is None:
            return _error(f"App not found: {app_id}", 404)
        return json_response(_app_config(sandbox, app))

    sandbox.add_route("/v1/credithistory", credit_history, methods=["GET"])
    sandbox.add_route("/v1/credits", credits, methods=["GET"])
    sandbox.add_route("/v1/app/<app_id>", app_config, methods=["GET"])


# --- requests --------------------------------------------------------------------


def _check(sandbox: Sandbox, request: Request) -> tuple[str, str] | Response:
    """(app_id, identity) of a credits read, or Branch's error answer."""
    if "branch_secret" in request.args:
        counts = sandbox.state.setdefault("credits", {})
        counts["secret_received"] = counts.get("secret_received", 0) + 1
    app = sandbox.app_for_key(request.args.get("branch_key"), None, need_secret=False)
    if app is None:
        return sandbox.auth_failed()
    windows = [tuple(w) for w in sandbox.option("credits_rate_limit", DEFAULT_RATE_LIMIT)]
    limited = sandbox.rate_limited(f"credits:{windows}", app.branch_key, windows)
    if limited is not None:
        return limited
    identity = request.args.get("identity")
    if not identity:
        return _error("identity is required", 400)
    return app.app_id, identity


def _ledger_of_request(
    sandbox: Sandbox, request: Request, *, empty: t.Any
) -> list[dict] | Response:
    """The requested identity's visible ledger, or Branch's answer (an error, an unknown identity)."""
    checked = _check(sandbox, request)
    if isinstance(checked, Response):
        return checked
    app_id, identity = checked
    ledger = _visible(sandbox, app_id, identity)
    if ledger is None:
        return _unknown_identity(sandbox, identity, empty=empty)
    return ledger


def _unknown_identity(sandbox: Sandbox, identity: str, *, empty: t.Any) -> Response:
    answer = sandbox.option("credits_unknown_identity", "empty")
    if answer == "empty":
        return json_response(empty)
    return _error(f"Identity not found: {identity}", int(answer))


def _error(message: str, status: int) -> Response:
    return json_response({"error": {"message": message, "code": status}}, status)


# --- the ledger ------------------------------------------------------------------


def identity_number(sandbox: Sandbox, identity: str) -> int | None:
    """N for a known `user-N`, else None."""
    prefix, _, number = identity.partition("-")
    if prefix != "user" or not number.isdigit() or number != str(int(number)):
        return None
    count = int(sandbox.option("credits_identity_count", 100))
    return int(number) if 1 <= int(number) <= count else None


def transaction_id(moment: dt.datetime, number: int) -> int:
    millis = int((moment - EPOCH).total_seconds() * 1000)
    return ID_OFFSET + (millis << ID_SHIFT) + number % (1 << ID_SHIFT)


def _visible(sandbox: Sandbox, app_id: str, identity: str) -> list[dict] | None:
    """The identity's transactions before the sandbox's today, oldest first; None if unknown."""
    number = identity_number(sandbox, identity)
    if number is None:
        return None
    rate = float(sandbox.option("credits_per_year", 12)) * (10 if number % 25 == 0 else 1)
    today = sandbox.today()
    cutoff = dt.datetime(today.year, today.month, today.day, tzinfo=dt.timezone.utc)
    return ledger(sandbox.config.seed, app_id, identity, number, rate, cutoff)


@functools.lru_cache(maxsize=512)
def ledger(
    seed: int, app_id: str, identity: str, number: int, per_year: float, cutoff: dt.datetime
) -> list[dict]:
    """Transactions in Branch's credithistory shape; each one only depends on those before it."""
    rng = syn.rng_for(seed, app_id, identity, "credits")
    mean_gap_ms = 365 * 86_400_000 / per_year if per_year > 0 else float("inf")
    moment = EPOCH
    balances: dict[str, int] = {}
    items: list[dict] = []
    while True:
        moment += dt.timedelta(milliseconds=int(rng.expovariate(1 / mean_gap_ms)) + 1)
        if moment >= cutoff:
            return items
        bucket = rng.choice(BUCKETS)
        kind, amount = _kind_and_amount(rng, balances.get(bucket, 0))
        balances[bucket] = balances.get(bucket, 0) + amount
        event = None
        referrer = referree = None
        if kind == 0:
            event = {
                "name": rng.choice(REWARD_EVENTS),
                "metadata": rng.choice(
                    [
                        {},
                        {
                            "channel": rng.choice(syn.CHANNELS),
                            "campaign": rng.choice(syn.CAMPAIGNS),
                        },
                    ]
                ),
            }
            if rng.random() < 0.5:
                referree = f"user-{rng.randrange(1, 5000)}"
            else:
                referrer = f"user-{rng.randrange(1, 5000)}"
        items.append(
            {
                "transaction": {
                    "date": syn.iso(moment),
                    "id": str(transaction_id(moment, number)),
                    "bucket": bucket,
                    "type": kind,
                    "amount": amount,
                },
                "event": event,
                "referrer": referrer,
                "referree": referree,
            }
        )


def _kind_and_amount(rng, balance: int) -> tuple[int, int]:
    """Transaction type (public-api-v1.md) and amount; debits never take a bucket below zero."""
    roll = rng.random()
    if balance > 0 and roll < 0.25:
        return 2, -rng.randint(1, balance)
    if balance > 0 and roll < 0.30:
        return 4, -min(balance, rng.randint(1, 5))
    if balance > 0 and roll < 0.32:
        return rng.choice([3, 5]), -min(balance, rng.randint(1, 10))
    if roll < 0.80:
        return 0, rng.randint(1, 20)
    return 1, rng.randint(5, 50)


def _app_config(sandbox: Sandbox, app) -> dict:
    rng = syn.rng_for(sandbox.config.seed, app.app_id, "app_config")
    return {
        "app_key": app.branch_key,
        "branch_key": app.branch_key,
        # Branch's answer includes the app's secret: the tap must never pass it on.
        "branch_secret": app.branch_secret,
        "creation_date": syn.iso(EPOCH - dt.timedelta(days=rng.randrange(100, 900))),
        "app_name": f"Sandbox app {app.app_id}",
        "dev_name": "Sandbox Developer",
        "dev_email": "dev@example.com",
        "dev_phone_number": "+1 555 0100",
        "android_url": "com.example.sandbox",
        "android_uri_scheme": "sandbox://",
        "ios_url": f"id{syn.stable_id(app.app_id, 'ios', digits=9)}",
        "ios_uri_scheme": "sandbox://",
        "ios_store_country": "US",
        "web_url": "https://example.com",
        "short_url_domain": rng.choice(syn.DOMAINS),
        "text_message": "Get the app: {{ link }}",
        "og_app_id": syn.stable_id(app.app_id, "og", digits=15),
        "og_title": rng.choice(syn.TITLES),
        "og_image_url": "https://example.com/og.png",
        "og_description": 'Café — crème brûlée, "quoted"',
        "id": app.app_id,
    }
