"""CSV records as Arrow tables of text: pyarrow's fast reader, and a tolerant, line-numbered reader for the
stretches of the file it refuses (a ragged row, a NUL line, a quote never closed, a record over its block).

pyarrow fails a whole block on one bad record and cannot resume, so `read_csv_tables` restarts it after the
bad stretch: when it fails, the tolerant reader re-reads the file from where that run started, skips the
records it already delivered (checking the last one matches, so no row is doubled or lost), reads at least a
window of bytes record by record, turning each malformed record into a row whose `BAD_RECORD` column says
what is wrong (with its line number), then hands the rest of the file to a fresh pyarrow reader. The window
doubles while pyarrow keeps failing at once, so a file that is bad throughout is read in a few restarts.

The tolerant reader parses as pyarrow does (`newlines_in_values=True`): a quote opens a quoted value only at
the start of a field, `""` inside it is one quote, text after the closing quote is kept, CR, LF and CRLF end
records and empty lines are skipped. A quote that is never closed swallows no rows: when a record spanning
lines is malformed, only its first line is rejected and reading resumes on the next line.

Example::

    names, start, line = read_header(path, ",")
    for table in read_csv_tables(path, ",", names, start, line):
        ...   # pa.Table of string columns `names`, plus BAD_RECORD in tolerant stretches
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import BinaryIO, Iterator

from recsys.exceptions import ValidationError

BAD_RECORD = "__bad_record__"     # the reason a record is malformed ("" when it is not)
MAX_COLUMNS = 2_000               # a wider header is refused before anything is parsed
MAX_RECORD_BYTES = 16 << 20       # one record (all its lines); a longer one is rejected and skipped
TOLERANT_WINDOW_BYTES = 2 << 20   # read record by record for at least this much after pyarrow fails
TOLERANT_TABLE_ROWS = 50_000
_READ_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"[\r\n]")
_QUOTED = re.compile(rb'[^"]*(?:""[^"]*)*')   # the body of a quoted value, up to its closing quote


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_binary(path: Path, offset: int = 0) -> BinaryIO:
    """The file's (decompressed) bytes from `offset` on."""
    fh = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    if offset:
        fh.seek(offset)
    return fh


class _Record:
    """One record as parsed: its fields, where it ends, how many line breaks it spans, and what is wrong."""

    __slots__ = ("fields", "end", "lines", "problem", "multiline_clean")

    def __init__(self, fields, end, lines, problem=None, multiline_clean=True):
        self.fields = fields
        self.end = end
        self.lines = lines
        self.problem = problem
        self.multiline_clean = multiline_clean


_NEED_MORE = object()
_BLANK = object()


def _line_breaks(buf: bytes, start: int, end: int) -> int:
    return buf.count(b"\n", start, end) + buf.count(b"\r", start, end) - buf.count(b"\r\n", start, end)


def _after_line_end(buf: bytes, p: int, eof: bool):
    """The position after the line end at `p` (CR, LF or CRLF), or _NEED_MORE when a CR ends the buffer."""
    if buf[p] == 0x0D:
        if p + 1 == len(buf) and not eof:
            return _NEED_MORE
        return p + 2 if buf[p + 1:p + 2] == b"\n" else p + 1
    return p + 1


