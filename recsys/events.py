"""Streaming writes, as Personalize's personalize-events API: event trackers, PutEvents, PutItems, PutUsers.

Example::

    tracker = create_event_tracker(store, "shop", "web")
    put_events(store, tracker["trackingId"], session_id="s-1", user_id="u1", event_list=[
        {"eventType": "click", "itemId": "i9", "sentAt": 1700000000, "properties": '{"device": "mobile"}'}])

Rules copied from Personalize [AP §2.2]: 1-10 events/items/users per call; ids 1-256 characters;
`properties` is a JSON object string (≤1,024 characters for events) whose keys are the camelCase forms of
schema fields (`deviceType` -> `DEVICE_TYPE`); `userId`, `sessionId`, `eventType`, `timestamp`,
`recommendationId` and `impression` are refused as property keys. An `eventId` already recorded through the
group's tracker is ignored. Events without `userId` are stored under the `sessionId` as user id; the first
event with both re-attributes the session's earlier anonymous events to the user (stitching). Rows are
written with `_source='stream'` in one transaction per call and are visible to the next read.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import pandas as pd

from recsys.columns import (
    EVENT_ATTRIBUTION_SOURCE, EVENT_TYPE, EVENT_VALUE, IMPRESSION, INTERACTIONS, ITEM_ID, ITEMS,
    RECOMMENDATION_ID, TIMESTAMP, USER_ID, USERS,
)
from recsys.datasets import (
    EVENT_ID, INCREMENTAL, SESSION_ID, STREAM, TableWriter, dataset_info, frame_to_rows, get_dataset,
    get_or_create_dataset,
)
from recsys.event_writer import spool_first, write_events
from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.schema import Schema
from recsys.store import validate_name
from recsys.validation import ColumnPlan, validate_frame

log = logging.getLogger(__name__)

RESOURCE_TYPE = "event-tracker"
MAX_BATCH = 10
MAX_ID = 256
MAX_EVENT_PROPERTIES = 1_024
MAX_ITEM_PROPERTIES = 24_262
MAX_USER_PROPERTIES = 4_096
MAX_RECOMMENDATION_ID = 40
MAX_IMPRESSION = 25
MAX_EVENT_BYTES = 10_240
MAX_ATTRIBUTION_SOURCE = 1_024
RESERVED_PROPERTY_KEYS = {"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"}
EVENT_KEYS = {"eventId", "eventType", "eventValue", "itemId", "properties", "sentAt", "recommendationId",
              "impression", "metricAttribution"}


def camel_to_field(key: str) -> str:
    """`numberOfRatings` -> `NUMBER_OF_RATINGS`, `deviceType` -> `DEVICE_TYPE` (already UPPER_SNAKE kept)."""
    if key.isupper() or "_" in key:
        return key.upper()
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).upper()


def field_to_camel(name: str) -> str:
    """`NUMBER_OF_RATINGS` -> `numberOfRatings`."""
    head, *rest = name.lower().split("_")
    return head + "".join(p.capitalize() for p in rest)


# -- trackers -----------------------------------------------------------------------------------------------


def create_event_tracker(store, group: str, name: str) -> dict:
    """Create the group's event tracker (one per group, as Personalize) -> {trackingId, arn, name, group}.

    Creates the group's Interactions dataset with the default schema if it does not exist yet.
    """
    validate_name(name, "event tracker name")
    store.get_dataset_group(group)
    existing = store.list_resources(RESOURCE_TYPE, group)
    if existing:
        raise ConflictError(f"Dataset group {group!r} already has event tracker {existing[0]['name']!r} "
                            f"(trackingId {existing[0]['trackingId']}); a group has one tracker.")
    get_or_create_dataset(store, group, INTERACTIONS)
    tracking_id = str(uuid.uuid4())
    res = store.create_resource(RESOURCE_TYPE, group, name, {"trackingId": tracking_id})
    return {"trackingId": tracking_id, "arn": res["arn"], "name": name, "group": group}


def find_tracker(store, tracking_id: str) -> dict:
    """The tracker resource with this tracking id (its `group` says where events go); NotFoundError otherwise."""
    if isinstance(tracking_id, str):
        for res in store.list_resources(RESOURCE_TYPE):
            if res.get("trackingId") == tracking_id:
                return res
    raise NotFoundError(f"No event tracker with trackingId {tracking_id!r}; create one with create_event_tracker.")


def delete_event_tracker(store, group: str, name: str) -> None:
    store.delete_resource(RESOURCE_TYPE, group, name)


# -- validation helpers -------------------------------------------------------------------------------------


def _text(value: Any, where: str, *, max_len: int = MAX_ID, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise ValidationError(f"{where} is required.")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string, not {type(value).__name__}.")
    if not 1 <= len(value) <= max_len:
        raise ValidationError(f"{where} must be 1-{max_len} characters (got {len(value)}).")
    return value


def _batch(values: Any, where: str) -> list:
    if not isinstance(values, (list, tuple)):
        raise ValidationError(f"{where} must be a list of 1-{MAX_BATCH} entries, not {type(values).__name__}.")
    if not 1 <= len(values) <= MAX_BATCH:
        raise ValidationError(f"{where} must have 1-{MAX_BATCH} entries (got {len(values)}).")
    return list(values)


def _properties(value: Any, where: str, max_len: int, schema: Schema, skip: set[str]) -> dict[str, Any]:
    """Parse a properties JSON string (or dict) into {SCHEMA_FIELD: value}; unknown/reserved keys refused."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        text = json.dumps(dict(value))
        obj = dict(value)
    elif isinstance(value, str):
        text = value
        try:
            obj = json.loads(value)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValidationError(f"{where} is not valid JSON ({getattr(exc, 'msg', exc)}).") from None
    else:
        raise ValidationError(f"{where} must be a JSON object string, not {type(value).__name__}.")
    if len(text) > max_len:
        raise ValidationError(f"{where} is {len(text):,} characters (at most {max_len:,}).")
    if not isinstance(obj, dict):
        raise ValidationError(f"{where} must be a JSON object, not a JSON {type(obj).__name__}.")
    out: dict[str, Any] = {}
    for key, val in obj.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"{where}: empty property key.")
        if key.replace("_", "").lower() in RESERVED_PROPERTY_KEYS:
            raise ValidationError(f"{where}.{key}: {key!r} is reserved and cannot be a property key; send it as "
                                  "the request field instead.")
        name = camel_to_field(key)
        if not schema.has(name) or name in skip:
            allowed = [field_to_camel(f) for f in schema.names if f not in skip]
            raise ValidationError(f"{where}.{key}: no {schema.dataset_type} schema field {name} (properties use "
                                  f"camelCase field names: {', '.join(allowed) or 'none'}).")
        if isinstance(val, (dict, list)):
            raise ValidationError(f"{where}.{key}: nested values are not allowed; join multiple values with '|'.")
        out[schema.field(name).name] = val
    return out


