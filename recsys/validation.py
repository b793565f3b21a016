"""Rows against a schema: map source columns onto its fields, then check and type every value, chunk by chunk.

Example::

    plan = plan_columns(raw.columns, schema, column_map={"CustomerID": "USER_ID"}, date_columns=["InvoiceDate"])
    typed, verdicts = validate_frame(raw, schema, plan)
    typed[~verdicts.bad]                     # the accepted rows; verdicts.field / .reason name each rejection

The bulk importer (`recsys.ingest`) and the streaming writes (`recsys.events`) share these rules, so a row
PutEvents refuses is one an import would reject too, for the same reason. Limits are Personalize's [AP §2.1]:
ids up to 256 characters, categorical strings up to 1,000, textual up to 20,000, other strings 1,024.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recsys.columns import (
    CREATION_TIMESTAMP, EVENT_TYPE, IMPRESSION, ITEM_ID, RECOMMENDATION_ID, TIMESTAMP, USER_ID,
)
from recsys.cells import display_cell, normalize_cells
from recsys.csv_reader import BAD_RECORD
from recsys.exceptions import ValidationError
from recsys.schema import Field, Schema

MAX_ID_CHARS = 256
MAX_CATEGORICAL_CHARS = 1_000
MAX_TEXTUAL_CHARS = 20_000
MAX_STRING_CHARS = 1_024
MAX_EPOCH_SECONDS = 10**11          # beyond year 5000: a millisecond timestamp
INT32 = 2**31 - 1
INT64_SAFE = 9.2e18
MAX_RAW_VALUE_CHARS = 500


def json_cell(value: Any) -> Any:
    """A JSON scalar as the text the validator reads; an object or a list stays as it is, for its field to
    accept or reject (`recsys.cells`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    return value


# -- column plan --------------------------------------------------------------------------------------------


@dataclass
class ColumnPlan:
    """How source columns become schema fields."""

    sources: dict[str, str]            # schema field -> source column
    dates: set[str]                    # schema fields parsed as dates
    exclude: list[tuple[str, re.Pattern, str]]   # (source column, compiled regex, original pattern)
    ignored: list[str]
    missing_nullable: list[str]


def plan_columns(columns: Sequence[str], schema: Schema, column_map: Mapping | None = None,
                 date_columns: Sequence[str] = (), exclude: Mapping[str, str] | None = None) -> ColumnPlan:
    """Resolve the mapping of source columns onto schema fields; ValidationError names what is missing."""
    columns = [str(c) for c in columns if not str(c).startswith("__")]
    by_upper = {c.upper(): c for c in columns}
    cmap: dict[str, str] = {}
    for src, dst in (column_map or {}).items():
        src = str(src)
        actual = src if src in columns else by_upper.get(src.upper())
        if actual is None:
            raise ValidationError(f"Mapped column {src!r} is not in the file (columns: {', '.join(columns[:30])}); "
                                  "fix the --map SRC=DST pair" + (" (without a header, columns are named 0, 1, 2, ...)"
                                                                   if all(c.isdigit() for c in columns) else "") + ".")
        if not schema.has(str(dst)):
            raise ValidationError(f"Mapping {src}={dst}: {dst!r} is not a field of the {schema.dataset_type} schema "
                                  f"(fields: {', '.join(schema.names)}).")
        cmap[actual] = schema.field(str(dst)).name
    sources: dict[str, str] = {}
    ignored = []
    for col in columns:
        dst = cmap.get(col)
        if dst is None:
            if col in cmap.values() or col.upper() in {v.upper() for v in cmap.values()}:
                ignored.append(col)  # a same-named column shadowed by an explicit mapping
                continue
            dst = schema.field(col).name if schema.has(col) else None
        if dst is None:
            ignored.append(col)
            continue
        if dst in sources:
            raise ValidationError(f"Two columns map to {dst}: {sources[dst]!r} and {col!r}; map only one of them.")
        sources[dst] = col
    missing = [f.name for f in schema.fields if f.name not in sources and not f.nullable]
    if missing:
        raise ValidationError(
            f"The file has no column for required field(s) {', '.join(missing)} of the {schema.dataset_type} "
            f"schema (file columns: {', '.join(columns[:30]) or 'none'}); map them with --map SRC={missing[0]} "
            "(column_map={'SRC': '" + missing[0] + "'})."
            + (" A file with no time at all can give every row one timestamp, keeping the rows' order: "
               "--fixed-timestamp now (fixed_timestamp=epoch seconds)." if TIMESTAMP in missing else ""))
    dates = set()
    inverse = {v: k for k, v in sources.items()}
    for name in date_columns or ():
        name = str(name)
        if schema.has(name) and schema.field(name).name in sources:
            dst = schema.field(name).name
        elif name in inverse or name.upper() in {k.upper() for k in inverse}:
            src = name if name in inverse else next(k for k in inverse if k.upper() == name.upper())
            dst = inverse[src]
        else:
            raise ValidationError(f"Date column {name!r} is neither a mapped source column nor a field in the file "
                                  f"(mapped: {', '.join(f'{s}->{d}' for d, s in sources.items())}).")
        if schema.field(dst).type not in ("long", "int"):
            raise ValidationError(f"Date column {name!r} maps to {dst}, a {schema.field(dst).type} field; dates "
                                  "become epoch seconds, so map them to a long field such as TIMESTAMP.")
        dates.add(dst)
    excl = []
    for col, pattern in (exclude or {}).items():
        col = str(col)
        src = col if col in columns else by_upper.get(col.upper())
        if src is None and schema.has(col) and schema.field(col).name in sources:
            src = sources[schema.field(col).name]
        if src is None:
            raise ValidationError(f"Exclude rule column {col!r} is not in the file (columns: {', '.join(columns[:30])}).")
        try:
            excl.append((src, re.compile(str(pattern)), str(pattern)))
        except re.error as exc:
            raise ValidationError(f"Exclude rule {col}={pattern!r} is not a valid regular expression ({exc}).") from None
    missing_nullable = [f.name for f in schema.fields if f.name not in sources]
    return ColumnPlan(sources, dates, excl, ignored, missing_nullable)


# -- validation ---------------------------------------------------------------------------------------------


class _Verdicts:
    """First failing field and reason per row of a chunk."""

    def __init__(self, n: int):
        self.field = np.full(n, None, dtype=object)
        self.reason = np.full(n, None, dtype=object)
        self.excluded = np.zeros(n, dtype=bool)
        self._bad = np.zeros(n, dtype=bool)
        self.any = False

    def mark(self, mask: np.ndarray, field_name: str, reason: str | np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        mask = mask & ~self._bad
        if mask.any():
            self.field[mask] = field_name
            self.reason[mask] = reason if isinstance(reason, str) else np.asarray(reason, dtype=object)[mask]
            self._bad |= mask
            self.any = True

    @property
    def bad(self) -> np.ndarray:
        return self._bad


def _as_text(s: pd.Series) -> pd.Series:
    """Source values as strings (NA for missing or empty); integral floats print without '.0'."""
    kind = s.dtype.kind
    if kind == "f":
        finite = s.notna() & np.isfinite(s.to_numpy(dtype="float64", na_value=np.nan))
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        integral = finite.to_numpy() & (np.floor(np.where(np.isfinite(vals), vals, 0)) == vals) & (np.abs(
            np.where(np.isfinite(vals), vals, 0)) < 2**53)
        out = s.astype("str")
        if integral.any():
            ints = pd.Series(np.where(integral, vals, 0).astype("int64"), index=s.index).astype("str")
            out = out.where(~integral, ints)
        return out.where(s.notna(), None).astype("str")
    if kind in "iu":
        return s.astype("str")
    if kind == "b" or s.dtype == "boolean":
        return s.map({True: "true", False: "false"}).astype("str")
    if kind == "M":
        return s.dt.strftime("%Y-%m-%dT%H:%M:%S").astype("str")
    if s.dtype == object:
        s = s.map(lambda v: v if isinstance(v, str) or v is None else display_cell(v), na_action="ignore")
    out = s.astype("str")
    return out.mask(out == "")


def _numeric(text: pd.Series) -> np.ndarray:
    return pd.to_numeric(text.to_numpy(dtype=object, na_value=None), errors="coerce").astype("float64") \
        if len(text) else np.zeros(0)


def _convert_int(s: pd.Series, f: Field, verdicts: _Verdicts, is_date: bool, date_format: str | None) -> pd.Series:
    n = len(s)
    if is_date and s.dtype.kind not in "iuf":
        if s.dtype.kind == "M":
            dt = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
            missing = s.isna().to_numpy()
        else:
            text = _as_text(s)
            missing = text.isna().to_numpy()
            dt = pd.to_datetime(text, format=date_format or "ISO8601", errors="coerce", utc=True)
            bad = ~missing & dt.isna().to_numpy()
            verdicts.mark(bad, f.name, f"not a date{' in format ' + repr(date_format) if date_format else ' (ISO 8601 expected, e.g. 2024-05-01 13:45:00)'}; pass date_format/--date-format")
        secs = ((dt - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype="float64", na_value=np.nan)
        vals = secs
    elif s.dtype.kind in "iu":
        vals = s.to_numpy(dtype="float64")
        missing = np.zeros(n, dtype=bool)
        exact = s.to_numpy()
        out = pd.Series(exact.astype("int64", copy=False), index=s.index)
        _check_int_range(exact.astype("float64"), f, verdicts, np.zeros(n, dtype=bool))
        return out
    elif s.dtype.kind == "f":
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(vals)
    elif s.dtype.kind == "b" or s.dtype == "boolean":
        verdicts.mark(s.notna().to_numpy(), f.name, f"a boolean where the schema says {f.type}")
        return pd.Series(np.zeros(n, dtype="int64"), index=s.index)
    else:
        text = _as_text(s)
        missing = text.isna().to_numpy()
        plain = text.str.fullmatch(r"[+-]?\d{1,18}").to_numpy(dtype=bool, na_value=False)
        if plain.all():
            ints = _plain_ints(text) if n else np.zeros(0, dtype="int64")
            _check_int_range(ints.astype("float64"), f, verdicts, np.zeros(n, dtype=bool))
            return pd.Series(ints, index=s.index)
        vals = _numeric(text)
        exact_ints = np.zeros(n, dtype="int64")
        if plain.any():
            exact_ints[plain] = text[plain].to_numpy(dtype=object).astype("int64")
        notnum = ~missing & np.isnan(vals)
        if is_date:
            verdicts.mark(notnum, f.name, "not a date or number")
        else:
            looks_date = notnum & text.str.contains(r"^\d{4}-\d{2}-\d{2}", regex=True).to_numpy(dtype=bool, na_value=False)
            hint = (" (it looks like a date: pass date_columns/--date-column " + f.name + ")") if looks_date.any() else ""
            verdicts.mark(notnum, f.name, f"not an integer ({f.type}){hint}")
        _check_missing(missing, f, verdicts)
        vals_chk = np.where(plain, exact_ints.astype("float64"), vals)
        _check_int_range(vals_chk, f, verdicts, missing | notnum)
        safe = np.where(np.isfinite(vals) & (np.abs(vals) < INT64_SAFE), vals, 0)
        out = np.where(plain, exact_ints, np.floor(safe).astype("int64"))
        return pd.Series(out, index=s.index).astype("Int64").mask(missing)
    _check_missing(missing, f, verdicts)
    _check_int_range(vals, f, verdicts, missing)
    safe = np.where(np.isfinite(vals) & (np.abs(vals) < INT64_SAFE), vals, 0)
    return pd.Series(np.floor(safe).astype("int64"), index=s.index).astype("Int64").mask(missing)


def _plain_ints(text: pd.Series) -> np.ndarray:
    """int64 values of strings that all match [+-]?\\d{1,18} (pyarrow's cast, else Python's int())."""
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        try:
            return np.asarray(pc.cast(pa.array(text.array), pa.int64()), dtype="int64")
        except (ValueError, TypeError):  # pa.ArrowInvalid is a ValueError ('+5' is not parsed)
            pass
    return text.to_numpy(dtype=object).astype("int64")


def _check_missing(missing: np.ndarray, f: Field, verdicts: _Verdicts) -> None:
    if not f.nullable:
        verdicts.mark(missing, f.name, f"required {f.name} is empty")


def _check_int_range(vals: np.ndarray, f: Field, verdicts: _Verdicts, skip: np.ndarray) -> None:
    ok = ~skip
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(vals)
        verdicts.mark(ok & ~finite, f.name, f"not a finite number ({f.type})")
        fin = ok & finite
        verdicts.mark(fin & (np.floor(np.where(finite, vals, 0)) != np.where(finite, vals, 0)), f.name,
                      f"not an integer ({f.type}); round it")
        limit = INT32 if f.type == "int" else INT64_SAFE
        verdicts.mark(fin & (np.abs(np.where(finite, vals, 0)) > limit), f.name, f"out of range for {f.type}")
        if f.name in (TIMESTAMP, CREATION_TIMESTAMP):
            v = np.where(finite, vals, 0)
            verdicts.mark(fin & (v >= MAX_EPOCH_SECONDS), f.name,
                          "looks like epoch milliseconds (or later than year 5000); timestamps are epoch seconds: "
                          "divide by 1000")
            verdicts.mark(fin & (v < 0), f.name, "negative epoch seconds")


def _convert_float(s: pd.Series, f: Field, verdicts: _Verdicts) -> pd.Series:
    if s.dtype.kind in "iuf":
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(vals)
    elif s.dtype.kind == "b" or s.dtype == "boolean":
        verdicts.mark(s.notna().to_numpy(), f.name, f"a boolean where the schema says {f.type}")
        return pd.Series(np.zeros(len(s)), index=s.index)
    else:
        text = _as_text(s)
        missing = text.isna().to_numpy()
        vals = _numeric(text)
        verdicts.mark(~missing & np.isnan(vals), f.name, f"not a number ({f.type})")
    _check_missing(missing, f, verdicts)
    with np.errstate(invalid="ignore"):
        verdicts.mark(~missing & np.isinf(vals), f.name, f"not a finite number ({f.type})")
    return pd.Series(vals, index=s.index)


def _convert_bool(s: pd.Series, f: Field, verdicts: _Verdicts) -> pd.Series:
    if s.dtype.kind == "b" or s.dtype == "boolean":
        missing = s.isna().to_numpy()
        _check_missing(missing, f, verdicts)
        return s.astype("boolean")
    text = _as_text(s)
    missing = text.isna().to_numpy()
    is_true = (text == "true").to_numpy(dtype=bool, na_value=False)
    is_false = (text == "false").to_numpy(dtype=bool, na_value=False)
    verdicts.mark(~missing & ~is_true & ~is_false, f.name, "booleans must be lower-case true or false")
    _check_missing(missing, f, verdicts)
    return pd.Series(pd.array(np.where(is_true, True, False), dtype="boolean"), index=s.index).mask(missing)


def _parts_too_long(text: pd.Series, lengths: np.ndarray, limit: int) -> np.ndarray:
    """Rows with a '|'-separated value longer than `limit` (only rows longer than `limit` are split)."""
    long_rows = lengths > limit
    out = np.zeros(len(text), dtype=bool)
    if long_rows.any():
        idx = np.flatnonzero(long_rows)
        out[idx] = [max(len(p) for p in v.split("|")) > limit for v in text.iloc[idx].tolist()]
    return out


def _convert_string(s: pd.Series, f: Field, verdicts: _Verdicts) -> pd.Series:
    text = _as_text(s)
    missing = text.isna().to_numpy()
    _check_missing(missing, f, verdicts)
    if f.textual:
        return text.str.slice(0, MAX_TEXTUAL_CHARS)
    lengths = text.str.len().to_numpy(dtype="float64", na_value=0)
    if f.name in (USER_ID, ITEM_ID, EVENT_TYPE, RECOMMENDATION_ID):
        verdicts.mark(lengths > MAX_ID_CHARS, f.name, f"longer than {MAX_ID_CHARS} characters")
    elif f.categorical or f.name == IMPRESSION:
        verdicts.mark(_parts_too_long(text, lengths, MAX_CATEGORICAL_CHARS), f.name,
                      f"a value longer than {MAX_CATEGORICAL_CHARS} characters (categorical values, '|'-separated)")
    else:
        verdicts.mark(lengths > MAX_STRING_CHARS, f.name, f"longer than {MAX_STRING_CHARS} characters")
    return text


def validate_frame(raw: pd.DataFrame, schema: Schema, plan: ColumnPlan, *,
                   date_format: str | None = None) -> tuple[pd.DataFrame, _Verdicts]:
    """Convert and check a raw chunk. Returns (typed frame of all rows in schema columns, verdicts)."""
    n = len(raw)
    verdicts = _Verdicts(n)
    if BAD_RECORD in raw.columns:
        bad = raw[BAD_RECORD].fillna("").astype(str)
        verdicts.mark((bad != "").to_numpy(), "(line)", bad.to_numpy(dtype=object))
    if "__blank__" in raw.columns:
        verdicts.mark((raw["__blank__"].fillna("") == "1").to_numpy(), "(line)", "blank line")
    for src, regex, pattern in plan.exclude:
        if src not in raw.columns:
            continue
        col = raw[src]
        text = _as_text(col)
        hit = text.str.contains(regex, regex=True).to_numpy(dtype=bool, na_value=False)
        before = verdicts.bad.copy()
        verdicts.mark(hit, src, f"excluded: {src} matches {pattern!r}")
        verdicts.excluded |= hit & ~before
    out: dict[str, pd.Series] = {}
    for f in schema.fields:
        src = plan.sources.get(f.name)
        if src is None:
            continue
        s = raw[src] if src in raw.columns else pd.Series([None] * n, index=raw.index, dtype=object)
        s, bad_cells, reasons = normalize_cells(s, f)
        if bad_cells is not None:
            verdicts.mark(bad_cells, f.name, reasons)
        if f.type in ("int", "long"):
            out[f.name] = _convert_int(s, f, verdicts, f.name in plan.dates, date_format)
        elif f.type in ("float", "double"):
            out[f.name] = _convert_float(s, f, verdicts)
        elif f.type == "boolean":
            out[f.name] = _convert_bool(s, f, verdicts)
        else:
            out[f.name] = _convert_string(s, f, verdicts)
    return pd.DataFrame(out, index=raw.index), verdicts


def raw_columns(raw: pd.DataFrame, positions: np.ndarray, columns: Sequence[str]) -> list[list]:
    """The source values of some rows, column by column (long values cut to MAX_RAW_VALUE_CHARS)."""
    out = []
    for col in columns:
        if col not in raw.columns:
            out.append([""] * len(positions))
            continue
        s = raw[col].iloc[positions]
        if s.dtype.kind == "M":
            s = s.dt.strftime("%Y-%m-%d %H:%M:%S")
        elif s.dtype == object:
            s = s.map(display_cell)
        s = s.astype("str").str.slice(0, MAX_RAW_VALUE_CHARS)
        out.append(s.astype(object).where(s.notna(), "").tolist())
    return out
