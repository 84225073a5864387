"""The event ontology: typed columns shared by the event-level exports."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_branch.records.schemas.ontology import (
    ONTOLOGY,
    RawMillis,
    ontology_properties,
    ontology_type,
)
from tap_branch.records.typers import CATCH_ALL_PROPERTIES, DictTyper, RowTyper


def _schema(columns=None) -> dict:
    return th.PropertiesList(*ontology_properties(columns), *CATCH_ALL_PROPERTIES).to_dict()


def test_name_rules_type_columns_the_ontology_does_not_list():
    assert ontology_type("brand_new_timestamp_iso") == th.DateTimeType
    assert ontology_type("x_custom_fields").to_dict()["type"] == "object"
    assert ontology_type("foo_tags").to_dict()["type"] == "array"
    assert ontology_type("things[].name").to_dict()["type"] == "array"
    assert ontology_type("days_from_signup_to_event") == th.IntegerType
    assert ontology_type("something_unheard_of") == th.StringType


def test_every_epoch_millis_column_gets_a_raw_integer_sibling():
    props = {p.name: p.to_dict()[p.name] for p in ontology_properties(["timestamp", "name"])}
    assert list(props) == ["timestamp", "timestamp_ms", "name"]
    assert props["timestamp"]["format"] == "date-time"
    assert "integer" in props["timestamp_ms"]["type"]
    full = {p.name for p in ontology_properties()}
    assert {"last_attributed_touch_timestamp_ms", "timestamp_ms"} <= full
    assert set(ONTOLOGY) <= full


def test_csv_row_is_typed_and_keeps_raw_millis():
    schema = _schema()
    header = [
        "id",
        "timestamp",
        "last_attributed_touch_data_tilde_tags",
        "custom_data",
        "attributed",
        "days_from_last_attributed_touch_to_event",
        "event_data_revenue",
        "persona_identifiers[].id",
        "not_in_ontology",
    ]
    typer = RowTyper(schema, header, source="test")
    millis = RawMillis(schema, header)
    cells = [
        "1234567890123456789",
        "1700000000123",
        '["a","b"]',
        '{"k": 1}',
        "true",
        "3",
        "9.5",
        '["p1"]',
        "x",
    ]
    record = millis.from_cells(typer(cells), cells)
    assert record["id"] == "1234567890123456789"
    assert record["timestamp"] == "2023-11-14T22:13:20.123000+00:00"
    assert record["timestamp_ms"] == 1700000000123
    assert record["last_attributed_touch_data_tilde_tags"] == ["a", "b"]
    assert record["custom_data"] == {"k": 1}
    assert record["attributed"] is True
    assert record["days_from_last_attributed_touch_to_event"] == 3
    assert record["event_data_revenue"] == 9.5
    assert record["persona_identifiers[].id"] == ["p1"]
    assert record["extra_columns"] == {"not_in_ontology": "x"}
    assert "unparsed_cells" not in record


def test_json_object_custom_fields_may_be_text_or_object():
    schema = _schema(["timestamp", "last_attributed_touch_data_custom_fields", "user_data_os"])
    typer = DictTyper(schema, source="test")
    millis = RawMillis(schema)
    for value in ({"a": "1"}, '{"a": "1"}'):
        obj = {
            "timestamp": 1700000000000,
            "last_attributed_touch_data_custom_fields": value,
            "user_data_os": "IOS",
        }
        record = millis.from_object(typer(obj), obj)
        assert record["last_attributed_touch_data_custom_fields"] == {"a": "1"}
        assert record["timestamp_ms"] == 1700000000000
        assert record["timestamp"].startswith("2023-11-14T22:13:20")


def test_unparseable_timestamp_is_kept_not_lost():
    schema = _schema(["timestamp"])
    typer = RowTyper(schema, ["timestamp"], source="test")
    millis = RawMillis(schema, ["timestamp"])
    record = millis.from_cells(typer(["yesterday"]), ["yesterday"])
    assert record["timestamp"] is None
    assert record["timestamp_ms"] is None
    assert record["unparsed_cells"] == {"timestamp": "yesterday"}


def test_json_rows_as_real_clients_see_them_keep_their_shapes_and_validate():
    """Branch's JSON rows: lists of objects, a map, integer ms, `2018-07-11 00:47:31+0000`."""
    import jsonschema

    fields = [
        "timestamp",
        "timestamp_iso",
        "custom_data",
        "persona_identifiers",
        "user_data_prob_cross_platform_ids",
        "last_attributed_touch_data_tilde_id",
    ]
    schema = _schema(fields)
    obj = {
        "timestamp": 1531270051599,
        "timestamp_iso": "2018-07-11 00:47:31+0000",
        "custom_data": {"level": "3"},
        "persona_identifiers": [{"id": "p1", "type": "idfv", "guaranteed": True}],
        "user_data_prob_cross_platform_ids": [{"id": "c1", "probability": 0.8}],
        "last_attributed_touch_data_tilde_id": 522171064433131572,
    }
    record = RawMillis(schema).from_object(DictTyper(schema, source="test")(obj), obj)
    assert record["timestamp"] == "2018-07-11T00:47:31.599000+00:00"
    assert record["timestamp_ms"] == 1531270051599
    assert record["timestamp_iso"] == "2018-07-11T00:47:31+00:00"
    assert record["persona_identifiers"] == obj["persona_identifiers"]
    assert record["user_data_prob_cross_platform_ids"] == obj["user_data_prob_cross_platform_ids"]
    assert record["last_attributed_touch_data_tilde_id"] == "522171064433131572"  # exact text
    assert "unparsed_cells" not in record and "extra_columns" not in record
    jsonschema.Draft7Validator(schema).validate(record)


def test_documented_fields_the_ontology_types():
    props = _schema()["properties"]
    assert "boolean" in props["persona_identifiers"]["items"]["properties"]["guaranteed"]["type"]
    probability = props["user_data_prob_cross_platform_ids"]["items"]["properties"]
    assert "number" in probability["probability"]["type"]
    assert "number" in props["user_data_geo_lon"]["type"]
    assert "user_data_os_version_android" in ONTOLOGY
