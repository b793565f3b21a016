"""Uploaded files in the workbench: saved under the workspace, previewed, and their columns matched to schema fields."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from recsys.files import atomic_write
from recsys.readers import read_chunks
from recsys.store import Store

# Common column names of exported data, mapped to Personalize's fields.
SYNONYMS = {
    "USER_ID": ("userid", "user", "customerid", "customer", "clientid", "visitorid", "sessionid", "uid"),
    "ITEM_ID": ("itemid", "item", "productid", "product", "stockcode", "sku", "movieid", "articleid", "iid"),
    "TIMESTAMP": ("timestamp", "time", "date", "datetime", "eventtime", "invoicedate", "ts", "created"),
    "EVENT_TYPE": ("eventtype", "event", "action", "type", "interaction"),
    "EVENT_VALUE": ("eventvalue", "value", "rating", "score", "quantity", "amount"),
    # Items fields of the default schemas
    "PRICE": ("price", "unitprice", "listprice", "cost"),
    "DESCRIPTION": ("description", "name", "title", "productname", "itemname"),
    "PRODUCT_DESCRIPTION": ("productdescription", "description", "name", "title", "productname"),
}
TIME_FIELDS = ("TIMESTAMP", "CREATION_TIMESTAMP")


def save_upload(store: Store, file_name: str, content: bytes) -> Path:
    """Keep an uploaded file under `artifacts/uploads/<content hash>/` (so re-runs reuse it) with its own name,
    which is the name messages about the file then show."""
    digest = hashlib.sha256(content).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._ ()-]", "_", Path(file_name).name)[-80:].strip() or "upload"
    path = store.artifact_path("uploads", digest, safe)
    if not path.exists():
        atomic_write(path, content)
    return path


def preview(path: str | Path, n: int = 20) -> pd.DataFrame:
    """The first `n` rows of a file in any importable format, read by the importer's own readers."""
    chunks, _, _ = read_chunks(path, chunk_size=n)
    for _, frame in chunks:
        # The readers' own bookkeeping columns (`__line__` of JSON lines...) are not the file's: never mapped.
        return frame.loc[:, [c for c in frame.columns if not str(c).startswith("__")]].head(n)
    return pd.DataFrame()


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def guess_field(column: str, fields) -> str | None:
    """The schema field a source column most likely maps to (exact name first, then common synonyms)."""
    fields = list(fields)
    by_key = {_key(f): f for f in fields}
    if _key(column) in by_key:
        return by_key[_key(column)]
    for field, names in SYNONYMS.items():
        if field in fields and _key(column) in names:
            return field
    return None


def guess_mapping(preview: pd.DataFrame, fields) -> dict[str, str]:
    """{source column: schema field} for the columns of `preview` whose field can be guessed, each field once.

    A column named exactly like a field wins; then the column whose name is the earliest synonym of the field
    ("user_id" before "session_id" for USER_ID); then a name ending in a synonym ("unixReviewTime" -> TIMESTAMP).
    A time field is only guessed for a column of numbers or dates ("Time" holding "Weekend" is a context).
    """
    fields = list(fields)
    keys = {column: _key(column) for column in preview.columns}
    by_key = {_key(f): f for f in fields}

    def plausible(column, field) -> bool:
        if field not in TIME_FIELDS:
            return True
        sample = preview[column].dropna().astype(str).head(20)
        return not sample.empty and (bool(sample.str.fullmatch(r"-?\d+(\.\d+)?").all()) or looks_like_dates(sample))

    ranked = []  # (precedence, column order, column, field)
    for order, (column, key) in enumerate(keys.items()):
        if key in by_key:
            ranked.append(((0, 0), order, column, by_key[key]))
        for field, names in SYNONYMS.items():
            if field not in fields:
                continue
            if key in names:
                ranked.append(((1, names.index(key)), order, column, field))
            elif field in TIME_FIELDS:  # checked against the values below, so a loose name match is safe
                suffix = next((k for k, name in enumerate(names) if len(name) >= 4 and key.endswith(name)), None)
                if suffix is not None:
                    ranked.append(((2, suffix), order, column, field))
    mapping: dict[str, str] = {}
    for _, _, column, field in sorted(ranked, key=lambda r: (r[0], r[1])):
        if column not in mapping and field not in mapping.values() and plausible(column, field):
            mapping[column] = field
    return mapping


def looks_like_dates(values: pd.Series) -> bool:
    """Whether a column holds date strings (not epoch numbers) that need parsing into epoch seconds."""
    sample = values.dropna().astype(str).head(20)
    if sample.empty or sample.str.fullmatch(r"-?\d+(\.\d+)?").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.8)


# The import form's controls, in place of the CLI flags and parameter names the library's messages cite.
FORM_WORDING = (
    (re.compile(r"\s*\(max_rejected_fraction\)"), " (the slider 'Fail when more than this share of rows is rejected')"),
    (re.compile(r"fix the --map SRC=DST pair"), "pick another column under 'Map columns to schema fields'"),
    (re.compile(r"map them with --map SRC=(\w+) \(column_map=\{[^}]*\}\)"),
     r"pick the file column for \1 under 'Map columns to schema fields'"),
    (re.compile(r"pass date_format/--date-format"), "tick 'parse dates' under the column, or fix the dates"),
    (re.compile(r"pass date_columns/--date-column (\w+)"), r"tick 'parse dates' under the column mapped to \1"),
    (re.compile(r"check the delimiter \(--delimiter\)"), "check the delimiter"),
    (re.compile(r"--fixed-timestamp now \(fixed_timestamp=epoch seconds\)"),
     "tick 'The file has no time column' under the mapping"),
    (re.compile(r" \(--fixed-timestamp\)"), " (untick 'The file has no time column')"),
    (re.compile(r"\(recsys import --group \S+ --type \w+ FILE\)"), "(the Import tab)"),
)


def form_wording(message: str) -> str:
    """A library message about an import, worded for the workbench's import form instead of the CLI."""
    text = str(message)
    for pattern, replacement in FORM_WORDING:
        text = pattern.sub(replacement, text)
    return text
