"""Bulk import jobs: read a file (CSV/.gz, Parquet, JSON lines, Avro) in chunks, map and validate every row
against the dataset's schema, and write the accepted rows in one transaction (all or nothing).

Example::

    job = import_file(store, "shop", "Interactions", "u.data", header=False,
                      column_map={"0": "USER_ID", "1": "ITEM_ID", "2": "EVENT_VALUE", "3": "TIMESTAMP"})
    job.rows_accepted, job.rows_rejected, job.rejects_path

Semantics [AP §2.1]: ``FULL`` replaces the dataset's *bulk* rows (rows streamed with PutEvents/PutItems/
PutUsers survive); ``INCREMENTAL`` appends interactions and upserts items/users by id. The job fails, and
nothing is written, when more than ``max_rejected_fraction`` of the rows are rejected.

Row numbers in rejects: the 1-based record number in the file, counting a CSV header as record 1 (so the
first data row of a CSV with a header is row 2, as in a spreadsheet); for Parquet, Avro and headerless CSV
the first record is row 1; for JSON lines it is the line number.

Column mapping: ``column_map={"CustomerID": "USER_ID", ...}`` renames source columns; without a header the
columns are named by position, ``"0"``, ``"1"``, ... Source columns matching schema fields (case-insensitive)
need no mapping; other columns are ignored (listed in ``job.ignored_columns``). ``date_columns`` are parsed
as dates (ISO 8601 by default, or ``date_format``; naive times are taken as UTC) into epoch seconds.
``exclude={"InvoiceNo": "^C"}`` drops rows whose column matches a regular expression (e.g. cancelled
invoices); they are listed in the rejects file with reason ``excluded: ...`` and counted in
``rows_excluded``, not in the rejected share.

Speed and memory (bench/ingest.py): a reader thread parses (pyarrow's CSV reader, 1 MiB blocks), validates
and turns each chunk into multi-row INSERT parameter lists (`datasets.frame_to_blocks`); the calling thread
only runs SQLite: the inserts, then the index rebuild (FULL, and INCREMENTAL loads big against the table,
see `TableWriter`) and the commit. At most three chunks are in memory at once, plus a 64 MiB page cache.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import queue
import re
import secrets
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.columns import (
    CREATION_TIMESTAMP, EVENT_TYPE, IMPRESSION, INTERACTIONS, ITEM_ID, RECOMMENDATION_ID, TIMESTAMP, USER_ID,
)
from recsys.cells import display_cell, normalize_cells
from recsys.csv_reader import BAD_RECORD, is_gzip, open_binary, read_csv_tables, read_header
from recsys.datasets import BULK, FULL, MODES, TableWriter, frame_to_blocks, get_or_create_dataset
from recsys.exceptions import RecsysError, ValidationError
from recsys.files import environment_problem
from recsys.schema import Field, Schema, normalize_dataset_type
from recsys.store import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, validate_name

log = logging.getLogger(__name__)

RESOURCE_TYPE = "dataset-import-job"
MAX_ID_CHARS = 256
MAX_CATEGORICAL_CHARS = 1_000
MAX_TEXTUAL_CHARS = 20_000
MAX_STRING_CHARS = 1_024
MAX_EPOCH_SECONDS = 10**11          # beyond year 5000: a millisecond timestamp
INT32 = 2**31 - 1
INT64_SAFE = 9.2e18
FORMATS = ("csv", "parquet", "jsonl", "avro")
REJECT_COLUMNS = ("row", "field", "reason")   # then the source columns, as read
MAX_RAW_VALUE_CHARS = 500
CSV_BLOCK_BYTES = 1 << 20           # pyarrow CSV block (its reader reads dozens ahead: small bounds memory)
FIRST_CHUNK_ROWS = 20_000           # CSV: the first chunk is at most this long
SQLITE_CACHE_KIB = 65_536           # page cache of the import connection (bounded memory at any file size)

Progress = Callable[[int, "int | None"], Any]


@dataclass
class ImportJob:
    """The record of one import: what was read, accepted, rejected, and why it failed if it did."""

    name: str
    group: str
    dataset_type: str
    mode: str
    path: str
    format: str = ""
    status: str = CREATE_IN_PROGRESS
    arn: str = ""
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_excluded: int = 0
    failure_reason: str | None = None
    rejects_path: str | None = None
    first_rejects: list = field(default_factory=list)
    ignored_columns: list = field(default_factory=list)
    column_map: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def rejected_fraction(self) -> float:
        base = self.rows_read - self.rows_excluded
        return self.rows_rejected / base if base > 0 else 0.0


class ImportFailed(ValidationError):
    """An import job that failed; `.job` is its ImportJob (status CREATE FAILED)."""

    def __init__(self, message: str, job: ImportJob | None = None):
        super().__init__(message)
        self.job = job


# -- reading files ------------------------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    """csv, parquet, jsonl or avro, from the file's magic bytes, then its extension."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    if head == b"Obj\x01":
        return "avro"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".parquet", ".pq"):
        return "parquet"
    if last == ".avro":
        return "avro"
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


