"""Every Meltano command the docs show, run as written against the Meltano this project
installs, in a new project holding the repository's plugin entries (the tap installed from this
checkout), with Branch played by the sandbox and PostgreSQL by a throwaway server.

The commands are read from the docs' blocks marked `<!-- run: meltano -->` (tests/docs/blocks.py):
"In Meltano", then the PostgreSQL recipe, then the demo's run again in the same project, so a
command added there is run here too; placeholders (`key_live_xxx`, ...) become the sandbox's
credentials and the server's connection.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import shlex
import subprocess
import sys

import pytest

from tests.docs.blocks import Block, marked
from tests.support import ROOT
from tests.support.postgres_server import SUPERUSER
from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    start_sandbox,
    utc_today,
)
from tests.support.target_postgres_env import target_postgres

MELTANO = pathlib.Path(sys.executable).with_name("meltano")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed in this environment"),
]


#: Where the docs show the Meltano commands: the first hour, and the PostgreSQL recipe.
MELTANO_DOC = "docs/getting-started/meltano.md"
POSTGRES_DOC = "docs/getting-started/postgresql.md"


def _meltano_blocks(path: str, heading: str) -> list[Block]:
    found = [b for b in marked("run: meltano", path) if b.heading.startswith(heading)]
    assert found, f"{path}: no `<!-- run: meltano -->` block under {heading!r}"
    return found


def _commands(blocks: list[Block]) -> list[str]:
    """The command lines of these blocks, comments removed: `meltano ...` and `export ...`."""
    commands = [line for block in blocks for line in block.lines()]
    unknown = [c for c in commands if not c.startswith(("meltano ", "export "))]
    assert not unknown, f"a Meltano block holds lines this test cannot run: {unknown}"
    return commands


def readme_meltano_commands() -> list[str]:
    """The `meltano ...` lines of the "In Meltano" blocks."""
    return _commands(_meltano_blocks(MELTANO_DOC, "In Meltano"))


def postgres_commands() -> list[str]:
    return _commands(_meltano_blocks(POSTGRES_DOC, "Load into PostgreSQL"))


def _placeholders(start_date: dt.date) -> dict[str, str]:
    return {
        "key_live_xxx": SANDBOX_KEY,
        "secret_live_xxx": SANDBOX_SECRET,
        "api_app_xxx": SANDBOX_TOKEN,
        "123456789012345678": SANDBOX_APP,
        "2024-01-01": start_date.isoformat(),
    }


def _user_project(path: pathlib.Path) -> None:
    """A user's project: this repository's plugin entries, installed from this checkout, and
    the environments `meltano init` makes (not the `demo` one: its settings and selection are
    the demo's, not a user's)."""
    import yaml  # Meltano's dependency: present wherever this test runs

    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    project["default_environment"] = "dev"
    project["environments"] = [{"name": "dev"}, {"name": "staging"}, {"name": "prod"}]
    project["project_id"] = "tap-branch-readme-test"
    [tap] = project["plugins"]["extractors"]
    tap["pip_url"] = f"-e {ROOT}"
    # The sandbox's cohort jobs finish in 0.2 s (the `sandbox` fixture): polled after 0.5 s,
    # not the default 5 s, in `config test` and `run`. (In meltano.yml, not the environment:
    # Meltano 4.4 turns a `kind: decimal` setting's environment variable into a Decimal it
    # then cannot write into the tap's config file.)
    tap.setdefault("config", {})["cohort_poll_interval"] = 0.5
    # target-postgres: the virtualenv the PostgreSQL tests built (tests/target_postgres_env.py),
    # same pins, rather than a second install of it in every run of this test.
    [loader] = [p for p in project["plugins"]["loaders"] if p["name"] == "target-postgres"]
    del loader["pip_url"]
    loader["executable"] = str(target_postgres())
    (path / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    (path / "output").mkdir()


@pytest.fixture(scope="module")
def user_project(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """One user's project for the module's tests, in their order: the first hour's commands,
    then the PostgreSQL recipe in the same project, as a user follows the docs (and the
    plugins' installs, seconds each, happen once)."""
    path = tmp_path_factory.mktemp("meltano-project")
    _user_project(path)
    return path


def _selected_streams(listing: str) -> set[str]:
    return {
        line.split()[-1].split(".")[0]
        for line in listing.splitlines()
        if line.strip().startswith("[selected")
    }


def test_readme_commands_cover_the_first_hour():
    commands = readme_meltano_commands()
    verbs = {" ".join(command.split()[1:3]) for command in commands}
    for expected in (
        "install --plugin-type",
        "config set",
        "config list",
        "select tap-branch",
        "invoke tap-branch",
        "run tap-branch",
    ):
        assert expected in verbs, (expected, commands)
    # Meltano 3+ spelling: `meltano config set <plugin>`, never `meltano config <plugin> set`.
    assert not [c for c in commands if c.startswith("meltano config tap-branch")]


def test_every_readme_meltano_command_works(sandbox, user_project):
    tmp_path = user_project
    start = utc_today() - dt.timedelta(days=2)
    env = {
        **os.environ,
        "PATH": f"{MELTANO.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        # Declared settings read their environment variables: the sandbox stands in for Branch.
        "TAP_BRANCH_API_URL": sandbox.url,
        "TAP_BRANCH_API2_URL": sandbox.url,
        "TAP_BRANCH_REQUEST_TIMEOUT": "60",
    }
    secrets = (SANDBOX_SECRET, SANDBOX_TOKEN)
    outputs: dict[str, str] = {}
    ran_custom_opt_in = False
    for command in readme_meltano_commands():
        for placeholder, value in _placeholders(start).items():
            command = command.replace(placeholder, value)
        result = subprocess.run(
            shlex.split(command),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-6000:])
        for secret in secrets:
            assert secret not in result.stdout + result.stderr, command
        outputs[command] = result.stdout
        words = shlex.split(command)

        if words[1:3] == ["select", "tap-branch"] and "--list" in words:
            selected = _selected_streams(result.stdout)
            # The shipped selection: every family, and no Custom Exports stream unless chosen.
            assert {
                "links",
                "events",
                "daily_eo_install",
                "cohort_installs_by_campaign",
                "query_installs",
            } <= selected
            assert not {s for s in selected if s.startswith(("custom_", "credit_"))}
        if words[1:3] == ["run", "tap-branch"]:
            requests = sandbox.requests_log()
            paths = {r["path"] for r in requests}
            assert any(p.startswith("/v1/export") for p in paths)
            assert any(p.startswith("/v2/analytics") for p in paths)
            assert "/v1/query/analytics" in paths
            # No Custom Export job was created, nor a readiness check spent.
            assert not [r for r in requests if r["path"].startswith(("/v2/logs", "/v2/data"))]
            assert (tmp_path / "output" / "demo.duckdb").exists()
        if words[1:3] == ["select", "tap-branch"] and words[3:4] == ["custom_eo_install"]:
            ran_custom_opt_in = True

    # `meltano config test` fails on each wrong credential, naming it, before any export job.
    for setting, wrong in (
        ("branch_secret", "secret_live_WRONG"),
        ("access_token", "api_app_WRONG"),
    ):
        sandbox.clear_requests()
        result = subprocess.run(
            [str(MELTANO), "config", "test", "tap-branch"],
            cwd=tmp_path,
            env={**env, f"TAP_BRANCH_{setting.upper()}": wrong},
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode != 0 and f"'{setting}'" in output, (setting, output[-3000:])
        assert wrong not in output
        requests = sandbox.requests_log()
        assert requests and not [
            r for r in requests if r["path"].startswith(("/v2/logs", "/v2/data", "/v2/analytics"))
        ]

    # An account without Scheduled Log Exports: `meltano config test` of a cohort-only
    # selection passes (it used to fail on the subscriptions listing, whatever was selected).
    lacking = start_sandbox(profile="no-scheduled-exports", options={"cohort_job_latency": 0.1})
    try:
        result = subprocess.run(
            [str(MELTANO), "config", "test", "tap-branch"],
            cwd=tmp_path,
            env={
                **env,
                "TAP_BRANCH_API_URL": lacking.url,
                "TAP_BRANCH_API2_URL": lacking.url,
                "TAP_BRANCH_START_DATE": (utc_today() - dt.timedelta(days=20)).isoformat(),
                "TAP_BRANCH__SELECT": '["cohort_installs_by_campaign.*"]',
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        paths = [r["path"] for r in lacking.sandbox.request_log]
        assert any(p.startswith("/v2/analytics") for p in paths), paths
        assert not [p for p in paths if p.startswith("/scheduled-exports")], paths
    finally:
        lacking.stop()

    # Secrets went to .env, never into meltano.yml.
    meltano_yml = (tmp_path / "meltano.yml").read_text()
    dotenv = (tmp_path / ".env").read_text()
    for secret in secrets:
        assert secret not in meltano_yml and secret in dotenv

    listing = next(out for command, out in outputs.items() if "config list" in command)
    assert "branch_secret [env: TAP_BRANCH_BRANCH_SECRET] current value: (redacted)" in listing
    api_url = next(line for line in listing.splitlines() if line.startswith("api_url "))
    assert sandbox.url in api_url

    # The opt-in lines really select that one report type, and only it, and the credits.
    assert ran_custom_opt_in
    after = subprocess.run(
        [str(MELTANO), "select", "tap-branch", "--list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    custom = {s for s in _selected_streams(after.stdout) if s.startswith("custom_")}
    assert custom == {"custom_eo_install"}
    assert {"credit_history", "credit_balances"} <= _selected_streams(after.stdout)
    assert "app_config" not in _selected_streams(after.stdout)


def _postgres_replacements(server, batches: pathlib.Path) -> dict[str, str]:
    """The PostgreSQL recipe's placeholders: this test's server and batch directory."""
    return {
        "TARGET_POSTGRES_HOST=localhost": f"TARGET_POSTGRES_HOST={server.host}",
        "TARGET_POSTGRES_PORT=5432": f"TARGET_POSTGRES_PORT={server.port}",
        "TARGET_POSTGRES_USER=loader": f"TARGET_POSTGRES_USER={SUPERUSER}",
        "TARGET_POSTGRES_DATABASE=warehouse": "TARGET_POSTGRES_DATABASE=postgres",
        "password '...'": "password unused-trust-auth",
    }


def test_the_postgresql_recipe_then_the_demo_run_both_load(
    sandbox, user_project, postgres_server, tmp_path
):
    """The PostgreSQL recipe's commands in the user's project of the first hour, then the
    demo's `meltano run tap-branch target-duckdb` in the same project: `batch_config` must
    reach the PostgreSQL pipeline only (target-duckdb cannot read BATCH messages)."""
    import yaml

    server = postgres_server
    server.psql("DROP SCHEMA IF EXISTS branch CASCADE")
    project = user_project
    # The demo's database, written again by the last run, or this test fails.
    (project / "output" / "demo.duckdb").unlink(missing_ok=True)
    batches = tmp_path / "batches"
    batches.mkdir()
    env = {
        **os.environ,
        "PATH": f"{MELTANO.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_BRANCH_API_URL": sandbox.url,
        "TAP_BRANCH_API2_URL": sandbox.url,
        "TAP_BRANCH_START_DATE": (utc_today() - dt.timedelta(days=2)).isoformat(),
        "TAP_BRANCH_BRANCH_KEY": SANDBOX_KEY,
        "TAP_BRANCH_BRANCH_SECRET": SANDBOX_SECRET,
        "TAP_BRANCH__SELECT": json.dumps(["links.*", "events.*"]),
    }
    if not (project / ".meltano" / "extractors" / "tap-branch").exists():  # run alone
        setup = subprocess.run(
            [str(MELTANO), "install", "--plugin-type", "extractor", "tap-branch"],
            cwd=project, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert setup.returncode == 0, setup.stderr[-4000:]
    # The docs' meltano.yml entry, added to the project as they say.
    [shown] = [b for b in marked("shown: config", POSTGRES_DOC) if "tap-branch--batch" in b.text]
    [entry] = yaml.safe_load(shown.text)
    assert (
        entry["config"]["batch_config"]["storage"]["root"] == "file:///var/tmp/tap-branch-batches"
    )
    entry["config"]["batch_config"]["storage"]["root"] = batches.as_uri()
    written = yaml.safe_load((project / "meltano.yml").read_text())
    written["plugins"]["extractors"].append(entry)
    (project / "meltano.yml").write_text(yaml.safe_dump(written, sort_keys=False))
    commands = postgres_commands()
    # The demo's pipeline, last: the recipe must have left it alone.
    assert commands[-1] == "meltano run tap-branch target-duckdb"
    ran = []
    for command in commands:
        for placeholder, value in _postgres_replacements(server, batches).items():
            command = command.replace(placeholder, value)
        words = shlex.split(command)
        if words[0] == "export":
            env.update(word.split("=", 1) for word in words[1:])
            continue
        result = subprocess.run(
            words, cwd=project, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-6000:])
        ran.append(words[1:3])
    assert ["run", "tap-branch--batch"] in ran and ran[-1] == ["run", "tap-branch"]

    # The batch pipeline wrote BATCH files and loaded them; the demo's pipeline loaded too.
    assert list(batches.iterdir()), "the tap-branch--batch run wrote no batch file"
    for table in ("links", "events"):
        assert int(server.psql(f"SELECT count(*) FROM branch.{table}")) > 0, table
    assert (project / "output" / "demo.duckdb").exists()
