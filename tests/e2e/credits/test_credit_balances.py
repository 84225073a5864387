"""credit_balances, the settings of the credits family, and secrets."""

from __future__ import annotations

import collections
import json

from tests.support.sandbox import SANDBOX_APP, SANDBOX_SECRET
from tests.support.tap_runner import run_tap

BALANCES = ["credit_balances"]


def test_balances_match_the_history(sandbox, base_config):
    cfg = {**base_config, "credit_identities": ["user-1", "user-4", "user-50"]}
    run = run_tap(cfg, select=["credit_history", "credit_balances"])
    sums: dict[tuple[str, str], int] = collections.defaultdict(int)
    for record in run.records("credit_history"):
        sums[(record["identity"], record["bucket"])] += record["amount"]
    balances = {(r["identity"], r["bucket"]): r["balance"] for r in run.records("credit_balances")}
    assert balances
    for key, balance in balances.items():
        assert balance == sums.get(key, 0)
    record = run.records("credit_balances")[0]
    assert record["app_id"] == SANDBOX_APP and record["read_at"].endswith("+00:00")
    assert (
        run.state["bookmarks"].get("credit_balances", {}) == {}
    )  # full table: no per-identity state

    again = run_tap(cfg, state=run.state, select=BALANCES)  # full table: everything again
    assert len(again.records("credit_balances")) == len(balances)


def test_balances_of_chosen_buckets_and_unknown_identity(sandbox, base_config):
    sandbox.options(credits_unknown_identity=404)
    cfg = {
        **base_config,
        "credit_identities": ["user-1", "nobody", "user-2"],
        "credit_buckets": ["bonus"],
    }
    run = run_tap(cfg, select=BALANCES)
    assert {(r["identity"], r["bucket"]) for r in run.records("credit_balances")} <= {
        ("user-1", "bonus"),
        ("user-2", "bonus"),
    }
    assert run.records("credit_balances")
    assert "Branch does not know identity 'nobody'" in run.logs


def test_wrong_branch_key_names_the_setting(sandbox, base_config):
    cfg = {**base_config, "branch_key": "key_live_wrong", "credit_identities": ["user-1"]}
    run = run_tap(cfg, select=["credit_history"], expect_error=True)
    assert "'branch_key'" in str(run.error)
    cfg = {
        **{k: v for k, v in base_config.items() if k not in ("app_id", "branch_key")},
        "credit_identities": ["user-1"],
        "apps": [{"app_id": "mine", "branch_key": "key_live_bad"}],
    }
    run = run_tap(cfg, select=["credit_balances"], expect_error=True)
    assert "'apps' entry with app_id 'mine'" in str(run.error)


def test_missing_branch_key_fails_before_any_request(sandbox, base_config):
    cfg = {k: v for k, v in base_config.items() if k not in ("branch_key", "branch_secret")}
    cfg["credit_identities"] = ["user-1"]
    sandbox.clear_requests()
    run = run_tap(cfg, select=["credit_history", "credit_balances"], expect_error=True)
    assert "'branch_key'" in str(run.error)
    assert [r for r in sandbox.requests_log() if not r["path"].startswith("/_sandbox/")] == []


def test_only_the_key_is_needed_and_the_secret_is_never_sent(sandbox, base_config):
    cfg = {k: v for k, v in base_config.items() if k != "branch_secret"}
    run = run_tap(
        {**cfg, "credit_identities": ["user-1"]}, select=["credit_history", "credit_balances"]
    )
    assert run.records("credit_history") and run.records("credit_balances")

    run = run_tap(
        {**base_config, "credit_identities": ["user-1"]},
        select=["credit_history", "credit_balances"],
    )
    assert "secret_received" not in sandbox.sandbox.state.get("credits", {})
    assert SANDBOX_SECRET not in run.logs and SANDBOX_SECRET not in run.raw_output


def test_no_identities_is_a_warning_not_a_crash(sandbox, base_config):
    run = run_tap(base_config, select=["credit_history", "credit_balances"])
    assert run.records("credit_history") == [] and run.records("credit_balances") == []
    assert "'credit_identities' lists no identities" in run.logs


def test_identities_from_a_file_of_thousands(sandbox, base_config, tmp_path):
    """Thousands of identities: every one read, state per identity, in a few seconds."""
    count = 2000
    sandbox.options(
        credits_identity_count=count, credits_per_year=1.5, credits_rate_limit=[[100_000, 60]]
    )
    path = tmp_path / "identities.txt"
    lines = [f"user-{n}" for n in range(1, count + 1)]
    path.write_text(
        "\ufeff" + "\n".join(lines[:10] + ["", "  user-5  "] + lines[10:]) + "\n", encoding="utf-8"
    )
    cfg = {**base_config, "credit_identities": str(path)}
    run = run_tap(cfg, select=["credit_history"])
    partitions = run.state["bookmarks"]["credit_history"]["partitions"]
    assert [p["context"]["identity"] for p in partitions] == lines
    per_identity = collections.Counter(r["identity"] for r in run.records("credit_history"))
    assert len(per_identity) > count * 0.9
    assert "lists 1 identities more than once" in run.logs
    stats = json.dumps({"identities": count, "records": sum(per_identity.values())})
    print(stats)


def test_identities_file_missing_or_unreadable_names_the_setting(sandbox, base_config, tmp_path):
    for value in (str(tmp_path / "nope.txt"), str(tmp_path)):
        run = run_tap(
            {**base_config, "credit_identities": value},
            select=["credit_history"],
            expect_error=True,
        )
        assert "credit_identities" in str(run.error) and value in str(run.error)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("user-é\n".encode("latin-1"))
    run = run_tap(
        {**base_config, "credit_identities": str(bad)}, select=["credit_history"], expect_error=True
    )
    assert "credit_identities" in str(run.error) and "UTF-8" in str(run.error)


def test_identities_as_json_text(sandbox, base_config):
    """Meltano passes a list setting given by environment variable as JSON text."""
    run = run_tap({**base_config, "credit_identities": '["user-1", "user-2"]'}, select=BALANCES)
    assert {r["identity"] for r in run.records("credit_balances")} == {"user-1", "user-2"}


def test_a_400_about_anything_but_the_key_fails_naming_the_identity(sandbox, base_config):
    # (not "Something went wrong": an earlier test registers "wrong" as a secret, redacted)
    body = {"error": {"message": "Invalid page cursor", "code": 400}}
    sandbox.fault(kind="status", status=400, body=body, path="/v1/credits", after=1)
    cfg = {**base_config, "credit_identities": ["user-1", "user-2", "user-3"]}
    run = run_tap(cfg, select=BALANCES, expect_error=True)
    assert "'user-2'" in str(run.error) and "Invalid page cursor" in str(run.error)
    assert {r["identity"] for r in run.records("credit_balances")} == {"user-1"}


def test_an_error_sent_with_200_is_no_balance(sandbox, base_config):
    body = {"error": {"message": "Invalid or missing branch key", "code": 400}}
    sandbox.fault(kind="status", status=200, body=body, path="/v1/credits")
    run = run_tap(
        {**base_config, "credit_identities": ["user-1"]}, select=BALANCES, expect_error=True
    )
    assert "credit balance request of identity 'user-1'" in str(run.error)
    assert "Invalid or missing branch key" in str(run.error)
    assert run.records("credit_balances") == []
