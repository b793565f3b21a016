"""Real-time inference on campaigns: shapes, scores, real-time events, sessions, exploration, filters, context."""

import json

import numpy as np
import pandas as pd
import pytest

from recsys.campaigns import create_campaign
from recsys.columns import INTERACTIONS, ITEMS, USERS
from recsys.demo import demo_schema, generate_demo
from recsys.exceptions import NotFoundError, ValidationError
from recsys.filters import create_filter
from recsys.serving import get_personalized_ranking, get_recommendations
from recsys.serving import selection as S
from recsys.store import Store

GROUP = "shop"


def load_demo_frames(store, group, demo, interactions=None):
    """Write the demo frames straight into the group's datasets (no files, no import job)."""
    from recsys import datasets

    store.create_dataset_group(group)
    frames = {INTERACTIONS: demo.interactions if interactions is None else interactions,
              ITEMS: demo.items, USERS: demo.users}
    for dataset_type, frame in frames.items():
        datasets.get_or_create_dataset(store, group, dataset_type, demo_schema(dataset_type))
        with store.transaction() as db:
            datasets.write_frame(db, group, dataset_type, frame, mode="FULL")


def train(store, group, solution, recipe, **params):
    from recsys.runs import create_solution_version
    from recsys.solutions import create_solution

    create_solution(store, group, solution, recipe, params=params or None)
    version = create_solution_version(store, group, solution, wait=True)
    assert version.status == "ACTIVE", version.failure_reason
    return version


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("inference"))
    demo = generate_demo(seed=21, n_users=300, n_items=240, n_interactions=15_000)
    load_demo_frames(store, GROUP, demo)
    # The latest events weigh strongly here (half-life 5 events), as the real-time tests below expect; left to
    # auto-tuning, the demo's stable tastes favour a long memory.
    version = train(store, GROUP, "up", "aws-user-personalization", recency_half_life=5.0)
    no_explore = {"itemExplorationConfig": {"explorationWeight": "0"}}
    campaign = create_campaign(store, GROUP, "main", version.arn, campaign_config=no_explore)
    explore = create_campaign(store, GROUP, "explore", version.arn)
    pop = create_campaign(store, GROUP, "pop", train(store, GROUP, "pop", "aws-popularity-count").arn)
    items = demo.items.set_index("ITEM_ID")
    return {"store": store, "demo": demo, "version": version, "campaign": campaign.arn,
            "explore": explore.arn, "pop": pop.arn, "items": items,
            "user": demo.interactions["USER_ID"].value_counts().index[0]}


def ids(response, key="itemList"):
    return [i["itemId"] for i in response[key]]


def category(world, item_id):
    return world["items"].loc[item_id, "CATEGORY_L1"]


# -- shapes and scores -----------------------------------------------------------------------------------


def test_response_shape_scores_and_reasons(world):
    response = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=10)
    assert set(response) == {"itemList", "recommendationId"}
    assert response["recommendationId"].startswith("RID-")
    items = response["itemList"]
    assert len(items) == 10 and len(set(ids(response))) == 10
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    assert all(isinstance(i["reason"], list) and i["reason"] and all(isinstance(r, str) for r in i["reason"])
               for i in items)
    assert any("Because you interacted with" in r for i in items for r in i["reason"])


def test_scores_are_a_softmax_over_the_catalogue(world):
    response = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=500)
    scores = np.array([i["score"] for i in response["itemList"]])
    assert len(scores) == 240
    assert scores.sum() == pytest.approx(1.0, abs=1e-4)


def test_default_num_results_and_bounds(world):
    store, campaign, user = world["store"], world["campaign"], world["user"]
    assert len(get_recommendations(store, campaign, user_id=user)["itemList"]) == 25
    assert get_recommendations(store, campaign, user_id=user, num_results=0)["itemList"] == []
    for bad in (501, -1, "many"):
        with pytest.raises(ValidationError, match="numResults|integer"):
            get_recommendations(store, campaign, user_id=user, num_results=bad)
    with pytest.raises(ValidationError, match="0 to 50 when metadataColumns"):
        get_recommendations(store, campaign, user_id=user, num_results=51, metadata_columns={"ITEMS": ["PRICE"]})


