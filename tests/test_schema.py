"""Known-answer tests of Personalize schema validation: each rule, and that the error names field and rule."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from recsys.exceptions import SchemaError
from recsys.schema import Field, default_schema, parse_schema


def record(name, *fields):
    return {"type": "record", "name": name, "namespace": "com.amazonaws.personalize.schema",
            "fields": list(fields), "version": "1.0"}


UID = {"name": "USER_ID", "type": "string"}
IID = {"name": "ITEM_ID", "type": "string"}
TS = {"name": "TIMESTAMP", "type": "long"}


def test_docs_interactions_example_parses():
    schema = parse_schema("Interactions", json.dumps(record(
        "Interactions", UID, IID, TS,
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "LOCATION", "type": "string", "categorical": True},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
        {"name": "IMPRESSION", "type": ["null", "string"]},
    )))
    assert schema.dataset_type == "Interactions"
    assert schema.names[:3] == ("USER_ID", "ITEM_ID", "TIMESTAMP")
    assert schema.context_fields == ("LOCATION", "DEVICE")
    assert schema.categorical_fields == ("LOCATION", "DEVICE")
    assert schema.field("EVENT_VALUE") == Field("EVENT_VALUE", "float", nullable=True)
    assert schema.sqlite_columns()["TIMESTAMP"] == "INTEGER"
    assert schema.sqlite_columns()["EVENT_VALUE"] == "REAL"
    assert schema.textual_field is None


def test_items_with_textual_and_dataset_type_case_insensitive():
    schema = parse_schema("items", record(
        "Items", IID, {"name": "GENRES", "type": "string", "categorical": True},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"}, {"name": "IS_NEW", "type": "boolean"}))
    assert schema.dataset_type == "Items"
    assert schema.textual_field == "DESCRIPTION"
    assert schema.sqlite_columns() == {"ITEM_ID": "TEXT", "GENRES": "TEXT", "DESCRIPTION": "TEXT",
                                       "CREATION_TIMESTAMP": "INTEGER", "IS_NEW": "INTEGER"}
    assert json.loads(schema.to_json())["fields"][2]["textual"] is True


def bad(dataset_type, schema, *needles):
    with pytest.raises(SchemaError) as info:
        parse_schema(dataset_type, schema)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    return message


@pytest.mark.parametrize("dataset_type,schema,needles", [
    ("Interactions", record("Items", UID, IID, TS), ["record name", "must match the dataset type", '"Interactions"']),
    ("Interactions", {"type": "enum", "name": "Interactions"}, ["Avro record"]),
    ("Interactions", record("Interactions", UID, IID), ["'TIMESTAMP'", "is missing", "requires"]),
    ("Interactions", record("Interactions", UID, TS), ["'ITEM_ID'", "is missing"]),
    ("Interactions", record("Interactions", UID, IID, {"name": "TIMESTAMP", "type": "string"}),
     ["'TIMESTAMP'", "reserved field TIMESTAMP has type long"]),
    ("Interactions", record("Interactions", {"name": "USER_ID", "type": ["null", "string"]}, IID, TS),
     ["'USER_ID'", "cannot be null"]),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "EVENT_TYPE", "type": "string", "categorical": True}),
     ["'EVENT_TYPE'", "must not be categorical"]),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "EVENT_VALUE", "type": "string"}),
     ["'EVENT_VALUE'", "float"]),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "RECOMMENDATION_ID", "type": "long"}),
     ["'RECOMMENDATION_ID'", "string"]),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "DEVICE", "type": "string"}),
     ["'DEVICE'", "without a flag", 'add "categorical": true']),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "NOTE", "type": "string", "textual": True}),
     ["'NOTE'", "textual fields are only allowed in Items"]),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "TAGS", "type": {"type": "array", "items": "string"}}),
     ["'TAGS'", "flat fields only"]),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "X", "type": ["null", "string", "long"]}),
     ["'X'", "union"]),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "X", "type": "bytes"}), ["'X'", "not supported"]),
    ("Interactions", record("Interactions", UID, IID, TS, {"name": "timestamp2", "type": "long"},
                            {"name": "TIMESTAMP_2", "type": "long"}), ["'TIMESTAMP_2'", "unique alphanumerically"]),
    ("Items", record("Items", IID, {"name": "GENRES_FIELD_1", "type": "string", "categorical": True},
                     {"name": "GENRESFIELD1", "type": "string", "categorical": True}),
     ["'GENRESFIELD1'", "collides with field 'GENRES_FIELD_1'", "unique alphanumerically"]),
    ("Items", record("Items", IID), ["no metadata field", "at least one metadata field"]),
    ("Users", record("Users", UID), ["no metadata field"]),
    ("Items", record("Items", IID, {"name": "A", "type": "string", "textual": True},
                     {"name": "B", "type": "string", "textual": True}), ["'B'", "at most one textual field"]),
    ("Items", record("Items", IID, {"name": "PRICE", "type": "float", "categorical": True}),
     ["'PRICE'", "only string fields are categorical"]),
    ("Items", record("Items", IID, {"name": "A", "type": "string", "categorical": "yes"}),
     ["'A'", "JSON boolean"]),
    ("Items", record("Items", IID, {"name": "CREATION_TIMESTAMP", "type": "int"}),
     ["'CREATION_TIMESTAMP'", "long"]),
    ("Items", record("Items", IID, {"name": "2ND", "type": "long"}), ["'2ND'", "naming rule"]),
    ("Items", record("Items", IID, {"name": "A-B", "type": "long"}), ["'A-B'", "naming rule"]),
    ("Items", record("Items", IID, {"name": "item_id", "type": "long"}), ["'item_id'"]),
    ("Users", record("Users", UID, {"name": "AGE", "type": "int", "default": "old"}), ["not a valid Avro schema"]),
])
def test_each_rule_names_field_and_rule(dataset_type, schema, needles):
    bad(dataset_type, schema, *needles)


def test_text_level_rules():
    bad("Users", "{not json", "not valid JSON")
    bad("Users", "[1, 2]", "JSON object")
    long_schema = json.dumps(record("Users", UID, {"name": "A", "type": "int", "doc": "x" * 20_000}))
    bad("Users", long_schema, "20,000")
    with pytest.raises(SchemaError, match="Unknown dataset type"):
        parse_schema("Actions2", record("Actions2", UID))


@pytest.mark.parametrize("domain", [None, "ECOMMERCE", "VIDEO_ON_DEMAND"])
@pytest.mark.parametrize("dataset_type", ["Interactions", "Items", "Users"])
def test_default_schemas_are_valid_and_round_trip(domain, dataset_type):
    schema = default_schema(dataset_type, domain)
    again = parse_schema(dataset_type, schema.to_json(), domain=domain)
    assert again.fields == schema.fields
    if dataset_type == "Interactions":
        assert again.names[:3] == ("USER_ID", "ITEM_ID", "TIMESTAMP")


def test_domain_defaults_have_the_documented_fields():
    ecommerce_items = default_schema("Items", "ECOMMERCE")
    assert {"PRICE", "CATEGORY_L1", "PRODUCT_DESCRIPTION", "CREATION_TIMESTAMP"} <= set(ecommerce_items.names)
    assert ecommerce_items.textual_field == "PRODUCT_DESCRIPTION"
    assert not ecommerce_items.field("PRICE").nullable
    vod_items = default_schema("Items", "VIDEO_ON_DEMAND")
    assert {"GENRES", "CREATION_TIMESTAMP"} <= set(vod_items.names)
    assert not default_schema("Interactions", "ECOMMERCE").field("EVENT_TYPE").nullable
    assert "SUBSCRIPTION_MODEL" in default_schema("Users", "VIDEO_ON_DEMAND").names
    with pytest.raises(SchemaError, match="EVENT_TYPE"):
        parse_schema("Interactions", record("Interactions", UID, IID, TS), domain="ECOMMERCE")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(fields=st.lists(st.dictionaries(st.sampled_from(["name", "type", "categorical", "textual", "default"]),
                                       json_values | st.sampled_from(["string", "long", "USER_ID", "X", ["null", "string"]]),
                                       max_size=5), max_size=6),
       dataset_type=st.sampled_from(["Interactions", "Items", "Users"]))
def test_random_schemas_raise_only_schema_errors(fields, dataset_type):
    try:
        schema = parse_schema(dataset_type, {"type": "record", "name": dataset_type, "fields": fields})
    except SchemaError as exc:
        assert str(exc).startswith(f"{dataset_type} schema")
    else:
        assert schema.dataset_type == dataset_type


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_random_text_raises_only_schema_errors(text):
    with pytest.raises(SchemaError):
        parse_schema("Users", text)