def _cell(value: Any) -> Any:
    """A JSON value as the string form the import validator reads."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def _validate_rows(records: list[dict], schema: Schema, labels: list[str]) -> pd.DataFrame:
    """Check rows (schema field -> value) with the import validator; the first error names row and field."""
    raw = pd.DataFrame.from_records([{k: _cell(v) for k, v in r.items()} for r in records])
    for f in schema.fields:
        if f.name not in raw.columns:
            raw[f.name] = None
    raw = raw.astype(object).where(raw.notna(), None)
    plan = ColumnPlan(sources={f.name: f.name for f in schema.fields}, dates=set(), exclude=[], ignored=[],
                      missing_nullable=[])
    typed, verdicts = validate_frame(raw, schema, plan)
    bad = verdicts.bad
    if bad.any():
        k = int(bad.argmax())
        raise ValidationError(f"{labels[k]}: field {verdicts.field[k]}: {verdicts.reason[k]}.")
    return typed


def _sent_at(value: Any, where: str) -> int:
    if value is None:
        raise ValidationError(f"{where} is required (epoch seconds of the event).")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        secs = value.timestamp()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{where} must be epoch seconds (a number) or a datetime, not {type(value).__name__}.")
    else:
        secs = float(value)
    if not math.isfinite(secs) or secs < 0:
        raise ValidationError(f"{where} must be non-negative epoch seconds (got {value!r}).")
    if secs >= 1e11:
        raise ValidationError(f"{where} {value!r} looks like epoch milliseconds; send seconds (divide by 1000).")
    return int(secs)


# -- PutEvents ----------------------------------------------------------------------------------------------


def put_events(store, tracking_id: str, session_id: str, user_id: str | None = None,
               event_list: Sequence[Mapping] = ()) -> dict:
    """Record 1-10 events for a session through the group's tracker, in one transaction.

    Returns {"recorded": n, "duplicates": m, "stitched": k} (events ignored for an already-seen eventId,
    earlier anonymous events of the session re-attributed to `user_id`).
    """
    tracker = find_tracker(store, _text(tracking_id, "trackingId"))
    group = tracker["group"]
    session_id = _text(session_id, "sessionId")
    user_id = _text(user_id, "userId", required=False)
    events = _batch(event_list, "eventList")
    ds = get_or_create_dataset(store, group, INTERACTIONS)
    schema: Schema = ds["schema"]
    skip = {USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE, IMPRESSION, RECOMMENDATION_ID,
            EVENT_ATTRIBUTION_SOURCE}
    records, event_ids, labels = [], [], []
    for k, ev in enumerate(events):
        where = f"eventList[{k}]"
        if not isinstance(ev, Mapping):
            raise ValidationError(f"{where} must be an object with eventType and sentAt.")
        unknown = set(ev) - EVENT_KEYS
        if unknown:
            raise ValidationError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (allowed: "
                                  f"{', '.join(sorted(EVENT_KEYS))}).")
        if len(json.dumps(dict(ev), default=str)) > MAX_EVENT_BYTES:
            raise ValidationError(f"{where} is larger than {MAX_EVENT_BYTES // 1024} KB.")
        event_type = _text(ev.get("eventType"), f"{where}.eventType")
        row: dict[str, Any] = {USER_ID: user_id or session_id}
        row[TIMESTAMP] = _sent_at(ev.get("sentAt"), f"{where}.sentAt")
        row[ITEM_ID] = _text(ev.get("itemId"), f"{where}.itemId")
        if schema.has(EVENT_TYPE):
            row[EVENT_TYPE] = event_type
        if ev.get("eventValue") is not None:
            value = ev["eventValue"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValidationError(f"{where}.eventValue must be a finite number (got {value!r}).")
            if not schema.has(EVENT_VALUE):
                raise ValidationError(f"{where}.eventValue: the Interactions schema has no EVENT_VALUE field.")
            row[EVENT_VALUE] = float(value)
        rec_id = _text(ev.get("recommendationId"), f"{where}.recommendationId", max_len=MAX_RECOMMENDATION_ID,
                       required=False)
        if rec_id is not None:
            if not schema.has(RECOMMENDATION_ID):
                raise ValidationError(f"{where}.recommendationId: the Interactions schema has no RECOMMENDATION_ID.")
            row[RECOMMENDATION_ID] = rec_id
        if ev.get("impression") is not None:
            imp = ev["impression"]
            if not isinstance(imp, (list, tuple)) or not 1 <= len(imp) <= MAX_IMPRESSION:
                raise ValidationError(f"{where}.impression must be a list of 1-{MAX_IMPRESSION} item ids.")
            for j, item in enumerate(imp):
                _text(item, f"{where}.impression[{j}]")
                if "|" in item:
                    raise ValidationError(f"{where}.impression[{j}]: item ids cannot contain '|'.")
            if not schema.has(IMPRESSION):
                raise ValidationError(f"{where}.impression: the Interactions schema has no IMPRESSION field.")
            row[IMPRESSION] = "|".join(imp)
        attribution = ev.get("metricAttribution")
        if attribution is not None:
            src = attribution.get("eventAttributionSource") if isinstance(attribution, Mapping) else None
            src = _text(src, f"{where}.metricAttribution.eventAttributionSource", max_len=MAX_ATTRIBUTION_SOURCE)
            if schema.has(EVENT_ATTRIBUTION_SOURCE):
                row[EVENT_ATTRIBUTION_SOURCE] = src
        row.update(_properties(ev.get("properties"), f"{where}.properties", MAX_EVENT_PROPERTIES, schema, skip))
        records.append(row)
        event_ids.append(_text(ev.get("eventId"), f"{where}.eventId", required=False))
        labels.append(where)
    typed = _validate_rows(records, schema, labels)
    typed[EVENT_ID] = event_ids
    typed[SESSION_ID] = session_id
    # de-duplicate inside the call too (the unique index handles earlier calls)
    seen: set[str] = set()
    keep = []
    for eid in event_ids:
        keep.append(eid is None or eid not in seen)
        if eid is not None:
            seen.add(eid)
    typed = typed.loc[keep]
    columns = [c for c in typed.columns]
    rows = [list(r) for r in frame_to_rows(typed, columns)]
    written = write_events(store, group, columns, rows, session_id, user_id)
    return {"recorded": written["recorded"], "duplicates": len(events) - written["recorded"],
            **{k: v for k, v in written.items() if k != "recorded"}}


# -- PutItems / PutUsers ------------------------------------------------------------------------------------


def _put_entities(store, group: str, dataset_type: str, entries: Sequence[Mapping], id_key: str,
                  max_props: int, what: str) -> int:
    entries = _batch(entries, what)
    ds = get_dataset(store, group, dataset_type)
    schema: Schema = ds["schema"]
    id_field = schema.id_field
    records, labels = [], []
    for k, entry in enumerate(entries):
        where = f"{what}[{k}]"
        if not isinstance(entry, Mapping):
            raise ValidationError(f"{where} must be an object with {id_key} and properties.")
        unknown = set(entry) - {id_key, "properties"}
        if unknown:
            raise ValidationError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (allowed: {id_key}, "
                                  "properties).")
        row: dict[str, Any] = {id_field: _text(entry.get(id_key), f"{where}.{id_key}")}
        row.update(_properties(entry.get("properties"), f"{where}.properties", max_props, schema, {id_field}))
        records.append(row)
        labels.append(where)
    typed = _validate_rows(records, schema, labels)
    typed = typed.drop_duplicates(subset=[id_field], keep="last")
    columns = [f.name for f in schema.fields]  # a put replaces the whole record: absent fields become null
    for c in columns:
        if c not in typed.columns:
            typed[c] = None
    with spool_first(store) as db:
        writer = TableWriter(db, dataset_info(db, group, dataset_type), mode=INCREMENTAL, source=STREAM)
        writer.write(columns, frame_to_rows(typed, columns))
    return len(typed)


def put_items(store, group: str, items: Sequence[Mapping]) -> int:
    """Add or replace 1-10 items ({itemId, properties}) in the group's Items dataset; returns how many."""
    return _put_entities(store, group, ITEMS, items, "itemId", MAX_ITEM_PROPERTIES, "items")


def put_users(store, group: str, users: Sequence[Mapping]) -> int:
    """Add or replace 1-10 users ({userId, properties}) in the group's Users dataset; returns how many."""
    return _put_entities(store, group, USERS, users, "userId", MAX_USER_PROPERTIES, "users")
