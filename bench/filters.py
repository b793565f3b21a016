"""Benchmark: per-request cost of filter masks over a 100k-item catalogue (python bench/filters.py [--items N])."""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.filters import FilterContext, parse_filter  # noqa: E402


def make_data(n_items: int, n_users: int, history: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    item_ids = np.array([f"item{i}" for i in range(n_items)], dtype=object)
    genres = np.array([f"g{i}" for i in range(40)])
    first = rng.choice(genres, n_items)
    second = rng.choice(genres, n_items)
    genre = np.where(rng.random(n_items) < 0.4, np.char.add(np.char.add(first, "|"), second), first)
    items = pd.DataFrame({
        "ITEM_ID": item_ids,
        "GENRE": genre,
        "CATEGORY": rng.choice([f"c{i}" for i in range(200)], n_items),
        "PRICE": np.round(rng.gamma(2.0, 20.0, n_items), 2),
        "CREATION_TIMESTAMP": rng.integers(1_600_000_000, 1_700_000_000, n_items),
    })
    users = pd.DataFrame({
        "USER_ID": [f"user{i}" for i in range(n_users)],
        "AGE": rng.integers(12, 80, n_users),
        "MEMBERSHIP": rng.choice(["gold", "silver", "bronze"], n_users),
    })
    histories = [pd.DataFrame({
        "ITEM_ID": item_ids[rng.integers(0, n_items, history)],
        "EVENT_TYPE": rng.choice(["click", "purchase", "view"], history),
        "TIMESTAMP": np.arange(history),
    }) for _ in range(50)]
    return item_ids, items, users, histories, genres


FILTERS = [
    ("exclude purchased (history)", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")', lambda r, g: None),
    ("genre IN $param", "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)",
     lambda r, g: {"GENRE": f'"{g[r.integers(40)]}","{g[r.integers(40)]}"'}),
    ("price <= $param", "INCLUDE ItemID WHERE Items.PRICE <= $PRICE", lambda r, g: {"PRICE": str(r.integers(5, 200))}),
    ("genre AND price OR category", 'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.PRICE < 50 '
                                    'OR Items.CATEGORY IN ("c1","c2")',
     lambda r, g: {"GENRE": f'"{g[r.integers(40)]}"'}),
    ("include genre | exclude purchased", 'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | '
                                          'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase","click")',
     lambda r, g: {"GENRE": f'"{g[r.integers(40)]}"'}),
    ("IF CurrentUser", 'EXCLUDE ItemID WHERE Items.GENRE IN ("g1","g2") IF CurrentUser.AGE < $AGE',
     lambda r, g: {"AGE": "18"}),
    ("CurrentItem (related items)", "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE "
                                    "AND Items.GENRE IN CurrentItem.GENRE", lambda r, g: None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=300, help="events per user history")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    item_ids, items, users, histories, genres = make_data(args.items, args.users, args.history)
    rng = np.random.default_rng(1)
    print(f"{args.items:,} items, {args.users:,} users, {args.history} events per history, "
          f"{args.requests} requests per filter")
    print(f"{'filter':<36} {'first call ms':>14} {'median ms':>10} {'p95 ms':>8}")
    for label, expression, make_values in FILTERS:
        f = parse_filter(expression)

        def request(i):
            ctx = FilterContext(item_ids, items=items, user_interactions=histories[i % len(histories)], users=users,
                                user_id=f"user{rng.integers(args.users)}",
                                current_item_id=item_ids[rng.integers(args.items)])
            return f.item_mask(ctx, make_values(rng, genres))

        t0 = time.perf_counter()
        request(0)
        first = (time.perf_counter() - t0) * 1000
        times = []
        for i in range(args.requests):
            t0 = time.perf_counter()
            request(i)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"{label:<36} {first:>14.1f} {np.median(times):>10.3f} {np.percentile(times, 95):>8.3f}")


if __name__ == "__main__":
    main()
