"""Benchmark: real-time inference latency on campaigns (python bench/inference.py [--items 100000] [--requests 300]).

Measures, in one process on loopback-free library calls (the HTTP layer is measured by bench/api.py):

1. The demo data set (2,000 users, 1,000 items, ~100k events): GetRecommendations p50/p99 without a filter,
   with an Items filter, with an Interactions filter, with a promotion; GetPersonalizedRanking of 50 items.
2. A synthetic catalogue of `--items` items (default 100,000): the same without / with a filter, and the
   filter's added cost per request (target < 1 ms).
3. PutEvents -> changed recommendation: the time from calling put_events to having a different answer from
   the very next GetRecommendations (target < 50 ms).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys import datasets  # noqa: E402
from recsys.campaigns import create_campaign  # noqa: E402
from recsys.columns import INTERACTIONS, ITEMS, USERS  # noqa: E402
from recsys.demo import demo_schema, generate_demo  # noqa: E402
from recsys.events import create_event_tracker, put_events  # noqa: E402
from recsys.filters import create_filter  # noqa: E402
from recsys.serving import get_personalized_ranking, get_recommendations  # noqa: E402
from recsys.store import Store  # noqa: E402
from recsys.runs import create_solution_version  # noqa: E402
from recsys.solutions import create_solution  # noqa: E402

GROUP = "bench"


def load(store: Store, frames: dict, schemas: dict) -> None:
    store.create_dataset_group(GROUP)
    for dataset_type, frame in frames.items():
        datasets.get_or_create_dataset(store, GROUP, dataset_type, schemas[dataset_type])
        with store.transaction() as db:
            datasets.write_frame(db, GROUP, dataset_type, frame, mode="FULL")


def deploy(store: Store, recipe: str = "aws-user-personalization", params: dict | None = None) -> tuple[str, float]:
    create_solution(store, GROUP, "up", recipe, params=params)
    started = time.perf_counter()
    version = create_solution_version(store, GROUP, "up", wait=True)
    if version.status != "ACTIVE":
        raise SystemExit(f"training failed: {version.get('failure_reason')}")
    return create_campaign(store, GROUP, "main", version.arn).arn, time.perf_counter() - started


def timed(call, users, repeat: int = 1) -> dict:
    call(users[0])  # warm: model, catalogue, filter index
    samples = []
    for _ in range(repeat):
        for user in users:
            t = time.perf_counter()
            call(user)
            samples.append((time.perf_counter() - t) * 1000)
    samples = np.array(samples)
    return {"p50_ms": float(np.percentile(samples, 50)), "p99_ms": float(np.percentile(samples, 99)),
            "mean_ms": float(samples.mean()), "n": int(len(samples))}


def synthetic(n_items: int, n_users: int, n_events: int, seed: int = 0) -> tuple[dict, dict]:
    """A long-tailed catalogue of `n_items` items in 200 categories, users with category tastes."""
    rng = np.random.default_rng(seed)
    item_ids = np.array([f"item{i:06d}" for i in range(n_items)], dtype=object)
    cat = rng.integers(0, 200, n_items)
    items = pd.DataFrame({"ITEM_ID": item_ids, "CATEGORY_L1": [f"c{c}" for c in cat],
                          "PRICE": np.round(rng.gamma(2.0, 20.0, n_items), 2),
                          "CREATION_TIMESTAMP": rng.integers(1_700_000_000, 1_760_000_000, n_items)})
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    rng.shuffle(pop)
    by_cat = [np.flatnonzero(cat == c) for c in range(200)]
    user_cat = rng.integers(0, 200, n_users)
    u = rng.integers(0, n_users, n_events)
    taste = rng.random(n_events) < 0.7
    picks = np.empty(n_events, dtype=np.int64)
    for c in range(200):
        rows = np.flatnonzero(taste & (user_cat[u] == c))
        members = by_cat[c]
        p = pop[members] / pop[members].sum()
        picks[rows] = rng.choice(members, size=len(rows), p=p)
    rest = np.flatnonzero(~taste)
    picks[rest] = rng.choice(n_items, size=len(rest), p=pop / pop.sum())
    inter = pd.DataFrame({"USER_ID": [f"user{x:06d}" for x in u], "ITEM_ID": item_ids[picks],
                          "TIMESTAMP": np.sort(rng.integers(1_750_000_000, 1_760_000_000, n_events)),
                          "EVENT_TYPE": rng.choice(["view", "purchase"], n_events, p=[0.9, 0.1])})
    schemas = {
        INTERACTIONS: {"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
                       "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                                  {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"}],
                       "version": "1.0"},
        ITEMS: {"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
                "fields": [{"name": "ITEM_ID", "type": "string"},
                           {"name": "CATEGORY_L1", "type": "string", "categorical": True},
                           {"name": "PRICE", "type": "float"}, {"name": "CREATION_TIMESTAMP", "type": "long"}],
                "version": "1.0"},
    }
    return {INTERACTIONS: inter, ITEMS: items}, schemas


def realtime(store: Store, campaign: str, users, items, newest: int, n: int = 50,
             properties: dict | None = None) -> dict:
    """put_events -> the next answer differs: per user, time of put_events + get_recommendations."""
    tracker = create_event_tracker(store, GROUP, "bench")["trackingId"]
    rng = np.random.default_rng(1)
    samples, changed = [], 0
    for k, user in enumerate(users[:n]):
        before = [i["itemId"] for i in get_recommendations(store, campaign, user_id=user, num_results=25)["itemList"]]
        events = [{"eventType": "view", "sentAt": newest + 60 + j, "itemId": str(items[rng.integers(len(items))]),
                   "eventId": f"bench-{k}-{j}"} for j in range(3)]
        if properties:
            for event in events:
                event["properties"] = json.dumps(properties)
        t = time.perf_counter()
        put_events(store, tracker, f"session-{user}", user, events)
        after = [i["itemId"] for i in get_recommendations(store, campaign, user_id=user, num_results=25)["itemList"]]
        samples.append((time.perf_counter() - t) * 1000)
        changed += after != before
    samples = np.array(samples)
    return {"p50_ms": float(np.percentile(samples, 50)), "p99_ms": float(np.percentile(samples, 99)),
            "changed": f"{changed}/{len(samples)}"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_demo(requests: int) -> dict:
    """Latency on the demo data set (2,000 users, 1,000 items, ~100k events)."""
    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        demo = generate_demo(seed=7)
        load(store, {t: demo.frame(t) for t in (INTERACTIONS, ITEMS, USERS)},
             {t: demo_schema(t) for t in (INTERACTIONS, ITEMS, USERS)})
        log("training on the demo data ...")
        campaign, train_s = deploy(store)
        users = list(demo.interactions["USER_ID"].drop_duplicates().sample(requests, random_state=0))
        cat = create_filter(store, GROUP, "cat", "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)").arn
        seen = create_filter(store, GROUP, "seen",
                             'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")').arn
        promo = [{"name": "new", "percentPromotedItems": 20, "filterArn": cat, "filterValues": {"CAT": '"books"'}}]
        top50 = list(demo.items["ITEM_ID"].iloc[:50])
        runs = {
            "no filter": lambda u: get_recommendations(store, campaign, user_id=u),
            "Items filter ($CAT)": lambda u: get_recommendations(store, campaign, user_id=u, filter_arn=cat,
                                                                 filter_values={"CAT": '"toys","home"'}),
            "Interactions filter": lambda u: get_recommendations(store, campaign, user_id=u, filter_arn=seen),
            "promotion 20%": lambda u: get_recommendations(store, campaign, user_id=u, promotions=promo),
            "context DEVICE": lambda u: get_recommendations(store, campaign, user_id=u, context={"DEVICE": "mobile"}),
            "ranking of 50": lambda u: get_personalized_ranking(store, campaign, user_id=u, input_list=top50),
        }
        out = {"training_s": round(train_s, 2)}
        for name, call in runs.items():
            out[name] = timed(call, users)
        add_filter_cost(out, list(runs)[1:3])
        out["put_events -> changed answer"] = realtime(
            store, campaign, users, demo.items["ITEM_ID"].to_numpy(), int(demo.interactions["TIMESTAMP"].max()),
            properties={"device": "mobile"})
        return out


def bench_catalogue(n_items: int, requests: int) -> dict:
    """Latency on a synthetic catalogue of `n_items` items (ALS, since EASE stops at 30k items)."""
    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        frames, schemas = synthetic(n_items, n_users=20_000, n_events=max(300_000, 3 * n_items))
        load(store, frames, schemas)
        log(f"training on {n_items:,} items ...")
        campaign, train_s = deploy(store, params={"factors": 64, "iterations": 10})
        log(f"trained in {train_s:.0f} s")
        users = list(frames[INTERACTIONS]["USER_ID"].drop_duplicates().sample(requests, random_state=0))
        cat = create_filter(store, GROUP, "cat", "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)").arn
        price = create_filter(store, GROUP, "price", "INCLUDE ItemID WHERE Items.PRICE <= $P").arn
        seen = create_filter(store, GROUP, "seen",
                             'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")').arn
        rng = np.random.default_rng(0)
        runs = {
            "no filter": lambda u: get_recommendations(store, campaign, user_id=u),
            "Items filter ($CAT)": lambda u: get_recommendations(
                store, campaign, user_id=u, filter_arn=cat,
                filter_values={"CAT": f'"c{rng.integers(200)}","c{rng.integers(200)}"'}),
            "Items filter (PRICE <= $P)": lambda u: get_recommendations(
                store, campaign, user_id=u, filter_arn=price, filter_values={"P": str(int(rng.integers(5, 100)))}),
            "Interactions filter": lambda u: get_recommendations(store, campaign, user_id=u, filter_arn=seen),
        }
        out = {"training_s": round(train_s, 2)}
        for name, call in runs.items():
            out[name] = timed(call, users)
        add_filter_cost(out, list(runs)[1:])
        out["put_events -> changed answer"] = realtime(
            store, campaign, users, frames[ITEMS]["ITEM_ID"].to_numpy(), int(frames[INTERACTIONS]["TIMESTAMP"].max()))
        return out


def add_filter_cost(out: dict, names: list[str]) -> None:
    base = out["no filter"]["p50_ms"]
    for name in names:
        out[name]["filter_cost_p50_ms"] = round(out[name]["p50_ms"] - base, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="synthetic catalogue size (0 to skip)")
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement")
    parser.add_argument("--skip-demo", action="store_true", help="only the synthetic catalogue")
    args = parser.parse_args()
    results = {}
    load_start = [round(x, 2) for x in os.getloadavg()]
    if not args.skip_demo:
        results["demo"] = bench_demo(args.requests)
    if args.items:
        results[f"{args.items // 1000}k items"] = bench_catalogue(args.items, args.requests)
    print(json.dumps(results, indent=1))
    print(f"\nload average (1, 5, 15 min) at start {load_start}, at end {[round(x, 2) for x in os.getloadavg()]}")
    print("\n| data | measurement | p50 ms | p99 ms | note |\n|---|---|---|---|---|")
    for data, rows in results.items():
        for name, row in rows.items():
            if isinstance(row, dict):
                note = (f"filter adds {row['filter_cost_p50_ms']} ms" if "filter_cost_p50_ms" in row
                        else f"changed {row['changed']}" if "changed" in row else "")
                print(f"| {data} | {name} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {note} |")
            else:
                print(f"| {data} | {name} | {row} | | |")


if __name__ == "__main__":
    main()
