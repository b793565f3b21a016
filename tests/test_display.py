"""Item names: the group's display column, names beside ids in tables and reasons, and search by name."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys import datasets, display, queries
from recsys.exceptions import ValidationError
from recsys.schema import parse_schema

ITEMS_SCHEMA = {"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema", "fields": [
    {"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": ["null", "float"]},
    {"name": "COLOUR", "type": ["null", "string"], "categorical": True},
    {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True}], "version": "1.0"}


@pytest.fixture
def shop(store):
    store.create_dataset_group("shop")
    datasets.create_dataset(store, "shop", "Items", parse_schema("Items", ITEMS_SCHEMA))
    items = pd.DataFrame({"ITEM_ID": ["84029E", "POST", "22423"], "PRICE": [3.75, 18.0, 12.75],
                          "COLOUR": ["red", None, "white"],
                          "DESCRIPTION": ["RED WOOLLY HOTTIE WHITE HEART", "POSTAGE", "REGENCY CAKESTAND 3 TIER"]})
    with store.transaction() as db:
        datasets.write_frame(db, "shop", "Items", items, mode="FULL", source="bulk")
    return store


def test_the_textual_field_names_items_by_default_and_can_be_changed(shop):
    assert display.display_column(shop, "shop") == "DESCRIPTION"
    assert display.item_names(shop, "shop", ["84029E", "nope"]) == {"84029E": "RED WOOLLY HOTTIE WHITE HEART"}
    assert display.set_display_column(shop, "shop", "colour") == "COLOUR"
    assert display.item_names(shop, "shop") == {"84029E": "red", "22423": "white"}
    with pytest.raises(ValidationError, match="not a field"):
        display.set_display_column(shop, "shop", "NAME")
    assert display.set_display_column(shop, "shop", None) == "DESCRIPTION"


def test_without_a_textual_field_the_first_string_field_names_items():
    schema = parse_schema("Items", {**ITEMS_SCHEMA, "fields": ITEMS_SCHEMA["fields"][:3]})
    assert display.default_display_column(schema) == "COLOUR"
    assert display.default_display_column(parse_schema("Items", {**ITEMS_SCHEMA, "fields": ITEMS_SCHEMA["fields"][:2]})) is None


def test_a_group_without_items_shows_ids(store):
    store.create_dataset_group("bare")
    assert display.display_column(store, "bare") is None and display.item_names(store, "bare", ["a"]) == {}
    assert display.label("a", {}) == "a"


def test_names_in_reasons_replace_whole_ids_only():
    names = {"84029E": "RED WOOLLY HOTTIE WHITE HEART", "8402": "SHORT"}
    text = display.name_ids_in_text("Because you interacted with 84029E and 84029EX", names)
    assert text == "Because you interacted with 84029E (RED WOOLLY HOTTIE WHITE HEART) and 84029EX"
    assert display.name_reasons(["Because you interacted with 8402", "Popular item"], names) == \
        "Because you interacted with 8402 (SHORT); Popular item"


def test_tables_get_a_name_column_beside_the_id():
    frame = pd.DataFrame({"USER_ID": ["u"], "ITEM_ID": ["POST"], "SCORE": [0.5]})
    named = display.with_names(frame, {"POST": "POSTAGE"})
    assert list(named.columns) == ["USER_ID", "ITEM_ID", "ITEM_NAME", "SCORE"]
    assert named["ITEM_NAME"].tolist() == ["POSTAGE"]
    assert display.id_of_label(display.label("POST", {"POST": "POSTAGE"})) == "POST"


def test_items_are_searchable_by_name(shop):
    assert queries.search_items(shop, "shop", "cakestand", name_column="DESCRIPTION") == ["22423"]
    assert queries.search_items(shop, "shop", "84029", name_column="DESCRIPTION") == ["84029E"]
    assert queries.search_items(shop, "shop", "cakestand") == []  # without the name column: ids only


def test_a_group_created_again_under_the_same_name_starts_with_its_own_settings(shop):
    from recsys import cleaning

    display.set_display_column(shop, "shop", "COLOUR")
    cleaning.exclude_items(shop, "shop", ["POST"])
    shop.create_dataset_group("other")
    assert cleaning.excluded_items(shop, "other") == [] and display.display_column(shop, "other") is None
    shop.delete_dataset_group("shop")
    shop.create_dataset_group("shop")
    assert cleaning.excluded_items(shop, "shop") == []
    datasets.create_dataset(shop, "shop", "Items", parse_schema("Items", ITEMS_SCHEMA))
    assert display.display_column(shop, "shop") == "DESCRIPTION"
