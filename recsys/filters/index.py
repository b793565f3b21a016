"""Per-catalogue lookup structures that turn filter comparisons into vectorised numpy masks.

A `FilterIndex` is built once per (ids, metadata frame) pair and cached: for every field a filter touches it keeps
the values aligned to the id order, factorised into an inverted index (value -> positions, multi-valued ``a|b``
strings exploded into their parts) and, for numeric fields, a float array. `IN` then costs O(matching items) and a
range test one vectorised comparison; recent masks are memoised per index.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from recsys.exceptions import ValidationError

MULTI_VALUE_SEPARATOR = "|"
_MASK_CACHE_BYTES = 32_000_000          # memoised masks per index: ~320 at 100k items, 32 at 1M
_INDEX_CACHE_SIZE = 16
_SMALL_LOOKUP = 5000


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)) and np.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def value_text(value) -> str:
    """The string form a filter compares against: integral numbers without '.0', booleans as True/False."""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value)


def split_parts(value) -> list[str]:
    """The parts of one metadata value (`Comedy|Drama` -> both); missing values have no parts."""
    if _is_missing(value):
        return []
    text = value_text(value)
    return [part for part in text.split(MULTI_VALUE_SEPARATOR) if part] if isinstance(value, str) else [text]


def to_number(value) -> float:
    """A metadata or filter value as a float; NaN when missing or not a number."""
    if _is_missing(value) or isinstance(value, (bool, np.bool_)):
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


class _Comparable:
    """Numeric comparisons shared by FieldIndex and RowField (both expose `name` and `numeric`)."""

    name: str

    @property
    def numeric(self) -> np.ndarray | None:
        if self._numeric is _UNSET:
            self._numeric = self._compute_numeric()
        return self._numeric

    def numbers(self, dataset: str) -> np.ndarray:
        """The float values, or ValidationError when the field is not numeric."""
        if self.numeric is None:
            raise ValidationError(
                f"{dataset}.{self.name} is not numeric, so it cannot be used with =, <, <=, > or >= on a number; "
                f"use IN (\"value\", ...) for categorical fields")
        return self.numeric

    def compare(self, dataset: str, op: str, number: float) -> np.ndarray:
        """Vectorised `field <op> number`; missing values never match."""
        values = self.numbers(dataset)
        with np.errstate(invalid="ignore"):
            if op == "=":
                return values == number
            if op == "<":
                return values < number
            if op == "<=":
                return values <= number
            if op == ">":
                return values > number
            return values >= number


_UNSET = object()


def _numeric_from_text(text: pd.Series, present: np.ndarray) -> np.ndarray | None:
    """Floats when every present value of a text column is a number, else None."""
    if not present.any():                         # nothing to compare: every value is missing, nothing matches
        return np.full(len(text), np.nan)
    converted = pd.to_numeric(text.where(pd.Series(present, index=text.index)), errors="coerce")
    if converted.notna().sum() != present.sum():
        return None
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


class FieldIndex(_Comparable):
    """One field's values aligned to a fixed id order, ready for vectorised membership and range tests."""

    def __init__(self, name: str, series: pd.Series, casefold: bool = False):
        self.name = name
        self.casefold = casefold
        self.n = len(series)
        values = series.reset_index(drop=True)
        if pd.api.types.is_bool_dtype(values.dtype) or values.dtype == object and _all_bool(values):
            values = values.map(lambda v: None if _is_missing(v) else value_text(v))
        self.present = ~values.isna().to_numpy(dtype=bool)
        self.is_string = not pd.api.types.is_numeric_dtype(values.dtype)
        self._numeric = _UNSET
        if self.is_string:
            text = values.astype("str").where(self.present)
            self.present &= (text != "").to_numpy(dtype=bool, na_value=False)
            self._text = text.where(self.present)
        else:
            self._text = None
            self._raw = values
        self._codes_built = False

    def _compute_numeric(self) -> np.ndarray | None:
        if self.is_string:
            return _numeric_from_text(self._text, self.present)
        return self._raw.to_numpy(dtype=np.float64, na_value=np.nan)

    # -- categorical codes -------------------------------------------------------------------------
    def _build_codes(self) -> None:
        if self._text is not None:
            text = self._text
        else:
            text = self._raw.map(lambda v: None if _is_missing(v) else value_text(v)).astype("str")
        if self.casefold:
            text = text.str.lower()
        multi = self.is_string and bool(text.str.contains(MULTI_VALUE_SEPARATOR, regex=False).fillna(False).any())
        if multi:
            parts = text.str.split(MULTI_VALUE_SEPARATOR).explode()
            parts = parts[parts.notna() & (parts != "")]
            codes, uniques = pd.factorize(parts)
            positions = parts.index.to_numpy(dtype=np.int64)
        else:
            codes, uniques = pd.factorize(text)      # missing values get code -1 and are left out
            positions = np.arange(self.n, dtype=np.int64)
            keep = codes >= 0
            codes, positions = codes[keep], positions[keep]
        # Inverted index: positions grouped by code, so a lookup costs O(matching items), not O(catalogue).
        order = np.argsort(codes, kind="stable")
        self.posting_pos = positions[order]
        self.posting_start = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
        self.code_of = {value: code for code, value in enumerate(uniques)}
        self._codes_built = True

    def isin(self, values: Iterable[str]) -> np.ndarray:
        """True where any part of the value equals one of `values` (exact; lower-cased when casefold)."""
        if not self._codes_built:
            self._build_codes()
        mask = np.zeros(self.n, dtype=bool)
        for value in set(values):
            if not self.is_string and not np.isnan(number := to_number(value)):
                value = value_text(number)               # IN (10.0) matches a numeric 10
            code = self.code_of.get(value.lower() if self.casefold else value)
            if code is not None:
                mask[self.posting_pos[self.posting_start[code]:self.posting_start[code + 1]]] = True
        return mask


