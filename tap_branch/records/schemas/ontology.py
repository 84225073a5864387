"""Branch's event ontology: the columns of event-level exports, with their types.

Shared by Daily Exports v3 (csv.gz), Custom Exports (`/v2/logs`, JSON lines)
and scheduled export files. Branch documents the columns by name in its
"event ontology" reference; the types here follow what the values are:

- `timestamp` and every `*_timestamp` column is epoch **milliseconds**. It is
  emitted as a date-time (`timestamp`), and the raw integer is kept next to it
  as `<column>_ms` (`timestamp_ms`), so nothing is lost to rounding and
  filters written against Branch's numbers still work. `ontology_properties`
  declares the `_ms` sibling whenever it declares such a column;
  `RawMillis` fills it.
- `*_timestamp_iso` columns are ISO-8601 text: date-times.
- ids (`id`, `*_id`, advertising ids ...) stay text: Branch's numeric ids exceed
  what a JSON number holds exactly, and device ids are not numbers.
- `*_tags` and `*_via_features` are arrays; `content_items` an array of objects;
  `custom_data`, `*_custom_fields`, `*_custom_data` objects (Branch writes them as
  JSON text in CSV; the converters accept either).
- `persona_identifiers` (JSON exports) is a list of `{id, type, guaranteed}` objects and
  `user_data_prob_cross_platform_ids` a list of `{id, probability}` objects (Branch's
  field table: `ArrayStruct`); their items stay open objects, so a new key never fails.
- Flattened array columns of CSV exports (`persona_identifiers[].id`) are arrays:
  the cell holds the JSON array of one key of each item, typed as that key is in the
  object (`persona_identifiers[].guaranteed` booleans,
  `user_data_prob_cross_platform_ids[].probability` numbers); others are arrays of text.
- `organization_id` (Branch's field table: `Long`) is text like every id;
  `organization_name` and `datasource` text.
- Counters (`days_from_*`, `seconds_from_*` ...) integers, revenue and prices
  numbers, yes/no flags booleans.

Columns the ontology does not name are typed by the same name rules
(`ontology_type`), and when nothing matches they are text: a new Branch column
never fails a sync.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_branch.records.typers import parse_integer

JSONType = t.Any  # a singer_sdk.typing type helper (class or instance)

_TEXT = th.StringType
_DATETIME = th.DateTimeType
_INTEGER = th.IntegerType
_NUMBER = th.NumberType
_BOOLEAN = th.BooleanType
_OBJECT = th.ObjectType(additional_properties=True)
_TEXT_ARRAY = th.ArrayType(th.StringType)
_BOOLEAN_ARRAY = th.ArrayType(th.BooleanType)
_NUMBER_ARRAY = th.ArrayType(th.NumberType)
_OBJECT_ARRAY = th.ArrayType(th.ObjectType(additional_properties=True))
_PERSONA_ARRAY = th.ArrayType(
    th.ObjectType(
        th.Property("id", th.StringType),
        th.Property("type", th.StringType),
        th.Property("guaranteed", th.BooleanType),
        additional_properties=True,
    )
)
_PROBABILITY_ARRAY = th.ArrayType(
    th.ObjectType(
        th.Property("id", th.StringType),
        th.Property("probability", th.NumberType),
        additional_properties=True,
    )
)


def _words(text: str) -> list[str]:
    return text.split()


#: Fields of the link data of a touch (`last_attributed_touch_data_*`, `last_cta_view_data_*`).
_TOUCH_DATA_TEXT = _words(
    """
    tilde_id tilde_campaign tilde_campaign_id tilde_campaign_type tilde_customer_campaign
    tilde_channel tilde_feature tilde_stage tilde_advertising_partner_name
    tilde_advertising_partner_id tilde_secondary_publisher tilde_secondary_publisher_id
    tilde_customer_secondary_publisher tilde_creative_name tilde_creative_id
    tilde_ad_set_name tilde_ad_set_id tilde_customer_ad_set_name tilde_ad_name tilde_ad_id
    tilde_customer_ad_name tilde_keyword tilde_keyword_id tilde_customer_keyword
    tilde_sub_site_name tilde_customer_sub_site_name tilde_branch_ad_format
    tilde_technology_partner tilde_banner_dimensions tilde_placement tilde_placement_id
    tilde_customer_placement tilde_agency tilde_agency_id tilde_optimization_model
    tilde_secondary_ad_format tilde_journey_name tilde_journey_id tilde_view_name
    tilde_view_id tilde_external_touch_id tilde_marketing tilde_tune_publisher_name
    tilde_tune_publisher_id tilde_tune_publisher_sub5 tilde_tune_publisher_sub6
    plus_referring_domain plus_current_feature plus_web_format plus_touch_id dollar_3p
    dollar_marketing_title dollar_og_title dollar_canonical_url dollar_deeplink_path
    dollar_fallback_url dollar_ios_url dollar_android_url
