"""Dataset exports (Personalize's CreateDatasetExportJob): one dataset's rows as a CSV file, the bulk-imported
rows, the streamed ones (PutEvents, PutItems, PutUsers) or both.

Example::

    rows = export_dataset(store, "shop", "Interactions", "interactions.csv", ingestion_mode="PUT")
"""

from __future__ import annotations

import os

from recsys import datasets
from recsys.columns import INTERACTIONS, ITEMS
from recsys.exceptions import ValidationError
from recsys.files import atomic_path
from recsys.schema import normalize_dataset_type

# Personalize's ingestion modes and the rows they keep (the `_source` bookkeeping column).
INGESTION_MODES = {"BULK": datasets.BULK, "PUT": datasets.STREAM, "ALL": None}


def export_dataset(store, group: str, dataset_type: str, path: str | os.PathLike, *,
                   ingestion_mode: str = "ALL") -> int:
    """Write the dataset's rows to `path` as CSV (header = the schema's field names, written atomically) and
    return how many rows were written. `ingestion_mode`: BULK (imports), PUT (streamed) or ALL."""
    mode = str(ingestion_mode or "ALL").upper()
    if mode not in INGESTION_MODES:
        raise ValidationError(f"Invalid ingestionMode {ingestion_mode!r}: use BULK, PUT or ALL.")
    source = INGESTION_MODES[mode]
    dtype = normalize_dataset_type(dataset_type)
    if dtype == INTERACTIONS:
        frame = datasets.read_interactions(store, group, source=source)
    else:
        read = datasets.read_items if dtype == ITEMS else datasets.read_users
        frame = read(store, group, bookkeeping=source is not None)
        if source is not None:
            frame = frame[frame[datasets.SOURCE] == source]
    frame = frame[[c for c in frame.columns if not str(c).startswith("_")]]
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return len(frame)
