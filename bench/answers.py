"""Answers benchmark: a fixed set of requests whose answers must not change across a refactor of serving.

Usage::

    .venv/bin/python bench/answers.py /tmp/answers-before.json     # on the old code
    .venv/bin/python bench/answers.py /tmp/answers-after.json      # on the new code
    diff <(jq -S .realtime /tmp/answers-before.json) <(jq -S .realtime /tmp/answers-after.json)

It builds a workspace in a temporary directory: the seeded demo data (300 users, 150 items, ~6,000 events)
minus 10 items held back and added after training (new items), a trained version of every recipe type
(user personalization, popularity count, trending now, personalized ranking, SIMS, similar items, semantic
similarity, item affinity), campaigns with different exploration and excludeSeenItems configs, named filters
with and without parameters on Items, Interactions and Users, events put after training (known users,
a new user and an anonymous session). Then it sends several hundred GetRecommendations and
GetPersonalizedRanking requests through the library functions (with promotions, context, metadataColumns,
unknown items, cold users and invalid input), and runs batch inference and segment jobs. The recommendationId
of request k is derived from k (uuid4 is replaced in this script only), so the exploration and promotion
draws repeat. The output is canonical JSON (sorted keys): ``{"realtime": [...], "batch": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys import datasets  # noqa: E402
from recsys.campaigns import create_campaign  # noqa: E402
from recsys.demo import demo_schema, generate_demo  # noqa: E402
from recsys.events import create_event_tracker, put_events, put_items, put_users  # noqa: E402
from recsys.exceptions import RecsysError  # noqa: E402
from recsys.filters import create_filter  # noqa: E402
from recsys.store import Store  # noqa: E402

try:  # the layout after issue 9 (serving, solutions, runs), and before it (inference, batch, training)
    from recsys.runs import create_solution_version  # noqa: E402
    from recsys.serving import batch as batch_jobs  # noqa: E402
    from recsys.serving import get_personalized_ranking, get_recommendations  # noqa: E402
    from recsys.solutions import create_solution  # noqa: E402
except ImportError:
    from recsys import batch as batch_jobs  # noqa: E402
    from recsys.inference import get_personalized_ranking, get_recommendations  # noqa: E402
    from recsys.training import create_solution, create_solution_version  # noqa: E402

GROUP = "answers"
HELD_BACK = 10  # newest items, added after training
SOLUTIONS = {
    "up": ("aws-user-personalization", {"random_state": "3"}),
    "pop": ("aws-popularity-count", None),
    "trending": ("aws-trending-now", None),
    "ranking": ("aws-personalized-ranking", {"random_state": "3"}),
    "sims": ("aws-sims", None),
    "similar": ("aws-similar-items", None),
    "semantic": ("aws-semantic-similarity", {"random_state": "0"}),
    "affinity": ("aws-item-affinity", None),
}
CAMPAIGNS = {
    "up-default": ("up", None),
    "up-still": ("up", {"itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "30"}}),
    "up-explore": ("up", {"itemExplorationConfig": {"explorationWeight": "0.6", "explorationItemAgeCutOff": "60"},
                          "excludeSeenItems": "true"}),
    "pop": ("pop", None),
    "trending": ("trending", None),
    "ranking": ("ranking", None),
    "sims": ("sims", None),
    "similar": ("similar", None),
    "semantic": ("semantic", None),
}
FILTERS = {
    "cat": "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)",
    "cheap": "INCLUDE ItemID WHERE Items.PRICE < 60",
    "no-books": 'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books")',
    "not-bought": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
    "not-typed": "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($T)",
    "member": 'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books") IF CurrentUser.MEMBERSHIP = $M',
    "prime-cheap": 'INCLUDE ItemID WHERE Items.PRICE < 40 IF CurrentUser.MEMBERSHIP = "prime"',
    "same-cat": "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN CurrentItem.CATEGORY_L1 AND Items.PRICE < CurrentItem.PRICE",
}


def seeded_ids(k: int) -> None:
    """Make the next recommendationIds a function of `k` (this script only)."""
    rng = random.Random(k)
    uuid.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)


def build(home: Path) -> dict:
    store = Store(home)
    store.create_dataset_group(GROUP)
    data = generate_demo(seed=7, n_users=300, n_items=150, n_interactions=6000)
    items = data.items.sort_values("CREATION_TIMESTAMP", kind="stable")
    late = items.tail(HELD_BACK)
    late_ids = set(late["ITEM_ID"])
    interactions = data.interactions[~data.interactions["ITEM_ID"].isin(late_ids)]
    frames = {"Interactions": interactions, "Items": items.head(len(items) - HELD_BACK), "Users": data.users}
    for dataset_type, frame in frames.items():
        datasets.create_dataset(store, GROUP, dataset_type, schema=demo_schema(dataset_type))
        with store.transaction() as db:
            datasets.write_frame(db, GROUP, dataset_type, frame, mode="FULL", source="bulk")
    versions = {}
    for solution, (recipe, params) in SOLUTIONS.items():
        create_solution(store, GROUP, solution, recipe, params=params)
        version = create_solution_version(store, GROUP, solution, wait=True)
        if version.status != "ACTIVE":
            raise SystemExit(f"training {recipe} failed: {version.get('failure_reason')}")
        versions[solution] = version.arn
    campaigns = {name: create_campaign(store, GROUP, name, versions[solution], campaign_config=config).arn
                 for name, (solution, config) in CAMPAIGNS.items()}
    filters = {}
    for name, expression in FILTERS.items():
        try:
            filters[name] = create_filter(store, GROUP, name, expression).arn
        except RecsysError as exc:
            print(f"filter {name} not supported: {exc}", file=sys.stderr)
    t_max = int(interactions["TIMESTAMP"].max())
    new_since = int(items["CREATION_TIMESTAMP"].quantile(0.8))
    filters["new"] = create_filter(store, GROUP, "new", f"INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > {new_since}").arn
    # after training: new items, a new user, events of known users, a new user and an anonymous session
    put_items(store, GROUP, [{"itemId": r["ITEM_ID"], "properties": json.dumps(
        {"price": r["PRICE"], "categoryL1": r["CATEGORY_L1"], "categoryL2": r["CATEGORY_L2"],
         "productDescription": r["PRODUCT_DESCRIPTION"], "creationTimestamp": int(r["CREATION_TIMESTAMP"])})}
        for r in late.to_dict("records")])
    put_users(store, GROUP, [{"userId": "u-new", "properties": json.dumps(
        {"ageGroup": "25-34", "membership": "prime", "country": "US"})}])
    tracker = create_event_tracker(store, GROUP, "web")["trackingId"]
    catalogue = sorted(items["ITEM_ID"])
    rng = random.Random(11)
    for k, (session, user) in enumerate([("s-u0003", "u0003"), ("s-u0010", "u0010"), ("s-u0042", "u0042"),
                                         ("s-new", "u-new"), ("anon-1", None)]):
        events = [{"eventType": rng.choice(["view", "view", "cart", "purchase"]), "sentAt": t_max + 60 + 7 * j + k,
                   "itemId": rng.choice(catalogue), "eventId": f"{session}-{j}",
                   "properties": json.dumps({"device": rng.choice(["mobile", "desktop"])})} for j in range(8)]
        put_events(store, tracker, session, user, events)
    # Serving refreshes its exploration counts at most once a second: let the counts warmed by create_campaign
    # expire, so that the first request sees every event above whatever the machine's speed.
    time.sleep(2.0)
    return {"store": store, "versions": versions, "campaigns": campaigns, "filters": filters,
            "catalogue": catalogue, "late": sorted(late_ids)}


def requests(world: dict) -> list[tuple[str, dict]]:
    """(function, keyword arguments) of every real-time request, in a fixed order."""
    c, f, catalogue = world["campaigns"], world["filters"], world["catalogue"]
    users = ["u0001", "u0002", "u0003", "u0010", "u0042", "u0150", "u0299", "u-new", "anon-1", "never-seen"]
    out: list[tuple[str, dict]] = []
    rec, rank = "get_recommendations", "get_personalized_ranking"
    variants = [
        {},
        {"num_results": 5},
        {"num_results": 40, "filter_arn": f["cat"], "filter_values": {"CAT": '"books","toys"'}},
        {"filter_arn": f["cheap"]},
        {"filter_arn": f["no-books"], "num_results": 12},
        {"filter_arn": f["not-bought"]},
        {"filter_arn": f["not-typed"], "filter_values": {"T": '"view","cart"'}},
        {"filter_arn": f["member"], "filter_values": {"M": '"prime"'}},
        {"filter_arn": f.get("prime-cheap", f["cheap"])},
        {"num_results": 10, "promotions": [{"name": "fresh", "percentPromotedItems": 30, "filterArn": f["new"]}]},
        {"num_results": 8, "filter_arn": f["no-books"], "promotions": [
            {"name": "cat", "percentPromotedItems": 50, "filterArn": f["cat"], "filterValues": {"CAT": '"home"'}}]},
        {"num_results": 6, "context": {"DEVICE": "mobile"}},
        {"num_results": 6, "context": {"DEVICE": "desktop"},
         "metadata_columns": {"ITEMS": ["PRICE", "CATEGORY_L1", "CREATION_TIMESTAMP"]}},
        {"num_results": 0},
    ]
    for campaign in ("up-default", "up-still", "up-explore", "pop", "trending"):
        for user in users:
            for variant in variants:
                out.append((rec, {"campaign_arn": c[campaign], "user_id": user, **variant}))
    related_variants = [
        {}, {"num_results": 7}, {"filter_arn": f["cheap"]}, {"filter_arn": f["no-books"], "num_results": 30},
        {"filter_arn": f["cat"], "filter_values": {"CAT": '"sports"'}},
        {"num_results": 10, "promotions": [{"name": "fresh", "percentPromotedItems": 20, "filterArn": f["new"]}]},
        {"num_results": 5, "metadata_columns": {"ITEMS": ["CATEGORY_L2"]}},
    ]
    if "same-cat" in f:
        related_variants.append({"filter_arn": f["same-cat"]})
    for campaign in ("sims", "similar", "semantic"):
        for item in catalogue[:8:2] + catalogue[-3:] + ["no-such-item"]:
            for variant in related_variants:
                out.append((rec, {"campaign_arn": c[campaign], "item_id": item, **variant}))
    lists = [catalogue[:10], catalogue[20:70], catalogue[5:9] + ["ghost-1", catalogue[5], "ghost-2"],
             world["late"][:3] + catalogue[100:104], ["ghost-only"]]
    rank_variants = [{}, {"filter_arn": f["no-books"]}, {"filter_arn": f["not-bought"]},
                     {"filter_arn": f["cat"], "filter_values": {"CAT": '"home","beauty"'}},
                     {"context": {"DEVICE": "mobile"}, "metadata_columns": {"ITEMS": ["PRICE"]}}]
    for campaign in ("ranking", "up-default"):
        for user in users[::2] + ["anon-1"]:
            for input_list in lists:
                for variant in rank_variants:
                    out.append((rank, {"campaign_arn": c[campaign], "user_id": user, "input_list": input_list,
                                       **variant}))
    # versions served directly and invalid requests
    out += [(rec, {"campaign_arn": world["versions"]["up"], "user_id": u}) for u in users[:4]]
    out += [
        (rec, {"campaign_arn": c["up-default"], "user_id": "u0001", "num_results": 501}),
        (rec, {"campaign_arn": c["up-default"], "user_id": "u0001", "num_results": 51,
               "metadata_columns": {"ITEMS": ["PRICE"]}}),
        (rec, {"campaign_arn": c["up-default"], "user_id": "u0001", "metadata_columns": {"ITEMS": ["NOPE"]}}),
        (rec, {"campaign_arn": c["up-default"], "user_id": "u0001", "filter_arn": "arn:recsys:filter/answers/nope"}),
        (rec, {"campaign_arn": c["up-default"], "user_id": "u0001", "filter_values": {"CAT": '"x"'}}),
        (rec, {"campaign_arn": c["up-default"]}),
        (rec, {"campaign_arn": c["sims"], "user_id": "u0001"}),
        (rec, {"campaign_arn": c["ranking"], "user_id": "u0001"}),
        (rec, {"campaign_arn": "arn:recsys:campaign/answers/missing", "user_id": "u0001"}),
        (rec, {"campaign_arn": c["up-default"], "user_id": "u0001", "promotions": [
            {"name": "a", "percentPromotedItems": 10, "filterArn": f["new"]},
            {"name": "b", "percentPromotedItems": 10, "filterArn": f["new"]}]}),
        (rec, {"campaign_arn": c["up-default"], "user_id": "u0001", "promotions": [
            {"name": "a", "percentPromotedItems": 0, "filterArn": f["new"]}]}),
        (rank, {"campaign_arn": c["ranking"], "user_id": "u0001", "input_list": []}),
        (rank, {"campaign_arn": c["ranking"], "user_id": None, "input_list": catalogue[:3]}),
        (rank, {"campaign_arn": c["sims"], "user_id": "u0001", "input_list": catalogue[:3]}),
    ]
    return out


def realtime(world: dict) -> list[dict]:
    functions = {"get_recommendations": get_recommendations, "get_personalized_ranking": get_personalized_ranking}
    answers = []
    for k, (name, kwargs) in enumerate(requests(world)):
        seeded_ids(k)
        try:
            answer = {"answer": functions[name](world["store"], **kwargs)}
        except RecsysError as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.append({"function": name, "request": kwargs, **answer})
    return answers


def batch(world: dict, work: Path) -> dict:
    """Every batch job's output lines, by job name."""
    store, versions, f, catalogue = world["store"], world["versions"], world["filters"], world["catalogue"]
    users = [{"userId": u} for u in ("u0001", "u0002", "u0003", "u0010", "u0042", "u0299", "u-new", "never-seen")]
    items = [{"itemId": i} for i in catalogue[:6] + world["late"][:2] + ["no-such-item"]]
    ranked = [{"userId": u["userId"], "itemList": catalogue[k:k + 12] + ["ghost"]} for k, u in enumerate(users)]
    jobs = {
        "up": ("up", users, {}),
        "up-filter": ("up", [{**u, "filterValues": {"CAT": '"books","home"'}} for u in users], {"filter_arn": f["cat"]}),
        "up-seen": ("up", users, {"exclude_seen": True, "num_results": 10}),
        "up-interactions-filter": ("up", users, {"filter_arn": f["not-bought"]}),
        "pop": ("pop", users, {"num_results": 5}),
        "pop-filter": ("pop", users, {"filter_arn": f["cheap"]}),
        "trending": ("trending", users, {"num_results": 5}),
        "ranking": ("ranking", ranked, {}),
        "ranking-filter": ("ranking", ranked, {"filter_arn": f["no-books"]}),
        "sims": ("sims", items, {"num_results": 8}),
        "sims-filter": ("sims", items, {"num_results": 8, "filter_arn": f["no-books"]}),
        "similar": ("similar", items, {"num_results": 8}),
        "semantic": ("semantic", items, {"num_results": 8}),
    }
    out = {}
    for name, (solution, lines, options) in jobs.items():
        source = work / f"{name}.in.jsonl"
        source.write_text("".join(json.dumps(line) + "\n" for line in lines))
        target = work / f"{name}.out.jsonl"
        try:
            batch_jobs.create_batch_inference_job(store, GROUP, name, versions[solution], source, target, **options)
            out[name] = [json.loads(line) for line in target.read_text().splitlines()]
        except RecsysError as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    source = work / "segments.in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in items))
    target = work / "segments.out.jsonl"
    batch_jobs.create_batch_segment_job(store, GROUP, "segments", versions["affinity"], source, target,
                                        num_results=10)
    out["segments"] = [json.loads(line) for line in target.read_text().splitlines()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="where to write the canonical JSON answers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recsys-answers-") as tmp:
        world = build(Path(tmp) / "home")
        answers = {"realtime": realtime(world), "batch": batch(world, Path(tmp))}
    text = json.dumps(answers, sort_keys=True, indent=1, ensure_ascii=False)
    for solution, arn in world["versions"].items():  # version ids contain the training time
        text = text.replace(arn, f"<version of {solution}>")
    Path(args.output).write_text(text + "\n")
    n = len(answers["realtime"])
    errors = sum("error" in a for a in answers["realtime"])
    print(f"{n} real-time requests ({errors} errors), {len(answers['batch'])} batch jobs -> {args.output}")


if __name__ == "__main__":
    main()