def _parse_record(buf: bytes, p: int, eof: bool, delim: bytes, unquoted: re.Pattern):
    """The record starting at `p`: a _Record, _BLANK (an empty line, as a _Record-less end), or _NEED_MORE."""
    m = _LINE_END.search(buf, p)
    if m is None and not eof:
        return _NEED_MORE
    line_end = m.start() if m else len(buf)
    if line_end == p:
        if m is None:
            return _BLANK, len(buf)
        end = _after_line_end(buf, p, eof)
        return (_NEED_MORE if end is _NEED_MORE else (_BLANK, end))
    if buf.find(b'"', p, line_end) < 0:  # the usual case: one line, no quotes
        end = line_end if m is None else _after_line_end(buf, line_end, eof)
        if end is _NEED_MORE:
            return _NEED_MORE
        return _Record(buf[p:line_end].split(delim), end, 1 if m else 0)
    fields: list[bytes] = []
    start = p
    clean = True
    multiline = False
    n = len(buf)
    while True:
        if p < n and buf[p] == 0x22:  # a quoted value
            body = _QUOTED.match(buf, p + 1)
            q = body.end()
            if q >= n or (q == n - 1 and not eof):  # no closing quote yet (or it may be the first of "")
                if not eof:
                    return _NEED_MORE
                return _Record(fields, n, _line_breaks(buf, start, n), "unterminated", False)
            text = body.group()
            if not multiline and (b"\n" in text or b"\r" in text):
                multiline = True
            value = text.replace(b'""', b'"')
            p = q + 1
            rest = unquoted.match(buf, p)
            if rest.end() > p:
                clean = False
                value += rest.group()
                p = rest.end()
        else:
            rest = unquoted.match(buf, p)
            value = rest.group()
            p = rest.end()
        fields.append(value)
        if p >= n:
            if not eof:
                return _NEED_MORE
            return _Record(fields, n, _line_breaks(buf, start, n), None, clean or not multiline)
        if buf[p:p + 1] == delim:
            p += 1
            if p >= n and not eof:
                return _NEED_MORE
            if p >= n:
                fields.append(b"")
                return _Record(fields, n, _line_breaks(buf, start, n), None, clean or not multiline)
            continue
        end = _after_line_end(buf, p, eof)
        if end is _NEED_MORE:
            return _NEED_MORE
        return _Record(fields, end, _line_breaks(buf, start, end), None, clean or not multiline)


