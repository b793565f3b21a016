"""PutEvents / PutItems / PutUsers: round trips, limits, eventId de-duplication, session stitching, trackers."""

import threading
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from recsys import datasets
from recsys.events import (
    camel_to_field, create_event_tracker, field_to_camel, find_tracker, put_events, put_items, put_users,
)
from recsys.exceptions import ConflictError, NotFoundError, ValidationError

INTERACTIONS = {"type": "record", "name": "Interactions", "fields": [
    {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
    {"name": "EVENT_VALUE", "type": ["null", "float"]}, {"name": "IMPRESSION", "type": ["null", "string"]},
    {"name": "RECOMMENDATION_ID", "type": ["null", "string"]},
    {"name": "DEVICE_TYPE", "type": ["null", "string"], "categorical": True},
    {"name": "NUMBER_OF_TABS", "type": ["null", "int"]},
]}
ITEMS = {"type": "record", "name": "Items", "fields": [
    {"name": "ITEM_ID", "type": "string"}, {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    {"name": "NUMBER_OF_RATINGS", "type": ["null", "int"]}, {"name": "PRICE", "type": ["null", "float"]}]}
USERS = {"type": "record", "name": "Users", "fields": [
    {"name": "USER_ID", "type": "string"}, {"name": "MEMBERSHIP", "type": ["null", "string"], "categorical": True}]}


@pytest.fixture
def tracking_id(store):
    store.create_dataset_group("g")
    datasets.create_dataset(store, "g", "Interactions", INTERACTIONS)
    return create_event_tracker(store, "g", "web")["trackingId"]


def event(item="i1", t=1_700_000_000, **extra):
    return {"eventType": "click", "itemId": item, "sentAt": t, **extra}


def test_camel_case_mapping():
    assert camel_to_field("deviceType") == "DEVICE_TYPE"
    assert camel_to_field("numberOfRatings") == "NUMBER_OF_RATINGS"
    assert camel_to_field("categoryL1") == "CATEGORY_L1"
    assert camel_to_field("GENRES") == "GENRES"
    assert field_to_camel("NUMBER_OF_RATINGS") == "numberOfRatings"


def test_tracker_one_per_group_and_lookup(store, tracking_id):
    tracker = find_tracker(store, tracking_id)
    assert tracker["group"] == "g" and tracker["arn"] == "arn:aws:personalize:us-east-1:000000000000:event-tracker/web"
    with pytest.raises(ConflictError, match="one tracker"):
        create_event_tracker(store, "g", "second")
    with pytest.raises(NotFoundError):
        find_tracker(store, "nope")
    with pytest.raises(NotFoundError):
        put_events(store, "nope", "s", None, [event()])


def test_round_trip_with_all_fields(store, tracking_id):
    result = put_events(store, tracking_id, "s1", "u1", [
        event("i1", 1_700_000_000.9, eventId="e1", eventValue=2.5, recommendationId="rec-1",
              impression=["i1", "i2", "i3"], properties='{"deviceType": "mobile", "numberOfTabs": 3}'),
        event("i2", datetime(2024, 1, 1, tzinfo=timezone.utc), properties={"deviceType": "web|beta"}),
    ])
    assert result == {"recorded": 2, "duplicates": 0, "stitched": 0}
    frame = datasets.read_interactions(store, "g", bookkeeping=True)
    first = frame.iloc[0]
    assert (first["USER_ID"], first["ITEM_ID"], first["TIMESTAMP"], first["EVENT_TYPE"]) == ("u1", "i1", 1700000000, "click")
    assert first["EVENT_VALUE"] == 2.5 and first["IMPRESSION"] == "i1|i2|i3" and first["RECOMMENDATION_ID"] == "rec-1"
    assert first["DEVICE_TYPE"] == "mobile" and first["NUMBER_OF_TABS"] == 3
    assert (first["_source"], first["_event_id"], first["_session_id"]) == ("stream", "e1", "s1")
    assert frame.iloc[1]["TIMESTAMP"] == 1704067200 and frame.iloc[1]["DEVICE_TYPE"] == "web|beta"
    assert datasets.user_history(store, "g", "u1")["ITEM_ID"].tolist() == ["i1", "i2"]


def test_event_id_deduplication(store, tracking_id):
    assert put_events(store, tracking_id, "s1", "u1", [event(eventId="e1"), event(eventId="e1")])["recorded"] == 1
    assert put_events(store, tracking_id, "s2", "u2", [event(eventId="e1"), event(eventId="e2")]) == \
        {"recorded": 1, "duplicates": 1, "stitched": 0}
    assert len(datasets.read_interactions(store, "g")) == 2


def test_anonymous_session_is_stitched_to_the_user(store, tracking_id):
    put_events(store, tracking_id, "sess-9", None, [event("i1", 1), event("i2", 2)])
    put_events(store, tracking_id, "other", None, [event("i5", 3)])
    assert datasets.user_history(store, "g", "sess-9")["ITEM_ID"].tolist() == ["i1", "i2"]
    result = put_events(store, tracking_id, "sess-9", "alice", [event("i3", 4)])
    assert result["stitched"] == 2
    assert datasets.user_history(store, "g", "alice")["ITEM_ID"].tolist() == ["i1", "i2", "i3"]
    assert datasets.user_history(store, "g", "sess-9").empty
    assert datasets.user_history(store, "g", "other")["ITEM_ID"].tolist() == ["i5"]


@pytest.mark.parametrize("kwargs,needle", [
    ({"event_list": []}, "eventList must have 1-10"),
    ({"event_list": [event()] * 11}, "eventList must have 1-10"),
    ({"session_id": ""}, "sessionId must be 1-256"),
    ({"user_id": "u" * 257}, "userId must be 1-256"),
    ({"event_list": [{"itemId": "i", "sentAt": 1}]}, "eventList[0].eventType is required"),
    ({"event_list": [event(), {"eventType": "x", "itemId": "i"}]}, "eventList[1].sentAt"),
    ({"event_list": [event(t=1_700_000_000_000)]}, "divide by 1000"),
    ({"event_list": [event(t="yesterday")]}, "eventList[0].sentAt must be epoch seconds"),
    ({"event_list": [event(eventValue="high")]}, "eventList[0].eventValue must be a finite number"),
    ({"event_list": [event(recommendationId="r" * 41)]}, "recommendationId must be 1-40"),
    ({"event_list": [event(impression=[f"i{k}" for k in range(26)])]}, "impression must be a list of 1-25"),
    ({"event_list": [event(properties='{"userId": "x"}')]}, "'userId' is reserved"),
    ({"event_list": [event(properties='{"impression": "x"}')]}, "'impression' is reserved"),
    ({"event_list": [event(properties='{"colour": "red"}')]}, "eventList[0].properties.colour: no Interactions schema field COLOUR"),
    ({"event_list": [event(properties='{"deviceType": ')]}, "eventList[0].properties is not valid JSON"),
    ({"event_list": [event(properties='[1]')]}, "must be a JSON object"),
    ({"event_list": [event(properties='{"deviceType": "' + "x" * 1100 + '"}')]}, "at most 1,024"),
    ({"event_list": [event(properties='{"numberOfTabs": "many"}')]}, "eventList[0]: field NUMBER_OF_TABS: not an integer"),
    ({"event_list": [event(properties='{"deviceType": {"a": 1}}')]}, "nested values"),
    ({"event_list": [event(color="red")]}, "unknown field(s) color"),
    ({"event_list": [event(item="x" * 300)]}, "eventList[0].itemId must be 1-256"),
])
def test_validation_errors_name_event_and_field(store, tracking_id, kwargs, needle):
    args = {"session_id": "s1", "user_id": "u1", "event_list": [event()]} | kwargs
    with pytest.raises(ValidationError) as info:
        put_events(store, tracking_id, args["session_id"], args["user_id"], args["event_list"])
    assert needle in str(info.value)
    assert datasets.read_interactions(store, "g").empty  # nothing written: all or nothing


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
                            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                            max_leaves=25))
