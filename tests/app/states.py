"""Workspaces in the states a user can leave them in, built through the library as a user's actions would.

Each builder takes an empty directory and returns the dataset group the pages should open on (or None).
`STATES` maps a state's name to its builder; the demo state is the `demo_home` fixture of conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys import ingest, runs, solutions
from recsys.demo import load_demo, write_demo
from recsys.exceptions import ImportFailed
from recsys.store import Store

SIZES = {"n_users": 60, "n_items": 40, "n_interactions": 1_500}


def _demo_files(home: Path, seed: int = 5) -> Path:
    directory = home / "files"
    write_demo(directory, seed=seed, **SIZES)
    return directory


def _small_group(store: Store, home: Path, group: str, seed: int = 5) -> None:
    load_demo(store, group, _demo_files(home / group, seed))


def empty(home: Path) -> str | None:
    Store(home)
    return None


def failed_import(home: Path) -> str:
    """A group whose only import failed: a quarter of the rows have no user, above the 10% limit."""
    store = Store(home)
    store.create_dataset_group("retail")
    rows = pd.DataFrame({"CustomerID": ["" if i % 4 == 0 else f"c{i % 30}" for i in range(400)],
                         "StockCode": [f"s{i % 50}" for i in range(400)],
                         "InvoiceDate": [f"2011-01-{1 + i % 28:02d} 10:00:00" for i in range(400)]})
    path = home / "retail.csv"
    rows.to_csv(path, index=False)
    try:
        ingest.import_file(store, "retail", "Interactions", path,
                           column_map={"CustomerID": "USER_ID", "StockCode": "ITEM_ID", "InvoiceDate": "TIMESTAMP"},
                           date_columns=["InvoiceDate"])
    except ImportFailed:
        pass
    else:
        raise AssertionError("the import was meant to fail")
    return "retail"


def two_groups(home: Path) -> str:
    store = Store(home)
    _small_group(store, home, "shop-a", seed=5)
    _small_group(store, home, "shop-b", seed=6)
    return "shop-b"


def items_only(home: Path) -> str:
    store = Store(home)
    files = _demo_files(home)
    store.create_dataset_group("catalogue")
    ingest.import_file(store, "catalogue", "Items", files / "items.csv",
                       schema=(files / "items.schema.json").read_text(encoding="utf-8"))
    return "catalogue"


def popularity_only(home: Path) -> str:
    store = Store(home)
    _small_group(store, home, "shop")
    solutions.create_solution(store, "shop", "popularity", "aws-popularity-count")
    runs.create_solution_version(store, "shop", "popularity", wait=True)
    return "shop"


def tuning_jobs(home: Path) -> str:
    """Tuning runs that finished, failed (a log range from 0) and were stopped before they ran."""
    store = Store(home)
    _small_group(store, home, "shop")
    ranges = {"continuousHyperParameterRanges": [{"name": "popularity_discount_factor", "minValue": 0.1,
                                                  "maxValue": 0.9}]}
    solutions.create_solution(store, "shop", "sims-hpo-1", "aws-sims", perform_hpo=True,
                              hpo_config={"hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"},
                                          "algorithmHyperParameterRanges": ranges})
    finished = runs.create_solution_version(store, "shop", "sims-hpo-1", wait=True)
    assert finished.status == "ACTIVE", finished.failure_reason
    bad = {"continuousHyperParameterRanges": [{"name": "popularity_discount_factor", "minValue": 0.0,
                                               "maxValue": 1.0, "scalingType": "Logarithmic"}]}
    solutions.create_solution(store, "shop", "sims-hpo-2", "aws-sims", perform_hpo=True,
                              hpo_config={"hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"},
                                          "algorithmHyperParameterRanges": bad})
    failed = runs.create_solution_version(store, "shop", "sims-hpo-2", wait=True)
    assert failed.status == "CREATE FAILED", failed.status
    solutions.create_solution(store, "shop", "sims-hpo-3", "aws-sims", perform_hpo=True,
                              hpo_config={"hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"},
                                          "algorithmHyperParameterRanges": ranges})
    queued = solutions.new_solution_version(store, "shop", "sims-hpo-3")
    runs.cancel_solution_version(store, queued.arn)
    return "shop"


def item_affinity(home: Path) -> str:
    store = Store(home)
    _small_group(store, home, "shop")
    solutions.create_solution(store, "shop", "affinity", "aws-item-affinity")
    version = runs.create_solution_version(store, "shop", "affinity", wait=True)
    assert version.status == "ACTIVE", version.failure_reason
    return "shop"


def create_failed(home: Path) -> str:
    """A version whose training failed: its solution trains on an event type the data does not have."""
    store = Store(home)
    _small_group(store, home, "shop")
    solutions.create_solution(store, "shop", "wishlist", "aws-user-personalization", event_type="wishlist")
    version = runs.create_solution_version(store, "shop", "wishlist", wait=True)
    assert version.status == "CREATE FAILED", version.status
    return "shop"


def empty_items_dataset(home: Path) -> str:
    """Interactions, a trained version, and an Items dataset whose schema was saved before any file was imported."""
    from recsys import workspace
    from recsys.schema import default_schema

    store = Store(home)
    store.create_dataset_group("shop")
    files = _demo_files(home)
    ingest.import_file(store, "shop", "Interactions", files / "interactions.csv",
                       schema=(files / "interactions.schema.json").read_text(encoding="utf-8"))
    solutions.create_solution(store, "shop", "personalization", "aws-user-personalization")
    runs.create_solution_version(store, "shop", "personalization", wait=True)
    workspace.save_schema(store, "shop", "Items", default_schema("Items", None))
    return "shop"


STATES = {
    "empty": empty,
    "failed-import": failed_import,
    "two-groups": two_groups,
    "items-only": items_only,
    "popularity-only": popularity_only,
    "tuning-jobs": tuning_jobs,
    "item-affinity": item_affinity,
    "create-failed": create_failed,
    "empty-items-dataset": empty_items_dataset,
}
