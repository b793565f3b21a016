"""Recipes: one contract suite over every entry of REGISTRY, then behaviour on data with a known structure."""

import json

import numpy as np
import pandas as pd
import pytest

from recsys.data import TrainingData
from recsys.exceptions import FilterSyntaxError, NotFittedError, UnknownIdError, ValidationError
from recsys.recipes import REGISTRY, Recipe, get_recipe, load_recipe
from recsys.recipes.base import RELATED_ITEMS, USER_BASED

DAY = 86_400
T0 = 1_700_000_000
N_PER_CLUSTER = 20
CLUSTER_WORDS = {"A": "guitar strings amplifier chord rock", "B": "baking flour oven recipe cake"}


def _two_clusters(seed=0):
    """60 users in two taste clusters (A, B) over 40 items; DEVICE shifts taste inside a cluster.

    Items a00..a19 belong to A, b00..b19 to B. On mobile, users pick the first half of their cluster's items
    (a00..a09), on desktop the second half. Items a18, a19 trend in the last day; item a17 is new (created 2
    days before the end) with one interaction. Ratings (EVENT_VALUE) are 4-5 inside a user's cluster, 1-2 outside.
    """
    rng = np.random.default_rng(seed)
    items = [f"a{k:02d}" for k in range(N_PER_CLUSTER)] + [f"b{k:02d}" for k in range(N_PER_CLUSTER)]
    rows = []
    end = T0 + 60 * DAY
    for u in range(60):
        cluster = "A" if u < 30 else "B"
        own = items[:N_PER_CLUSTER] if cluster == "A" else items[N_PER_CLUSTER:]
        other = items[N_PER_CLUSTER:] if cluster == "A" else items[:N_PER_CLUSTER]
        device = "mobile" if u % 2 == 0 else "desktop"
        half = own[:8] if device == "mobile" else own[8:16]
        picks = rng.choice(half, size=6, replace=False).tolist() + rng.choice(own[:16], size=3, replace=False).tolist()
        picks += [rng.choice(other[:16])]
        for k, it in enumerate(picks):
            t = T0 + int(rng.integers(0, 50 * DAY))
            in_cluster = it in own
            rows.append((f"u{u:02d}", it, t, "purchase" if k % 4 == 0 else "view",
                         float(rng.integers(4, 6) if in_cluster else rng.integers(1, 3)), device))
    # trending: a18, a19 get a burst in the last day from cluster-A users (a few events the day before)
    for k in range(12):
        rows.append((f"u{k:02d}", "a18" if k % 2 else "a19", end - int(rng.integers(0, DAY)), "view", 5.0, "mobile"))
    rows.append(("u01", "a18", end - DAY - 3600, "view", 5.0, "mobile"))
    rows.append(("u05", "a19", end, "view", 5.0, "mobile"))
    rows.append(("u03", "a17", end - 2 * DAY, "view", 5.0, "desktop"))
    inter = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "DEVICE"])
    item_frame = pd.DataFrame({
        "ITEM_ID": items + ["a20"],
        "GENRES": ["Rock|Sale" if i.startswith("a") and int(i[1:]) % 5 == 0 else ("Rock" if i.startswith("a") else "Baking")
                   for i in items] + ["Rock"],
        "DESCRIPTION": [f"{CLUSTER_WORDS['A' if i.startswith('a') else 'B']} item {i}" for i in items]
        + [CLUSTER_WORDS["A"] + " brand new"],
        "CREATION_TIMESTAMP": [end - 2 * DAY if i in ("a17",) else T0 - 100 * DAY for i in items] + [end - DAY],
    })
    users = pd.DataFrame({"USER_ID": [f"u{u:02d}" for u in range(60)],
                          "AGE": ["young" if u % 3 else "old" for u in range(60)]})
    return TrainingData.from_frames(inter, item_frame, users)


@pytest.fixture(scope="module")
def data():
    return _two_clusters()


_FITTED = {}


def _params(cls):
    return {"random_state": 0} if "random_state" in cls.param_info else {}


def fitted(name, data):
    """Fit each recipe once per module (the contract tests share the fit)."""
    if name not in _FITTED:
        cls = get_recipe(name)
        _FITTED[name] = cls(**_params(cls)).fit(data)
    return _FITTED[name]