def test_random_event_payloads_raise_only_validation_errors(store, tracking_id, payload):
    try:
        put_events(store, tracking_id, "s1", None, payload if isinstance(payload, list) else [payload])
    except ValidationError:
        pass


def test_put_items_and_users_upsert(store, tracking_id):
    datasets.create_dataset(store, "g", "Items", ITEMS)
    datasets.create_dataset(store, "g", "Users", USERS)
    assert put_items(store, "g", [
        {"itemId": "i1", "properties": '{"genres": "Horror|Action", "numberOfRatings": 12, "price": 9.5}'},
        {"itemId": "i2", "properties": '{"genres": "Drama"}'},
    ]) == 2
    put_items(store, "g", [{"itemId": "i1", "properties": '{"numberOfRatings": 13}'}])  # replaces the record
    items = datasets.read_items(store, "g", bookkeeping=True).set_index("ITEM_ID")
    assert items.loc["i1", "NUMBER_OF_RATINGS"] == 13 and items.isna().loc["i1", "GENRES"]
    assert items.loc["i2", "GENRES"] == "Drama" and set(items["_source"]) == {"stream"}
    put_users(store, "g", [{"userId": "u1", "properties": {"membership": "prime"}}])
    assert datasets.read_users(store, "g")[["USER_ID", "MEMBERSHIP"]].values.tolist() == [["u1", "prime"]]
    with pytest.raises(ValidationError, match=r"items\[0\].properties.itemId"):
        put_items(store, "g", [{"itemId": "i3", "properties": '{"itemId": "x"}'}])
    with pytest.raises(ValidationError, match=r"items\[1\]: field PRICE: not a number"):
        put_items(store, "g", [{"itemId": "i3"}, {"itemId": "i4", "properties": '{"price": "cheap"}'}])
    with pytest.raises(ValidationError, match="1-10"):
        put_users(store, "g", [{"userId": f"u{k}"} for k in range(11)])
    assert len(datasets.read_items(store, "g")) == 2


