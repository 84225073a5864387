"""credit_history end to end against the sandbox: paging, bookmarks by integer id, odd answers."""

from __future__ import annotations

import collections

import pytest
import requests

from tap_branch_sandbox.server import SandboxApp
from tests.support.sandbox import SANDBOX_APP, SANDBOX_KEY, start_sandbox
from tests.support.tap_runner import run_tap

HISTORY = ["credit_history"]


def ledger(sandbox, identity: str, app_key: str = SANDBOX_KEY) -> list[dict]:
    """What Branch holds for the identity now, oldest first, straight from the sandbox (page
    by page until an empty one: the sandbox caps pages like Branch may)."""
    params = {"branch_key": app_key, "identity": identity, "direction": "1"}
    items: list[dict] = []
    while True:
        response = requests.get(f"{sandbox.url}/v1/credithistory", params=params, timeout=10)
        response.raise_for_status()
        if not response.json():
            return items
        items += response.json()
        params["begin_after_id"] = items[-1]["transaction"]["id"]


def ids_of(items: list[dict]) -> list[int]:
    return [int(item["transaction"]["id"]) for item in items]


def history_requests(sandbox) -> int:
    return sum(1 for r in sandbox.requests_log() if r["path"] == "/v1/credithistory")


@pytest.fixture
def config(base_config) -> dict:
    return {
        **base_config,
        "credit_identities": ["user-1", "user-2", "user-25"],
        "credit_history_page_size": 10,
    }


def bookmarks(state: dict) -> dict[str, int]:
    partitions = state["bookmarks"]["credit_history"]["partitions"]
    return {p["context"]["identity"]: p.get("replication_key_value") for p in partitions}


def test_whole_history_then_only_new_transactions(sandbox, config):
    first = run_tap(config, select=HISTORY)
    records = first.records("credit_history")
    by_identity = collections.defaultdict(list)
    for record in records:
        by_identity[record["identity"]].append(record["transaction_id"])
    for identity in config["credit_identities"]:
        expected = ids_of(ledger(sandbox, identity))
        assert len(expected) > 10  # several pages of 10
        assert by_identity[identity] == expected
    assert len(by_identity["user-25"]) > 200  # a heavy identity: many pages
    assert bookmarks(first.state) == {i: by_identity[i][-1] for i in config["credit_identities"]}
    assert all(isinstance(v, int) for v in bookmarks(first.state).values())

    record = records[0]
    assert record["app_id"] == SANDBOX_APP
    assert record["date"].endswith("+00:00") and isinstance(record["amount"], int)
    assert record["type"] in (0, 1, 2, 3, 4, 5)

    unchanged = run_tap(config, state=first.state, select=HISTORY)
    assert unchanged.records("credit_history") == []
    assert "no credit history" not in unchanged.logs  # up to date is not "unknown identity"

    sandbox.advance_days(120)  # Branch records new transactions in between
    later = run_tap(config, state=unchanged.state, select=HISTORY)
    for identity in config["credit_identities"]:
        now = ids_of(ledger(sandbox, identity))
        new = [
            r["transaction_id"]
            for r in later.records("credit_history")
            if r["identity"] == identity
        ]
        assert new == now[len(by_identity[identity]) :]
        assert bookmarks(later.state)[identity] == now[-1]
    assert later.records("credit_history")  # something did happen in 120 days


def test_ids_compared_as_integers_not_text(sandbox, config):
    """The sandbox's ids go from 17 to 18 digits: as text, "100..." sorts before "999..."."""
    ids = ids_of(ledger(sandbox, "user-1"))
    short = [i for i in ids if len(str(i)) == 17]
    long = [i for i in ids if len(str(i)) == 18]
    assert short and long and sorted(map(str, ids)) != list(map(str, ids))

    state = {
        "bookmarks": {
            "credit_history": {
                "partitions": [
                    {
                        "context": {"app_id": SANDBOX_APP, "identity": "user-1"},
                        "replication_key": "transaction_id",
                        "replication_key_value": short[-1],
                    }
                ]
            }
        }
    }
    run = run_tap({**config, "credit_identities": ["user-1"]}, state=state, select=HISTORY)
    assert [r["transaction_id"] for r in run.records("credit_history")] == long
    assert bookmarks(run.state)["user-1"] == long[-1]


@pytest.mark.parametrize(
    ("extra", "expected_requests"),
    [(0, 2), (1, 1), (-1, 2)],
    ids=["page exactly length: one more, empty page", "shorter page ends", "full page then short"],
)
def test_page_boundaries(sandbox, config, extra, expected_requests):
    count = len(ledger(sandbox, "user-2"))
    sandbox.clear_requests()
    cfg = {**config, "credit_identities": ["user-2"], "credit_history_page_size": count + extra}
    run = run_tap(cfg, select=HISTORY)
    assert len(run.records("credit_history")) == count
    assert history_requests(sandbox) == expected_requests