def test_metadata_columns_are_returned_as_strings(world):
    response = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=5,
                                   metadata_columns={"ITEMS": ["PRICE", "CATEGORY_L1"]})
    for item in response["itemList"]:
        meta = item["metadata"]
        assert set(meta) == {"PRICE", "CATEGORY_L1"}
        assert all(isinstance(v, str) for v in meta.values())
        assert meta["CATEGORY_L1"] == category(world, item["itemId"])
        assert float(meta["PRICE"]) == pytest.approx(world["items"].loc[item["itemId"], "PRICE"])
    with pytest.raises(ValidationError, match="not fields of the Items dataset"):
        get_recommendations(world["store"], world["campaign"], user_id=world["user"],
                            metadata_columns={"ITEMS": ["NO_SUCH"]})


def test_required_ids_and_unknown_resources(world):
    store = world["store"]
    with pytest.raises(ValidationError, match="userId is required"):
        get_recommendations(store, world["campaign"])
    with pytest.raises(NotFoundError, match="Campaign"):
        get_recommendations(store, "arn:recsys:campaign/shop/nope", user_id="u1")
    with pytest.raises(NotFoundError, match="Filter"):
        get_recommendations(store, world["campaign"], user_id="u1", filter_arn="arn:recsys:filter/shop/nope")
    with pytest.raises(ValidationError, match="context"):
        get_recommendations(store, world["campaign"], user_id="u1", context=["DEVICE"])


def test_popularity_campaign_has_no_scores(world):
    response = get_recommendations(world["store"], world["pop"], user_id=world["user"], num_results=5)
    assert all("score" not in i for i in response["itemList"])
    assert all(i["reason"] for i in response["itemList"])


def test_cold_user_gets_popular_items(world):
    cold = get_recommendations(world["store"], world["campaign"], user_id="never-seen", num_results=10)
    popular = get_recommendations(world["store"], world["pop"], user_id="never-seen", num_results=10)
    assert len(set(ids(cold)) & set(ids(popular))) >= 5


# -- personalized ranking --------------------------------------------------------------------------------


def test_personalized_ranking_scores_over_the_list_and_unknown_items_last(world):
    top = ids(get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=40))
    input_list = [top[30], "not-an-item", top[0], top[10]]
    response = get_personalized_ranking(world["store"], world["campaign"], user_id=world["user"],
                                        input_list=input_list)
    ranking = response["personalizedRanking"]
    assert [i["itemId"] for i in ranking] == [top[0], top[10], top[30], "not-an-item"]
    assert sum(i["score"] for i in ranking[:3]) == pytest.approx(1.0, abs=1e-5)
    assert ranking[-1]["score"] == 0.0
    assert response["recommendationId"].startswith("RID-")
    with pytest.raises(ValidationError, match="inputList"):
        get_personalized_ranking(world["store"], world["campaign"], user_id=world["user"], input_list=[])
    with pytest.raises(ValidationError, match="maximum is 500"):
        get_personalized_ranking(world["store"], world["campaign"], user_id=world["user"],
                                 input_list=[f"x{k}" for k in range(501)])


def test_personalized_ranking_applies_the_filter(world):
    flt = create_filter(world["store"], GROUP, "rank-books", 'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books")')
    books = [i for i in world["items"].index if category(world, i) == "books"][:3]
    others = [i for i in world["items"].index if "books" not in category(world, i)][:3]
    response = get_personalized_ranking(world["store"], world["campaign"], user_id=world["user"],
                                        input_list=books + others, filter_arn=flt.arn)
    assert sorted(i["itemId"] for i in response["personalizedRanking"]) == sorted(others)


# -- filters and back-fill -------------------------------------------------------------------------------


def test_filter_restricts_items(world):
    flt = create_filter(world["store"], GROUP, "by-cat", "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)")
    response = get_recommendations(world["store"], world["campaign"], user_id=world["user"], num_results=10,
                                   filter_arn=flt.arn, filter_values={"CAT": '"toys","home"'})
    assert len(response["itemList"]) == 10
    assert all(set(category(world, i).split("|")) & {"toys", "home"} for i in ids(response))
    with pytest.raises(ValidationError, match="CAT"):
        get_recommendations(world["store"], world["campaign"], user_id=world["user"], filter_arn=flt.arn)