class RowField(_Comparable):
    """One column of a small frame (a user's history), matched directly without building codes.

    Values are matched whole (interaction fields are single-valued); `casefold` lower-cases both sides.
    """

    def __init__(self, name: str, series: pd.Series, casefold: bool = False):
        self.name = name
        self.casefold = casefold
        self.n = len(series)
        self._series = series
        self._values = series.to_numpy()
        self._is_number = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
        self._present: np.ndarray | None = None
        self._numeric = _UNSET
        self._codes: np.ndarray | None = None
        self._uniques = None

    @property
    def present(self) -> np.ndarray:
        """True where the value is not missing (None, NaN or empty string)."""
        if self._present is None:
            present = ~self._series.isna().to_numpy(dtype=bool)
            if not self._is_number:
                present &= self._values != ""
            self._present = present
        return self._present

    def _compute_numeric(self) -> np.ndarray | None:
        if self._is_number:
            return self._series.to_numpy(dtype=np.float64, na_value=np.nan)
        if pd.api.types.is_bool_dtype(self._series.dtype):
            return None
        return _numeric_from_text(self._series.astype("str"), self.present)

    def isin(self, values: Iterable[str]) -> np.ndarray:
        """True where the whole value equals one of `values` (case-insensitively when casefold)."""
        if self._codes is None:
            self._codes, self._uniques = pd.factorize(self._values)   # missing -> -1
        wanted = {v.lower() for v in values} if self.casefold else set(values)
        selected = np.zeros(len(self._uniques) + 1, dtype=bool)       # last slot: missing, never matches
        for code, value in enumerate(self._uniques):
            if _is_missing(value):
                continue
            text = value if isinstance(value, str) else value_text(value)
            selected[code] = (text.lower() if self.casefold else text) in wanted
        return selected[self._codes]


def _all_bool(values: pd.Series) -> bool:
    sample = values.dropna()
    return len(sample) > 0 and all(isinstance(v, (bool, np.bool_)) for v in sample.iloc[:100])


def resolve_field(name: str, columns: Sequence[str], dataset: str, reserved: Sequence[str] = ()) -> str:
    """The frame column for a filter field: exact name, else a unique case-insensitive match.

    Raises ValidationError naming the field and listing the available ones.
    """
    if name in columns:
        return name
    matches = [c for c in columns if isinstance(c, str) and c.upper() == name.upper()]
    if len(matches) == 1:
        return matches[0]
    available = ", ".join(str(c) for c in columns if c not in reserved and not str(c).startswith("_")) or "none"
    raise ValidationError(f"{dataset} has no field {name!r} used by the filter; available fields: {available}")


