"""TrainingData: the in-memory, type-checked frames every recipe fits on, and `load_training_data(store, group)`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd

from recsys import cleaning, datasets
from recsys.columns import (
    CREATION_TIMESTAMP, EVENT_TYPE, EVENT_VALUE, IMPRESSION, INTERACTION_RESERVED, ITEM_ID, RECOMMENDATION_ID,
    TIMESTAMP, USER_ID,
)
from recsys.exceptions import NotFoundError, ValidationError

log = logging.getLogger(__name__)

FIELD_KINDS = ("categorical", "textual", "numeric", "timestamp")
MIN_INTERACTIONS = 1_000
MIN_USERS_WITH_TWO = 25
_STRING_INTERACTION_COLUMNS = (EVENT_TYPE, IMPRESSION, RECOMMENDATION_ID)


@dataclass(frozen=True)
class TrainingData:
    """Interactions (chronological), optional items and users tables, and the kind of each metadata field.

    Build it with `TrainingData.from_frames(...)` (which coerces dtypes and infers field kinds) rather than
    the constructor.

    Example: ``td = TrainingData.from_frames(pd.DataFrame({"USER_ID": ["u1"], "ITEM_ID": ["i1"], "TIMESTAMP": [1]}))``
    """

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    item_fields: Mapping[str, str] = field(default_factory=dict)
    user_fields: Mapping[str, str] = field(default_factory=dict)
    context_fields: tuple[str, ...] = ()

    @classmethod
    def from_frames(cls, interactions: pd.DataFrame, items: pd.DataFrame | None = None,
                    users: pd.DataFrame | None = None, item_fields: Mapping[str, str] | None = None,
                    user_fields: Mapping[str, str] | None = None,
                    context_fields: tuple[str, ...] | list[str] | None = None) -> "TrainingData":
        """Check and coerce the frames: ids to str, TIMESTAMP int64, EVENT_VALUE float64, sorted by time.

        Parameters
        ----------
        interactions : USER_ID, ITEM_ID, TIMESTAMP and optional EVENT_TYPE, EVENT_VALUE, IMPRESSION,
            RECOMMENDATION_ID and contextual columns.
        items, users : metadata tables keyed by ITEM_ID / USER_ID (duplicates keep the last row).
        item_fields, user_fields : column -> 'categorical' | 'textual' | 'numeric' | 'timestamp';
            inferred from the dtypes and contents when not given.
        context_fields : contextual interaction columns; by default every non-reserved interaction column
            (columns starting with '_' are bookkeeping and never context).

        Raises
        ------
        ValidationError : a required column is missing, or a value cannot be converted.
        """
        inter = _coerce_interactions(interactions)
        if context_fields is None:
            context_fields = tuple(c for c in inter.columns
                                   if c not in INTERACTION_RESERVED and not str(c).startswith("_"))
        else:
            context_fields = tuple(context_fields)
            missing = [c for c in context_fields if c not in inter.columns]
            if missing:
                raise ValidationError(f"context field(s) {missing} are not columns of the interactions "
                                      f"(columns: {list(inter.columns)}); fix context_fields")
        for c in context_fields:
            inter[c] = _to_str(inter[c])
        items_frame = _coerce_metadata(items, ITEM_ID, "items")
        users_frame = _coerce_metadata(users, USER_ID, "users")
        ifields = _fields(items_frame, ITEM_ID, item_fields, "items")
        ufields = _fields(users_frame, USER_ID, user_fields, "users")
        return cls(interactions=inter, items=items_frame, users=users_frame,
                   item_fields=MappingProxyType(ifields), user_fields=MappingProxyType(ufields),
                   context_fields=context_fields)

    # ------------------------------------------------------------------ views
    @property
    def catalogue(self) -> np.ndarray:
        """Sorted union of item ids in the interactions and the items table (numpy array of str)."""
        ids = self.interactions[ITEM_ID].to_numpy(dtype=object)
        if self.items is not None and len(self.items):
            ids = np.concatenate([ids, self.items[ITEM_ID].to_numpy(dtype=object)])
        return np.unique(ids.astype(str)).astype(object)

    @property
    def user_ids(self) -> np.ndarray:
        """Sorted unique user ids of the interactions (numpy array of str)."""
        return np.unique(self.interactions[USER_ID].to_numpy(dtype=str)).astype(object)

    def filter_events(self, event_type: str | None = None,
                      event_value_threshold: float | None = None) -> "TrainingData":
        """Keep only events of one `event_type` and/or with EVENT_VALUE >= `event_value_threshold`.

        Mirrors Personalize's `eventType` / `eventValueThreshold` solution settings.
        """
        inter = self.interactions
        keep = np.ones(len(inter), dtype=bool)
        if event_type is not None:
            if EVENT_TYPE not in inter.columns:
                raise ValidationError(f"eventType={event_type!r} given but the interactions have no EVENT_TYPE "
                                      f"column; drop eventType or import EVENT_TYPE")
            keep &= (inter[EVENT_TYPE] == event_type).to_numpy(dtype=bool, na_value=False)
        if event_value_threshold is not None:
            if EVENT_VALUE not in inter.columns:
                raise ValidationError(f"eventValueThreshold={event_value_threshold} given but the interactions "
                                      f"have no EVENT_VALUE column; drop the threshold or import EVENT_VALUE")
            keep &= (inter[EVENT_VALUE] >= float(event_value_threshold)).to_numpy(dtype=bool, na_value=False)
        if keep.all():
            return self
        return replace(self, interactions=inter.loc[keep].reset_index(drop=True))

    def check_minimums(self) -> list[str]:
        """Personalize's training minimums that are not met, as human messages (empty list = ok)."""
        problems = []
        n = len(self.interactions)
        if n < MIN_INTERACTIONS:
            problems.append(f"only {n:,} interactions; Personalize needs at least {MIN_INTERACTIONS:,} "
                            f"({MIN_INTERACTIONS - n:,} more) after event filtering")
        counts = self.interactions[USER_ID].value_counts()
        n2 = int((counts >= 2).sum())
        if n2 < MIN_USERS_WITH_TWO:
            problems.append(f"only {n2} users with at least 2 interactions; Personalize needs at least "
                            f"{MIN_USERS_WITH_TWO} ({MIN_USERS_WITH_TWO - n2} more)")
        return problems

    def __repr__(self) -> str:
        n_items = 0 if self.items is None else len(self.items)
        n_users = 0 if self.users is None else len(self.users)
        return (f"TrainingData({len(self.interactions):,} interactions, {self.interactions[USER_ID].nunique():,} "
                f"users, {len(self.catalogue):,} catalogue items, items table {n_items:,} rows, users table "
                f"{n_users:,} rows, context={list(self.context_fields)})")


