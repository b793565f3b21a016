"""Interactions for Spark: the workspace exported to Parquet chunk by chunk, or a Parquet / s3:// location read as is.

The export streams the SQLite table in `_seq` order, `chunk_rows` rows at a time, into one Parquet file per
chunk, so neither the export nor Spark ever holds the whole table in one process. The snapshot stops at the
`_seq` read when it starts: events recorded during the export are newer than the model, as with local training.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recsys import cleaning
from recsys import columns as C
from recsys.exceptions import NotFoundError, ValidationError
from recsys.files import atomic_path

log = logging.getLogger(__name__)

SEQ = "_seq"
EXPORT_CHUNK_ROWS = 1_000_000
_ARROW_TYPES = {"string": "string", "int": "int64", "long": "int64", "float": "float64", "double": "float64",
                "boolean": "bool"}


@dataclass
class SparkData:
    """What a Spark training reads: the interactions DataFrame plus the (small) Items and Users tables in pandas."""

    interactions: object                     # pyspark DataFrame: USER_ID, ITEM_ID, TIMESTAMP, _seq, optional columns
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    item_fields: dict = field(default_factory=dict)
    user_fields: dict = field(default_factory=dict)
    context_fields: tuple[str, ...] = ()
    max_seq: int | None = None
    location: str = ""


def spark_path(location: str) -> str:
    """`s3://bucket/key` as Spark's s3a connector spells it; local paths unchanged."""
    return "s3a://" + location[len("s3://"):] if location.startswith("s3://") else location


def export_interactions(store, group: str, directory: Path, *, chunk_rows: int = EXPORT_CHUNK_ROWS,
                        progress=None) -> tuple[Path, int | None, int]:
    """Write the group's interactions to `directory` as Parquet parts of `chunk_rows` rows; (dir, max_seq, rows).

    Columns: the schema's fields (ids as strings, TIMESTAMP int64) plus `_seq`. The directory appears complete
    or not at all (written under a temporary name, then renamed).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recsys.datasets import dataset_info, max_seq

    with store.reading() as db:
        info = dataset_info(db, group, C.INTERACTIONS)
    schema = info["schema"]
    names = list(schema.names)
    arrow_schema = pa.schema([(n, _ARROW_TYPES.get(schema.field(n).type, "string")) for n in names]
                             + [(SEQ, pa.int64())])
    last = max_seq(store, group)
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    if directory.exists():
        shutil.rmtree(directory)
    select = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
    sql = (f'SELECT {select}, {SEQ} FROM "{info["table"]}" WHERE {SEQ} > ? AND {SEQ} <= ? '
           f"ORDER BY {SEQ} LIMIT ?")
    rows_written, after, part = 0, 0, 0
    with atomic_path(directory, directory=True) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        while last is not None:
            with store.reading() as db:
                rows = db.conn.execute(sql, (after, last, int(chunk_rows))).fetchall()
            if not rows:
                break
            cols = list(zip(*rows))
            after = int(cols[-1][-1])
            del rows
            table = pa.table([pa.array(values, type=arrow_schema.field(i).type) for i, values in enumerate(cols)],
                             schema=arrow_schema)
            pq.write_table(table, tmp / f"part-{part:05d}.parquet")
            rows_written += table.num_rows
            part += 1
            if progress is not None:
                progress(rows_written)
        if part == 0:  # an empty dataset still gets a readable (empty) table
            pq.write_table(arrow_schema.empty_table(), tmp / "part-00000.parquet")
    log.info("exported %d interactions of %s to %s in %d parts", rows_written, group, directory, max(part, 1))
    return directory, last, rows_written


def _workspace_tables(store, group: str) -> tuple:
    """(items, users, item_fields, user_fields, context_fields) of a group, read as local training reads them."""
    from recsys import datasets
    from recsys.data import _schema_fields

    frames, kinds = {}, {}
    for dataset_type, reader in ((C.ITEMS, datasets.read_items), (C.USERS, datasets.read_users)):
        try:
            frame = reader(store, group)
        except NotFoundError:
            frames[dataset_type], kinds[dataset_type] = None, {}
            continue
        frames[dataset_type] = frame
        kinds[dataset_type] = _schema_fields(store, group, dataset_type, frame) or {}
    try:
        context = tuple(datasets.get_dataset(store, group, C.INTERACTIONS)["schema"].context_fields)
    except NotFoundError:
        context = ()
    return frames[C.ITEMS], frames[C.USERS], kinds[C.ITEMS], kinds[C.USERS], context


def load(spark, store, group: str, workdir: Path, *, location: str | None = None,
         items_location: str | None = None, progress=None) -> SparkData:
    """The group's data for Spark: `location` (Parquet, local or s3://) when given, else a chunked export."""
    items, users, item_fields, user_fields, context = _workspace_tables(store, group)
    seq = None
    if location:
        frame = read_parquet(spark, location)
        source = location
        if not context:
            reserved = set(C.INTERACTION_RESERVED) | {SEQ}
            context = tuple(c for c in frame.columns if c not in reserved and not c.startswith("_"))
    else:
        path, seq, _ = export_interactions(store, group, workdir / "interactions", progress=progress)
        frame = spark.read.parquet(str(path))
        source = str(path)
    if items_location:
        items = read_parquet(spark, items_location, required=(C.ITEM_ID,)).toPandas()
        items[C.ITEM_ID] = items[C.ITEM_ID].astype("str")
    context = tuple(c for c in context if c in frame.columns)
    # Items on the group's exclusion list never reach a model, as in local training (`recsys.data`).
    excluded = cleaning.excluded_items(store, group)
    if excluded:
        from pyspark.sql import functions as F

        frame = frame.filter(~F.col(C.ITEM_ID).isin(excluded))
        items = cleaning.drop_excluded(items, excluded)
    return SparkData(frame, items, users, dict(item_fields), dict(user_fields), context, seq, source)


def read_parquet(spark, location: str, required=(C.USER_ID, C.ITEM_ID, C.TIMESTAMP)):
    """A Parquet file or directory (local or s3://) with upper-case Personalize columns; ids cast to strings.

    Column names are matched case-insensitively; ValidationError names missing columns.
    """
    from pyspark.sql import functions as F

    frame = spark.read.parquet(spark_path(location))
    by_upper = {c.upper(): c for c in frame.columns}
    missing = [c for c in required if c not in by_upper]
    if missing:
        raise ValidationError(f"{location}: column(s) {', '.join(missing)} missing; the Parquet data needs "
                              f"{', '.join(required)} (found {', '.join(frame.columns)})")
    frame = frame.select([F.col(c).alias(c.upper() if not c.startswith("_") else c) for c in frame.columns])
    for col in (C.USER_ID, C.ITEM_ID):
        if col in frame.columns:
            frame = frame.withColumn(col, F.col(col).cast("string"))
    if C.TIMESTAMP in frame.columns:
        frame = frame.withColumn(C.TIMESTAMP, F.col(C.TIMESTAMP).cast("long"))
    if C.USER_ID in required and SEQ not in frame.columns:
        # file order stands in for insertion order (ties of TIMESTAMP keep it, as in the workspace)
        frame = frame.withColumn(SEQ, F.monotonically_increasing_id())
    return frame