def _query(recipe, data, ids=("u00", "u31", "u05")):
    if recipe.recipe_type == RELATED_ITEMS:
        return [(r.item_id, r.item_ids.tolist(), np.round(r.scores, 10).tolist())
                for r in recipe.similar_items(["a00", "b03", "a11"], n=5)]
    return [(r.user_id, r.item_ids.tolist(), np.round(r.scores, 10).tolist()) for r in recipe.recommend(list(ids), n=5)]


NAMES = sorted(REGISTRY)


def test_registry_has_every_recipe():
    assert set(NAMES) >= {
        "aws-popularity-count", "aws-trending-now", "aws-user-personalization", "aws-personalized-ranking",
        "aws-sims", "aws-similar-items", "aws-semantic-similarity", "aws-item-affinity",
        "aws-item-attribute-affinity", "rating-svd", "rating-svdpp", "rating-knn-baseline"}
    with pytest.raises(ValidationError, match="unknown recipe 'nope'"):
        get_recipe("nope")


@pytest.mark.parametrize("name", NAMES)
class TestContract:
    def test_params_declared_and_round_trip(self, name):
        cls = get_recipe(name)
        r = cls()
        params = r.get_params()
        assert set(params) == set(cls.param_info)
        assert all(params[k] == cls.param_info[k].default for k in params)
        assert all(info.help for info in cls.param_info.values())
        c = r.clone()
        assert c is not r and c.get_params() == params
        assert repr(r) == f"{cls.__name__}()"
        if params:
            k = next(iter(params))
            with pytest.raises(ValidationError, match=r"check get_params\(\)\.keys\(\)"):
                r.set_params(not_a_param=1)
            assert r.set_params(**{k: params[k]}) is r

    def test_not_fitted(self, name, data):
        r = get_recipe(name)()
        with pytest.raises(NotFittedError, match=f"{type(r).__name__} is not fitted yet; call fit\\(data\\) first"):
            if r.recipe_type == RELATED_ITEMS:
                r.similar_items(["a00"])
            else:
                r.recommend(["u00"])

    def test_fit_returns_self_reports_progress_and_refit_replaces(self, name, data):
        cls = get_recipe(name)
        r = cls(**_params(cls))
        calls = []
        assert r.fit(data, progress=lambda stage, f: calls.append((stage, f))) is r
        assert calls[0][1] == 0.0 and calls[-1] == ("done", 1.0)
        first = set(vars(r))
        small = data.filter_events(event_type="view")
        keep = small.interactions["ITEM_ID"] != "b00"
        small = TrainingData.from_frames(small.interactions[keep], data.items[data.items.ITEM_ID != "b00"], data.users)
        r.fit(small)
        assert "b00" not in set(r.item_ids_)
        assert {k for k in vars(r) if k.endswith("_")} <= {k for k in first if k.endswith("_")}

    def test_save_load_identical(self, name, data, tmp_path):
        r = fitted(name, data)
        path = r.save(tmp_path / "model")
        assert sorted(p.name for p in path.iterdir()) == ["arrays.npz", "ids.json", "params.json"]
        assert json.loads((path / "params.json").read_text())["recipe"] == name
        again = load_recipe(path)
        assert type(again) is type(r) and again.get_params() == r.get_params()
        assert _query(again, data) == _query(r, data)
        r.save(tmp_path / "model")  # overwriting an existing save works
        assert _query(load_recipe(tmp_path / "model"), data) == _query(r, data)

    def test_deterministic_with_seed(self, name, data):
        cls = get_recipe(name)
        assert _query(cls(**_params(cls)).fit(data), data) == _query(fitted(name, data), data)

    def test_batch_equals_single(self, name, data):
        r = fitted(name, data)
        if r.recipe_type == RELATED_ITEMS:
            batch = r.similar_items(["a00", "b03"], n=5)
            single = [r.similar_items("a00", n=5)[0], r.similar_items(["b03"], n=5)[0]]
        else:
            batch = r.recommend(["u00", "u31"], n=5)
            single = [r.recommend("u00", n=5)[0], r.recommend_one("u31", n=5)]
        for b, s in zip(batch, single):
            assert b.item_ids.tolist() == s.item_ids.tolist()
            np.testing.assert_allclose(b.scores, s.scores)

    def test_history_excluded_by_default(self, name, data):
        r = fitted(name, data)
        if r.recipe_type == RELATED_ITEMS:
            rec = r.similar_items(["a00"], n=10)[0]
            assert "a00" not in rec.item_ids
            return
        seen = set(data.interactions.loc[data.interactions.USER_ID == "u00", "ITEM_ID"])
        rec = r.recommend(["u00"], n=30)[0]
        assert len(rec) > 0 and not seen & set(rec.item_ids)
        assert len(rec.item_ids) == len(set(rec.item_ids))
        with_seen = r.recommend(["u00"], n=len(r.item_ids_), exclude_seen=False)[0]
        assert seen <= set(with_seen.item_ids)
        allowed = np.isin(r.item_ids_, ["b01", "b02", "a05"])
        assert set(r.recommend(["u00"], n=10, allowed=allowed)[0].item_ids) <= {"b01", "b02", "a05"}

    def test_unknown_ids(self, name, data):
        r = fitted(name, data)
        if r.recipe_type == RELATED_ITEMS:
            if r.unknown_item_policy == "popular":
                rec = r.similar_items(["never-seen"], n=5)[0]
                assert rec.item_ids.tolist() == r.similar_items(["never-seen-2"], n=5)[0].item_ids.tolist()
                assert len(rec) == 5
            else:
                with pytest.raises(UnknownIdError, match="never-seen"):
                    r.similar_items(["never-seen"])
        else:
            rec = r.recommend(["never-seen-user"], n=5)[0]  # cold start, never an error
            assert len(rec) == 5
        with pytest.raises(UnknownIdError, match="no-such-item"):
            r.explain("u00", ["no-such-item"])

    def test_explain_gives_reasons(self, name, data):
        r = fitted(name, data)
        if r.recipe_type == RELATED_ITEMS:
            ids = r.similar_items(["a00"], n=3)[0].item_ids
        else:
            ids = r.recommend(["u00"], n=3)[0].item_ids
        reasons = r.explain("u00", list(ids))
        assert len(reasons) == len(ids) and all(rs and all(isinstance(x, str) and x for x in rs) for rs in reasons)


