"""What Branch's Cohort Export API accepts: data sources, dimensions, measures, limits.

From `cohort-export-api.md` and its later version `cohort-export-api-v2-localized.txt`
(which adds `*_campaign_id`, `*_ad_id`, `*_ad_set_id`, `customer_event_alias` and
allows 5 measures instead of 3). Where the two differ, the later, wider one is used.

Measures are the exception that stays in doubt: the later document's limits table says 5,
but the request tables of both versions say "Limit is 3". A report may ask for 1 to 5; one
asking for more than `REQUEST_TABLE_MEASURES` is checked where Branch answers it (a refused
submission, a result missing measures: `stream.py`, `results.py`) and fails naming the report
and the limit, never loses a measure silently.
"""

from __future__ import annotations

DATA_SOURCES = {
    "install_cohort": "install_activity",
    "reengagement_cohort": "reengagement_activity",
}
GRANULARITIES = ("day", "week", "month")

MAX_DIMENSIONS = 11
MAX_MEASURES = 5  # the later document's limits table
#: What both documents' request tables say of `measures` ("Limit is 3").
REQUEST_TABLE_MEASURES = 3
MAX_WINDOW_DAYS = 90
MAX_LOOKBACK_MONTHS = 24
#: Branch's documented record cap, and the `limit` the tap sends (Branch's own default is far lower).
RECORD_LIMIT = 50_000

_ACTIVITY_SUFFIXES = [
    "attributed",
    "event_name",
    "touch_type",
    "touch_data_tilde_campaign_id",
    "touch_data_tilde_campaign",
    "touch_data_tilde_channel",
    "touch_data_tilde_feature",
    "touch_data_tilde_stage",
    "touch_data_tilde_tags",
    "touch_data_tilde_advertising_partner_name",
    "touch_data_dollar_3p",
    "touch_data_tilde_secondary_publisher",
    "touch_data_tilde_creative_name",
    "touch_data_tilde_ad_id",
    "touch_data_tilde_ad_set_id",
    "touch_data_tilde_ad_set_name",
    "touch_data_tilde_ad_name",
    "touch_data_tilde_keyword",
    "touch_data_tilde_journey_name",
    "touch_data_tilde_view_name",
    "touch_data_plus_referring_domain",
    "touch_data_plus_via_features",
    "touch_data_plus_web_format",
    "data_os",
    "data_environment",
    "data_platform",
    "data_country_code",
    "data_has_app",
    "data_has_clicked_email",
    "data_has_clicked_ad",
    "timezone_adjusted_day",
    "touch_data_tilde_placement",
    "data_device_type",
    "touch_data_tilde_sub_site_name",
    "data_brand",
    "data_geo_country_en",
    "data_model",
    "data_geo_region_en",
    "touch_data_tilde_customer_secondary_publisher",
    "touch_data_tilde_customer_placement",
    "touch_data_tilde_customer_sub_site_name",
    "touch_data_tilde_customer_campaign",
    "touch_data_tilde_customer_ad_set_name",
    "touch_data_tilde_customer_ad_name",
    "touch_data_tilde_customer_keyword",
    "touch_data_tilde_agency_id",
    "touch_data_tilde_agency",
]

USER_DIMENSIONS = (
    "user_data_platform",
    "user_data_environment",
    "user_data_geo_country_code",
    "user_data_os",
    "user_data_has_app",
    "user_data_standard_events_completed",
    "user_data_custom_events_completed",
    "user_data_has_clicked_ad",
    "user_data_has_clicked_email",
    "user_data_brand",
    "user_data_device_type",
    "user_data_model",
)
OTHER_DIMENSIONS = ("app_id", "customer_event_alias")

DOCUMENTED_MEASURES = frozenset(
    [
        "OPEN",
        "users",
        "Retention",
        "ARPPU",
        "LTV",
        "ARPU",
        "revenue",
        "PURCHASE",
        "ADD_TO_CART",
        "ADD_TO_WISHLIST",
        "VIEW_CART",
        "INITIATE_PURCHASE",
        "ADD_PAYMENT_INFO",
        "SPEND_CREDITS",
        "SPENG_CREDITS",
        "RESERVE",
        "CLICK_AD",
        "VIEW_AD",
        "SEARCH",
        "VIEW_ITEM",
        "VIEW_ITEMS",
        "RATE",
        "SHARE",
        "COMPLETE_REGISTRATION",
        "COMPLETE_TUTORIAL",
        "ACHIEVE_LEVEL",
        "UNLOCK_ACHIEVEMENT",
        "INVITE",
        "LOGIN",
        "SUBSCRIBE",
        "START_TRIAL",
        "cost",
        "GROSS_PROFIT",
        "ROI",
        "ROAS",
        "eCPA",
    ]
)


def cohort_date_dimension(data_source: str) -> str:
    """The dimension that makes results per cohort day (the tap always adds it)."""
    return f"{DATA_SOURCES[data_source]}_timezone_adjusted_day"


def dimensions_of(data_source: str) -> frozenset[str]:
    """Every dimension (and filter key) a report on `data_source` may use."""
    prefix = DATA_SOURCES[data_source]
    return frozenset(
        [f"{prefix}_{suffix}" for suffix in _ACTIVITY_SUFFIXES]
        + list(USER_DIMENSIONS)
        + list(OTHER_DIMENSIONS)
    )


def result_key_variants(dimension: str) -> tuple[str, ...]:
    """Other keys Branch's result may hold `dimension`'s value under.

    Both versions of the cohort document ask for `install_activity_touch_data_tilde_
    advertising_partner_name` and show its value, in their JSON result sample, under
    `install_activity_data_tilde_advertising_partner_name`: the activity prefix, then `data_`
    without `touch_`. The rule is read as general for the `<activity>_touch_data_*` dimensions
    (no dimension of either data source is spelled both ways, so it is never ambiguous).
    """
    for prefix in DATA_SOURCES.values():
        touch = f"{prefix}_touch_data_"
        if dimension.startswith(touch):
            return (f"{prefix}_data_{dimension[len(touch) :]}",)
    return ()