def test_interactions_filter_sees_the_users_full_history(world):
    store, user = world["store"], world["user"]
    flt = create_filter(store, GROUP, "not-viewed", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("view")')
    viewed = set(world["demo"].interactions.query("USER_ID == @user and EVENT_TYPE == 'view'")["ITEM_ID"])
    plain = ids(get_recommendations(store, world["campaign"], user_id=user, num_results=50))
    assert set(plain) & viewed, "the user's own items are recommended without a filter (as Personalize)"
    filtered = ids(get_recommendations(store, world["campaign"], user_id=user, num_results=50, filter_arn=flt.arn))
    assert not set(filtered) & viewed


def test_backfill_with_popular_items_when_a_filter_leaves_too_few(world):
    """Related items: only co-occurring items are relevant; a filter leaves fewer, popular ones fill the rest."""
    from recsys.recipes import REGISTRY

    if "aws-sims" not in REGISTRY:
        pytest.skip("aws-sims recipe not available")
    store = world["store"]
    version = train(store, GROUP, "sims", "aws-sims")
    sims = create_campaign(store, GROUP, "sims", version.arn)
    flt = create_filter(store, GROUP, "fashion", 'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("fashion")')
    seed = next(i for i in world["items"].index if category(world, i) == "electronics")
    response = get_recommendations(store, sims.arn, item_id=seed, num_results=100, filter_arn=flt.arn)
    items = response["itemList"]
    fashion = [i for i in world["items"].index if "fashion" in category(world, i)]
    assert len(items) == min(100, len(fashion))
    assert all("fashion" in category(world, i["itemId"]) for i in items)
    popular = [i for i in items if i["reason"] == ["Popular item"]]
    assert popular and all("score" not in i for i in popular)
    # Back-filled items come after the related ones.
    first_popular = next(k for k, i in enumerate(items) if i["reason"] == ["Popular item"])
    assert all(i["reason"] == ["Popular item"] for i in items[first_popular:])
    with pytest.raises(ValidationError, match="itemId is required"):
        get_recommendations(store, sims.arn, user_id="u1")


# -- real time -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tracker(world):
    from recsys.events import create_event_tracker

    return create_event_tracker(world["store"], GROUP, "web")["trackingId"]


def send(world, tracker, session, user, item_ids, event_type="view", t0=None, device="mobile"):
    from recsys.events import put_events

    t0 = t0 or int(world["demo"].interactions["TIMESTAMP"].max()) + 60
    events = [{"eventType": event_type, "sentAt": t0 + k, "itemId": item, "eventId": f"{session}-{item}-{t0 + k}",
               "properties": json.dumps({"device": device})}
              for k, item in enumerate(item_ids)]
    for start in range(0, len(events), 10):
        put_events(world["store"], tracker, session, user, events[start:start + 10])


def taste_shift_items(world, user, n=6):
    """Items of the category the user has interacted with least (a strong, visible change of taste)."""
    history = world["demo"].interactions.query("USER_ID == @user")
    cats = history["ITEM_ID"].map(lambda i: category(world, i).split("|")[0]).value_counts()
    all_cats = sorted({c.split("|")[0] for c in world["items"]["CATEGORY_L1"]})
    rare = min(all_cats, key=lambda c: cats.get(c, 0))
    items = [i for i in world["items"].index if category(world, i).split("|")[0] == rare]
    return rare, items[:n]


def share(world, response, cat):
    return sum(category(world, i).split("|")[0] == cat for i in ids(response)) / max(len(response["itemList"]), 1)


def test_put_events_changes_the_very_next_answer_without_retraining(world, tracker):
    store, user = world["store"], world["demo"].interactions["USER_ID"].unique()[5]
    rare, items = taste_shift_items(world, user, n=9)
    viewed, others = items[:6], items[6:]
    before = get_recommendations(store, world["campaign"], user_id=user, num_results=20)
    to_rank = ids(before)[:10] + others

    def ranks_of_others():
        ranking = [i["itemId"] for i in get_personalized_ranking(
            store, world["campaign"], user_id=user, input_list=to_rank)["personalizedRanking"]]
        return np.mean([ranking.index(i) for i in others])

    rank_before = ranks_of_others()
    send(world, tracker, f"s-{user}", user, viewed)
    after = get_recommendations(store, world["campaign"], user_id=user, num_results=20)
    assert ids(after) != ids(before)
    assert share(world, after, rare) > share(world, before, rare)
    assert ranks_of_others() < rank_before, "personalized ranking also uses the new events"
    from recsys.solutions import list_solution_versions

    assert len(list_solution_versions(store, GROUP, "up")) == 1, "no retraining happened"


def test_anonymous_session_is_personalised_and_stitched_to_the_user(world, tracker):
    store = world["store"]
    rare, items = taste_shift_items(world, world["user"])
    cold = get_recommendations(store, world["campaign"], user_id="session-42", num_results=20)
    send(world, tracker, "session-42", None, items[:4])
    warm = get_recommendations(store, world["campaign"], user_id="session-42", num_results=20)
    assert share(world, warm, rare) > share(world, cold, rare)
    # The visitor signs in: an event with both the sessionId and the new userId stitches the session.
    send(world, tracker, "session-42", "new-customer-42", items[4:5])
    signed_in = get_recommendations(store, world["campaign"], user_id="new-customer-42", num_results=20)
    assert share(world, signed_in, rare) >= share(world, warm, rare) * 0.8
    assert share(world, signed_in, rare) > share(world, cold, rare)


def test_new_item_becomes_recommendable_through_exploration(world):
    from recsys.events import put_items

    store = world["store"]
    newest = int(world["demo"].interactions["TIMESTAMP"].max())
    put_items(store, GROUP, [{"itemId": "brand-new-1", "properties": json.dumps(
        {"categoryL1": "books", "categoryL2": "novels", "price": 12.5, "creationTimestamp": newest,
         "productDescription": "a new novel"})}])
    seen, reasons = 0, set()
    for _ in range(8):
        response = get_recommendations(store, world["explore"], user_id=world["user"], num_results=25)
        for item in response["itemList"]:
            if item["itemId"] == "brand-new-1":
                seen += 1
                reasons.update(item["reason"])
    assert seen >= 1 and "Exploration" in reasons
    # Without exploration the model cannot know the item: it never shows up.
    plain = get_recommendations(store, world["campaign"], user_id=world["user"], num_results=100)
    assert "brand-new-1" not in ids(plain)


def test_exploration_takes_a_bounded_share_and_decays_with_impressions():
    relevance = np.array([0.5, 0.3, 0.1, 0.05, 0.03, 0.02, -np.inf, -np.inf])
    interactions = np.zeros(8)
    bonus = S.exploration_bonus(np.array([False] * 6 + [True, True]), interactions, np.array([0] * 6 + [0, 50]))
    assert bonus[6] == 1.0 and bonus[7] == pytest.approx(1 / 51)
    picks, explored = S.select_with_exploration(relevance, 4, None, bonus, 0.3, seed=1)
    assert 6 in picks and 7 not in picks            # fresh item explored, over-shown one not
    assert explored.sum() <= np.ceil(0.3 * 4)
    picks, explored = S.select_with_exploration(relevance, 4, None, bonus, 0.0, seed=1)
    assert picks.tolist() == [0, 1, 2, 3] and not explored.any()


# -- context ---------------------------------------------------------------------------------------------


def ndcg_at_10(ranked: list[str], truth: str) -> float:
    return 1.0 / np.log2(ranked.index(truth) + 2) if truth in ranked[:10] else 0.0


def test_device_context_improves_ndcg_of_held_out_events(tmp_path):
    """Train without each user's last events; asking with their DEVICE ranks them higher (demo structure)."""
    demo = generate_demo(seed=4, n_users=400, n_items=240, n_interactions=24_000)
    inter = demo.interactions
    last = inter.groupby("USER_ID").tail(1)
    held = last.sample(n=250, random_state=0)
    store = Store(tmp_path / "ctx")
    load_demo_frames(store, GROUP, demo, interactions=inter.drop(index=held.index))
    version = train(store, GROUP, "up", "aws-user-personalization")
    campaign = create_campaign(store, GROUP, "ctx", version.arn,
                               campaign_config={"itemExplorationConfig": {"explorationWeight": "0"}}).arn
    with_ctx, without = [], []
    for row in held.itertuples():
        r1 = ids(get_recommendations(store, campaign, user_id=row.USER_ID, num_results=10,
                                     context={"DEVICE": row.DEVICE}))
        r0 = ids(get_recommendations(store, campaign, user_id=row.USER_ID, num_results=10))
        with_ctx.append(ndcg_at_10(r1, row.ITEM_ID))
        without.append(ndcg_at_10(r0, row.ITEM_ID))
    print(f"NDCG@10 with context {np.mean(with_ctx):.4f}, without {np.mean(without):.4f}")
    assert np.mean(with_ctx) > np.mean(without), (np.mean(with_ctx), np.mean(without))


def test_activity_counts_interactions_and_impressions_incrementally(tmp_path, monkeypatch):
    from recsys import datasets
    from recsys.serving import runtime as runtime_module

    store = Store(tmp_path / "activity")
    store.create_dataset_group("g")
    schema = {"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
              "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                         {"name": "TIMESTAMP", "type": "long"}, {"name": "IMPRESSION", "type": ["null", "string"]}],
              "version": "1.0"}
    datasets.get_or_create_dataset(store, "g", INTERACTIONS, schema)

    def write(rows):
        frame = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "IMPRESSION"])
        with store.transaction() as db:
            datasets.write_frame(db, "g", INTERACTIONS, frame, mode="INCREMENTAL")

    write([("u1", "i1", 10, "i1|i2|i3"), ("u2", "i2", 20, None)])
    runtime = runtime_module.CampaignRuntime()
    act = runtime.activity(store, "g")
    assert act.interactions == {"i1": 1, "i2": 1}
    assert act.impressions == {"i1": 1, "i2": 1, "i3": 1}
    assert act.max_timestamp == 20
    write([("u3", "i3", 30, "i3|i4")])
    monkeypatch.setattr(runtime_module, "ACTIVITY_REFRESH_SECONDS", 0.0)
    act = runtime.activity(store, "g")
    assert act.impressions == {"i1": 1, "i2": 1, "i3": 2, "i4": 1}
    assert act.interactions == {"i1": 1, "i2": 1, "i3": 1} and act.max_timestamp == 30


