"""The connection test: one cheap, read-only, authenticated call per configured credential.

`tap-branch --test` and `tap-branch-airbyte check` run it. Each call goes through
the stream that uses the credential (its session, retries, error messages), and
none creates an export job or spends Branch's export budgets:

- `branch_key` + `branch_secret` (each app of `apps`): the daily export file list of
  the last day the tap would read (yesterday, or `end_date`) (the `links` stream's request, `GET /v1/export/{branch_key}`);
- `access_token`: the scheduled log export subscriptions of the first app with an
  app id (`GET .../subscriptions`, as `scheduled_export_jobs` lists them); without
  an app id the token could only be tried by creating a cohort job, so it is not;
- `user_id`: the app config of the first app `app_config` reads with it (`GET
  /v1/app/{app_id}?user_id=...`), i.e. one without its own key and secret.

A credential Branch refuses is a config error naming the setting, with Branch's answer.

A sync without input state (a first run, `meltano config test`, `meltano invoke`) starts
with the same calls for the credential kinds its selected streams need
(`test_credentials_of_selected_streams`): Meltano's config test runs such a sync and calls
the config valid at the first record, which a stream that does not use the wrong
credential would send.
"""

from __future__ import annotations

import typing as t

import requests
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from tap_branch.apps import configured_apps, default_app_id
from tap_branch.errors import RateLimitTooLongError
from tap_branch.settings import invalid_setting
from tap_branch.streams.credits.app_config import USER_ID_SETTING
from tap_branch.streams.scheduled.api import configured_subscriptions

if t.TYPE_CHECKING:
    import datetime as dt

    from singer_sdk import Stream

    from tap_branch.tap import TapBranch


def test_connection(tap: TapBranch) -> list[str]:
    """Try every configured credential; what Branch accepted, one line each.

    Raises a config error naming the setting of the first credential Branch refuses,
    and one when no credential is configured at all.
    """
    daily = tap.streams["links"]
    # the stream's own clock: yesterday, or end_date if earlier
    last = daily.last_day()
    accepted = [*_try_secrets(tap, daily, lambda app: last), *_try_token(tap), *_try_user_id(tap)]
    if not accepted:
        raise invalid_setting(
            "No credential to test: set 'branch_key' and 'branch_secret' (or 'apps'), and/or "
            "'access_token' with 'app_id'."
        )
    return accepted


def test_credentials_of_selected_streams(tap: TapBranch) -> list[str]:
    """The start of a sync without input state: try each credential kind the selected
    streams need, before any record, so that a wrong one fails the run (and `meltano config
    test`, which stops at the first record) naming its setting, before an export job.

    Where a selected stream asks the same thing anyway, its own cached answer is the
    test (no extra request): the first day's file list of the first selected daily stream, the
    subscriptions `scheduled_export_jobs` lists. Otherwise it costs one cheap call per kind.
    """
    needs: dict[str, Stream] = {}
    for stream in tap.streams.values():
        need = getattr(stream, "credentials_needed", None)
        if need and (stream.selected or stream.has_selected_descendents):
            needs.setdefault(need, stream)
    accepted: list[str] = []
    app_config = needs.get("app-config")
    with_secret = app_config is not None and any(
        key is not None for key in app_config._apps().values()
    )
    if "v1" in needs or with_secret:
        daily = needs.get("v1")
        if not hasattr(daily, "manifest"):  # a Query API stream: its family's probe is separate
            daily = tap.streams["links"]
        # the first day the stream reads (no state: its start), which it asks first anyway
        accepted += _try_secrets(
            tap, daily, lambda app: min(daily.first_day({"app_id": app.app_id}), daily.last_day())
        )
    if "v2" in needs or "v2-app" in needs:
        scheduled = tap.streams["scheduled_export_jobs"]
        reuse = scheduled if scheduled.selected or scheduled.has_selected_descendents else None
        accepted += _try_token(tap, scheduled=reuse)
    if app_config is not None:
        accepted += _try_user_id(tap)
    return accepted


