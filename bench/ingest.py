"""Benchmark of bulk interaction imports: rows/s into the store and peak memory (SPEC §13).

Usage::

    .venv/bin/python bench/ingest.py            # 1M rows (CSV), then user_history timing
    .venv/bin/python bench/ingest.py --rows 10000000 --format csv --no-reimport
    .venv/bin/python bench/ingest.py --hostile 100 --no-reimport   # 100 malformed records spread over the CSV

Generates interactions (the demo generator, recsys/demo.py, up to 2M rows; a vectorised random generator
beyond) in a child process, so the peak RSS printed is the import's own, writes them to a temporary file,
imports them with FULL mode into a fresh workspace and prints rows/s (wall), CPU seconds per million rows
(the writer thread, i.e. SQLite, and the whole process, i.e. plus parsing and validation on the reader
thread), the load average (other processes share the cores), peak RSS, and the latency of one user's
history at that size. With ``--hostile N``, N malformed records (a ragged row, a NUL line, a quote left
open, in turn) are spread evenly through the CSV: each is one rejected row, and the import pays for reading
the stretches around them record by record (recsys/csv_reader.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
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
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    n_users, n_items = max(1000, n_rows // 50), max(1000, n_rows // 200)
    users = rng.integers(0, n_users, n_rows)
    items = np.minimum(rng.zipf(1.3, n_rows), n_items) - 1
    kinds = rng.choice(3, n_rows, p=[0.85, 0.1, 0.05])

    def ids(prefix: str, values: np.ndarray, width: int) -> pd.Series:
        text = pc.utf8_lpad(pa.array(values).cast(pa.string()), width, "0")
        return pd.Series(pd.arrays.ArrowStringArray(pc.binary_join_element_wise(prefix, text, "")))

    return pd.DataFrame({
        "USER_ID": ids("u", users, 7),
        "ITEM_ID": ids("i", items, 6),
        "TIMESTAMP": np.sort(rng.integers(1_700_000_000, 1_715_000_000, n_rows)),
        "EVENT_TYPE": np.array(["view", "cart", "purchase"])[kinds],
        "EVENT_VALUE": np.where(kinds == 2, rng.gamma(2, 20, n_rows).round(2), np.nan),
    })


def write_file(n_rows: int, path: Path, fmt: str) -> int:
    """Generate `n_rows` interactions into `path` (csv or parquet); returns the row count."""
    frame = make_interactions(n_rows)
    if fmt == "csv" and n_rows > 2_000_000:  # pyarrow's writer: much faster than pandas at 10M rows
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = pa.Table.from_pandas(frame, preserve_index=False)
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return len(frame)


HOSTILE_LINES = (b"u-bad,i-bad,1,view,,extra,fields\n", b"\x00\x00\x00\x00\n", b'u-bad,"i-bad,1\n')


def add_hostile_records(source: Path, target: Path, n_bad: int) -> None:
    """Copy a CSV, inserting `n_bad` malformed records at evenly spaced lines (never before the header)."""
    with open(source, "rb") as fh:
        n_lines = sum(1 for _ in fh)
    every = max(1, (n_lines - 1) // (n_bad + 1))
    inserted = 0
    with open(source, "rb") as src, open(target, "wb") as out:
        for k, line in enumerate(src):
            out.write(line)
            if k and k % every == 0 and inserted < n_bad:
                out.write(HOSTILE_LINES[inserted % len(HOSTILE_LINES)])
                inserted += 1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--chunk-size", type=int, default=200_000)
    parser.add_argument("--no-reimport", action="store_true", help="skip the second FULL import over the data")
    parser.add_argument("--file", help="import this file instead of generating one")
    parser.add_argument("--hostile", type=int, default=0, metavar="N",
                        help="insert N malformed records, evenly spaced, into the CSV before importing it")
    parser.add_argument("--generate", metavar="PATH", help=argparse.SUPPRESS)  # child process: write and exit
    args = parser.parse_args(argv)
    if args.generate:
        print(write_file(args.rows, Path(args.generate), args.format))
        return

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if args.file:
            path = Path(args.file)
            n = None
        else:
            path = Path(tmp) / f"interactions.{args.format}"
            out = subprocess.run([sys.executable, __file__, "--generate", str(path), "--rows", str(args.rows),
                                  "--format", args.format], check=True, capture_output=True, text=True)
            n = int(out.stdout.split()[-1])
            print(f"generated {n:,} rows in {time.perf_counter() - t0:.1f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB {args.format}, in a child process)")
        if args.hostile:
            hostile = Path(tmp) / f"hostile-{path.name}"
            add_hostile_records(path, hostile, args.hostile)
            path = hostile
            print(f"inserted {args.hostile} malformed records (ragged row, NUL line, open quote, in turn)")

        store = Store(Path(tmp) / "ws")
        store.create_dataset_group("bench")
        rss0 = peak_rss_mb()
        load0 = os.getloadavg()[0]
        t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        job = import_file(store, "bench", "Interactions", path, chunk_size=args.chunk_size)
        seconds, cpu, main_cpu = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
        rows = job.rows_accepted
        print(f"import: {rows:,} rows accepted, {job.rows_rejected} rejected in {seconds:.2f} s "
              f"= {rows / seconds:,.0f} rows/s wall; CPU {cpu:.2f} s = {cpu / rows * 1e6:.2f} CPU-s per million "
              f"rows (writer thread {main_cpu / rows * 1e6:.2f}, reader/validator {(cpu - main_cpu) / rows * 1e6:.2f})"
              f", {rows / cpu:,.0f} rows per CPU second; load average {load0:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after; peak RSS {peak_rss_mb():.0f} MB (before the import {rss0:.0f} MB); "
              f"db {store.db_path.stat().st_size / 1e6:.0f} MB")

        if not args.no_reimport:
            t0 = time.perf_counter()
            job2 = import_file(store, "bench", "Interactions", path, mode="FULL", chunk_size=args.chunk_size)
            seconds = time.perf_counter() - t0
            print(f"re-import (FULL over existing): {job2.rows_accepted / seconds:,.0f} rows/s "
                  f"({seconds:.2f} s); peak RSS {peak_rss_mb():.0f} MB")

        with store.reading() as db:
            some_users = [r[0] for r in db.execute(
                "SELECT USER_ID FROM ds_1_interactions WHERE _seq % 9973 = 0 LIMIT 200").fetchall()]
        user_history(store, "bench", some_users[0], limit=100)  # warm the page cache
        t0 = time.perf_counter()
        for u in some_users:
            user_history(store, "bench", u, limit=100)
        per = (time.perf_counter() - t0) / max(1, len(some_users))
        print(f"user_history(limit=100): {per * 1000:.2f} ms per call over {len(some_users)} users; "
              f"max_seq={max_seq(store, 'bench'):,}")


if __name__ == "__main__":
    main()