def test_personalized_ranking_campaign_rejects_get_recommendations_and_promotions(world):
    store = world["store"]
    version = train(store, GROUP, "rank", "aws-personalized-ranking")
    campaign = create_campaign(store, GROUP, "rank", version.arn).arn
    items = list(world["items"].index[:20])
    ranking = get_personalized_ranking(store, campaign, user_id=world["user"], input_list=items)["personalizedRanking"]
    assert sorted(i["itemId"] for i in ranking) == sorted(items)
    assert sum(i["score"] for i in ranking) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValidationError, match="get_personalized_ranking"):
        get_recommendations(store, campaign, user_id=world["user"],
                            promotions=[{"name": "p", "percentPromotedItems": 10, "filterArn": "x"}])


def test_trending_campaign_needs_no_user_and_has_no_scores(world):
    store = world["store"]
    version = train(store, GROUP, "trend", "aws-trending-now")
    campaign = create_campaign(store, GROUP, "trend", version.arn).arn
    items = get_recommendations(store, campaign, num_results=10)["itemList"]
    assert len(items) == 10 and all("score" not in i and i["reason"] for i in items)


def test_current_user_filter_uses_the_users_dataset(world):
    store, user = world["store"], world["user"]
    membership = world["demo"].users.set_index("USER_ID").loc[user, "MEMBERSHIP"]
    flt = create_filter(store, GROUP, "if-member",
                        'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books") IF CurrentUser.MEMBERSHIP = $M')
    applies = get_recommendations(store, world["campaign"], user_id=user, num_results=100, filter_arn=flt.arn,
                                  filter_values={"M": f'"{membership}"'})
    assert not any("books" in category(world, i) for i in ids(applies))
    other = get_recommendations(store, world["campaign"], user_id=user, num_results=100, filter_arn=flt.arn,
                                filter_values={"M": '"no-such-tier"'})
    assert any("books" in category(world, i) for i in ids(other))


