"""Typed source cells (Avro and Parquet logical types, JSON values) turned into the text or numbers a schema
field takes, or a reason per row why a cell cannot fill its field.

What each source type becomes:

=====================================  ==========================  ================================
source value                           string field                int/long/float/double field
=====================================  ==========================  ================================
text, enum, uuid                       the text                    parsed as a number
integer, float, decimal                its digits (``1.50``)       the number
boolean                                ``true`` / ``false``        rejected
date                                   ``2024-05-01``              epoch seconds at 00:00 UTC
timestamp (ms, us, ns; with a zone)    ``2024-05-01T13:45:00``,    epoch seconds (naive = UTC),
                                       UTC with ``Z`` if zoned     rounded down
time of day                            ``13:45:00``                rejected
duration                               rejected                    seconds
bytes, fixed, binary                   the text if UTF-8, else     parsed as a number if UTF-8 text
                                       rejected
list, array                            ``a|b`` in a categorical    rejected
                                       field or IMPRESSION, else
                                       rejected
struct, record, map, JSON object       rejected                    rejected
=====================================  ==========================  ================================

Example::

    values, bad, reasons = normalize_cells(frame["GENRES"], schema.field("GENRES"))
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from recsys.columns import EVENT_TYPE, IMPRESSION, ITEM_ID, RECOMMENDATION_ID, USER_ID
from recsys.schema import Field

ID_FIELDS = (USER_ID, ITEM_ID, EVENT_TYPE, RECOMMENDATION_ID)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_TEXT_KINDS = ("string", "empty")


class _Rejected(str):
    """A reason a cell is rejected (a str subclass, so it can sit in an object array beside values)."""


def _takes_many(f: Field) -> bool:
    return f.categorical or f.name == IMPRESSION


def _epoch_seconds(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return math.floor((value - _EPOCH).total_seconds())


def _timestamp_text(value: dt.datetime) -> str:
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _scalar(value: Any, f: Field) -> Any:
    """One cell as text (or None when missing), or a _Rejected reason."""
    numeric = f.is_numeric
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        if numeric:
            return _Rejected(f"a boolean ({str(bool(value)).lower()}) where the schema says {f.type}")
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else repr(float(value))
    if isinstance(value, decimal.Decimal):
        return None if value.is_nan() else format(value, "f")
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        if value is pd.NaT:
            return None
    if isinstance(value, dt.datetime):
        return str(_epoch_seconds(value)) if numeric else _timestamp_text(value)
    if isinstance(value, dt.date):
        return str(_epoch_seconds(dt.datetime(value.year, value.month, value.day))) if numeric else value.isoformat()
    if isinstance(value, dt.time):
        if numeric:
            return _Rejected(f"a time of day ({value.isoformat()}) where the schema says {f.type}; store the full "
                             "date and time, or map the column to a string field")
        return value.isoformat()
    if isinstance(value, (dt.timedelta, np.timedelta64)):
        seconds = pd.Timedelta(value).total_seconds()
        if numeric:
            return _number_text(seconds)
        return _Rejected(f"a duration ({pd.Timedelta(value)}) where {f.name} takes text; map it to a numeric "
                         "field (it becomes seconds)")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return _Rejected(f"binary data that is not UTF-8 text ({len(raw)} byte{'s' if len(raw) != 1 else ''}); "
                             f"store {f.name} as a "
                             "string column (hex or base64 for binary ids)")
    if isinstance(value, Mapping):
        keys = ", ".join(str(k) for k in list(value)[:5])
        return _Rejected(f"a nested object ({{{keys}}}) where {f.name} takes one value; flatten the file so "
                         f"that {f.name} is a plain column")
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return _list(value, f)
    return _Rejected(f"a {type(value).__name__} value where {f.name} takes text or a number")


def _list(values, f: Field) -> Any:
    """A list cell: '|'-joined in a field that takes several values, else rejected."""
    if not _takes_many(f):
        what = f"a list of {len(values)} value{'s' if len(values) != 1 else ''} where {f.name} takes one"
        if f.name in ID_FIELDS:
            return _Rejected(f"{what} id; write one row per id")
        if f.is_numeric:
            return _Rejected(f"{what} number; keep one value per row")
        return _Rejected(f"{what} value; keep one, or make {f.name} a categorical field (it stores a "
                         "'|'-separated list)")
    parts = []
    for item in values:
        if isinstance(item, (list, tuple, set, np.ndarray, Mapping)):
            return _Rejected(f"a nested list where {f.name} takes a flat list of values")
        text = _scalar(item, f)
        if isinstance(text, _Rejected):
            return _Rejected(f"a list value is {text}")
        if text is None or text == "":
            continue
        if "|" in text:
            return _Rejected(f"a list value {text[:50]!r} contains '|', the separator of {f.name}'s values")
        parts.append(text)
    return "|".join(parts) if parts else None


def normalize_cells(s: pd.Series, f: Field) -> tuple[pd.Series, np.ndarray | None, np.ndarray | None]:
    """(values the field's converter reads, rejected-row mask or None, reasons) for one source column.

    Text, numbers and booleans pass unchanged; typed columns (dates, timestamps, durations, decimals,
    binary, lists, nested values) become text or numbers as the module table says, or are rejected.
    """
    kind = s.dtype.kind
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
        kind = "O"
    if kind == "M":
        if f.is_numeric:  # whole seconds, rounded down, in the column's own unit (no nanosecond overflow)
            naive_utc = s if s.dt.tz is None else s.dt.tz_convert(None)
            seconds = naive_utc.to_numpy().astype("datetime64[s]").astype("int64").astype("float64")
            seconds[s.isna().to_numpy()] = np.nan
            return pd.Series(seconds, index=s.index), None, None
        if s.dt.tz is None:
            text = s.dt.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            text = s.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        return text.astype(object).where(s.notna(), None), None, None
    if kind == "m":
        if f.is_numeric:
            return pd.Series(s.dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan), index=s.index), None, None
        present = s.notna().to_numpy()
        reason = (f"a duration where {f.name} takes text; map it to a numeric field (it becomes seconds)")
        return pd.Series([None] * len(s), index=s.index, dtype=object), present, np.full(len(s), reason, dtype=object)
    if kind != "O" or pd.api.types.infer_dtype(s, skipna=True) in _TEXT_KINDS:
        return s, None, None
    converted = [_scalar(v, f) for v in s.tolist()]
    bad = np.fromiter((isinstance(v, _Rejected) for v in converted), dtype=bool, count=len(converted))
    if not bad.any():
        return pd.Series(converted, index=s.index, dtype=object), None, None
    reasons = np.array([str(v) if b else None for v, b in zip(converted, bad)], dtype=object)
    values = [None if b else v for v, b in zip(converted, bad)]
    return pd.Series(values, index=s.index, dtype=object), bad, reasons


def display_cell(value: Any) -> str:
    """A source value as text for the rejects file and for exclude rules (nested values as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, float):
        return _number_text(value) if math.isfinite(value) else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