def load_training_data(store, group: str) -> TrainingData:
    """Read a dataset group's Interactions (+ Items, Users if they exist) from the store into TrainingData,
    without the items of the group's exclusion list (`recsys.cleaning.excluded_items`)."""
    inter = datasets.read_interactions(store, group)
    items = users = None
    item_fields = user_fields = None
    context = None
    try:
        ds = datasets.get_dataset(store, group, "Interactions")
        schema = ds.get("schema")
        if schema is not None and hasattr(schema, "context_fields"):
            context = tuple(c for c in schema.context_fields if c in inter.columns)
    except Exception:  # noqa: BLE001 - the schema only refines context detection
        log.debug("no interactions schema for %s; inferring context fields", group)
    for dataset_type, reader in (("Items", datasets.read_items), ("Users", datasets.read_users)):
        try:
            frame = reader(store, group)
        except NotFoundError:  # the dataset does not exist in this group
            continue
        fields = _schema_fields(store, group, dataset_type, frame)
        if dataset_type == "Items":
            items, item_fields = frame, fields
        else:
            users, user_fields = frame, fields
    # Items on the group's exclusion list (fees, postage, ... see recsys.cleaning) never reach a model.
    excluded = cleaning.excluded_items(store, group)
    inter, items = cleaning.drop_excluded(inter, excluded), cleaning.drop_excluded(items, excluded)
    return TrainingData.from_frames(inter, items, users, item_fields=item_fields, user_fields=user_fields,
                                    context_fields=context)


def _schema_fields(store, group, dataset_type, frame) -> dict[str, str] | None:
    """Field kinds from the dataset's schema (categorical/textual flags); None lets from_frames infer."""
    try:
        schema = datasets.get_dataset(store, group, dataset_type).get("schema")
    except Exception:  # noqa: BLE001
        return None
    if schema is None or not hasattr(schema, "fields"):
        return None
    kinds = _infer_fields(frame, ITEM_ID if dataset_type == "Items" else USER_ID)
    for f in schema.fields:
        if f.name not in kinds:
            continue
        if getattr(f, "textual", False):
            kinds[f.name] = "textual"
        elif getattr(f, "categorical", False):
            kinds[f.name] = "categorical"
        elif f.name == CREATION_TIMESTAMP:
            kinds[f.name] = "timestamp"
        elif f.type in ("int", "long", "float", "double"):
            kinds[f.name] = "numeric"
    return kinds