def test_bad_parameter_is_rejected_at_fit(data):
    r = get_recipe("aws-trending-now")(trend_discovery_frequency="5 minutes")
    with pytest.raises(ValidationError, match="trend_discovery_frequency='5 minutes'.*one of"):
        r.fit(data)
    with pytest.raises(ValidationError, match="exploration_weight=2"):
        get_recipe("aws-user-personalization")(exploration_weight=2).fit(data)


def test_load_rejects_a_non_recipe_directory(tmp_path):
    with pytest.raises(ValidationError, match="not a saved recipe"):
        load_recipe(tmp_path)


# ---------------------------------------------------------------------- behaviour
def _cluster_share(item_ids, prefix):
    return np.mean([i.startswith(prefix) for i in item_ids])


def test_user_personalization_finds_the_taste_clusters(data):
    r = fitted("aws-user-personalization", data)
    assert _cluster_share(r.recommend(["u00"], n=5)[0].item_ids, "a") >= 0.8
    assert _cluster_share(r.recommend(["u45"], n=5)[0].item_ids, "b") >= 0.8
    scores = r.score_users(["u00", "nobody"])
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    assert scores.shape == (2, len(r.item_ids_))
    reasons = r.explain("u00", r.recommend(["u00"], n=1)[0].item_ids.tolist())[0]
    assert reasons[0].startswith("Because you interacted with ")


def test_new_events_change_the_next_recommendation(data):
    # recent events weigh strongly here (half-life 5 events); left to auto-tuning, these stable tastes favour a
    # longer memory, and 6 new events among 10 old ones move the top 5 less
    r = get_recipe("aws-user-personalization")(random_state=0, recency_half_life=5.0).fit(data)
    before = r.recommend(["u00"], n=5)[0]
    events = pd.DataFrame({"USER_ID": "u00", "ITEM_ID": ["b01", "b02", "b03", "b04", "b05", "b06"],
                           "TIMESTAMP": T0 + 61 * DAY + np.arange(6)})
    after = r.recommend(["u00"], n=5, new_events=events)[0]
    assert after.item_ids.tolist() != before.item_ids.tolist()
    assert _cluster_share(after.item_ids, "b") >= 0.6
    assert not set(after.item_ids) & set(events.ITEM_ID)  # the new events count as seen
    anon = r.recommend(["session-1"], n=5, new_events=events.assign(USER_ID="session-1"))[0]
    assert _cluster_share(anon.item_ids, "b") >= 0.8  # an anonymous session personalises at once


