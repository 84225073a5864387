"""Columns of the legacy daily export files (daily-export-api-v1.md), with their types.

The document lists column names only; types follow what the values are:
`*timestamp*` columns are dates (ISO text or epoch seconds/milliseconds),
`data`, `metadata`, `device_metadata`, `*_link_data` and `*_query_params` hold
JSON objects, `tags` and `*_tags` JSON arrays, `sms_from_desktop` a boolean;
ids stay text (they exceed what a JSON number holds exactly).
"""

from __future__ import annotations

LINK_COLUMNS = [
    "creation_timestamp",
    "link_id",
    "branch_identity_id",
    "channel",
    "feature",
    "campaign",
    "stage",
    "tags",
    "data",
    "creation_source",
    "alias",
    "domain",
    "url",
]

LINK_CLICK_COLUMNS = [
    "click_timestamp",
    "branch_link_click_id",
    "branch_browser_fingerprint_id",
    "os",
    "os_version",
    "model",
    "browser",
    "user_agent",
    "ip_address",
    "stage",
    "sms_from_desktop",
    "phone_number",
    "redirect_method",
    "link_creation_timestamp",
    "link_channel",
    "link_feature",
    "link_campaign",
    "link_stage",
    "link_tags",
    "link_data",
    "link_creation_source",
    "link_url",
    "link_branch_identity_id",
    "link_id",
]

_REFERRING = [
    "click_timestamp",
    "click_query_params",
    "branch_identity_id",
    "developer_identity",
    "hardware_id",
    "branch_link_id",
    "link_creation_timestamp",
    "link_channel",
    "link_feature",
    "link_campaign",
    "link_stage",
    "link_tags",
    "link_data",
    "link_creation_source",
    "link_url",
]

EVENT_COLUMNS = [
    "id",
    "name",
    "metadata",
    "timestamp",
    "branch_identity_id",
    "developer_identity",
    "identity_creation_timestamp",
    "branch_session_id",
    "app_version",
    "ip_address",
    "session_start_timestamp",
    "branch_device_fingerprint_id",
    "device_first_seen_timestamp",
    "device_os",
    "device_os_version",
    "device_metadata",
    "hardware_id",
    "google_advertising_id",
    "branch_browser_fingerprint_id",
    "browser_first_seen_timestamp",
    "browser_os",
    "browser_os_version",
    "user_agent",
    *(f"first_referring_{c}" for c in _REFERRING),
    *(f"session_referring_{c}" for c in _REFERRING),
]

OBJECT_COLUMNS = {"data", "metadata", "device_metadata"}
BOOLEAN_COLUMNS = {"sms_from_desktop"}


def column_kind(name: str) -> str:
    """One of: date-time, object, array, boolean, string."""
    if name in BOOLEAN_COLUMNS:
        return "boolean"
    if (
        name in OBJECT_COLUMNS
        or name.endswith(("_link_data", "_query_params"))
        or name == "link_data"
    ):
        return "object"
    if name == "tags" or name.endswith("_tags"):
        return "array"
    if name == "timestamp" or name.endswith("_timestamp"):
        return "date-time"
    return "string"