def test_pages_capped_below_the_length_asked_lose_nothing(sandbox, config):
    """Branch documents no maximum `length`; the sandbox caps pages at its default, 100. A page
    of 100 when 250 were asked is not taken for the last one."""
    history = ids_of(ledger(sandbox, "user-25"))
    assert len(history) > 250
    sandbox.clear_requests()
    cfg = {**config, "credit_identities": ["user-25"], "credit_history_page_size": 250}
    run = run_tap(cfg, select=HISTORY)
    assert [r["transaction_id"] for r in run.records("credit_history")] == history
    assert history_requests(sandbox) == len(history) // 100 + 1  # the last page, short, ends it


def test_up_to_date_identity_gets_one_empty_page(sandbox, config):
    cfg = {**config, "credit_identities": ["user-2"]}
    first = run_tap(cfg, select=HISTORY)
    sandbox.clear_requests()
    again = run_tap(cfg, state=first.state, select=HISTORY)
    assert again.records("credit_history") == []
    assert history_requests(sandbox) == 1
    assert bookmarks(again.state) == bookmarks(first.state)


@pytest.mark.parametrize("answer", ["empty", 404])
def test_unknown_identity_warns_and_goes_on(sandbox, config, answer):
    sandbox.options(credits_unknown_identity=answer)
    cfg = {**config, "credit_identities": ["user-1", "ghost", "user-2"]}
    run = run_tap(cfg, select=HISTORY)
    identities = {r["identity"] for r in run.records("credit_history")}
    assert identities == {"user-1", "user-2"}
    assert "'ghost'" in run.logs and "WARNING" in run.logs
    assert run.error is None


@pytest.mark.parametrize("answer", [404])
def test_unknown_identity_whose_name_reads_like_credentials(sandbox, config, answer):
    """Branch's error quotes the identity: "Identity not found: author@example.com" is no key problem."""
    sandbox.options(credits_unknown_identity=answer)
    cfg = {**config, "credit_identities": ["user-1", "author@example.com", "user-2"]}
    run = run_tap(cfg, select=HISTORY)
    assert run.error is None
    assert {r["identity"] for r in run.records("credit_history")} == {"user-1", "user-2"}
    assert "Branch does not know identity 'author@example.com'" in run.logs


@pytest.mark.parametrize("status", [410, 404])
def test_retired_endpoint_is_a_warning_for_the_app(sandbox, config, status):
    sandbox.fault(kind="status", status=status, path="/v1/credithistory", times=-1)
    sandbox.clear_requests()
    run = run_tap(config, select=["credit_history", "credit_balances"])
    assert run.records("credit_history") == []
    assert "not available to this account" in run.logs
    assert history_requests(sandbox) == 1  # the other identities are not asked again
    assert {r["identity"] for r in run.records("credit_balances")} == set(
        config["credit_identities"]
    )


def test_wrong_direction_value_is_a_clear_error(sandbox, config):
    """An account that only knows the ordinal reads direction=asc as 'newest first'."""
    sandbox.options(credits_direction_values=["1"])
    run = run_tap(config, select=HISTORY, expect_error=True)
    assert "credit_history_direction" in str(run.error)
    assert run.records("credit_history") == []

    fixed = run_tap({**config, "credit_history_direction": "1"}, select=HISTORY)
    assert [
        r["transaction_id"] for r in fixed.records("credit_history") if r["identity"] == "user-1"
    ] == ids_of(ledger(sandbox, "user-1"))


def test_a_server_ignoring_begin_after_id_is_an_error_never_duplicates(sandbox, config):
    """Its later pages cannot be trusted to hold every transaction: the run fails, not skips."""
    history = ids_of(ledger(sandbox, "user-1"))
    sandbox.options(credits_ignore_begin_after_id=True)
    run = run_tap({**config, "credit_identities": ["user-1"]}, select=HISTORY, expect_error=True)
    ids = [r["transaction_id"] for r in run.records("credit_history")]
    assert ids == history[:10]
    assert "begin_after_id" in str(run.error) and "credit_history_direction" in str(run.error)
    assert "'user-1'" in str(run.error)


def test_buckets_are_read_and_bookmarked_separately(sandbox, config):
    cfg = {
        **config,
        "credit_identities": ["user-1", "user-2"],
        "credit_buckets": ["bonus", "other bucket"],
    }
    run = run_tap(cfg, select=HISTORY)
    records = run.records("credit_history")
    expected = [
        (i, int(item["transaction"]["id"]))
        for i in ("user-1", "user-2")
        for item in ledger(sandbox, i)
        if item["transaction"]["bucket"] in ("bonus", "other bucket")
    ]
    assert sorted((r["identity"], r["transaction_id"]) for r in records) == sorted(expected)
    contexts = [p["context"] for p in run.state["bookmarks"]["credit_history"]["partitions"]]
    assert {(c["identity"], c["bucket"]) for c in contexts} == {
        (i, b) for i in ("user-1", "user-2") for b in ("bonus", "other bucket")
    }


