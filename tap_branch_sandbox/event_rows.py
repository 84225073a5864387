"""Synthetic event rows for the event-level exports (Daily Exports v3, Custom Exports, scheduled files).

Values take the forms `facts.FIELD_KINDS` describes, as Branch's JSON exports carry them
(integer epoch milliseconds, `2018-07-11 00:47:31+0000` ISO text, big ids as JSON numbers,
objects, lists of objects); `csv_cell` turns them into the text Branch's CSV exports hold.
The same seed, app, topic and moment always give the same row.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import typing as t

from tap_branch_sandbox import facts
from tap_branch_sandbox import synthetic as syn

_TOUCH_TYPES = ["CLICK", "IMPRESSION", "WEB_SESSION_START", ""]
_PERSONA_TYPES = ["developer_identity", "idfv", "aaid", "email_hash"]
#: Branch does not document `datasource`'s values (its field table hides it from the UI): assumed.
_DATASOURCES = ["SDK", "API", "BRANCH_LINK", "S2S"]


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso_offset(moment: dt.datetime) -> str:
    """Branch's `*_timestamp_iso` form: `2018-07-11 00:47:31+0000`."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+0000")


def event_values(
    rng: random.Random, seed: int, app_id: str, topic: str, moment: dt.datetime, number: t.Any
) -> dict[str, t.Any]:
    """Every field Branch knows for an event of `topic` at `moment` (callers pick theirs)."""
    os_name, versions = rng.choice(syn.OSES)
    attributed = rng.random() < 0.6
    touch = moment - dt.timedelta(minutes=rng.randrange(1, 60 * 24 * 3))
    base = facts.base_topic(topic)
    commerce = base == "eo_commerce_event"
    name = event_name(rng, topic)
    with_items = commerce or (base == "eo_content_event" and name != "SEARCH")
    installed = moment - dt.timedelta(days=rng.randrange(0, 400))
    # Android's install referrer: when the store install began, when its click was.
    referrer = os_name == "ANDROID" and base in facts.INSTALL_TOPICS
    store_begin = moment - dt.timedelta(seconds=rng.randrange(5, 600))
    values: dict[str, t.Any] = {
        "id": syn.stable_id(seed, app_id, topic, number),
        "name": name,
        "organization_id": int(syn.stable_id(seed, "organization")),
        "organization_name": 'Sandbox Org, Inc. — "demo"',
        "datasource": rng.choice(_DATASOURCES),
        "store_install_begin_timestamp": epoch_ms(store_begin) if referrer else None,
        "referrer_click_timestamp": epoch_ms(
            store_begin - dt.timedelta(seconds=rng.randrange(1, 90))
        )
        if referrer and attributed
        else None,
        "seconds_from_last_attributed_touch_to_store_install_begin": int(
            (store_begin - touch).total_seconds()
        )
        if referrer and attributed
        else None,
        "event_data_search_query": rng.choice(syn.TITLES) if name == "SEARCH" else None,
        "timestamp": epoch_ms(moment),
        "timestamp_iso": iso_offset(moment),
        "origin": rng.choice(["BRANCH", "SDK", "API"]),
        "attributed": attributed,
        "deep_linked": rng.random() < 0.3,
        "first_event_for_user": rng.random() < 0.2,
        "existing_user": rng.random() < 0.5,
        "reengagement_activity_attributed": rng.random() < 0.1,
        "install_activity_timestamp": epoch_ms(installed),
        "seconds_from_install_to_event": int((moment - installed).total_seconds()),
        "custom_data": {"level": str(rng.randrange(1, 40)), "sku": f"sku-{rng.randrange(999)}"},
        "content_items": [
            {"$sku": f"sku-{rng.randrange(999)}", "$price": round(rng.uniform(1, 99), 2)}
        ]
        if with_items
        else None,
        "event_data_revenue": round(rng.uniform(1, 300), 2) if commerce else None,
        "event_data_revenue_in_usd": round(rng.uniform(1, 300), 2) if commerce else None,
        "event_data_currency": "USD" if commerce else None,
        "event_data_transaction_id": f"tx-{rng.randrange(10**9)}" if commerce else None,
        "user_data_os": os_name,
        "user_data_os_version": rng.choice(versions),
        "user_data_platform": {"IOS": "IOS_APP", "ANDROID": "ANDROID_APP"}.get(
            os_name, "DESKTOP_WEB"
        ),
        "user_data_geo_country_code": rng.choice(syn.COUNTRIES),
        "user_data_idfa": f"{rng.getrandbits(128):032X}" if os_name == "IOS" else None,
        "user_data_limit_ad_tracking": rng.random() < 0.1,
        "user_data_developer_identity": rng.choice([None, f"user-{rng.randrange(100000)}"]),
        "user_data_past_cross_platform_ids": [
            syn.stable_id(seed, "cpid", rng.randrange(9000)) for _ in range(rng.randrange(3))
        ],
        "user_data_prob_cross_platform_ids": [
            {
                "id": syn.stable_id(seed, "cpid", rng.randrange(9000)),
                "probability": round(rng.random(), 3),
            }
            for _ in range(rng.randrange(3))
        ],
        "persona_identifiers": [
            {
                "id": syn.stable_id(seed, "persona", rng.randrange(9000)),
                "type": rng.choice(_PERSONA_TYPES),
                "guaranteed": rng.random() < 0.5,
            }
            for _ in range(rng.randrange(1, 3))
        ],
    }
    touch_values: dict[str, t.Any] = {
        "days_from_last_attributed_touch_to_event": (moment - touch).days,
        "hours_from_last_attributed_touch_to_event": min(
            24, int((moment - touch).total_seconds() // 3600)
        ),
        "minutes_from_last_attributed_touch_to_event": min(
            60, int((moment - touch).total_seconds() // 60)
        ),
        "seconds_from_last_attributed_touch_to_event": min(
            60, int((moment - touch).total_seconds())
        ),
        "last_attributed_touch_type": rng.choice(_TOUCH_TYPES),
        "last_attributed_touch_timestamp": epoch_ms(touch),
        "last_attributed_touch_timestamp_iso": iso_offset(touch),
        "last_attributed_touch_data_tilde_id": int(
            syn.stable_id(seed, "link", rng.randrange(5000))
        ),
        "last_attributed_touch_data_tilde_campaign": rng.choice(syn.CAMPAIGNS),
        "last_attributed_touch_data_tilde_channel": rng.choice(syn.CHANNELS),
        "last_attributed_touch_data_tilde_feature": rng.choice(syn.FEATURES),
        "last_attributed_touch_data_tilde_advertising_partner_name": rng.choice(syn.PARTNERS),
        "last_attributed_touch_data_tilde_tags": rng.sample(
            ["promo", "q3", "vip", "ünïcode"], rng.randrange(3)
        ),
        "last_attributed_touch_data_plus_via_features": rng.sample(
            ["QUICK_LINKS", "JOURNEYS", "EMAIL"], rng.randrange(2)
        ),
        "last_attributed_touch_data_custom_fields": {
            "sub_id": str(rng.randrange(99)),
            "note": rng.choice(syn.TITLES),
        },
    }
    if not attributed:
        # No touch: its fields are null, its lists empty (`[]`, as Branch writes them).
        touch_values = {k: [] if isinstance(v, list) else None for k, v in touch_values.items()}
    values.update(touch_values)
    for field, kind in facts.FIELD_KINDS.items():
        if field not in values:
            values[field] = value_of_kind(rng, seed, field, kind, moment)
    for field in facts.CSV_ONLY_COLUMNS:  # `persona_identifiers[].id`: each item's `id`
        listed, key = field.split("[].")
        values[field] = [item[key] for item in values[listed]]
    return values


def event_name(rng: random.Random, topic: str) -> str:
    """The `name` Branch gives an event of `topic`: a standard event name for the event
    groupings (`PURCHASE`), else the topic's own (`CLICK` for `eo_click`)."""
    base = facts.base_topic(topic)
    names = facts.EVENT_NAMES.get(base)
    if names:
        return rng.choice(names)
    return base[3:].upper() if base.startswith("eo_") else base.upper()


def value_of_kind(
    rng: random.Random, seed: int, field: str, kind: str, moment: dt.datetime
) -> t.Any:
    """A plausible value of `kind` for a field no rule above fills (sometimes null)."""
    never_null = (facts.TEXT_LIST, facts.MAP, facts.EPOCH_MS, facts.ISO_OFFSET, facts.ID)
    if kind not in never_null and rng.random() < 0.15:
        return None
    if kind == facts.EPOCH_MS:
        return epoch_ms(moment)
    if kind == facts.ISO_OFFSET:
        return iso_offset(moment)
    if kind == facts.LONG:
        return int(syn.stable_id(seed, field, rng.randrange(10_000)))
    if kind == facts.ID:
        return syn.stable_id(seed, field, rng.randrange(10_000))
    if kind == facts.BOOL:
        return rng.random() < 0.5
    if kind == facts.INT:
        return rng.randrange(0, 2000)
    if kind == facts.FLOAT:
        return round(rng.uniform(-80, 300), 4)
    if kind in (facts.MAP, facts.JSON_TEXT):
        return {"campaign_note": rng.choice(syn.TITLES), "rank": str(rng.randrange(10))}
    if kind == facts.TEXT_LIST:
        return rng.sample(["promo", "q3", "vip", "ünïcode"], rng.randrange(3))
    if kind == facts.STRUCT_LIST:
        return [{"$sku": f"sku-{rng.randrange(999)}", "$price": round(rng.uniform(1, 99), 2)}]
    if kind == facts.PROBABILITY_LIST:
        return [{"id": syn.stable_id(seed, "cpid", rng.randrange(99)), "probability": 0.5}]
    if kind == facts.PERSONA_LIST:
        return [{"id": syn.stable_id(seed, "persona", 1), "type": "idfv", "guaranteed": True}]
    if field.endswith("_os"):
        return rng.choice(syn.OSES)[0]
    if field.endswith("country_code"):
        return rng.choice(syn.COUNTRIES)
    if field.endswith("_campaign"):
        return rng.choice(syn.CAMPAIGNS)
    if field.endswith("_channel"):
        return rng.choice(syn.CHANNELS)
    return rng.choice([f"{field}-{rng.randrange(7)}", rng.choice(syn.TITLES), ""])


def json_object(
    values: t.Mapping[str, t.Any], fields: t.Sequence[str], *, text_objects: bool
) -> dict:
    """The JSON-lines form: only `fields`. `text_objects`: the `String`-typed JSON fields
    (`*_custom_fields`) come as JSON text, as Branch writes them in some exports;
    `custom_data` is always an object."""
    obj = {}
    for field in fields:
        value = values.get(field)
        if text_objects and facts.FIELD_KINDS.get(field) == facts.JSON_TEXT and value is not None:
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