class TolerantReader:
    """Record-by-record reading of a CSV from a byte offset, with line numbers and a reason per bad record."""

    def __init__(self, path: Path, delimiter: str, n_fields: int, offset: int, line: int):
        self.path = Path(path)
        self.delim = delimiter.encode("utf-8")
        self.n_fields = n_fields
        self.offset = offset    # of the next record, in the decompressed file
        self.line = line        # the physical line number of the next record (1-based)
        self.eof = False
        self.oversized = False   # whether a record over MAX_RECORD_BYTES was skipped
        self._unquoted = re.compile(rb"[^" + re.escape(self.delim) + rb"\r\n]*")
        self._fh = open_binary(self.path, offset)
        self._buf = b""
        self._pos = 0
        self._file_eof = False
        self._irregular_until = 0   # buffer position before which _jump_lines does not look again

    def close(self) -> None:
        self._fh.close()

    def _fill(self) -> bool:
        """Append the next block to the buffer (dropping what was consumed); False at the end of the file."""
        if self._file_eof:
            return False
        data = self._fh.read(_READ_BYTES)
        if not data:
            self._file_eof = True
            return True   # one more parse with eof=True
        self._irregular_until = max(0, self._irregular_until - self._pos)
        self._buf = self._buf[self._pos:] + data
        self._pos = 0
        return True

    def _skip_long_line(self) -> int:
        """Discard the rest of an over-long physical line; returns the bytes dropped (the line break included)."""
        dropped = 0
        while True:
            m = _LINE_END.search(self._buf, self._pos)
            if m:
                end = m.start() + 1
                if self._buf[m.start()] == 0x0D and self._buf[end:end + 1] == b"\n":
                    end += 1
                dropped += end - self._pos
                self._pos = end
                return dropped
            dropped += len(self._buf) - self._pos
            self._buf, self._pos, self._irregular_until = b"", 0, 0
            data = self._fh.read(_READ_BYTES)
            if not data:
                self._file_eof = True
                return dropped
            self._buf = data

    def next_record(self) -> tuple[int, list[str], str] | None:
        """(line number, fields, reason or "") of the next non-empty record; None at the end of the file."""
        while True:
            if self._pos >= len(self._buf) and self._file_eof:
                self.eof = True
                return None
            parsed = _parse_record(self._buf, self._pos, self._file_eof, self.delim, self._unquoted)
            if parsed is _NEED_MORE:
                if len(self._buf) - self._pos > MAX_RECORD_BYTES:
                    return self._oversized()
                self._fill()
                continue
            if isinstance(parsed, tuple):  # a blank line
                _, end = parsed
                self._advance(end, 1)
                continue
            if parsed.end - self._pos > MAX_RECORD_BYTES:
                return self._oversized()
            return self._judge(parsed)

    def _advance(self, end: int, lines: int) -> None:
        self.offset += end - self._pos
        self.line += lines
        self._pos = end

    def _oversized(self) -> tuple[int, list[str], str]:
        self.oversized = True
        line = self.line
        head = self._buf[self._pos:self._pos + 200]
        dropped = self._skip_long_line()
        self.offset += dropped
        self.line += 1
        reason = (f"line {line}: a record of more than {MAX_RECORD_BYTES >> 20} MiB (or a quote never closed on "
                  "it); split the value, or check the quoting")
        return line, _display_fields(head, self.delim), reason

    def _first_line_only(self, record: _Record, reason: str) -> tuple[int, list[str], str]:
        """Reject only the first physical line of a malformed multi-line record and resume after it."""
        line = self.line
        m = _LINE_END.search(self._buf, self._pos)
        end = _after_line_end(self._buf, m.start(), True) if m else record.end
        text = self._buf[self._pos:end]
        self._advance(end, 1 if m else 0)
        return line, _display_fields(text, self.delim), reason

    def _ragged(self, where: str, n: int, nul: bool) -> str:
        return (f"{where}: {n} field{'s' if n != 1 else ''}{' and NUL bytes (a corrupt or binary line)' if nul else ''}"
                f" where the header has {self.n_fields}; quote values that contain the delimiter "
                f"{self.delim.decode()!r}, or check --delimiter")

    def _judge(self, record: _Record) -> tuple[int, list[str], str]:
        line = self.line
        n = len(record.fields)
        if record.problem == "unterminated" or (record.lines > 1 and not record.multiline_clean):
            reason = (f"line {line}: a quoted value opened here is never closed; close the quote, and write a "
                      "quote inside a quoted value as two (\"\")")
            return self._first_line_only(record, reason)
        raw = self._buf[self._pos:record.end]
        self._advance(record.end, max(record.lines, 1))
        if n != self.n_fields:
            last = line + max(record.lines, 1) - 1
            where = f"line {line}" if last == line else f"lines {line}-{last}"
            reason = self._ragged(where, n, b"\x00" in raw)
            return line, [_decode(f) for f in record.fields], reason
        try:
            return line, [f.decode("utf-8") for f in record.fields], ""
        except UnicodeDecodeError as exc:
            reason = (f"line {line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); re-save the file as "
                      "UTF-8")
            return line, [_decode(f) for f in record.fields], reason

    def skip(self, n_records: int, expected_last: list[str] | None) -> None:
        """Pass over `n_records` records already read by pyarrow; ValidationError if the last one differs."""
        last = None
        remaining = n_records
        while remaining > 0:
            if remaining > 1:  # the last one is parsed, to be compared
                jumped = self._jump_lines(remaining - 1)
                if jumped:
                    remaining -= jumped
                    continue
            got = self.next_record()
            if got is None:
                break
            last = got
            remaining -= 1
        if expected_last is not None and (last is None or last[1] != expected_last):
            raise ValidationError(
                f"Cannot read {self.path.name} as CSV: after a malformed record near line {self.line}, the tolerant "
                "reader and pyarrow disagree on where records end; fix that record (quotes, field count) and retry.")

    def _plain_lines(self, limit: int) -> int:
        """The end of up to `limit` plain lines buffered ahead: whole lines with no quote, no blank line and no
        lone CR, so one record per LF (the current position when there are none)."""
        buf, pos = self._buf, self._pos
        if pos < self._irregular_until or pos >= len(buf) or limit <= 0:
            return pos
        quote = buf.find(b'"', pos)
        end = buf.rfind(b"\n", pos, quote if quote >= 0 else len(buf)) + 1   # after the last whole plain line
        if end <= pos:
            return pos
        if (buf.count(b"\r", pos, end) != buf.count(b"\r\n", pos, end) or buf[pos] in b"\r\n"
                or buf.find(b"\n\n", pos, end) >= 0 or buf.find(b"\n\r\n", pos, end) >= 0):
            self._irregular_until = end
            return pos
        if buf.count(b"\n", pos, end) > limit:
            end = pos
            for _ in range(limit):
                end = buf.index(b"\n", end) + 1
        return end

    def _jump_lines(self, limit: int) -> int:
        """Skip up to `limit` records at C speed over plain lines; returns how many (0: parse the next record
        the slow way)."""
        end = self._plain_lines(limit)
        lines = self._buf.count(b"\n", self._pos, end)
        if lines:
            self._advance(end, lines)
        return lines

    def _plain_table(self, names: list[str]):
        """The plain lines buffered ahead as one table with BAD_RECORD (parsed by pyarrow, one record per line,
        ragged lines caught with their line numbers), or None when the next line is not plain or the stretch
        is not UTF-8 (then records are parsed one by one)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.csv as pacsv

        end = self._plain_lines(1 << 62)
        if end == self._pos:
            return None
        region = self._buf[self._pos:end]
        ragged: list = []

        def keep_ragged(row) -> str:
            ragged.append((row.number, row.text))
            return "skip"

        delim = self.delim.decode()
        try:
            good = pacsv.read_csv(
                pa.py_buffer(region),
                read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=len(region) + 1),
                parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=False,
                                                 invalid_row_handler=keep_ragged),
                convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                     strings_can_be_null=False))
        except (pa.ArrowInvalid, UnicodeDecodeError):
            self._irregular_until = end
            return None
        n_lines = region.count(b"\n")
        if good.num_rows + len(ragged) != n_lines or any(number is None for number, _ in ragged):
            self._irregular_until = end
            return None
        first = self.line
        self._advance(end, n_lines)
        reasons = [""] * good.num_rows
        if not ragged:
            return good.append_column(BAD_RECORD, pa.array(reasons, pa.string()))
        is_bad = np.zeros(n_lines, dtype=bool)
        is_bad[[number - 1 for number, _ in ragged]] = True
        order = np.empty(n_lines, dtype=np.int64)   # rows of good, then of ragged, back in line order
        order[~is_bad] = np.arange(good.num_rows)
        order[is_bad] = good.num_rows + np.arange(len(ragged))
        split = [(text.split(delim) + [""] * len(names))[:len(names)] for _, text in ragged]
        columns = [pa.concat_arrays([good.column(k).combine_chunks(), pa.array([f[k] for f in split], pa.string())])
                   .take(pa.array(order)) for k in range(len(names))]
        reasons += [self._ragged(f"line {first + number - 1}", len(text.split(delim)), "\x00" in text)
                    for number, text in ragged]
        columns.append(pa.array(reasons, pa.string()).take(pa.array(order)))
        return pa.Table.from_arrays(columns, names=list(names) + [BAD_RECORD])

    def tables(self, window: int, names: list[str]) -> Iterator:
        """Tables of the records in the next `window` bytes (at least), each with the BAD_RECORD column."""
        import pyarrow as pa

        start = self.offset
        while not self.eof and self.offset - start < window:
            plain = self._plain_table(names)
            if plain is not None:
                yield plain
                continue
            columns: list[list[str]] = [[] for _ in names]
            reasons: list[str] = []
            while len(reasons) < TOLERANT_TABLE_ROWS and self.offset - start < window:
                if reasons and self._plain_lines(1) > self._pos:
                    break   # plain lines ahead: parsed in bulk
                got = self.next_record()
                if got is None:
                    break
                _, fields, reason = got
                if len(fields) != len(names):
                    fields = (fields + [""] * len(names))[:len(names)]
                for col, value in zip(columns, fields):
                    col.append(value)
                reasons.append(reason)
            if reasons:
                arrays = [pa.array(col, pa.string()) for col in columns] + [pa.array(reasons, pa.string())]
                yield pa.Table.from_arrays(arrays, names=list(names) + [BAD_RECORD])


def _decode(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _display_fields(text: bytes, delim: bytes) -> list[str]:
    """A bad line's text split on the delimiter, for the rejects file."""
    return [_decode(f) for f in text.rstrip(b"\r\n").split(delim)]


