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
"""

from __future__ import annotations

import typing as t

import requests
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from tap_branch.apps import configured_apps
from tap_branch.settings import invalid_setting
from tap_branch.streams.credits.app_config import USER_ID_SETTING
from tap_branch.streams.scheduled.streams import v2_app_ids

if t.TYPE_CHECKING:
    from tap_branch.tap import TapBranch


def test_connection(tap: TapBranch) -> list[str]:
    """Try every configured credential; what Branch accepted, one line each.

    Raises a config error naming the setting of the first credential Branch refuses,
    and one when no credential is configured at all.
    """
    config = tap.config
    accepted: list[str] = []
    daily = tap.streams["links"]
    day = daily.last_day()  # the stream's own clock: yesterday, or end_date if earlier
    for app in configured_apps(config):
        if not app.branch_secret:
            continue
        where = (
            f"the 'apps' entry of app {app.app_id}"
            if config.get("apps")
            else "settings 'branch_key' and 'branch_secret'"
        )
        _try(
            lambda app=app: daily.manifest(app, day),
            where,
            f"the daily export of app {app.app_id}",
            host="api_url",
        )
        accepted.append(f"branch_key/branch_secret of app {app.app_id}: accepted (daily export)")
    wanted = config.get("access_token") and (config.get("app_id") or config.get("apps"))
    app_ids = v2_app_ids(config) if wanted else []
    if config.get("access_token"):
        if app_ids:
            api = tap.streams["scheduled_export_jobs"].api
            _try(
                lambda: api.list_subscriptions(app_ids[0]),
                "setting 'access_token'",
                f"the scheduled export subscriptions of app {app_ids[0]}",
                host="api2_url",
            )
            accepted.append(
                f"access_token: accepted (scheduled export subscriptions of app {app_ids[0]})"
            )
        else:
            tap.logger.warning(
                "Setting 'access_token' is not tested: without an 'app_id' the only v2 call is a cohort "
                "export job, which the connection test never creates."
            )
    # app_config reads an app with its key and secret when it has them; `user_id` only
    # serves the apps without (Branch's legacy form), so it is tried on the first of those.
    legacy = [app_id for app_id, key in tap.streams["app_config"]._apps().items() if key is None]
    if config.get(USER_ID_SETTING) and legacy:
        stream = tap.streams["app_config"]
        found = _try(
            lambda: next(iter(stream.get_records({"app_id": legacy[0]})), None),
            f"setting '{USER_ID_SETTING}'",
            f"the app config of app {legacy[0]}",
            host="api_url",
        )
        accepted.append(
            f"{USER_ID_SETTING}: accepted (app config of app {legacy[0]})"
            if found is not None  # else the stream warned why Branch gave none
            else f"{USER_ID_SETTING}: not verified (no app config of app {legacy[0]}; see the warning)"
        )
    if not accepted:
        raise invalid_setting(
            "No credential to test: set 'branch_key' and 'branch_secret' (or 'apps'), and/or "
            "'access_token' with 'app_id'."
        )
    return accepted


def _try(call: t.Callable[[], t.Any], where: str, what: str, *, host: str) -> t.Any:
    try:
        return call()
    except ConfigValidationError:
        raise
    except FatalAPIError as exc:
        raise invalid_setting(
            f"Branch refused {what}: check {where}. Branch answered: {exc}"
        ) from None
    except (RetriableAPIError, requests.RequestException) as exc:
        raise invalid_setting(
            f"Could not get {what} from Branch (check setting '{host}'; retries exhausted): {exc}"
        ) from None
