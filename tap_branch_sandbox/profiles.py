"""Account profiles: which Branch products the sandbox's account has (`--profile NAME`,
`SandboxConfig.profile`). Real accounts differ: Scheduled Log Exports and Custom Exports are
products an organization has or has not, and an access token is a user's, with that user's
access. Branch documents none of these refusals (its documents show only "Authentication failed
!" and "job not found"), so each profile answers the harsher of the plausible variants:

- `all-products` (default): every API the sandbox plays.
- `no-scheduled-exports`: the Scheduled Log Exports endpoints (subscriptions, jobs, a job) answer
  404 with the body Branch gives a URL it does not serve, as for an account without the product
  (the answer independent stand-ins recorded; a 403 would read as a refused token).
- `cohort-only`: the access token is accepted by the Cohort Export API (`/v2/analytics`) only;
  every other endpoint taking the token (Scheduled Log Exports, Custom Exports and its
  readiness check) answers 403 with Branch's auth message: a user without access to them.
- `no-custom-exports`: Custom Exports (`/v2/logs`, and the readiness check of event data)
  answers 403 with a message saying the product is not enabled, no auth words in it.

The key-and-secret APIs (daily exports v1 and v3, credits, app config) answer in every profile.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from werkzeug.wrappers import Request

DEFAULT = "all-products"
PROFILES = (DEFAULT, "no-scheduled-exports", "cohort-only", "no-custom-exports")

SCHEDULED = "/scheduled-exports/"
CUSTOM = ("/v2/logs", "/v2/data/ready")
NOT_ENABLED = (
    "Custom Export is not enabled for this organization. Contact your Branch account manager."
)


def check_profile(name: str) -> None:
    if name not in PROFILES:
        raise ValueError(
            f"unknown sandbox profile {name!r}; the profiles are: {', '.join(PROFILES)}"
        )


def refusal(profile: str, request: Request) -> tuple[int, dict] | None:
    """The status and JSON body this account answers `request` with instead of serving it,
    or None when it serves it."""
    path = request.path
    if profile == "no-scheduled-exports" and path.startswith(SCHEDULED):
        return 404, {"error": {"message": f"Not found: {path}", "code": 404}}
    if profile == "cohort-only" and (path.startswith(SCHEDULED) or path.startswith(CUSTOM)):
        return 403, {"error": {"message": "Authentication failed !", "code": 403}}
    if profile == "no-custom-exports" and path.startswith(CUSTOM) and _event_data(request):
        return 403, {"error": {"message": NOT_ENABLED, "code": 403}}
    return None


def _event_data(request: Request) -> bool:
    """Custom Exports' requests: its jobs, and the readiness of event (not aggregate) data."""
    if not request.path.startswith("/v2/data/ready"):
        return True
    body = request.get_json(silent=True)  # cached: the handler reads it again
    return not isinstance(body, dict) or body.get("warehouse_meta_type") != "AGGREGATE"
