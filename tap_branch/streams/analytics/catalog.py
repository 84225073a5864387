"""What Branch's Query API accepts: data sources, aggregations, dimensions, limits.

From `/work/shared/branch-api/analytics-apis.md` (section 1): Branch's current and legacy
Query API pages, its recipes and Branch's own MCP client. Where they disagree the wider
list is taken (every documented variant is accepted), and the docs page
(docs/families/analytics.md) says so.
"""

from __future__ import annotations

import datetime as dt

from tap_branch.records.schemas.event_topics import EO_TOPICS

#: Current reference and MCP client: the event topics (with the legacy list's
#: `eo_web_to_app_auto_redirect`, possibly gone: Branch then answers an error naming it), the
#: `xx_*` sources of SAN data, and cost.
DATA_SOURCES = (*EO_TOPICS, "xx_impression", "xx_click", "cost")

#: Aggregation -> JSON type of its value (counts are whole numbers, money is not).
AGGREGATIONS = {
    "unique_count": "integer",
    "total_count": "integer",
    "revenue": "number",
    "cost": "number",
    "cost_in_local_currency": "number",
}
GRANULARITIES = ("day",)  # `all` would have no day to bookmark: refused, naming the field

_TOUCH = "last_attributed_touch_data"
_CTA = "last_cta_view_data"

#: Dimension -> JSON type of its values (Branch's legacy reference list, the one complete
#: list published; `attributed` from a newer example). Not `timestamp`: every record has it.
DIMENSIONS: dict[str, str] = {
    "name": "string",
    "origin": "string",
    "deep_linked": "boolean",
    "from_desktop": "boolean",
    "attributed": "boolean",
    "first_event_for_user": "boolean",
    "user_data_os": "string",
    "user_data_language": "string",
    "user_data_platform": "string",
    "user_data_environment": "string",
    "user_data_geo_dma_code": "string",
    "user_data_geo_country_code": "string",
    "last_attributed_touch_type": "string",
    "days_from_last_attributed_touch_to_event": "integer",
    "days_from_last_cta_view_to_event": "integer",
    "event_data_product_categories": "string",
    **{
        f"{_TOUCH}_{suffix}": "string"
        for suffix in (
            "tilde_tags",
            "tilde_secondary_publisher",
            "plus_current_feature",
            "plus_via_features",
            "tilde_campaign",
            "tilde_advertising_partner_name",
            "tilde_feature",
            "tilde_creative_name",
            "plus_web_format",
            "tilde_creative_id",
            "tilde_ad_name",
            "tilde_ad_id",
            "tilde_campaign_id",
            "tilde_stage",
            "tilde_channel",
            "tilde_ad_set_name",
            "tilde_ad_set_id",
        )
    },
    **{
        f"{_CTA}_{suffix}": "string"
        for suffix in (
            "tilde_ad_name",
            "tilde_secondary_publisher",
            "tilde_campaign",
            "tilde_advertising_partner_name",
            "tilde_feature",
            "tilde_ad_set_name",
            "tilde_ad_set_id",
            "tilde_campaign_id",
            "tilde_creative_name",
            "tilde_creative_id",
            "plus_via_features",
            "dollar_3p",
            "tilde_tags",
            "plus_web_format",
            "tilde_channel",
            "tilde_ad_id",
            "tilde_stage",
        )
    },
}

#: Branch documents no limit for the Query API; the Aggregate API's 11 is assumed (docs page).
MAX_DIMENSIONS = 11
#: Pairs Branch refuses with the SAN sources (`cost`, `xx_click`, `xx_impression`).
SAN_SOURCES = ("cost", "xx_click", "xx_impression")
FORBIDDEN_PAIRS = (
    ("user_data_os", "user_data_geo_country_code"),
    (f"{_TOUCH}_tilde_secondary_publisher", "user_data_geo_country_code"),
)

MAX_WINDOW_DAYS = 7
#: Branch's maximum of rows a query returns; whether per page or per query, and whether it says
#: so, is not documented: a window whose `total_count` reaches it is asked again in halves.
ROW_CAP = 50_000
#: `limit` per request: Branch's maximum (it applies to each day of a daily query).
PAGE_LIMIT = 1000
#: Branch keeps a rolling 2 years, and nothing before this day.
LOOKBACK_YEARS = 2
EARLIEST_DAY = dt.date(2017, 10, 14)
#: Branch's documented rate limits: 5/s, 20/min, 150/h per organization.
DEFAULT_RATE_LIMITS = [(5, 1.0), (20, 60.0), (150, 3600.0)]


# --- Aggregate Exports (section 2): its own lists where they differ -------------------

#: The event topics that have a `_blocked` variant: every one but dismissals.
_BLOCKABLE = tuple(topic for topic in EO_TOPICS if topic != "eo_dismissal")
#: Branch's reference list, the MCP client's `eo_sms_sent`, and their `_blocked` variants; no
#: SAN `xx_*` sources (Branch points to the Query API for them), `cost` as its enum lists it.
AGGREGATE_DATA_SOURCES = (
    *_BLOCKABLE,
    "eo_dismissal",
    "cost",
    "skadnetwork-valid-messages",
    "skadnetwork_valid_messages",
    *(f"{source}_blocked" for source in _BLOCKABLE),
)
#: Both spellings of local-currency cost (the MCP client's hyphens, the Query API's underscores).
AGGREGATE_AGGREGATIONS = {**AGGREGATIONS, "cost-in-local-currency": "number"}
#: The Query API's dimensions and the Aggregate list's additions: `app_id` splits a report
#: asked per organization by app (a record's `app_id` column); not `app_name`, which a record
#: can carry no better than its app_id.
AGGREGATE_DIMENSIONS: dict[str, str] = {
    **DIMENSIONS,
    "app_id": "string",
    "user_data_app_store": "string",
    "user_data_app_version": "string",
    "user_data_geo_region_en": "string",
    "user_data_country": "string",
    "user_data_cpp_level": "string",
    "user_data_opted_in": "boolean",
    "user_data_opted_in_status": "string",
    "event_data_custom_param_1": "string",
    "event_data_custom_param_2": "string",
    "event_data_custom_param_3": "string",
    "customer_event_alias": "string",
    f"{_TOUCH}_tilde_placement": "string",
    f"{_TOUCH}_tilde_keyword": "string",
}
#: Branch's documented record cap of an Aggregate Exports result, and the `limit` sent.
AGGREGATE_RECORD_LIMIT = 50_000
AGGREGATE_RATE_LIMITS = [(2, 1.0), (5, 60.0), (150, 3600.0)]