def _open_text(path: Path):
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", errors="replace", newline="")


def sniff_delimiter(path: Path) -> str:
    """The field delimiter among , TAB ; | that splits the first lines into the same number (> 1) of fields."""
    try:
        with _open_text(path) as fh:
            sample = fh.read(65536)
    except (OSError, EOFError, zlib.error):
        return ","
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line may be cut
    lines = [ln for ln in lines[:50] if ln.strip()]
    if not lines:
        return ","
    best, best_score = ",", (0, 0)
    for cand in (",", "\t", ";", "|"):
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=cand)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        share = counts.count(mode) / len(counts)
        if mode > 1 and share >= 0.9 and (share, mode) > best_score:
            best, best_score = cand, (share, mode)
    return best


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        name = name.strip() or "column"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _read_csv_chunks(path: Path, delimiter: str, header: bool, chunk_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """CSV as text frames: pyarrow's streaming reader, with a tolerant reader where it fails (`csv_reader`);
    a malformed record is a row whose BAD_RECORD column says why."""
    import pyarrow as pa

    first, start, line = read_header(path, delimiter, header)
    names = _unique_names(first) if header else [str(k) for k in range(len(first))]
    string_dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    row = 2 if header else 1
    size = min(chunk_size, FIRST_CHUNK_ROWS)  # a small first chunk: the writer starts at once
    pending: list = []   # record batches (one per block) not yet handed out
    n_pending = 0

    def frame_of(table) -> pd.DataFrame:
        frame = table.to_pandas(types_mapper=lambda t: string_dtype if t == pa.string() else None)
        frame.columns = table.column_names
        return frame

    for batch in read_csv_tables(path, delimiter, names, start, line, block_size=CSV_BLOCK_BYTES):
        if BAD_RECORD in batch.schema.names:  # a tolerant stretch: its own chunk, after what is pending
            if n_pending:
                yield row, frame_of(pa.Table.from_batches(pending))
                row += n_pending
                pending, n_pending = [], 0
            yield row, frame_of(batch)
            row += batch.num_rows
            continue
        pending.append(batch)
        n_pending += batch.num_rows
        while n_pending >= size:
            table = pa.Table.from_batches(pending)
            yield row, frame_of(table.slice(0, size))
            row += size
            rest = table.slice(size)
            pending, n_pending = rest.to_batches(), rest.num_rows
            size = chunk_size
    if n_pending:
        yield row, frame_of(pa.Table.from_batches(pending))


def _read_parquet_chunks(path: Path, chunk_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    row = 1
    for batch in pf.iter_batches(batch_size=chunk_size):
        frame = batch.to_pandas()
        frame.columns = [str(c) for c in frame.columns]
        yield row, frame
        row += len(frame)


def _json_cell(value: Any) -> Any:
    """A JSON scalar as text; an object or a list stays as it is, for its field to accept or reject (`cells`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    return value


def _read_jsonl_chunks(path: Path, chunk_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """JSON lines as string frames; a line that is not a UTF-8 JSON object becomes a row with BAD_RECORD."""
    with open_binary(path) as fh:
        records: list[dict] = []
        first = 1
        lineno = 0
        for raw in fh:
            lineno += 1
            if not records:
                first = lineno
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").strip()
            except UnicodeDecodeError as exc:
                text = None
                reason = f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); re-save the file as UTF-8"
            if text == "":
                records.append({"__blank__": "1", "__line__": lineno})
            else:
                try:
                    obj = json.loads(text) if text is not None else {BAD_RECORD: reason}
                except (json.JSONDecodeError, RecursionError) as exc:
                    obj = {BAD_RECORD: f"not valid JSON ({getattr(exc, 'msg', exc)})"}
                if not isinstance(obj, dict):
                    obj = {BAD_RECORD: f"a JSON {type(obj).__name__}, not an object"}
                obj = {str(k): _json_cell(v) for k, v in obj.items()}
                obj["__line__"] = lineno
                records.append(obj)
            if len(records) >= chunk_size:
                yield first, _records_frame(records)
                records = []
        if records:
            yield first, _records_frame(records)


def _records_frame(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)
    for col in frame.columns:
        if col != "__line__":
            values = frame[col].fillna("")
            frame[col] = values.astype("str") if pd.api.types.infer_dtype(values) == "string" else values
    return frame


def _read_avro_chunks(path: Path, chunk_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    import fastavro

    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        records: list[dict] = []
        row = 1
        for rec in reader:
            if not isinstance(rec, dict):
                rec = {BAD_RECORD: "an Avro record that is not a flat record"}
            records.append(rec)
            if len(records) >= chunk_size:
                yield row, pd.DataFrame.from_records(records)
                row += len(records)
                records = []
        if records:
            yield row, pd.DataFrame.from_records(records)


_READ_ERRORS = (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error, OSError, EOFError,
                zlib.error, ValueError, TypeError, KeyError, IndexError, OverflowError, MemoryError)


def _describe_read_error(exc: BaseException, path: Path, fmt: str) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return (f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} of a "
                "block cannot be decoded); re-save the file as UTF-8.")
    if isinstance(exc, pd.errors.EmptyDataError):
        return f"{path.name} is empty: it has no header and no rows."
    if "UTF8" in str(exc) or "UTF-8" in str(exc):
        return f"{path.name} is not UTF-8 text ({str(exc).strip().splitlines()[0][:200]}); re-save the file as UTF-8."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = {"csv": "check the delimiter (--delimiter), quoting and that every row has the same number of fields",
            "parquet": "the file is not a readable Parquet file", "avro": "the file is not a readable Avro "
            "container file", "jsonl": "each line must be one JSON object"}[fmt]
    return f"Cannot read {path.name} as {fmt.upper()}: {text[:300]}; {hint}."


def _guarded(chunks: Iterator, path: Path, fmt: str) -> Iterator[tuple[int, pd.DataFrame]]:
    while True:
        try:
            item = next(chunks)
        except StopIteration:
            return
        except RecsysError:
            raise
        except _READ_ERRORS as exc:
            raise ValidationError(_describe_read_error(exc, path, fmt)) from exc
        except Exception as exc:  # any other parser failure (e.g. pyarrow/fastavro internals) is bad input
            raise ValidationError(_describe_read_error(exc, path, fmt)) from exc
        yield item


def read_chunks(path: str | os.PathLike, *, file_format: str | None = None, delimiter: str | None = None,
                header: bool = True, chunk_size: int = 200_000) -> tuple[Iterator[tuple[int, pd.DataFrame]], str, int | None]:
    """(iterator of (first row number, raw frame), format, total rows if known) for a file."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"File {str(path)!r} does not exist or is not a file.")
    fmt = (file_format or detect_format(path)).lower()
    if fmt not in FORMATS:
        raise ValidationError(f"Unknown file format {fmt!r}: use one of {', '.join(FORMATS)}.")
    total = None
    if fmt == "csv":
        if delimiter is None:
            delimiter = sniff_delimiter(path)
        elif delimiter in ("\\t", "tab", "TAB"):
            delimiter = "\t"
        if len(delimiter) != 1:
            raise ValidationError(f"Delimiter {delimiter!r} must be one character (use '\\t' for tab).")
        chunks = _read_csv_chunks(path, delimiter, header, chunk_size)
    elif fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            total = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:
            raise ValidationError(_describe_read_error(exc, path, fmt)) from exc
        chunks = _read_parquet_chunks(path, chunk_size)
    elif fmt == "jsonl":
        chunks = _read_jsonl_chunks(path, chunk_size)
    else:
        chunks = _read_avro_chunks(path, chunk_size)
    return _guarded(chunks, path, fmt), fmt, total


def estimate_rows(path: str | os.PathLike, fmt: str) -> int | None:
    """About how many records an uncompressed CSV or JSON lines file holds (from its first MiB), else None."""
    path = Path(path)
    if fmt not in ("csv", "jsonl") or is_gzip(path):
        return None
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            sample = fh.read(1 << 20)
    except OSError:
        return None
    lines = sample.count(b"\n")
    if not sample:
        return 0
    return int(size * max(lines, 1) / len(sample))


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
            "(column_map={'SRC': '" + missing[0] + "'}).")
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
            import pyarrow as pa
            import pyarrow.compute as pc

            return np.asarray(pc.cast(pa.array(text.array), pa.int64()), dtype="int64")
        except (ImportError, ValueError, TypeError):  # pa.ArrowInvalid is a ValueError ('+5' is not parsed)
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


def _raw_columns(raw: pd.DataFrame, positions: np.ndarray, columns: Sequence[str]) -> list[list]:
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


# -- the job ------------------------------------------------------------------------------------------------


_DONE = object()


def prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run `iterator` in a background thread, `depth` items ahead (file parsing and validation overlap the
    SQLite writes on a second core). Exceptions are re-raised in the consumer; closing the generator stops
    the thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((True, _DONE))
        except BaseException as exc:  # handed to the consumer
            q.put((False, exc))

    thread = threading.Thread(target=produce, name="recsys-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def _job_name(dataset_type: str) -> str:
    return f"import-{dataset_type.lower()}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def _save_job(store, job: ImportJob, status: str | None = None) -> None:
    body = job.to_dict()
    if status is not None:
        job.status = status
        body["status"] = status
    store.update_resource(RESOURCE_TYPE, job.group, job.name, status=job.status, body=body,
                          failure_reason=job.failure_reason)


def get_import_job(store, group: str, name: str) -> dict:
    return store.get_resource(RESOURCE_TYPE, group, name)


def list_import_jobs(store, group: str | None = None) -> list[dict]:
    return store.list_resources(RESOURCE_TYPE, group)


def import_file(
    store,
    group: str,
    dataset_type: str,
    path: str | os.PathLike,
    *,
    mode: str = FULL,
    column_map: Mapping[str | int, str] | None = None,
    date_columns: Sequence[str] = (),
    date_format: str | None = None,
    exclude: Mapping[str, str] | None = None,
    schema: Schema | str | dict | None = None,
    file_format: str | None = None,
    delimiter: str | None = None,
    header: bool = True,
    max_rejected_fraction: float = 0.1,
    chunk_size: int = 200_000,
    progress: Progress | None = None,
    job_name: str | None = None,
) -> ImportJob:
    """Import a file into a dataset as one atomic job; returns the finished ImportJob (status ACTIVE).

    Raises ImportFailed (a ValidationError, `.job` attached, status CREATE FAILED) when the file cannot be
    read, required columns are missing, or more than `max_rejected_fraction` of the rows are rejected; any
    other exception (including KeyboardInterrupt, or one raised by `progress`) is re-raised after the job is
    marked failed. In every failure case the dataset keeps its previous rows.
    """
    started = time.monotonic()
    dtype = normalize_dataset_type(dataset_type)
    mode = str(mode).upper()
    if mode not in MODES:
        raise ValidationError(f"Invalid import mode {mode!r}: use FULL or INCREMENTAL.")
    if not 0 <= float(max_rejected_fraction) <= 1:
        raise ValidationError(f"max_rejected_fraction {max_rejected_fraction!r} must be between 0 and 1.")
    if int(chunk_size) < 1:
        raise ValidationError(f"chunk_size {chunk_size!r} must be at least 1.")
    store.get_dataset_group(group)
    name = validate_name(job_name, "import job name") if job_name else _job_name(dtype)
    dataset = get_or_create_dataset(store, group, dtype, schema)
    ds_schema: Schema = dataset["schema"]
    info = {"table": dataset["table"], "schema": ds_schema}
    job = ImportJob(name=name, group=group, dataset_type=dtype, mode=mode, path=str(path),
                    column_map={str(k): v for k, v in (column_map or {}).items()})
    resource = store.create_resource(RESOURCE_TYPE, group, name, job.to_dict(), status=CREATE_IN_PROGRESS)
    job.arn = resource["arn"]
    rejects_final = store.artifact_path("imports", f"{name}.rejected.csv")
    rejects_tmp = rejects_final.with_name(rejects_final.name + ".tmp")
    rej_fh = None
    try:
        chunks, job.format, total = read_chunks(path, file_format=file_format, delimiter=delimiter, header=header,
                                                chunk_size=int(chunk_size))
        first = next(chunks, None)
        if first is None:
            raise ValidationError(f"{Path(path).name} has no data rows.")
        plan = plan_columns(first[1].columns, ds_schema, column_map, date_columns, exclude)
        job.ignored_columns = plan.ignored
        columns = [f.name for f in ds_schema.fields if f.name in plan.sources]
        rej_fh = open(rejects_tmp, "w", encoding="utf-8", newline="")
        rej_writer = csv.writer(rej_fh)
        raw_columns = [c for c in first[1].columns if not str(c).startswith("__")]
        rej_writer.writerow(list(REJECT_COLUMNS) + raw_columns)

        def validated():
            """Parse, validate and convert to SQLite rows: runs in the prefetch thread."""
            for first_row, raw in itertools.chain([first], chunks):
                typed, verdicts = validate_frame(raw, ds_schema, plan, date_format=date_format)
                bad = verdicts.bad
                if verdicts.any:
                    typed = typed.loc[~bad]
                rejects: list = []
                excluded: list = []
                if verdicts.any:  # the rejects file's rows: (row, field, reason, source values...)
                    pos = np.flatnonzero(bad)
                    if "__line__" in raw.columns:
                        rows = raw["__line__"].to_numpy()[pos]
                    else:
                        rows = first_row + pos
                    rejects = list(zip(rows.tolist(), verdicts.field[pos].tolist(), verdicts.reason[pos].tolist(),
                                       *_raw_columns(raw, pos, raw_columns)))
                    excluded = verdicts.excluded[pos].tolist()
                yield len(raw), rejects, excluded, frame_to_blocks(typed, columns)

        with store.transaction() as db:
            db.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            writer = TableWriter(db, info, mode=mode, source=BULK,
                                 expected_rows=total if total is not None else estimate_rows(path, job.format))
            writer.begin()
            feed = prefetch(validated(), depth=1)
            try:
                for n_raw, rejects, excluded, rows_ok in feed:
                    job.rows_read += n_raw
                    if rejects:
                        rej_writer.writerows(rejects)
                        n_excl = sum(excluded)
                        job.rows_excluded += n_excl
                        job.rows_rejected += len(rejects) - n_excl
                        for rec, ex in zip(rejects, excluded):
                            if len(job.first_rejects) >= 10:
                                break
                            if not ex:
                                job.first_rejects.append({"row": int(rec[0]), "field": rec[1], "reason": rec[2]})
                    if rows_ok.n:
                        job.rows_accepted += writer.write_blocks(rows_ok)
                    if progress is not None:
                        progress(job.rows_read, total)
            finally:
                feed.close()
            if job.rows_read == 0:
                raise ValidationError(f"{Path(path).name} has no data rows.")
            if job.rejected_fraction > max_rejected_fraction:
                raise ValidationError(_too_many_rejects_message(job, max_rejected_fraction))
            if job.rows_accepted == 0:
                raise ValidationError(f"No row of {Path(path).name} was accepted ({job.rows_rejected:,} rejected, "
                                      f"{job.rows_excluded:,} excluded); nothing imported.{_first_reasons(job)}")
            writer.finish()
        rej_fh.close()
        rej_fh = None
        if job.rows_rejected or job.rows_excluded:
            os.replace(rejects_tmp, rejects_final)
            job.rejects_path = str(rejects_final)
        else:
            rejects_tmp.unlink(missing_ok=True)
        job.seconds = round(time.monotonic() - started, 3)
        _save_job(store, job, ACTIVE)
        store.update_resource("dataset", group, dtype, body={"lastImportJob": name, "lastImportAt": time.time()})
        if dtype == INTERACTIONS:
            _drain_event_spool(store)
        log.info("import %s: %d rows accepted, %d rejected, %d excluded in %.1f s", name, job.rows_accepted,
                 job.rows_rejected, job.rows_excluded, job.seconds)
        return job
    except BaseException as exc:
        if rej_fh is not None:
            rej_fh.close()
            if job.rows_rejected or job.rows_excluded:
                os.replace(rejects_tmp, rejects_final)
                job.rejects_path = str(rejects_final)
        rejects_tmp.unlink(missing_ok=True)
        job.seconds = round(time.monotonic() - started, 3)
        job.rows_accepted = 0
        problem = environment_problem(exc)   # a full disk, a read-only workspace: one line naming the fix
        if isinstance(exc, ValidationError) or problem is not None:
            job.failure_reason = str(problem or exc)
        else:
            job.failure_reason = f"interrupted after {job.rows_read:,} rows: {type(exc).__name__}: {exc}"[:2000]
        try:
            _save_job(store, job, CREATE_FAILED)
        except Exception:  # never hide the original failure
            log.exception("could not record the failure of import job %s", name)
        if isinstance(exc, ValidationError):
            raise ImportFailed(f"Import job {name} failed: {exc}", job) from exc
        if problem is not None and problem is not exc:
            raise problem from exc
        raise


def _drain_event_spool(store) -> None:
    """Move the events PutEvents spooled while this import held the write lock (`recsys.events`)."""
    from recsys.events import drain_spool  # events builds on this module

    try:
        drain_spool(store)
    except Exception:  # the import itself succeeded; the next PutEvents drains the spool again
        log.exception("could not move spooled events after an import")


def _first_reasons(job: ImportJob) -> str:
    if not job.first_rejects:
        return ""
    return " First reasons: " + "; ".join(f"row {r['row']} {r['field']}: {r['reason']}" for r in job.first_rejects[:3]) + "."


def _too_many_rejects_message(job: ImportJob, limit: float) -> str:
    return (f"{job.rows_rejected:,} of {job.rows_read - job.rows_excluded:,} rows rejected "
            f"({job.rejected_fraction:.1%} > the {limit:.0%} allowed); nothing imported.{_first_reasons(job)} "
            "Fix the file or the mapping, or raise max_rejected_fraction (--max-rejected).")