def test_transient_errors_and_rate_limits_lose_and_duplicate_nothing(sandbox, config):
    expected = [(i, t) for i in ("user-1", "user-2") for t in ids_of(ledger(sandbox, i))]
    sandbox.options(credits_rate_limit=[[4, 1.0]])
    sandbox.fault(kind="status", status=503, path="/v1/credithistory", times=2)
    cfg = {**config, "credit_identities": ["user-1", "user-2"]}
    run = run_tap(cfg, select=HISTORY)
    got = [(r["identity"], r["transaction_id"]) for r in run.records("credit_history")]
    assert got == expected
    assert sandbox.sandbox.state["rate_limited"]
    assert "rate limit" in run.logs


def test_several_apps(sandbox, base_config):
    with start_sandbox(
        extra_apps=[SandboxApp("second-app", "key_live_second", "secret_live_second")]
    ) as other:
        cfg = {
            **base_config,
            "api_url": other.url,
            "apps": [
                {"app_id": "sandbox-app", "branch_key": SANDBOX_KEY},
                {"app_id": "second-app", "branch_key": "key_live_second"},
            ],
            "credit_identities": ["user-3"],
        }
        run = run_tap(cfg, select=HISTORY)
        per_app = collections.Counter(r["app_id"] for r in run.records("credit_history"))
        assert set(per_app) == {"sandbox-app", "second-app"}
        assert per_app["second-app"] == len(ledger(other, "user-3", "key_live_second"))
        contexts = [p["context"] for p in run.state["bookmarks"]["credit_history"]["partitions"]]
        assert contexts == [
            {"app_id": "sandbox-app", "identity": "user-3"},
            {"app_id": "second-app", "identity": "user-3"},
        ]


def test_newest_first_in_pages_of_one_is_an_error_and_keeps_no_bookmark(sandbox, config):
    """A page of one item shows no order; the next page, at or before begin_after_id, does."""
    sandbox.options(credits_direction_values=["1"])  # direction=asc is read as newest first
    cfg = {**config, "credit_identities": ["user-1"], "credit_history_page_size": 1}
    run = run_tap(cfg, select=HISTORY, expect_error=True)
    assert "credit_history_direction" in str(run.error) and "'user-1'" in str(run.error)
    assert "replication_key_value" not in str(run.state)  # the next run starts from the beginning

    fixed = run_tap({**cfg, "credit_history_direction": "1"}, state=run.state, select=HISTORY)
    ids = [r["transaction_id"] for r in fixed.records("credit_history")]
    assert ids == ids_of(ledger(sandbox, "user-1"))


@pytest.mark.parametrize("status", [400, 409, 422])
def test_other_4xx_fail_naming_the_request(sandbox, config, status):
    """Only an empty answer or a 404 about the identity means "unknown identity"; a 400 midway
    (say, about begin_after_id) is no reason to skip the identity's later transactions."""
    body = {"error": {"message": "Invalid begin_after_id", "code": status}}
    sandbox.fault(kind="status", status=status, body=body, path="/v1/credithistory", after=1)
    run = run_tap({**config, "credit_identities": ["user-25"]}, select=HISTORY, expect_error=True)
    assert f"HTTP {status}" in str(run.error) and "'user-25'" in str(run.error)
    assert "Invalid begin_after_id" in str(run.error) and "begin_after_id=" in str(run.error)
    assert "Branch does not know identity" not in run.logs


def test_unknown_identity_answered_400_is_an_error(sandbox, config):
    sandbox.options(credits_unknown_identity=400)
    cfg = {**config, "credit_identities": ["user-1", "ghost"]}
    run = run_tap(cfg, select=HISTORY, expect_error=True)
    assert "'ghost'" in str(run.error) and "HTTP 400" in str(run.error)


@pytest.mark.parametrize(
    "body", [{"error": {"message": "Internal error", "code": 500}}, {"items": []}]
)
def test_an_answer_that_is_no_history_is_an_error(sandbox, config, body):
    sandbox.fault(kind="status", status=200, body=body, path="/v1/credithistory")
    run = run_tap({**config, "credit_identities": ["user-1"]}, select=HISTORY, expect_error=True)
    assert "credit history request of identity 'user-1'" in str(run.error)
    assert run.records("credit_history") == []


def test_an_event_that_is_not_an_object_is_kept_as_text(sandbox, config):
    item = ledger(sandbox, "user-1")[0]
    odd = [
        {**item, "event": "just a string"},
        {**item, "transaction": {**item["transaction"], "id": "9" * 19}, "event": [1, 2]},
    ]
    sandbox.fault(kind="status", status=200, body=odd, path="/v1/credithistory")
    run = run_tap({**config, "credit_identities": ["user-1"]}, select=HISTORY)
    first, second = run.records("credit_history")
    assert first["extra_columns"] == {"event": "just a string"} and first["event_name"] is None
    assert second["extra_columns"] == {"event": "[1,2]"}
