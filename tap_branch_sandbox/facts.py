"""What Branch serves, as the sandbox knows it: topics, report types, fields and value forms.

Written from Branch's documents (`/work/shared/branch-api/`, Branch's Custom Exports field
table and its legacy-export migration guide) and from what public clients of the real API
read, never from the tap's own modules: a wrong column or type in the tap must fail a test,
not be echoed back. Where Branch's behaviour is unknown the harsher variant is described
(see docs/assumptions.md).
"""

from __future__ import annotations

#: Event topics of Daily Exports v3: its answer lists all of them, an empty list when a
#: topic has no data that day (15, `eo_sms_sent` included).
V3_TOPICS = [
    "eo_impression",
    "eo_click",
    "eo_web_to_app_auto_redirect",
    "eo_branch_cta_view",
    "eo_sms_sent",
    "eo_open",
    "eo_install",
    "eo_reinstall",
    "eo_web_session_start",
    "eo_pageview",
    "eo_commerce_event",
    "eo_custom_event",
    "eo_content_event",
    "eo_dismissal",
    "eo_user_lifecycle_event",
]

#: Topics Branch documents for the readiness check (`POST /v2/data/ready`); any other
#: topic answers 400 (the harsher reading of Branch's list).
READINESS_TOPICS = [
    topic
    for topic in V3_TOPICS
    if topic not in ("eo_web_to_app_auto_redirect", "eo_sms_sent", "eo_dismissal")
]

_BLOCKED = [
    "eo_click_blocked",
    "eo_commerce_event_blocked",
    "eo_content_event_blocked",
    "eo_branch_cta_view_blocked",
    "eo_custom_event_blocked",
    "eo_impression_blocked",
    "eo_install_blocked",
    "eo_open_blocked",
    "eo_pageview_blocked",
    "eo_reinstall_blocked",
    "eo_sms_sent_blocked",
    "eo_user_lifecycle_event_blocked",
    "eo_web_session_start_blocked",
    "eo_web_to_app_auto_redirect_blocked",
]

#: Report types `POST /v2/logs` accepts: Branch's topic table (topics, their blocked
#: variants, `webhook2` postback records), the readiness list's SKAdNetwork and SAN
#: topics, and `cost`.
CUSTOM_REPORT_TYPES = [
    *V3_TOPICS,
    *_BLOCKED,
    "webhook2",
    "cost",
    "skadnetwork_valid_messages",
    "skadnetwork_invalid_messages",
    "eo_san_touch",
]

# --- value kinds ----------------------------------------------------------------------
# How Branch writes a field. JSON exports carry the native value; CSV cells hold its text
# (JSON for lists and maps, `true`/`false` for booleans).
EPOCH_MS = "epoch_ms"  # integer milliseconds: 1531270051599
ISO_OFFSET = "iso_offset"  # text: 2018-07-11 00:47:31+0000
LONG = "long"  # a big integer (a JSON number in JSON exports): 522171064433131572
ID = "id"  # a big integer written as text
TEXT = "text"
BOOL = "bool"
INT = "int"
FLOAT = "float"
MAP = "map"  # an object of text values (`MapStringString`)
JSON_TEXT = "json_text"  # a `String` field holding a JSON object (sometimes an object)
TEXT_LIST = "text_list"
STRUCT_LIST = "struct_list"  # `content_items`
PERSONA_LIST = "persona_list"  # [{"id", "type", "guaranteed"}]
PROBABILITY_LIST = "probability_list"  # [{"id", "probability"}]
BOOL_LIST = "bool_list"  # a flattened CSV column of booleans: [true,false]
FLOAT_LIST = "float_list"  # a flattened CSV column of numbers: [0.5,0.25]


