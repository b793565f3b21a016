"""Speed benchmark: training seconds and peak memory per recipe per data set (as a ratio to implicit's ALS
trained in the same run), batch recommendation throughput, and an optional 10-million-interaction scale run.

Usage::

    .venv/bin/python bench/speed.py                       # ml-100k, ml-latest-small, online-retail
    .venv/bin/python bench/speed.py --datasets ml-100k --recipes aws-user-personalization,aws-sims
    .venv/bin/python bench/speed.py --scale               # + synthetic 10M interactions, aws-user-personalization
    .venv/bin/python bench/speed.py --json results.json   # also write the numbers as JSON

Every fit runs in its own child process, so the peak resident memory (sampled every 20 ms with psutil) is
that fit's alone: "peak MB" is the child's highest RSS, "fit MB" the growth during fit() over the RSS after
the data was loaded. The data sets are read from ../shared/datasets (not part of the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULT_SETS = ("ml-100k", "ml-latest-small", "online-retail")
ALS = "implicit-als"
SCALE_INTERACTIONS = 10_000_000
SCALE_RAM_LIMIT_GB = 24


# -- data --------------------------------------------------------------------------------------------------


def load_frames(name: str):
    """(interactions, items) as Personalize-shaped frames for one shared data set."""
    import numpy as np
    import pandas as pd

    base = DATASETS / name
    items = None
    if name == "ml-100k":
        inter = pd.read_csv(base / "u.data", sep="\t", names=["USER_ID", "ITEM_ID", "EVENT_VALUE", "TIMESTAMP"])
        genres = [g.split("|")[0] for g in (base / "u.genre").read_text(encoding="latin-1").split("\n") if g.strip()]
        raw = pd.read_csv(base / "u.item", sep="|", header=None, encoding="latin-1")
        flags = raw.iloc[:, 5:5 + len(genres)].to_numpy(dtype=bool)
        items = pd.DataFrame({"ITEM_ID": raw[0].astype(str),
                              "GENRES": ["|".join(g for g, f in zip(genres, row) if f) or "unknown" for row in flags]})
    elif name == "ml-latest-small":
        inter = pd.read_csv(base / "ratings.csv").rename(columns={
            "userId": "USER_ID", "movieId": "ITEM_ID", "rating": "EVENT_VALUE", "timestamp": "TIMESTAMP"})
        movies = pd.read_csv(base / "movies.csv")
        items = pd.DataFrame({"ITEM_ID": movies["movieId"].astype(str), "GENRES": movies["genres"].astype(str)})
    elif name == "online-retail":
        raw = pd.read_parquet(base / "online_retail.parquet")
        raw = raw[raw["CustomerID"].notna() & (raw["Quantity"] > 0)
                  & ~raw["InvoiceNo"].astype(str).str.startswith("C")]
        inter = pd.DataFrame({
            "USER_ID": raw["CustomerID"].astype("int64").astype(str),
            "ITEM_ID": raw["StockCode"].astype(str),
            "TIMESTAMP": (pd.to_datetime(raw["InvoiceDate"]).astype("int64") // 10**9).astype("int64"),
            "EVENT_VALUE": (raw["Quantity"] * raw["UnitPrice"]).astype(float),
        })
        desc = raw.drop_duplicates("StockCode")
        items = pd.DataFrame({"ITEM_ID": desc["StockCode"].astype(str),
                              "PRICE": desc["UnitPrice"].astype(float),
                              "DESCRIPTION": desc["Description"].fillna("").astype(str)})
    elif name == "synthetic-10m":
        inter = synthetic_interactions(SCALE_INTERACTIONS)
    else:
        raise SystemExit(f"unknown data set {name!r}")
    inter["USER_ID"] = inter["USER_ID"].astype(str)
    inter["ITEM_ID"] = inter["ITEM_ID"].astype(str)
    inter["TIMESTAMP"] = inter["TIMESTAMP"].astype(np.int64)
    return inter, items


def synthetic_interactions(n: int, n_users: int = 200_000, n_items: int = 50_000, seed: int = 0):
    """A Zipf-popularity, clustered implicit data set of `n` interactions (vectorised, ~1 s per million)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_clusters = 50
    user_cluster = rng.integers(0, n_clusters, n_users)
    item_cluster = rng.integers(0, n_clusters, n_items)
    order = np.argsort(item_cluster, kind="stable")
    bounds = np.searchsorted(item_cluster[order], np.arange(n_clusters + 1))
    activity = rng.zipf(1.6, n_users).astype(np.float64)
    activity = np.minimum(activity, 2000) / np.minimum(activity, 2000).sum()
    users = rng.choice(n_users, size=n, p=activity)
    in_cluster = rng.random(n) < 0.8
    cl = np.where(in_cluster, user_cluster[users], rng.integers(0, n_clusters, n))
    sizes = bounds[cl + 1] - bounds[cl]
    rank = np.minimum((rng.zipf(1.3, n) - 1), np.maximum(sizes - 1, 0))
    items = order[bounds[cl] + rank]
    ts = 1_700_000_000 + np.sort(rng.integers(0, 180 * 86_400, n))
    return pd.DataFrame({"USER_ID": users.astype("U7"), "ITEM_ID": items.astype("U6"), "TIMESTAMP": ts})


