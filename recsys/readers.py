"""File readers for imports: CSV/.gz, Parquet, JSON lines and Avro read in chunks of raw rows, each with the
number of its first record, so an import validates and reports rows by their place in the file.

Example::

    chunks, fmt, total = read_chunks("u.data", header=False, chunk_size=100_000)
    for first_row, frame in chunks: ...
"""

from __future__ import annotations

import csv
import io
import json
import os
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from recsys.csv_reader import BAD_RECORD, MAX_COLUMNS, check_width, is_gzip, open_binary, read_csv_tables, read_header
from recsys.exceptions import RecsysError, ValidationError
from recsys.validation import json_cell

FORMATS = ("csv", "parquet", "jsonl", "avro")
CSV_BLOCK_BYTES = 1 << 20           # pyarrow CSV block (its reader reads dozens ahead: small bounds memory)
FIRST_CHUNK_ROWS = 20_000           # CSV: the first chunk is at most this long


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
    # Each format's reader is imported when a file of that format is read: pyarrow.csv, pyarrow.parquet
    # and fastavro cost import time that the other formats (and every caller of this module) need not pay.
    import pyarrow as pa

    first, start, line = read_header(path, delimiter, header)
    names = _unique_names(first) if header else [str(k) for k in range(len(first))]
    string_dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    row = 2 if header else 1
    size = min(chunk_size, FIRST_CHUNK_ROWS)  # a small first chunk: the writer starts at once
    pending: list = []   # tables (one per block) not yet handed out, all from pyarrow or all tolerant
    n_pending = 0
    pending_tolerant = False

    def frame_of(table) -> pd.DataFrame:
        frame = table.to_pandas(types_mapper=lambda t: string_dtype if t == pa.string() else None)
        frame.columns = table.column_names
        return frame

    for batch in read_csv_tables(path, delimiter, names, start, line, block_size=CSV_BLOCK_BYTES):
        tolerant = BAD_RECORD in batch.schema.names
        if pending and tolerant != pending_tolerant:  # a chunk holds one kind of table (one set of columns)
            yield row, frame_of(pa.concat_tables(pending))
            row += n_pending
            pending, n_pending = [], 0
        pending_tolerant = tolerant
        pending.append(batch if tolerant else pa.Table.from_batches([batch]))
        n_pending += batch.num_rows
        while n_pending >= size:
            table = pa.concat_tables(pending)
            yield row, frame_of(table.slice(0, size))
            row += size
            rest = table.slice(size)
            pending, n_pending = [rest], rest.num_rows
            size = chunk_size
    if n_pending:
        yield row, frame_of(pa.concat_tables(pending))


def _read_parquet_chunks(path: Path, chunk_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    row = 1
    for batch in pf.iter_batches(batch_size=chunk_size):
        frame = batch.to_pandas()
        frame.columns = [str(c) for c in frame.columns]
        yield row, frame
        row += len(frame)


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
                elif len(obj) > MAX_COLUMNS:
                    obj = {BAD_RECORD: f"an object with {len(obj):,} keys; the limit is {MAX_COLUMNS:,} columns"}
                obj = {str(k): json_cell(v) for k, v in obj.items()}
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
        schema = reader.writer_schema
        check_width(path, len(schema.get("fields", ())) if isinstance(schema, dict) else 1, "in its schema")
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

            metadata = pq.ParquetFile(path).metadata
            total = metadata.num_rows
        except Exception as exc:
            raise ValidationError(_describe_read_error(exc, path, fmt)) from exc
        check_width(path, metadata.num_columns, "in its schema")
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