def _touch(prefix: str) -> dict[str, str]:
    fields = {
        f"{prefix}_{name}": TEXT
        for name in [
            "tilde_campaign",
            "tilde_campaign_id",
            "tilde_channel",
            "tilde_feature",
            "tilde_stage",
            "tilde_advertising_partner_name",
            "tilde_secondary_publisher",
            "tilde_ad_set_name",
            "tilde_ad_set_id",
            "tilde_ad_name",
            "tilde_ad_id",
            "tilde_creative_name",
            "tilde_creative_id",
            "tilde_keyword",
            "plus_current_feature",
            "plus_web_format",
            "dollar_3p",
        ]
    }
    fields[f"{prefix}_tilde_id"] = LONG
    fields[f"{prefix}_tilde_tags"] = TEXT_LIST
    fields[f"{prefix}_plus_via_features"] = TEXT_LIST
    fields[f"{prefix}_custom_fields"] = JSON_TEXT
    return fields


#: Branch's event fields and how each is written.
FIELD_KINDS: dict[str, str] = {
    "id": ID,
    "name": TEXT,
    "timestamp": EPOCH_MS,
    "timestamp_iso": ISO_OFFSET,
    "origin": TEXT,
    "attributed": BOOL,
    "deep_linked": BOOL,
    "first_event_for_user": BOOL,
    "existing_user": BOOL,
    "reengagement_activity_attributed": BOOL,
    "di_match_click_token": LONG,
    "customer_event_alias": TEXT,
    # Branch's field table: `organization_id` Long, `organization_name` and `datasource`
    # String; real v3 files carry all three on every topic.
    "organization_id": LONG,
    "organization_name": TEXT,
    "datasource": TEXT,
    "days_from_last_attributed_touch_to_event": INT,
    "hours_from_last_attributed_touch_to_event": INT,
    "minutes_from_last_attributed_touch_to_event": INT,
    "seconds_from_last_attributed_touch_to_event": INT,
    "seconds_from_install_to_event": INT,
    "install_activity_timestamp": EPOCH_MS,
    "store_install_begin_timestamp": EPOCH_MS,
    "referrer_click_timestamp": EPOCH_MS,
    "seconds_from_last_attributed_touch_to_store_install_begin": INT,
    "last_attributed_touch_type": TEXT,
    "last_attributed_touch_timestamp": EPOCH_MS,
    "last_attributed_touch_timestamp_iso": ISO_OFFSET,
    **_touch("last_attributed_touch_data"),
    "custom_data": MAP,
    "content_items": STRUCT_LIST,
    "event_data_revenue": FLOAT,
    "event_data_revenue_in_usd": FLOAT,
    "event_data_exchange_rate": FLOAT,
    "event_data_currency": TEXT,
    "event_data_transaction_id": TEXT,
    "event_data_search_query": TEXT,
    "user_data_os": TEXT,
    "user_data_os_version": TEXT,
    "user_data_os_version_android": TEXT,
    "user_data_platform": TEXT,
    "user_data_environment": TEXT,
    "user_data_model": TEXT,
    "user_data_brand": TEXT,
    "user_data_app_version": TEXT,
    "user_data_sdk_version": TEXT,
    "user_data_language": TEXT,
    "user_data_geo_country_code": TEXT,
    "user_data_geo_city_en": TEXT,
    "user_data_geo_dma_code": INT,
    "user_data_geo_lat": FLOAT,
    "user_data_geo_lon": FLOAT,
    "user_data_screen_width": INT,
    "user_data_screen_height": INT,
    "user_data_idfa": TEXT,
    "user_data_idfv": TEXT,
    "user_data_aaid": TEXT,
    "user_data_android_id": TEXT,
    "user_data_ip": TEXT,
    "user_data_user_agent": TEXT,
    "user_data_browser": TEXT,
    "user_data_http_referrer": TEXT,
    "user_data_developer_identity": TEXT,
    "user_data_limit_ad_tracking": BOOL,
    "user_data_cross_platform_id": TEXT,
    "user_data_past_cross_platform_ids": TEXT_LIST,
    "user_data_prob_cross_platform_ids": PROBABILITY_LIST,
    "persona_identifiers": PERSONA_LIST,
    # Cost and SKAdNetwork rows: Branch documents no fields for them; assumed.
    "cost": FLOAT,
    "cost_in_usd": FLOAT,
    "cost_currency": TEXT,
    "impressions": INT,
    "clicks": INT,
    "skan_version": TEXT,
    "skan_ad_network_id": TEXT,
    "skan_campaign_id": TEXT,
    "skan_source_app_id": TEXT,
    "skan_conversion_value": INT,
    "skan_redownload": BOOL,
    "skan_fidelity_type": INT,
    "skan_postback_sequence_index": INT,
}