def test_context_changes_the_ranking(data):
    r = fitted("aws-user-personalization", data)
    mobile = r.recommend(["nobody"], n=8, context={"DEVICE": "mobile"})[0].item_ids
    desktop = r.recommend(["nobody"], n=8, context={"DEVICE": "desktop"})[0].item_ids
    assert mobile.tolist() != desktop.tolist()
    first_half = {f"{c}{k:02d}" for c in "ab" for k in range(8)}
    assert np.mean([i in first_half for i in mobile]) > np.mean([i in first_half for i in desktop])
    # u02 always shops on mobile: a desktop request shifts its scores towards the desktop half of its cluster
    s_mobile, s_desktop = r.score_users(["u02", "u02"], context=[{"DEVICE": "mobile"}, {"DEVICE": "desktop"}])
    desktop_half = np.isin(r.item_ids_, [f"a{k:02d}" for k in range(8, 16)])
    assert s_desktop[desktop_half].sum() > s_mobile[desktop_half].sum()


def test_context_improves_accuracy_on_the_demo_data():
    """The demo plants device-dependent tastes: scoring each held-out event with its DEVICE must do better."""
    from recsys.demo import generate_demo
    demo = generate_demo(seed=3, n_users=600, n_items=400, n_interactions=30_000)
    td = TrainingData.from_frames(demo.interactions, demo.items, demo.users)
    inter = td.interactions
    last = inter.groupby("USER_ID").tail(1)
    train = TrainingData.from_frames(inter.drop(last.index), demo.items, demo.users)
    r = get_recipe("aws-user-personalization")(random_state=0).fit(train)
    users = last.USER_ID.tolist()
    ctx = [{"DEVICE": d} for d in last.DEVICE]

    def hit_rate(context, cold):
        ids = users if not cold else [f"anon-{u}" for u in users]
        recs = r.recommend(ids, n=20, context=context, exclude_seen=False)
        return np.mean([i in set(x.item_ids) for x, i in zip(recs, last.ITEM_ID)])

    assert hit_rate(ctx, cold=False) > hit_rate(None, cold=False)
    assert hit_rate(ctx, cold=True) > 1.1 * hit_rate(None, cold=True)


def test_exploration_favours_new_items_and_decays_with_impressions(data):
    r = fitted("aws-user-personalization", data)
    bonus = r.exploration_bonus()
    pos = {i: k for k, i in enumerate(r.item_ids_)}
    assert bonus[pos["a20"]] > bonus[pos["a17"]] > 0  # a20: no interactions yet; a17: one
    assert bonus[pos["a00"]] == 0  # old item
    assert r.exploration_bonus({"a20": 50})[pos["a20"]] < bonus[pos["a20"]] / 10
    assert "Exploration: new item" in r.explain("nobody", ["a20"])[0]
    off = get_recipe("aws-user-personalization")(random_state=0, exploration_weight=0.0).fit(data)
    assert not off.exploration_bonus().any()
    up = get_recipe("aws-user-personalization")(random_state=0).fit(data)
    up.update_items(pd.DataFrame({"ITEM_ID": ["z-new"], "CREATION_TIMESTAMP": [T0 + 60 * DAY]}))
    assert up.knows_item("z-new") and up.exploration_bonus()[-1] > 0
    np.testing.assert_allclose(up.score_users(["u00"]).sum(), 1.0)


def test_personalized_ranking_ranks_the_input_list(data):
    r = fitted("aws-personalized-ranking", data)
    out = r.rank("u00", ["b05", "unknown-x", "a03", "b07", "a05"])
    assert out.item_ids.tolist()[-1] == "unknown-x" and out.scores[-1] is None
    assert set(out.item_ids[:2]) == {"a03", "a05"}
    np.testing.assert_allclose(sum(out.scores[:-1]), 1.0)
    assert list(out.scores[:-1]) == sorted(out.scores[:-1], reverse=True)


def test_trending_items_are_detected(data):
    r = get_recipe("aws-trending-now")(trend_discovery_frequency="1 day").fit(data)
    top = r.recommend(["u59"], n=2)[0].item_ids
    assert set(top) == {"a18", "a19"}
    reason = r.explain("u59", ["a18"])[0][0]
    assert reason.startswith("Trending: +") and "in the last 1 day" in reason


@pytest.mark.parametrize("name", ["aws-sims", "aws-similar-items", "aws-semantic-similarity"])
def test_similar_items_share_a_category(name, data):
    r = fitted(name, data)
    for q, prefix in (("a03", "a"), ("b05", "b")):
        assert _cluster_share(r.similar_items([q], n=5)[0].item_ids, prefix) >= 0.8