"""
)
_TOUCH_DATA_OTHER: dict[str, JSONType] = {
    "tilde_tags": _TEXT_ARRAY,
    "plus_via_features": _TEXT_ARRAY,
    "tilde_creation_timestamp": _DATETIME,
    "plus_url": _TEXT,
    "plus_is_mobile_web": _BOOLEAN,
    "dollar_always_deeplink": _BOOLEAN,
}


def _touch(prefix: str) -> dict[str, JSONType]:
    columns: dict[str, JSONType] = {f"{prefix}_{name}": _TEXT for name in _TOUCH_DATA_TEXT}
    columns.update({f"{prefix}_{name}": type_ for name, type_ in _TOUCH_DATA_OTHER.items()})
    columns[f"{prefix}_custom_fields"] = _OBJECT
    return columns


_EVENT: dict[str, JSONType] = {
    "id": _TEXT,
    "name": _TEXT,
    "timestamp": _DATETIME,
    "timestamp_iso": _DATETIME,
    "event_timestamp": _DATETIME,
    "event_timestamp_iso": _DATETIME,
    "origin": _TEXT,
    "attributed": _BOOLEAN,
    "deep_linked": _BOOLEAN,
    "first_event_for_user": _BOOLEAN,
    "existing_user": _BOOLEAN,
    "reengagement_activity_attributed": _BOOLEAN,
    "customer_event_alias": _TEXT,
    "di_match_click_token": _TEXT,
    "hash_version": _TEXT,
    "store_install_begin_timestamp": _DATETIME,
    "referrer_click_timestamp": _DATETIME,
    "install_activity_timestamp": _DATETIME,
    "install_activity_timestamp_iso": _DATETIME,
    "install_activity_attributed": _BOOLEAN,
    "install_activity_data_tilde_campaign": _TEXT,
    "install_activity_data_tilde_channel": _TEXT,
    "install_activity_data_tilde_feature": _TEXT,
    "install_activity_data_tilde_advertising_partner_name": _TEXT,
    "install_activity_touch_data_tilde_id": _TEXT,
    "last_attributed_touch_type": _TEXT,
    "last_attributed_touch_timestamp": _DATETIME,
    "last_attributed_touch_timestamp_iso": _DATETIME,
    "last_cta_view_timestamp": _DATETIME,
    "last_cta_view_timestamp_iso": _DATETIME,
    "days_from_last_attributed_touch_to_event": _INTEGER,
    "hours_from_last_attributed_touch_to_event": _INTEGER,
    "minutes_from_last_attributed_touch_to_event": _INTEGER,
    "seconds_from_last_attributed_touch_to_event": _INTEGER,
    "days_from_install_to_event": _INTEGER,
    "hours_from_install_to_event": _INTEGER,
    "minutes_from_install_to_event": _INTEGER,
    "seconds_from_install_to_event": _INTEGER,
    "seconds_from_last_attributed_touch_to_store_install_begin": _INTEGER,
    "days_from_last_cta_view_to_event": _INTEGER,
    "hours_from_last_cta_view_to_event": _INTEGER,
    "minutes_from_last_cta_view_to_event": _INTEGER,
    "seconds_from_last_cta_view_to_event": _INTEGER,
    "custom_data": _OBJECT,
    "content_items": _OBJECT_ARRAY,
    "event_data_revenue": _NUMBER,
    "event_data_revenue_in_usd": _NUMBER,
    "event_data_exchange_rate": _NUMBER,
    "event_data_shipping": _NUMBER,
    "event_data_tax": _NUMBER,
    "event_data_currency": _TEXT,
    "event_data_transaction_id": _TEXT,
    "event_data_coupon": _TEXT,
    "event_data_affiliation": _TEXT,
    "event_data_description": _TEXT,
    "event_data_search_query": _TEXT,
    "event_data_custom_data": _OBJECT,
    "persona_identifiers": _PERSONA_ARRAY,
    "persona_identifiers[].id": _TEXT_ARRAY,
    "persona_identifiers[].type": _TEXT_ARRAY,
    "persona_identifiers[].guaranteed": _BOOLEAN_ARRAY,
    "organization_id": _TEXT,
    "organization_name": _TEXT,
    "datasource": _TEXT,
}

_USER_DATA: dict[str, JSONType] = {
    f"user_data_{name}": _TEXT
    for name in _words(
        """
        os os_version os_version_android model brand environment platform aaid idfa idfv android_id
        user_agent ip country city region geo_country_code geo_country_en geo_region_code
        geo_region_en geo_city_code geo_city_en geo_postal_code language app_version
        sdk_version developer_identity browser cross_platform_id installer_package_name
        carrier_name http_referrer build internet_connection_type device_locale
        connection_type app_store opted_in_status meta_install_referrer oaid fire_ad_id
        windows_aid roku_rida samsung_ifa lg_ifa build_id cpu_type os_build
        device_fingerprint_id browser_fingerprint_id identity_id
    """
    )
}
_USER_DATA.update(
    {
        "user_data_geo_dma_code": _INTEGER,
        "user_data_screen_width": _INTEGER,
        "user_data_screen_height": _INTEGER,
        "user_data_geo_lat": _NUMBER,
        "user_data_geo_long": _NUMBER,
        "user_data_geo_lon": _NUMBER,  # Branch's field table spells it so
        "user_data_limit_ad_tracking": _BOOLEAN,
        "user_data_private_relay": _BOOLEAN,
        "user_data_past_cross_platform_ids": _TEXT_ARRAY,
        "user_data_prob_cross_platform_ids": _PROBABILITY_ARRAY,
        "user_data_prob_cross_platform_ids[].id": _TEXT_ARRAY,
        "user_data_prob_cross_platform_ids[].probability": _NUMBER_ARRAY,
    }
)

#: Cost and SKAdNetwork report columns (Custom Exports `cost`, `skadnetwork_*`).
_REPORTS: dict[str, JSONType] = {
    "cost": _NUMBER,
    "cost_in_usd": _NUMBER,
    "cost_currency": _TEXT,
    "impressions": _INTEGER,
    "clicks": _INTEGER,
    "skan_version": _TEXT,
    "skan_ad_network_id": _TEXT,
    "skan_campaign_id": _TEXT,
    "skan_source_app_id": _TEXT,
    "skan_conversion_value": _INTEGER,
    "skan_coarse_conversion_value": _TEXT,
    "skan_redownload": _BOOLEAN,
    "skan_fidelity_type": _INTEGER,
    "skan_postback_sequence_index": _INTEGER,
}

#: Column name -> type, as Branch exports them (CSV header / JSON keys).
ONTOLOGY: dict[str, JSONType] = {
    **_EVENT,
    **_REPORTS,
    **_touch("last_attributed_touch_data"),
    **_touch("last_cta_view_data"),
    **_USER_DATA,
}

#: Suffix of the raw epoch-milliseconds sibling of a `timestamp`/`*_timestamp` column.
MILLIS_SUFFIX = "_ms"

_OBJECT_SUFFIXES = ("_custom_fields", "_custom_data")
_ARRAY_SUFFIXES = ("_tags", "_via_features")
_INTEGER_PREFIXES = ("days_from_", "hours_from_", "minutes_from_", "seconds_from_")
_NUMBER_HINTS = ("revenue", "_cost", "cost_in_", "_price", "exchange_rate")


def is_epoch_millis(column: str) -> bool:
    """Columns Branch writes as epoch milliseconds (their `_ms` sibling keeps the raw number)."""
    return column == "timestamp" or column.endswith("_timestamp")


def ontology_type(column: str) -> JSONType:
    """The type of any column: the ontology's, else by Branch's naming rules, else text."""
    known = ONTOLOGY.get(column)
    if known is not None:
        return known
    if "[]." in column:
        return _TEXT_ARRAY
    if is_epoch_millis(column) or column.endswith("_timestamp_iso"):
        return _DATETIME
    if column == "custom_data" or column.endswith(_OBJECT_SUFFIXES):
        return _OBJECT
    if column.endswith(_ARRAY_SUFFIXES):
        return _TEXT_ARRAY
    if column.startswith(_INTEGER_PREFIXES):
        return _INTEGER
    if any(hint in column for hint in _NUMBER_HINTS):
        return _NUMBER
    return _TEXT


def millis_column(column: str) -> str:
    return column + MILLIS_SUFFIX


def ontology_properties(columns: t.Iterable[str] | None = None) -> list[th.Property]:
    """Typed properties for `columns` (default: the whole ontology), each epoch-ms column followed
    by its raw `<column>_ms` integer."""
    names = list(ONTOLOGY) if columns is None else list(dict.fromkeys(columns))
    properties: list[th.Property] = []
    declared = set(names)
    for name in names:
        properties.append(th.Property(name, ontology_type(name)))
        if is_epoch_millis(name) and millis_column(name) not in declared:
            properties.append(
                th.Property(
                    millis_column(name),
                    th.IntegerType,
                    description=f"'{name}' as Branch wrote it: Unix epoch milliseconds.",
                )
            )
    return properties


def _raw_millis(value: t.Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return parse_integer(value)
    except (ValueError, TypeError, OverflowError):
        return None  # not a number (an ISO text): the date-time field has it, or unparsed_cells


class RawMillis:
    """Copies the raw epoch-ms cells of a file into their `_ms` fields.

    The typers convert `timestamp` to a date-time; this keeps Branch's number.
    Built once per file from its header (CSV) or from the schema (JSON).
    """

    def __init__(self, schema: dict, header: t.Sequence[str] | None = None) -> None:
        properties = schema["properties"]
        names = header if header is not None else list(properties)
        self._by_index = [
            (index, millis_column(name))
            for index, name in enumerate(names)
            if is_epoch_millis(name) and millis_column(name) in properties
        ]
        self._by_name = [(names[index], ms) for index, ms in self._by_index]

    def __bool__(self) -> bool:
        return bool(self._by_index)

    def columns(self) -> list[tuple[int, str]]:
        """(index of an epoch-ms column in the header, its `_ms` field)."""
        return list(self._by_index)

    def from_cells(self, record: dict, cells: t.Sequence[str]) -> dict:
        for index, ms in self._by_index:
            record[ms] = _raw_millis(cells[index]) if index < len(cells) else None
        return record

    def from_object(self, record: dict, obj: t.Mapping[str, t.Any]) -> dict:
        for name, ms in self._by_name:
            record[ms] = _raw_millis(obj.get(name))
        return record