#: Lists of objects (Branch's `ArrayStruct`) the CSV exports flatten: one column per key.
FLATTENED_IN_CSV = {"persona_identifiers", "user_data_prob_cross_platform_ids"}
#: Their flattened columns, only the CSV exports have: each cell the JSON array of one key of
#: every item, as real v3 files hold them.
CSV_ONLY_COLUMNS = {
    "persona_identifiers[].id": TEXT_LIST,
    "persona_identifiers[].type": TEXT_LIST,
    "persona_identifiers[].guaranteed": BOOL_LIST,
    "user_data_prob_cross_platform_ids[].id": TEXT_LIST,
    "user_data_prob_cross_platform_ids[].probability": FLOAT_LIST,
}

#: Topics of touches (not app events): their rows know no user history (no `existing_user`).
TOUCH_TOPICS = {
    "eo_impression",
    "eo_click",
    "eo_web_to_app_auto_redirect",
    "eo_branch_cta_view",
    "eo_sms_sent",
}
#: Topics whose events carry content items (Branch's commerce and content standard events).
_CONTENT = {"eo_commerce_event", "eo_content_event"}
#: Install topics: only they know the store's install referrer.
INSTALL_TOPICS = {"eo_install", "eo_reinstall"}
#: Fields of app events that touch topics lack (Branch's `eo_click` files have no `existing_user`).
_EVENT_ONLY = {"existing_user", "install_activity_timestamp", "seconds_from_install_to_event"}
#: Fields only content-carrying events have (`event_data_*` exist on every topic, null elsewhere).
_CONTENT_ONLY = {"content_items"}
#: Fields only install topics have (Android's install referrer).
_INSTALL_ONLY = {
    "store_install_begin_timestamp",
    "referrer_click_timestamp",
    "seconds_from_last_attributed_touch_to_store_install_begin",
}

#: The `name` of a topic's events: Branch's standard event names for the event groupings
#: (its event ontology), the topic's own name for touches, installs and opens.
EVENT_NAMES = {
    "eo_commerce_event": [
        "PURCHASE",
        "ADD_TO_CART",
        "ADD_TO_WISHLIST",
        "VIEW_CART",
        "SPEND_CREDITS",
    ],
    "eo_content_event": ["SEARCH", "VIEW_ITEM", "VIEW_ITEMS", "RATE", "SHARE"],
    "eo_user_lifecycle_event": [
        "COMPLETE_REGISTRATION",
        "COMPLETE_TUTORIAL",
        "ACHIEVE_LEVEL",
        "UNLOCK_ACHIEVEMENT",
        "LOGIN",
        "SUBSCRIBE",
    ],
    "eo_custom_event": ["level_up", "video_watched", "custom_event_α"],
}
_REPORT_ONLY = {
    name for name in FIELD_KINDS if name.startswith(("cost", "impressions", "clicks", "skan_"))
}


def base_topic(report_type: str) -> str:
    return report_type.removesuffix("_blocked")


def field_available(report_type: str, field: str) -> bool:
    """Whether Branch exports `field` for `report_type` (else a Custom Exports 400)."""
    if field not in FIELD_KINDS:
        return False
    topic = base_topic(report_type)
    if report_type == "cost" or report_type.startswith("skadnetwork_"):
        return True  # undocumented: every field is taken (the harsher variant is unknown)
    if field in _REPORT_ONLY:
        return False
    if topic in TOUCH_TOPICS and field in _EVENT_ONLY:
        return False
    if field in _INSTALL_ONLY and topic not in INSTALL_TOPICS:
        return False
    return not (field in _CONTENT_ONLY and topic not in _CONTENT)


def topic_columns(topic: str) -> list[str]:
    """The header of a topic's Daily Exports v3 CSV files: lists of objects flattened."""
    columns = [f for f in FIELD_KINDS if f not in FLATTENED_IN_CSV and field_available(topic, f)]
    return [*columns, *CSV_ONLY_COLUMNS]
