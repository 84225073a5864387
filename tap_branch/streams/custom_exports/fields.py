"""Custom Exports: which fields each report type requests (Branch's event ontology)."""

from __future__ import annotations

import typing as t

#: Fields requested by default for event report types (`eo_*`, `*_blocked`).
EVENT_FIELDS = [
    "id",
    "name",
    "timestamp",
    "timestamp_iso",
    "origin",
    "attributed",
    "deep_linked",
    "first_event_for_user",
    "existing_user",
    "days_from_last_attributed_touch_to_event",
    "last_attributed_touch_type",
    "last_attributed_touch_timestamp",
    "last_attributed_touch_timestamp_iso",
    "last_attributed_touch_data_tilde_id",
    "last_attributed_touch_data_tilde_campaign",
    "last_attributed_touch_data_tilde_campaign_id",
    "last_attributed_touch_data_tilde_channel",
    "last_attributed_touch_data_tilde_feature",
    "last_attributed_touch_data_tilde_stage",
    "last_attributed_touch_data_tilde_tags",
    "last_attributed_touch_data_tilde_advertising_partner_name",
    "last_attributed_touch_data_tilde_secondary_publisher",
    "last_attributed_touch_data_tilde_ad_set_name",
    "last_attributed_touch_data_tilde_ad_name",
    "last_attributed_touch_data_tilde_creative_name",
    "last_attributed_touch_data_custom_fields",
    "custom_data",
    "event_data_revenue",
    "event_data_revenue_in_usd",
    "event_data_currency",
    "event_data_transaction_id",
    "user_data_os",
    "user_data_os_version",
    "user_data_platform",
    "user_data_app_version",
    "user_data_geo_country_code",
    "user_data_geo_city_en",
    "user_data_idfa",
    "user_data_idfv",
    "user_data_aaid",
    "user_data_limit_ad_tracking",
    "user_data_developer_identity",
]
#: Cost rows: Branch does not document their fields per report type; these are the cost
#: columns of its ontology. Ones it does not offer are dropped at run time (`jobs.py`).
COST_FIELDS = [
    "timestamp",
    "timestamp_iso",
    "last_attributed_touch_data_tilde_advertising_partner_name",
    "last_attributed_touch_data_tilde_campaign",
    "last_attributed_touch_data_tilde_campaign_id",
    "last_attributed_touch_data_tilde_ad_set_name",
    "last_attributed_touch_data_tilde_ad_set_id",
    "last_attributed_touch_data_tilde_ad_name",
    "last_attributed_touch_data_tilde_ad_id",
    "last_attributed_touch_data_tilde_channel",
    "user_data_os",
    "user_data_geo_country_code",
    "cost",
    "cost_in_usd",
    "cost_currency",
    "impressions",
    "clicks",
]
SKAN_FIELDS = [
    "id",
    "timestamp",
    "timestamp_iso",
    "skan_version",
    "skan_ad_network_id",
    "skan_campaign_id",
    "skan_source_app_id",
    "skan_conversion_value",
    "skan_redownload",
    "skan_fidelity_type",
    "skan_postback_sequence_index",
    "last_attributed_touch_data_tilde_advertising_partner_name",
    "last_attributed_touch_data_tilde_campaign",
    "user_data_os",
]


def default_fields(report_type: str) -> list[str]:
    if report_type == "cost":
        return list(COST_FIELDS)
    if report_type.startswith("skadnetwork_"):
        return list(SKAN_FIELDS)
    return list(EVENT_FIELDS)


def fields_for(config: t.Mapping[str, t.Any], report_type: str) -> list[str]:
    chosen = config.get("custom_exports_fields") or {}
    fields = chosen.get(report_type) or chosen.get("default") or default_fields(report_type)
    return list(dict.fromkeys(str(field) for field in fields))