def _try_secrets(tap: TapBranch, daily: Stream, day_of: t.Callable[[t.Any], dt.date]) -> list[str]:
    """`branch_key` + `branch_secret` of each app: its daily export file list of `day_of(app)`."""
    config = tap.config
    accepted = []
    for app in configured_apps(config):
        if not app.branch_secret:
            continue
        where = (
            f"the 'apps' entry of app {app.app_id}"
            if config.get("apps")
            else "settings 'branch_key' and 'branch_secret'"
        )
        _try(
            lambda app=app: daily.manifest(app, day_of(app)),
            where,
            f"the daily export of app {app.app_id}",
            host="api_url",
        )
        accepted.append(f"branch_key/branch_secret of app {app.app_id}: accepted (daily export)")
    return accepted


def _try_token(tap: TapBranch, *, scheduled: Stream | None = None) -> list[str]:
    """`access_token`: the scheduled export subscriptions of the first app. With `scheduled`
    (the stream, selected), its own answer: the subscriptions it lists, or when
    `scheduled_exports` names them (nothing listed), the jobs of the first one."""
    config = tap.config
    if not config.get("access_token"):
        return []
    named = configured_subscriptions(config) if scheduled else []
    if named:
        sub = named[0]
        what = f"the jobs of scheduled export subscription {sub.subscription_id}"
        call: t.Callable[[], t.Any] = lambda: scheduled.api.list_jobs(sub)  # noqa: E731
    elif scheduled:
        what = "the scheduled export subscriptions"
        call = scheduled.subscriptions
    else:
        # the one app a cohort stream asks for; with several, the streams' own checks decide
        app_id = default_app_id(config)
        if not app_id:
            tap.logger.warning(
                "Setting 'access_token' is not tested: without one 'app_id' the only v2 call is a "
                "cohort export job, which the connection test never creates."
            )
            return []
        api = tap.streams["scheduled_export_jobs"].api
        what = f"the scheduled export subscriptions of app {app_id}"
        call = lambda: api.list_subscriptions(app_id)  # noqa: E731
    _try(call, "setting 'access_token'", what, host="api2_url")
    return [f"access_token: accepted ({what})"]


def _try_user_id(tap: TapBranch) -> list[str]:
    """`user_id`: the app config of the first app `app_config` reads with it. app_config reads
    an app with its key and secret when it has them; `user_id` only serves the apps without
    (Branch's legacy form)."""
    stream = tap.streams["app_config"]
    legacy = [app_id for app_id, key in stream._apps().items() if key is None]
    if not (tap.config.get(USER_ID_SETTING) and legacy):
        return []
    found = _try(
        lambda: next(iter(stream.get_records({"app_id": legacy[0]})), None),
        f"setting '{USER_ID_SETTING}'",
        f"the app config of app {legacy[0]}",
        host="api_url",
    )
    if found is None:  # the stream warned why Branch gave none
        return [
            f"{USER_ID_SETTING}: not verified (no app config of app {legacy[0]}; see the warning)"
        ]
    return [f"{USER_ID_SETTING}: accepted (app config of app {legacy[0]})"]


def _try(call: t.Callable[[], t.Any], where: str, what: str, *, host: str) -> t.Any:
    try:
        return call()
    except (ConfigValidationError, RateLimitTooLongError):
        raise  # they name their setting; a rate limit says nothing about the credential
    except FatalAPIError as exc:
        # the stream's own message (what was asked, Branch's answer) first, then the setting
        raise invalid_setting(
            f"{exc} Branch answered the request for {what} with this refusal: check {where}."
        ) from None
    except (RetriableAPIError, requests.RequestException) as exc:
        raise invalid_setting(
            f"Could not get {what} from Branch (check setting '{host}'; retries exhausted): {exc}"
        ) from None