def check_width(path: Path, n_columns: int, where: str, hint: str = "") -> None:
    """ValidationError when a file has more than MAX_COLUMNS columns: refused before its rows are read (a
    100,000-column header would take gigabytes of parser buffers)."""
    if n_columns > MAX_COLUMNS:
        raise ValidationError(f"{Path(path).name} has {n_columns:,} columns {where}; the limit is {MAX_COLUMNS:,}. "
                              f"Keep only the columns to import{hint}.")


def read_header(path: str | Path, delimiter: str, header: bool = True) -> tuple[list[str], int, int]:
    """(the first record's fields, the byte offset and line number where the data starts).

    With `header=False` the first record is data (so the offset is 0, or 3 after a UTF-8 BOM); its fields
    only count the columns. ValidationError for an empty file or a header over MAX_COLUMNS fields.
    """
    path = Path(path)
    with open_binary(path) as fh:
        head = fh.read(_READ_BYTES)
    bom = len(_BOM) if head.startswith(_BOM) else 0
    reader = TolerantReader(path, delimiter, 0, bom, 1)
    try:
        got = reader.next_record()
        if got is not None and reader.oversized:
            raise ValidationError(f"The first record of {path.name} is over {MAX_RECORD_BYTES >> 20} MiB: it is not "
                                  "a CSV header; check the file and its delimiter.")
    finally:
        reader.close()
    if got is None:
        raise ValidationError(f"{path.name} is empty: it has no header and no rows.")
    line, fields, _ = got
    check_width(path, len(fields), f"in its {'header' if header else 'first row'} (line {line})",
                " or check the delimiter (--delimiter)")
    if header:
        return fields, reader.offset, reader.line
    return fields, bom, 1


