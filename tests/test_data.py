"""TrainingData: dtype coercion, field-kind inference, event filtering, catalogue and Personalize minimums."""

import numpy as np
import pandas as pd
import pytest

from recsys.data import TrainingData
from recsys.exceptions import ValidationError


def _inter(n=6):
    return pd.DataFrame({
        "USER_ID": [1, 1, 2, 2, 3, 3][:n],
        "ITEM_ID": [10, 11, 10, 12, 11, 12][:n],
        "TIMESTAMP": ["5", "1", "3", "2", "6", "4"][:n],
        "EVENT_TYPE": ["view", "purchase", "view", "view", "purchase", "view"][:n],
        "EVENT_VALUE": [1, 2, 3, 4, 5, 6][:n],
        "DEVICE": ["mobile", "desktop", "mobile", "tablet", "mobile", "mobile"][:n],
    })


def test_from_frames_coerces_dtypes_and_sorts_by_time():
    td = TrainingData.from_frames(_inter())
    inter = td.interactions
    assert inter["USER_ID"].dtype == "str" and inter["ITEM_ID"].dtype == "str"
    assert inter["TIMESTAMP"].dtype == np.int64 and inter["EVENT_VALUE"].dtype == np.float64
    assert inter["TIMESTAMP"].tolist() == [1, 2, 3, 4, 5, 6]
    assert inter["USER_ID"].iloc[0] == "1"
    assert td.context_fields == ("DEVICE",)


def test_float_ids_read_from_csv_become_integer_strings():
    inter = _inter().assign(USER_ID=[1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    assert set(TrainingData.from_frames(inter).interactions["USER_ID"]) == {"1", "2", "3"}


def test_missing_required_column_names_it():
    with pytest.raises(ValidationError, match="TIMESTAMP"):
        TrainingData.from_frames(_inter().drop(columns="TIMESTAMP"))


def test_empty_id_names_the_row():
    inter = _inter().astype({"ITEM_ID": object})
    inter.loc[2, "ITEM_ID"] = None
    with pytest.raises(ValidationError, match="row 2: ITEM_ID is empty"):
        TrainingData.from_frames(inter)


def test_item_field_kinds_are_inferred():
    items = pd.DataFrame({
        "ITEM_ID": [10, 11, 12, 13],
        "PRICE": [1.5, 2.0, 3.0, 4.0],
        "GENRES": ["Comedy|Action", "Drama", "Comedy", "Action"],
        "DESCRIPTION": ["a lovely red cotton shirt", "blue jeans for work", "warm winter coat", "running shoes"],
        "CREATION_TIMESTAMP": [1, 2, 3, 4],
    })
    td = TrainingData.from_frames(_inter(), items)
    assert dict(td.item_fields) == {"PRICE": "numeric", "GENRES": "categorical", "DESCRIPTION": "textual",
                                    "CREATION_TIMESTAMP": "timestamp"}
    assert td.catalogue.tolist() == ["10", "11", "12", "13"]  # item 13 only in the items table


def test_given_kinds_override_inference_and_are_checked():
    items = pd.DataFrame({"ITEM_ID": [10], "SIZE": [3]})
    td = TrainingData.from_frames(_inter(), items, item_fields={"SIZE": "categorical"})
    assert td.item_fields["SIZE"] == "categorical" and td.items["SIZE"].iloc[0] == "3"
    with pytest.raises(ValidationError, match="kind 'colour'"):
        TrainingData.from_frames(_inter(), items, item_fields={"SIZE": "colour"})


def test_filter_events_by_type_and_value():
    td = TrainingData.from_frames(_inter())
    assert len(td.filter_events(event_type="purchase").interactions) == 2
    assert sorted(td.filter_events(event_value_threshold=4).interactions["EVENT_VALUE"]) == [4, 5, 6]
    assert len(td.filter_events("view", 4).interactions) == 2
    assert td.filter_events() is td
    with pytest.raises(ValidationError, match="EVENT_TYPE"):
        TrainingData.from_frames(_inter().drop(columns="EVENT_TYPE")).filter_events("view")


def test_check_minimums_reports_what_is_missing():
    problems = TrainingData.from_frames(_inter()).check_minimums()
    assert len(problems) == 2
    assert "only 6 interactions" in problems[0] and "1,000" in problems[0]
    assert "only 3 users with at least 2 interactions" in problems[1]
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"USER_ID": rng.integers(0, 50, 1200), "ITEM_ID": rng.integers(0, 30, 1200),
                        "TIMESTAMP": np.arange(1200)})
    assert TrainingData.from_frames(big).check_minimums() == []


def test_frozen():
    td = TrainingData.from_frames(_inter())
    with pytest.raises(Exception):
        td.items = None


def test_load_training_data_reads_a_dataset_group(store, tmp_path):
    from recsys.data import load_training_data
    from recsys.demo import load_demo

    load_demo(store, "demo", tmp_path / "demo")
    td = load_training_data(store, "demo")
    assert len(td.interactions) > 90_000 and td.context_fields == ("DEVICE",)
    assert td.interactions["TIMESTAMP"].dtype == np.int64 and td.interactions["TIMESTAMP"].is_monotonic_increasing
    assert td.item_fields["PRODUCT_DESCRIPTION"] == "textual" and td.item_fields["CATEGORY_L1"] == "categorical"
    assert td.users is not None and len(td.catalogue) == 1000
    assert not any(c.startswith("_") for c in td.interactions.columns)