# -- the one-user serving path -----------------------------------------------------------------------------


def test_one_user_serving_path_matches_the_batch_path(world):
    """The real-time shortcuts (one-user history without pandas, gathered EASE rows, cached bonus, vectorised
    reasons) give the answers of the general batch code, with real-time events of several users, unknown items
    and context."""
    from recsys.recipes.base import Recipe
    from recsys.serving import load_model

    recipe = load_model(world["store"], world["version"].arn)
    demo = world["demo"]
    users = list(demo.interactions["USER_ID"].unique()[:6]) + ["never-seen"]
    items = list(demo.items["ITEM_ID"][:5])
    t0 = int(demo.interactions["TIMESTAMP"].max())
    new_events = pd.DataFrame({
        "USER_ID": [users[0], users[1], users[0], "never-seen", users[0], "never-seen"],
        "ITEM_ID": [items[0], items[1], "not-in-model", items[2], items[3], items[4]],
        "TIMESTAMP": [t0 + 5, t0 + 1, t0 + 2, t0 + 3, t0 - 10**6, t0 + 4],
        "EVENT_TYPE": ["view", "purchase", "view", "view", "view", "view"],
        "DEVICE": ["mobile", None, "desktop", "mobile", "mobile", "tablet"],
    })
    for user in users:
        fast = recipe._history([user], new_events)
        slow = Recipe._history(recipe, [user], new_events)
        for name in ("rows", "items", "times", "weights", "ctx"):
            a, b = getattr(fast, name), getattr(slow, name)
            assert (a is None) == (b is None) and (a is None or (a.dtype == b.dtype and np.array_equal(a, b))), name
        context = {"DEVICE": "mobile"}
        one = recipe.logits([user], new_events=new_events, context=context)[0]
        batch = recipe.logits([user, users[-1]], new_events=new_events, context=context)[0]
        np.testing.assert_allclose(one, batch, rtol=1e-9, atol=1e-12)
        top = list(recipe.item_ids_[np.argsort(-one)[:8]])
        X = recipe._profile(slow)
        assert X.shape[0] == 1
        fast_reasons = recipe.explain(user, top, new_events=new_events, context=context)
        assert len(fast_reasons) == 8 and all(r and all(isinstance(x, str) for x in r) for r in fast_reasons)
    assert recipe.item_positions(items + ["nope"], strict=False).tolist() == [
        int(np.flatnonzero(recipe.item_ids_ == i)[0]) for i in items] + [-1]
    with pytest.raises(Exception, match="unknown item"):
        recipe.item_positions(["nope"])
    bonus = recipe.exploration_bonus()
    assert bonus is recipe.exploration_bonus() and not bonus.flags.writeable
    recipe.record_impressions({items[0]: 3})
    assert recipe.exploration_bonus() is not bonus


