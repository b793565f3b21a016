"""Promotions in GetRecommendations [AP §8]: slot count, placement, sorting, promotion vs request filter."""

import numpy as np
import pytest

from recsys.campaigns import create_campaign
from recsys.columns import INTERACTIONS, ITEMS, USERS
from recsys.demo import demo_schema, generate_demo
from recsys.exceptions import NotFoundError, ValidationError
from recsys.filters import create_filter
from recsys.serving import get_recommendations
from recsys.serving import selection as S
from recsys.store import Store

GROUP = "shop"


def load_demo_frames(store, group, demo):
    """Write the demo frames straight into the group's datasets (no files, no import job)."""
    from recsys import datasets

    store.create_dataset_group(group)
    for dataset_type in (INTERACTIONS, ITEMS, USERS):
        datasets.get_or_create_dataset(store, group, dataset_type, demo_schema(dataset_type))
        with store.transaction() as db:
            datasets.write_frame(db, group, dataset_type, demo.frame(dataset_type), mode="FULL")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from recsys.runs import create_solution_version
    from recsys.solutions import create_solution

    store = Store(tmp_path_factory.mktemp("promotions"))
    demo = generate_demo(seed=11, n_users=300, n_items=240, n_interactions=15_000)
    load_demo_frames(store, GROUP, demo)
    create_solution(store, GROUP, "up", "aws-user-personalization")
    version = create_solution_version(store, GROUP, "up", wait=True)
    assert version.status == "ACTIVE", version.failure_reason
    campaign = create_campaign(store, GROUP, "main", version.arn,
                               campaign_config={"itemExplorationConfig": {"explorationWeight": "0"}})
    filters = {
        "books": create_filter(store, GROUP, "books", 'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books")').arn,
        "electronics": create_filter(store, GROUP, "electronics",
                                     'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("electronics")').arn,
        "category": create_filter(store, GROUP, "category", "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)").arn,
    }
    prices = demo.items.sort_values("PRICE", ascending=False)
    threshold = float(prices["PRICE"].iloc[1])
    filters["priciest"] = create_filter(store, GROUP, "priciest",
                                       f"INCLUDE ItemID WHERE Items.PRICE >= {threshold}").arn
    priciest = sorted(demo.items.loc[demo.items["PRICE"] >= threshold, "ITEM_ID"])
    categories = dict(zip(demo.items["ITEM_ID"], demo.items["CATEGORY_L1"]))
    return {"store": store, "campaign": campaign.arn, "filters": filters, "categories": categories,
            "user": demo.interactions["USER_ID"].iloc[0], "priciest": priciest}


def promo(world, name="books", percent=20, filter_values=None):
    p = {"name": "spotlight", "percentPromotedItems": percent, "filterArn": world["filters"][name]}
    if filter_values:
        p["filterValues"] = filter_values
    return [p]


def test_promoted_slot_count_rounds_down_with_at_least_one():
    assert S.promoted_count(25, 20) == 5
    assert S.promoted_count(25, 10) == 2   # 2.5 -> 2
    assert S.promoted_count(10, 1) == 1    # never zero slots for a non-zero share
    assert S.promoted_count(10, 100) == 10
    assert S.promoted_count(0, 50) == 0


def test_promoted_items_are_marked_counted_and_match_only_the_promotion_filter(world):
    response = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=20,
                                   filter_arn=world["filters"]["electronics"], promotions=promo(world, "books", 25))
    items = response["itemList"]
    assert len(items) == 20
    assert len({i["itemId"] for i in items}) == 20, "no duplicates"
    promoted = [i for i in items if i.get("promotionName")]
    regular = [i for i in items if not i.get("promotionName")]
    assert len(promoted) == 5
    assert all(i["promotionName"] == "spotlight" and i["reason"][0] == "Promoted item" for i in promoted)
    # The promotion filter applies only to promoted slots, the request filter only to the others.
    assert {world["categories"][i["itemId"]].split("|")[0] for i in promoted} == {"books"}
    assert all("electronics" in world["categories"][i["itemId"]] for i in regular)


def test_promoted_items_are_sorted_among_themselves_and_placed_by_the_seed(world):
    response = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=25,
                                   promotions=promo(world, "books", 40))
    items = response["itemList"]
    slots = [k for k, i in enumerate(items) if i.get("promotionName")]
    assert len(slots) == 10
    scores = [items[k]["score"] for k in slots]
    assert scores == sorted(scores, reverse=True)
    regular_scores = [i["score"] for i in items if not i.get("promotionName")]
    assert regular_scores == sorted(regular_scores, reverse=True)
    # Positions are reproducible from the recommendationId alone.
    expected = S.promotion_positions(25, 10, S.seed_from(response["recommendationId"]))
    assert slots == expected.tolist()


def test_placement_is_random_across_requests(world):
    placements = set()
    for _ in range(6):
        items = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=10,
                                    promotions=promo(world, "books", 30))["itemList"]
        placements.add(tuple(k for k, i in enumerate(items) if i.get("promotionName")))
    assert len(placements) > 1


def test_promotion_filter_values_and_too_few_matches(world):
    items = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=10,
                                promotions=promo(world, "category", 30, {"CAT": '"toys"'}))["itemList"]
    promoted = [i for i in items if i.get("promotionName")]
    assert len(promoted) == 3 and all("toys" in world["categories"][i["itemId"]] for i in promoted)
    # Only two items match: they are promoted, the other slots are regular items; the list stays full.
    assert len(world["priciest"]) == 2
    items = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=10,
                                promotions=promo(world, "priciest", 50))["itemList"]
    assert sorted(i["itemId"] for i in items if i.get("promotionName")) == world["priciest"]
    assert len(items) == 10 and len({i["itemId"] for i in items}) == 10


@pytest.mark.parametrize("bad, message", [
    ([{"name": "a", "percentPromotedItems": 10, "filterArn": "x"}] * 2, "at most 1"),
    ([{"name": "a", "percentPromotedItems": 0, "filterArn": "x"}], "1 to 100"),
    ([{"name": "a", "percentPromotedItems": 101, "filterArn": "x"}], "1 to 100"),
    ([{"name": "-bad", "percentPromotedItems": 10, "filterArn": "x"}], "promotion name"),
    ([{"name": "a", "percentPromotedItems": 10}], "filterArn"),
])
def test_invalid_promotions_are_rejected(world, bad, message):
    with pytest.raises(ValidationError, match=message):
        get_recommendations(world["store"], world["campaign"], user_id=world["user"], promotions=bad)


def test_unknown_promotion_filter_is_not_found(world):
    with pytest.raises(NotFoundError, match="Filter"):
        get_recommendations(world["store"], world["campaign"], user_id=world["user"],
                            promotions=[{"name": "a", "percentPromotedItems": 10,
                                         "filterArn": "arn:recsys:filter/shop/nope"}])


def test_interleave_keeps_both_orders():
    merged, slots = S.interleave(["r1", "r2", "r3"], ["p1", "p2"], seed=3)
    assert [m for m in merged if m.startswith("p")] == ["p1", "p2"]
    assert [m for m in merged if m.startswith("r")] == ["r1", "r2", "r3"]
    assert [merged[s] for s in slots] == ["p1", "p2"]
    assert np.array_equal(slots, S.promotion_positions(5, 2, 3))