def test_similar_items_gives_cold_items_neighbours_from_metadata(data):
    r = fitted("aws-similar-items", data)
    assert _cluster_share(r.similar_items(["a20"], n=5)[0].item_ids, "a") == 1.0  # a20 has no interactions


def test_sims_unknown_item_gets_popular_items(data):
    r = fitted("aws-sims", data)
    popular = fitted("aws-popularity-count", data).recommend(["nobody"], n=3)[0].item_ids
    assert r.similar_items(["unknown"], n=3)[0].item_ids.tolist() == popular.tolist()


def test_item_affinity_segments_are_the_items_cluster(data):
    r = fitted("aws-item-affinity", data)
    seg = r.users_for_items(["a03", "b03"], n=10)
    assert np.mean([int(u[1:]) < 30 for u in seg[0].user_ids]) >= 0.9
    assert np.mean([int(u[1:]) >= 30 for u in seg[1].user_ids]) >= 0.9
    assert list(seg[0].scores) == sorted(seg[0].scores, reverse=True)
    with pytest.raises(UnknownIdError):
        r.users_for_items(["nope"])


def test_item_attribute_affinity_expressions(data):
    r = fitted("aws-item-attribute-affinity", data)
    seg = r.users_for_attributes(['ITEMS.GENRES = "Baking"'], n=10)[0]
    assert np.mean([int(u[1:]) >= 30 for u in seg.user_ids]) >= 0.9
    both = r.items_matching('ITEMS.GENRES = "Rock" AND ITEMS.GENRES = "Sale"')
    assert sorted(r.item_ids_[both]) == ["a00", "a05", "a10", "a15"]
    with pytest.raises(FilterSyntaxError, match="expected a \"quoted value\"") as err:
        r.items_matching("ITEMS.GENRES = Rock")
    assert err.value.position == 15
    with pytest.raises(FilterSyntaxError, match="only = and AND"):
        r.items_matching('ITEMS.GENRES = "Rock" OR ITEMS.GENRES = "Sale"')
    with pytest.raises(ValidationError, match="not a categorical item field"):
        r.items_matching('ITEMS.COLOUR = "red"')


@pytest.mark.parametrize("name, params", [("rating-svd", {"n_epochs": 100, "lr_all": 0.02, "random_state": 0}),
                                          ("rating-svdpp", {"n_epochs": 100, "lr_all": 0.02, "random_state": 0}),
                                          ("rating-knn-baseline", {})])
def test_rating_prediction(name, params, data):
    r = get_recipe(name)(**params).fit(data)
    a_items, b_items = [f"a{k:02d}" for k in range(16)], [f"b{k:02d}" for k in range(16)]
    for user, own, other in (("u00", a_items, b_items), ("u40", b_items, a_items)):
        p_own, p_other = r.predict([user] * 16, own), r.predict([user] * 16, other)
        assert 1.0 <= p_other.mean() < p_own.mean() <= 5.0
    unknown = r.predict(["nobody"], ["a01"])[0]
    assert 1.0 <= unknown <= 5.0


def test_every_recipe_is_user_or_item_based():
    for cls in REGISTRY.values():
        assert cls.recipe_type in USER_BASED + (RELATED_ITEMS,)
        assert issubclass(cls, Recipe) and cls.name


def test_large_catalogues_use_implicit_als(data, tmp_path):
    r = get_recipe("aws-user-personalization")(model="als", factors=8, iterations=5, random_state=0).fit(data)
    assert r.model_kind_ == "als"
    assert _cluster_share(r.recommend(["u00"], n=5)[0].item_ids, "a") >= 0.8
    events = pd.DataFrame({"USER_ID": "s1", "ITEM_ID": ["b01", "b02", "b03"], "TIMESTAMP": [1, 2, 3]})
    assert _cluster_share(r.recommend(["s1"], n=5, new_events=events)[0].item_ids, "b") >= 0.8
    again = load_recipe(r.save(tmp_path / "als"))
    assert again.recommend(["u00"], n=5)[0].item_ids.tolist() == r.recommend(["u00"], n=5)[0].item_ids.tolist()


def test_ease_inverse_mirrors_the_triangle_across_blocks():
    from recsys.recipes.user_personalization import _spd_inverse

    rng = np.random.default_rng(0)
    for n in (3, 1024, 1500):  # one block, exactly one block, a block boundary inside
        a = rng.standard_normal((n, n))
        gram = a @ a.T + n * np.eye(n)
        assert np.allclose(_spd_inverse(gram.copy()), np.linalg.inv(gram), atol=1e-12)