# ---------------------------------------------------------------------- coercion helpers
def _to_str(col: pd.Series) -> pd.Series:
    """A column as pandas' str dtype, missing values kept missing."""
    if pd.api.types.is_float_dtype(col.dtype):
        # 12.0 -> "12" so numeric ids read from CSV match their string form.
        as_int = col.dropna()
        if len(as_int) and (as_int == np.floor(as_int)).all():
            return col.astype("Int64").astype("str")
    return col.astype("str")


def _coerce_interactions(frame: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"interactions must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c not in frame.columns]
    if missing:
        raise ValidationError(f"interactions lack required column(s) {missing} (columns: {list(frame.columns)}); "
                              f"rename or map them to Personalize's names")
    out = frame.copy()
    for c in (USER_ID, ITEM_ID):
        if out[c].isna().any():
            row = int(np.flatnonzero(out[c].isna().to_numpy())[0])
            raise ValidationError(f"interactions row {row}: {c} is empty; every interaction needs a {c}")
        out[c] = _to_str(out[c])
    out[TIMESTAMP] = _coerce_timestamp(out[TIMESTAMP], "interactions", TIMESTAMP)
    if EVENT_VALUE in out.columns:
        try:
            out[EVENT_VALUE] = pd.to_numeric(out[EVENT_VALUE], errors="raise").astype("float64")
        except (ValueError, TypeError) as exc:
            raise ValidationError(f"interactions: EVENT_VALUE must be numeric ({exc}); fix or drop the column") from exc
    for c in _STRING_INTERACTION_COLUMNS:
        if c in out.columns:
            out[c] = _to_str(out[c])
    if not out[TIMESTAMP].is_monotonic_increasing:
        out = out.sort_values(TIMESTAMP, kind="stable")
    return out.reset_index(drop=True)


def _coerce_timestamp(col: pd.Series, what: str, name: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return (col.astype("datetime64[s]").astype("int64")).astype("int64")
    try:
        num = pd.to_numeric(col, errors="raise")
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{what}: {name} must be epoch seconds (int) ({exc})") from exc
    if num.isna().any():
        row = int(np.flatnonzero(num.isna().to_numpy())[0])
        raise ValidationError(f"{what} row {row}: {name} is empty; give epoch seconds")
    return num.astype("int64")


def _coerce_metadata(frame: pd.DataFrame | None, key: str, what: str) -> pd.DataFrame | None:
    if frame is None:
        return None
    if key not in frame.columns:
        raise ValidationError(f"{what} table lacks the {key} column (columns: {list(frame.columns)})")
    out = frame.copy()
    out[key] = _to_str(out[key])
    out = out.drop_duplicates(key, keep="last")
    if CREATION_TIMESTAMP in out.columns:
        ts = pd.to_numeric(out[CREATION_TIMESTAMP], errors="coerce") \
            if not pd.api.types.is_datetime64_any_dtype(out[CREATION_TIMESTAMP].dtype) \
            else out[CREATION_TIMESTAMP].astype("datetime64[s]").astype("int64")
        out[CREATION_TIMESTAMP] = ts.astype("Int64") if ts.isna().any() else ts.astype("int64")
    return out.reset_index(drop=True)


def _fields(frame, key, given, what) -> dict[str, str]:
    if frame is None:
        return {}
    kinds = _infer_fields(frame, key)
    if given:
        for col, kind in given.items():
            if col not in frame.columns:
                raise ValidationError(f"{what} field {col!r} is not a column of the {what} table")
            if kind not in FIELD_KINDS:
                raise ValidationError(f"{what} field {col!r}: kind {kind!r} is not one of {FIELD_KINDS}")
            kinds[col] = kind
    for col, kind in kinds.items():
        if kind in ("categorical", "textual"):
            frame[col] = _to_str(frame[col])
    return kinds


def _infer_fields(frame: pd.DataFrame, key: str) -> dict[str, str]:
    """numeric dtype -> numeric, CREATION_TIMESTAMP -> timestamp, long or spaced text -> textual, else categorical."""
    kinds = {}
    for col in frame.columns:
        if col == key or str(col).startswith("_"):
            continue
        s = frame[col]
        if col == CREATION_TIMESTAMP:
            kinds[col] = "timestamp"
        elif pd.api.types.is_bool_dtype(s.dtype):
            kinds[col] = "categorical"
        elif pd.api.types.is_numeric_dtype(s.dtype):
            kinds[col] = "numeric"
        else:
            text = s.dropna().astype(str)
            if len(text) and (text.str.len().mean() > 40 or text.str.contains(" ", regex=False).mean() > 0.5):
                kinds[col] = "textual"
            else:
                kinds[col] = "categorical"
    return kinds
