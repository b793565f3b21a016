"""Benchmark of bulk interaction imports: rows/s into the store and peak memory (SPEC §13).

Usage::

    .venv/bin/python bench/ingest.py            # 1M rows (CSV), then user_history timing
    .venv/bin/python bench/ingest.py --rows 10000000 --format csv

Generates interactions with the demo generator (recsys/demo.py) when present, else a simple random
generator, writes them to a temporary file, imports them with FULL mode into a fresh workspace and prints
rows/s, seconds, peak RSS of the process, and the latency of one user's history at that size.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.datasets import max_seq, user_history  # noqa: E402
from recsys.ingest import import_file  # noqa: E402
from recsys.store import Store  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_interactions(n_rows: int, seed: int = 7) -> pd.DataFrame:
    """Interactions with USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE (demo-shaped, fast for 10M)."""
    if n_rows <= 2_000_000:
        try:
            from recsys.demo import generate_demo

            frame = generate_demo(seed=seed, n_users=max(2000, n_rows // 50), n_items=max(1000, n_rows // 200),
                                  n_interactions=n_rows).interactions
            return frame.drop(columns=[c for c in frame.columns if c == "DEVICE"])
        except ImportError:
            pass
    rng = np.random.default_rng(seed)
    n_users, n_items = max(1000, n_rows // 50), max(1000, n_rows // 200)
    users = rng.integers(0, n_users, n_rows)
    items = np.minimum(rng.zipf(1.3, n_rows), n_items) - 1
    kinds = rng.choice(3, n_rows, p=[0.85, 0.1, 0.05])
    return pd.DataFrame({
        "USER_ID": pd.Series(users).map(lambda u: f"u{u:07d}"),
        "ITEM_ID": pd.Series(items).map(lambda i: f"i{i:06d}"),
        "TIMESTAMP": np.sort(rng.integers(1_700_000_000, 1_715_000_000, n_rows)),
        "EVENT_TYPE": np.array(["view", "cart", "purchase"])[kinds],
        "EVENT_VALUE": np.where(kinds == 2, rng.gamma(2, 20, n_rows).round(2), np.nan),
    })


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--chunk-size", type=int, default=200_000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        frame = make_interactions(args.rows)
        path = Path(tmp) / f"interactions.{args.format}"
        if args.format == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        n = len(frame)
        del frame
        print(f"generated {n:,} rows in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:.0f} MB {args.format})")

        store = Store(Path(tmp) / "ws")
        store.create_dataset_group("bench")
        t0, c0 = time.perf_counter(), time.process_time()
        job = import_file(store, "bench", "Interactions", path, chunk_size=args.chunk_size)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"import: {job.rows_accepted:,} rows accepted, {job.rows_rejected} rejected in {seconds:.2f} s "
              f"= {job.rows_accepted / seconds:,.0f} rows/s wall ({job.rows_accepted / cpu:,.0f} rows per CPU "
              f"second; {os.getloadavg()[0]:.1f} load average); peak RSS {peak_rss_mb():.0f} MB; "
              f"db {store.db_path.stat().st_size / 1e6:.0f} MB")

        t0 = time.perf_counter()
        job2 = import_file(store, "bench", "Interactions", path, mode="FULL", chunk_size=args.chunk_size)
        seconds = time.perf_counter() - t0
        print(f"re-import (FULL over existing): {job2.rows_accepted / seconds:,.0f} rows/s")

        with store.reading() as db:
            some_users = [r[0] for r in db.execute(
                f"SELECT USER_ID FROM ds_1_interactions WHERE _seq % 9973 = 0 LIMIT 200").fetchall()]
        t0 = time.perf_counter()
        for u in some_users:
            user_history(store, "bench", u, limit=100)
        per = (time.perf_counter() - t0) / max(1, len(some_users))
        print(f"user_history(limit=100): {per * 1000:.2f} ms per call over {len(some_users)} users; "
              f"max_seq={max_seq(store, 'bench'):,}")


if __name__ == "__main__":
    main()