class FilterIndex:
    """Field lookups for one id order (the catalogue, or a list of users) and its metadata frame.

    Example::

        index = FilterIndex.for_frame(item_ids, items, "ITEM_ID")
        mask = index.field("GENRE", "Items").isin(["Comedy"])
    """

    def __init__(self, ids, frame: pd.DataFrame | None, id_column: str):
        if ids is None:
            if frame is None:
                raise ValidationError("FilterIndex needs ids or a metadata frame")
            ids = frame[id_column].astype("str").to_numpy()
        self.ids = np.asarray(ids)
        self.n = len(self.ids)
        self.id_column = id_column
        self.id_index = pd.Index(self.ids.astype(str) if self.ids.dtype != object else self.ids)
        self.frame = None
        self.rows = None
        if frame is not None:
            if id_column not in frame.columns:
                raise ValidationError(f"metadata frame has no {id_column} column")
            if frame[id_column].duplicated().any():            # upserts: the last row of an id wins
                frame = frame.drop_duplicates(id_column, keep="last")
            frame_ids = frame[id_column].astype("str")
            self.frame = frame
            self.frame_index = pd.Index(frame_ids.to_numpy())
            self.rows = self.frame_index.get_indexer(self.id_index)
        self._fields: dict[tuple[str, str], FieldIndex] = {}
        self._position_of: dict[str, int] | None = None
        self._masks: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def for_frame(cls, ids, frame: pd.DataFrame | None, id_column: str) -> "FilterIndex":
        """A cached index for this exact (ids, frame) pair; rebuilt when either object changes.

        ids=None indexes the frame's own rows (e.g. every user of a users frame).
        """
        return _cached_index(ids, frame, id_column)

    def columns(self) -> list[str]:
        return [] if self.frame is None else [c for c in self.frame.columns if c != self.id_column]

    def field(self, name: str, dataset: str) -> FieldIndex:
        """The FieldIndex of `name` (resolved case-insensitively); ValidationError if unknown."""
        key = (dataset, name)
        found = self._fields.get(key)
        if found is not None:
            return found
        if self.frame is None:
            raise ValidationError(f"The filter uses {dataset}.{name}, but there is no {dataset} data set "
                                  f"(import {dataset} metadata first)")
        column = resolve_field(name, self.columns(), dataset)
        present = self.rows >= 0
        if len(self.frame) == 0:
            series = self.frame[column].reset_index(drop=True).reindex(range(self.n))   # all missing, dtype kept
        else:
            series = self.frame[column].iloc[np.where(present, self.rows, 0)].reset_index(drop=True)
            if not present.all():
                series = series.where(pd.Series(present))
        found = FieldIndex(column, series)
        with self._lock:
            self._fields[key] = found
        return found

    def positions(self, ids) -> np.ndarray:
        """Positions of `ids` in this index (-1 for unknown ids)."""
        ids = np.asarray(ids)
        if len(ids) <= _SMALL_LOOKUP or not self.id_index.is_unique:   # a dict beats pandas' per-call overhead
            if self._position_of is None:
                self._position_of = {str(v): i for i, v in enumerate(self.ids.tolist())}
            get = self._position_of.get
            return np.fromiter((get(v if isinstance(v, str) else str(v), -1) for v in ids.tolist()),
                               dtype=np.int64, count=len(ids))
        if ids.dtype != object:
            ids = ids.astype(str)
        return self.id_index.get_indexer(ids)

    def mask_of(self, ids) -> np.ndarray:
        """True where this index's id is one of `ids` (duplicates in the index all marked)."""
        if len(ids) == 0:
            return np.zeros(self.n, dtype=bool)
        return np.asarray(self.id_index.isin(pd.unique(np.asarray(ids))), dtype=bool)

    def mask_at(self, positions: np.ndarray) -> np.ndarray:
        """Boolean mask with True at the given positions (negative positions = unknown ids, ignored)."""
        mask = np.zeros(self.n, dtype=bool)
        mask[positions[positions >= 0]] = True
        return mask

    def raw_value(self, entity_id: str, name: str, dataset: str):
        """The metadata value of one id (e.g. the current item) or None when absent/missing."""
        if self.frame is None:
            raise ValidationError(f"The filter uses {dataset}.{name}, but there is no metadata for it")
        column = resolve_field(name, self.columns(), dataset)
        try:
            row = self.frame_index.get_loc(str(entity_id))
        except KeyError:
            return None
        value = self.frame[column].iloc[row]
        return None if _is_missing(value) else value

    def cached_mask(self, key, compute) -> np.ndarray:
        """Memoise a read-only mask under `key` (LRU bounded to about 32 MB per index)."""
        with self._lock:
            mask = self._masks.get(key)
            if mask is not None:
                self._masks.move_to_end(key)
                return mask
        mask = compute()
        mask.setflags(write=False)
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > max(8, _MASK_CACHE_BYTES // max(self.n, 1)):
                self._masks.popitem(last=False)
        return mask


_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _weak(obj):
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


def _cached_index(ids, frame, id_column) -> FilterIndex:
    key = (id(ids), id(frame), id_column)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            ids_ref, frame_ref, index = entry
            if (ids is None or ids_ref() is ids) and (frame is None or frame_ref() is frame):
                _CACHE.move_to_end(key)
                return index
            del _CACHE[key]
    index = FilterIndex(ids, frame, id_column)
    ids_ref = _weak(ids) if ids is not None else None
    frame_ref = _weak(frame) if frame is not None else None
    if (ids is None or ids_ref is not None) and (frame is None or frame_ref is not None):
        with _CACHE_LOCK:
            _CACHE[key] = (ids_ref, frame_ref, index)
            while len(_CACHE) > _INDEX_CACHE_SIZE:
                _CACHE.popitem(last=False)
    return index