def test_put_items_needs_the_dataset(store, tracking_id):
    with pytest.raises(NotFoundError, match="no Items dataset"):
        put_items(store, "g", [{"itemId": "i1", "properties": "{}"}])


def test_concurrent_writers_and_readers(store, tracking_id):
    errors = []

    def writer(k):
        try:
            for j in range(15):
                put_events(store, tracking_id, f"s{k}", f"u{k}", [event(f"i{j}", 1_700_000_000 + j, eventId=f"{k}-{j}")])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader():
        try:
            for _ in range(15):
                datasets.read_interactions(store, "g")
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(datasets.read_interactions(store, "g")) == 60


def test_events_during_a_long_write_are_spooled_then_moved_in_order(store, tracking_id, monkeypatch):
    import recsys.event_writer as event_writer

    monkeypatch.setattr(event_writer, "SPOOL_AFTER_SECONDS", 0.05)
    put_events(store, tracking_id, "s1", None, [event("i1", 1_700_000_000)])  # anonymous session
    long_write = store.connect()
    long_write.execute("BEGIN IMMEDIATE")  # as a 10-million-row import would, for a minute
    try:
        result = put_events(store, tracking_id, "s1", "alice", [event("i2", 1_700_000_010, eventId="e2"),
                                                              event("i3", 1_700_000_020)])
        assert result["spooled"] and result["recorded"] == 2
        assert event_writer.spooled_count(store) == 1
    finally:
        long_write.execute("ROLLBACK")
        long_write.close()
    history = datasets.read_interactions(store, "g")
    assert list(history["ITEM_ID"]) == ["i1"]  # not yet moved
    # The next call moves the spooled batch first (with its session stitching), then writes its own.
    put_events(store, tracking_id, "s1", "alice", [event("i4", 1_700_000_030), event("i2", 1_700_000_010,
                                                                                     eventId="e2")])
    history = datasets.read_interactions(store, "g")
    assert list(history["ITEM_ID"]) == ["i1", "i2", "i3", "i4"]  # the repeated eventId e2 recorded once
    assert set(history["USER_ID"]) == {"alice"}
    assert event_writer.spooled_count(store) == 0


def test_an_import_moves_spooled_events_when_it_finishes(store, tracking_id, tmp_path, monkeypatch):
    import recsys.event_writer as event_writer
    from recsys.ingest import import_file

    monkeypatch.setattr(event_writer, "SPOOL_AFTER_SECONDS", 0.05)
    long_write = store.connect()
    long_write.execute("BEGIN IMMEDIATE")
    try:
        put_events(store, tracking_id, "s9", "bob", [event("i7", 1_700_000_500)])
    finally:
        long_write.execute("ROLLBACK")
        long_write.close()
    csv = tmp_path / "bulk.csv"
    csv.write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + "".join(
        f"u{k},i{k},{1_700_000_000 + k},click\n" for k in range(20)))
    import_file(store, "g", "interactions", csv, mode="FULL")
    history = datasets.read_interactions(store, "g")
    assert len(history) == 21 and "i7" in set(history["ITEM_ID"])
    assert event_writer.spooled_count(store) == 0