# -- one measured fit (child process) ----------------------------------------------------------------------


class PeakRSS:
    """Highest resident set size of this process while the block runs (psutil, 20 ms samples)."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def _loop(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def fit_once(dataset: str, recipe: str) -> dict:
    """Fit one recipe (or implicit ALS) on one data set in this process; return seconds and memory."""
    import numpy as np

    inter, items = load_frames(dataset)
    if recipe == ALS:
        import implicit
        import scipy.sparse as sp
        from threadpoolctl import threadpool_limits

        u_codes, _ = inter["USER_ID"].factorize()
        i_codes, _ = inter["ITEM_ID"].factorize()
        with PeakRSS() as mem:
            started = time.perf_counter()
            matrix = sp.csr_matrix((np.ones(len(inter), dtype=np.float32), (u_codes, i_codes)))
            matrix.sum_duplicates()
            with threadpool_limits(1, "blas"):
                model = implicit.cpu.als.AlternatingLeastSquares(factors=64, iterations=15, random_state=0)
                model.fit(matrix, show_progress=False)
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "peak_mb": mem.peak / 2**20, "fit_mb": (mem.peak - mem.start) / 2**20,
                "interactions": len(inter)}
    from recsys.data import TrainingData
    from recsys.recipes import get_recipe

    data = TrainingData.from_frames(inter, items)
    with PeakRSS() as mem:
        started = time.perf_counter()
        get_recipe(recipe)().fit(data)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": mem.peak / 2**20, "fit_mb": (mem.peak - mem.start) / 2**20,
            "interactions": len(inter)}


def measure(dataset: str, recipe: str, timeout: float) -> dict:
    """Run `fit_once` in a child process (clean memory accounting); errors are reported, not raised."""
    cmd = [sys.executable, __file__, "--child", dataset, recipe]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        last = lines[-1] if lines else f"exit {done.returncode}"
        if "ValidationError" in last:  # the recipe does not apply to this data set (e.g. no categorical item field)
            return {"error": "n/a: " + last.split("ValidationError: ", 1)[-1].split(" (Personalize")[0][:120]}
        return {"error": last[:160]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- batch throughput --------------------------------------------------------------------------------------


def batch_throughput(dataset: str, recipe: str = "aws-user-personalization", n_results: int = 25) -> dict:
    """Train through the real pipeline (store, solution version) and time a batch job over every user."""
    from recsys import datasets as ds
    from recsys.serving import create_batch_inference_job
    from recsys.store import Store
    from recsys.runs import create_solution_version
    from recsys.solutions import create_solution

    inter, _ = load_frames(dataset)
    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        store.create_dataset_group("bench")
        ds.create_dataset(store, "bench", "Interactions")
        with store.transaction() as db:
            ds.write_frame(db, "bench", "Interactions", inter[["USER_ID", "ITEM_ID", "TIMESTAMP"]],
                           mode="FULL", source="bulk")
        create_solution(store, "bench", "s", recipe)
        version = create_solution_version(store, "bench", "s", wait=True)
        if version.status != "ACTIVE":
            return {"error": version.failure_reason}
        users = sorted(inter["USER_ID"].unique())
        src = Path(home) / "in.jsonl"
        src.write_text("".join(json.dumps({"userId": u}) + "\n" for u in users))
        started = time.perf_counter()
        job = create_batch_inference_job(store, "bench", "job", version.arn, src, Path(home) / "out.jsonl",
                                         num_results=n_results, csv_path=Path(home) / "out.csv")
        seconds = time.perf_counter() - started
    return {"users": len(users), "seconds": seconds, "users_per_second": len(users) / seconds,
            "pipeline_seconds": version.training_seconds, "pipeline_peak_mb": version.peak_memory_mb,
            "lines_failed": job["lines_failed"]}


# -- main --------------------------------------------------------------------------------------------------


def _fmt_ratio(value, base):
    return f"{value / base:.2f}x" if base else "-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DEFAULT_SETS))
    parser.add_argument("--recipes", default=None, help="comma-separated recipe names (default: all registered)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per fit")
    parser.add_argument("--scale", action="store_true", help="also train aws-user-personalization on 10M synthetic")
    parser.add_argument("--no-batch", action="store_true", help="skip the batch throughput measurement")
    parser.add_argument("--json", dest="json_path", default=None, help="write all numbers to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("DATASET", "RECIPE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(fit_once(*args.child)))
        return 0
    if not DATASETS.is_dir():
        print(f"data sets not found at {DATASETS}", file=sys.stderr)
        return 1
    from recsys.recipes import REGISTRY

    recipes = args.recipes.split(",") if args.recipes else sorted(REGISTRY)
    results: dict = {"training": {}, "batch": {}, "scale": None, "cpu_count": os.cpu_count()}
    for dataset in args.datasets.split(","):
        base = measure(dataset, ALS, args.timeout)
        rows = {ALS: base}
        print(f"\n## {dataset} ({base.get('interactions', '?'):,} interactions)\n" if "interactions" in base
              else f"\n## {dataset}\n")
        print("| recipe | train s | x ALS | peak MB | fit MB | x ALS (fit MB) |")
        print("|---|---:|---:|---:|---:|---:|")
        for recipe in [ALS, *recipes]:
            row = rows[recipe] if recipe == ALS else measure(dataset, recipe, args.timeout)
            rows[recipe] = row
            if "error" in row:
                print(f"| {recipe} | error: {row['error']} | | | | |")
                continue
            mem_ratio = _fmt_ratio(max(row["fit_mb"], 1), max(base.get("fit_mb", 1), 1))
            print(f"| {recipe} | {row['seconds']:.2f} | {_fmt_ratio(row['seconds'], base.get('seconds'))} | "
                  f"{row['peak_mb']:.0f} | {row['fit_mb']:.0f} | {mem_ratio} |", flush=True)
        results["training"][dataset] = rows
    if not args.no_batch:
        print("\n## Batch inference throughput (aws-user-personalization, 25 results, JSON lines + CSV)\n")
        print("| data set | users | job s | users/s | full training pipeline s (eval + refit) | pipeline peak MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for dataset in args.datasets.split(","):
            try:
                row = batch_throughput(dataset)
            except Exception as exc:  # report and carry on
                row = {"error": f"{type(exc).__name__}: {exc}"}
            results["batch"][dataset] = row
            if "error" in row:
                print(f"| {dataset} | error: {row['error']} | | | | |")
            else:
                print(f"| {dataset} | {row['users']:,} | {row['seconds']:.1f} | {row['users_per_second']:,.0f} | "
                      f"{row['pipeline_seconds']:.1f} | {row['pipeline_peak_mb']:.0f} |", flush=True)
    if args.scale:
        row = measure("synthetic-10m", "aws-user-personalization", timeout=max(args.timeout, 6 * 3600))
        results["scale"] = row
        print(f"\n## Scale: {SCALE_INTERACTIONS:,} synthetic interactions, aws-user-personalization\n")
        if "error" in row:
            print(f"error: {row['error']}")
        else:
            ok = "within" if row["peak_mb"] < SCALE_RAM_LIMIT_GB * 1024 else "OVER"
            print(f"trained in {row['seconds']:.0f} s, peak RSS {row['peak_mb'] / 1024:.2f} GB "
                  f"({ok} the {SCALE_RAM_LIMIT_GB} GB budget)")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