def test_cached_reads_see_every_write_at_once(world, tracker):
    """Campaign records, filters and user events are reused between requests only until the next write."""
    from recsys.campaigns import update_campaign
    from recsys.filters import create_filter
    from recsys.serving.reader import READER

    store = world["store"]
    user = world["demo"].interactions["USER_ID"].unique()[7]
    get_recommendations(store, world["explore"], user_id=user, num_results=10)
    assert READER.resource(store, world["explore"]) is READER.resource(store, world["explore"])  # reused
    update_campaign(store, GROUP, "explore", campaign_config={"itemExplorationConfig": {"explorationWeight": "0"}})
    assert READER.resource(store, world["explore"])["campaignConfig"]["itemExplorationConfig"][
        "explorationWeight"] == "0"
    plain = get_recommendations(store, world["explore"], user_id=user, num_results=10)
    assert not any("Exploration" in i["reason"] for i in plain["itemList"])
    update_campaign(store, GROUP, "explore", campaign_config={})
    with pytest.raises(NotFoundError):
        get_recommendations(store, world["campaign"], user_id=user, filter_arn=f"arn:recsys:filter/{GROUP}/later")
    later = create_filter(store, GROUP, "later", "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($C)")
    only = get_recommendations(store, world["campaign"], user_id=user, filter_arn=later.arn,
                               filter_values={"C": '"toys"'})
    assert only["itemList"] and all("toys" in category(world, i).split("|") for i in ids(only))
    rare, items = taste_shift_items(world, user, n=6)
    before = get_recommendations(store, world["campaign"], user_id=user, num_results=20)
    send(world, tracker, f"s-{user}", user, items)
    after = get_recommendations(store, world["campaign"], user_id=user, num_results=20)
    assert ids(after) != ids(before)


def test_put_items_update_of_an_existing_item_shows_in_the_next_response(world):
    from recsys.events import field_to_camel, put_items

    store = world["store"]
    first = get_recommendations(store, world["campaign"], user_id=world["user"], num_results=1,
                                metadata_columns={"ITEMS": ["PRICE"]})["itemList"][0]
    record = world["items"].loc[first["itemId"]].dropna().to_dict()
    try:
        put_items(store, GROUP, [{"itemId": first["itemId"], "properties": json.dumps(
            {field_to_camel(k): v for k, v in {**record, "PRICE": 999.5}.items()}, default=str)}])
        again = get_recommendations(store, world["campaign"], user_id=world["user"], num_results=1,
                                    metadata_columns={"ITEMS": ["PRICE"]})["itemList"][0]
        assert again["itemId"] == first["itemId"]
        assert float(again["metadata"]["PRICE"]) == 999.5 != float(first["metadata"]["PRICE"])
    finally:
        put_items(store, GROUP, [{"itemId": first["itemId"], "properties": json.dumps(
            {field_to_camel(k): v for k, v in record.items()}, default=str)}])
