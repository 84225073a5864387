"""Synthetic event-ontology rows for the event-level export sandboxes (Daily Exports v3, Custom Exports).

Native values (ints, bools, dicts, lists), as Branch's JSON exports carry them;
`csv_cell` turns them into the text Branch's CSV exports hold (JSON for objects
and arrays). The same seed, app, topic and moment always give the same row.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import typing as t

from tap_branch.sandbox import synthetic as syn

#: Columns the sandbox writes (a realistic subset of the ontology, every kind of type).
COLUMNS = [
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
    "last_attributed_touch_data_tilde_channel",
    "last_attributed_touch_data_tilde_feature",
    "last_attributed_touch_data_tilde_advertising_partner_name",
    "last_attributed_touch_data_tilde_tags",
    "last_attributed_touch_data_custom_fields",
    "custom_data",
    "event_data_revenue",
    "event_data_currency",
    "user_data_os",
    "user_data_os_version",
    "user_data_platform",
    "user_data_geo_country_code",
    "user_data_idfa",
    "user_data_limit_ad_tracking",
    "user_data_developer_identity",
]
#: Flattened array columns only the CSV exports have.
CSV_ONLY_COLUMNS = ["persona_identifiers[].id"]

_TOUCH_TYPES = ["CLICK", "IMPRESSION", "WEB_SESSION_START", ""]


def event_values(
    rng: random.Random, seed: int, app_id: str, topic: str, moment: dt.datetime, number: t.Any
) -> dict[str, t.Any]:
    os_name, versions = rng.choice(syn.OSES)
    attributed = rng.random() < 0.6
    touch = moment - dt.timedelta(minutes=rng.randrange(1, 60 * 24 * 3))
    commerce = topic.startswith("eo_commerce")
    values: dict[str, t.Any] = {
        "id": syn.stable_id(seed, app_id, topic, number),
        "name": topic[3:].upper() if topic.startswith("eo_") else topic.upper(),
        "timestamp": int(moment.timestamp() * 1000),
        "timestamp_iso": syn.iso(moment),
        "origin": rng.choice(["SDK", "API", "WEB"]),
        "attributed": attributed,
        "deep_linked": rng.random() < 0.3,
        "first_event_for_user": rng.random() < 0.2,
        "existing_user": rng.random() < 0.5,
        "days_from_last_attributed_touch_to_event": (moment - touch).days if attributed else None,
        "last_attributed_touch_type": rng.choice(_TOUCH_TYPES) if attributed else None,
        "last_attributed_touch_timestamp": int(touch.timestamp() * 1000) if attributed else None,
        "last_attributed_touch_timestamp_iso": syn.iso(touch) if attributed else None,
        "last_attributed_touch_data_tilde_id": syn.stable_id(seed, "link", rng.randrange(5000))
        if attributed
        else None,
        "last_attributed_touch_data_tilde_campaign": rng.choice(syn.CAMPAIGNS)
        if attributed
        else None,
        "last_attributed_touch_data_tilde_channel": rng.choice(syn.CHANNELS)
        if attributed
        else None,
        "last_attributed_touch_data_tilde_feature": rng.choice(syn.FEATURES)
        if attributed
        else None,
        "last_attributed_touch_data_tilde_advertising_partner_name": rng.choice(syn.PARTNERS)
        if attributed
        else None,
        "last_attributed_touch_data_tilde_tags": rng.sample(
            ["promo", "q3", "vip", "ünïcode"], rng.randrange(3)
        ),
        "last_attributed_touch_data_custom_fields": {
            "sub_id": str(rng.randrange(99)),
            "note": rng.choice(syn.TITLES),
        }
        if attributed
        else None,
        "custom_data": {"level": rng.randrange(1, 40), "sku": f"sku-{rng.randrange(999)}"},
        "event_data_revenue": round(rng.uniform(1, 300), 2) if commerce else None,
        "event_data_currency": "USD" if commerce else None,
        "user_data_os": os_name,
        "user_data_os_version": rng.choice(versions),
        "user_data_platform": {"IOS": "IOS_APP", "ANDROID": "ANDROID_APP"}.get(
            os_name, "DESKTOP_WEB"
        ),
        "user_data_geo_country_code": rng.choice(syn.COUNTRIES),
        "user_data_idfa": f"{rng.getrandbits(128):032X}" if os_name == "IOS" else None,
        "user_data_limit_ad_tracking": rng.random() < 0.1,
        "user_data_developer_identity": rng.choice([None, f"user-{rng.randrange(100000)}"]),
        "persona_identifiers[].id": [syn.stable_id(seed, "persona", rng.randrange(9000))],
    }
    return values


def json_object(
    values: t.Mapping[str, t.Any], fields: t.Sequence[str], *, text_objects: bool
) -> dict:
    """The JSON-lines form: only `fields`; `text_objects` writes objects as JSON text (Branch does both)."""
    obj = {}
    for field in fields:
        value = values.get(field)
        if text_objects and isinstance(value, dict):
            value = json.dumps(value)
        obj[field] = value
    return obj


def csv_cell(value: t.Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return syn.jdump(value)
    return str(value)