def read_csv_tables(path: str | Path, delimiter: str, names: list[str], start: int, line: int, *,
                    block_size: int = _READ_BYTES, window: int = TOLERANT_WINDOW_BYTES) -> Iterator:
    """Every record after `start` as pa.Tables of string columns `names`, in file order: pyarrow's batches
    on clean stretches, tolerant tables (with BAD_RECORD) where pyarrow failed. See the module docstring."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    compressed = is_gzip(path)
    offset = start
    first_window = window
    read_options = pacsv.ReadOptions(column_names=names, block_size=block_size)
    parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert_options = pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                           strings_can_be_null=False, quoted_strings_can_be_null=False)
    while True:
        delivered = 0
        last_row = None
        source = _arrow_stream(path, offset, compressed)
        try:
            reader = pacsv.open_csv(source, read_options=read_options, parse_options=parse_options,
                                    convert_options=convert_options)
            for batch in reader:
                if _has_line_break(batch):
                    break   # a value spanning lines, maybe a quote left open: judged record by record
                if batch.num_rows:
                    delivered += batch.num_rows
                    last_row = [batch.column(k)[batch.num_rows - 1].as_py() for k in range(batch.num_columns)]
                    yield batch
            else:
                return
        except pa.ArrowInvalid:
            pass  # a malformed stretch: read it record by record below
        finally:
            source.close()
        tolerant = TolerantReader(path, delimiter, len(names), offset, line)
        try:
            tolerant.skip(delivered, last_row)
            yield from tolerant.tables(window, names)
        finally:
            tolerant.close()
        if tolerant.eof:
            return
        window = window * 2 if delivered == 0 else first_window
        offset, line = tolerant.offset, tolerant.line


def _has_line_break(batch) -> bool:
    """Whether a value of the batch holds a CR or LF: pyarrow reads a quote left open as a value running to
    the next quote, swallowing the lines between; the tolerant reader tells the two apart. Scans the string
    columns' data buffers (all of a buffer, even when the batch is a slice of it: a false alarm only costs
    a tolerant read)."""
    import numpy as np

    for column in batch.columns:
        data = column.buffers()[2]
        if data is None or not data.size:
            continue
        raw = np.frombuffer(data, dtype=np.uint8)
        if np.count_nonzero(raw == 0x0A) or np.count_nonzero(raw == 0x0D):
            return True
    return False


def _arrow_stream(path: Path, offset: int, compressed: bool):
    """A pyarrow input stream of the (decompressed) file from `offset`."""
    import pyarrow as pa

    if not compressed:
        source = pa.OSFile(str(path))
        source.seek(offset)
        return source
    source = pa.CompressedInputStream(pa.OSFile(str(path)), "gzip")
    remaining = offset
    while remaining > 0:
        got = len(source.read(min(remaining, 8 << 20)))
        if not got:
            break
        remaining -= got
    return source
