"""aws-user-personalization's auto-tuning contract: deterministic, stored, shown, explicit parameters respected,
untuned behaviour unchanged, never below popularity on its own validation split; on small synthetic data."""

import json

import numpy as np
import pandas as pd
import pytest

from recsys.data import TrainingData
from recsys.recipes import get_recipe, load_recipe
from recsys.recipes.auto_tune import validation_split
from recsys.recipes.user_personalization import UserPersonalization

T0 = 1_700_000_000
UP = "aws-user-personalization"


def _frame(users, items, times) -> TrainingData:
    return TrainingData.from_frames(pd.DataFrame({"USER_ID": [f"u{u:03d}" for u in users],
                                                  "ITEM_ID": [f"i{i:03d}" for i in items],
                                                  "TIMESTAMP": np.asarray(times, dtype=np.int64)}))


def clustered(seed=0, n_users=240, per_user=12, sequential=False, same_time=False) -> TrainingData:
    """4 taste clusters of 30 items; `sequential`: each user walks their cluster's items in order (i -> i+1)."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        c = u % 4
        start = int(rng.integers(0, 30))
        for k in range(per_user):
            if sequential:
                item = c * 30 + (start + k) % 30
            else:
                item = c * 30 + int(rng.integers(0, 30)) if rng.random() < 0.85 else int(rng.integers(0, 120))
            users.append(u)
            items.append(item)
            times.append(T0 if same_time else T0 + 3600 * k + int(rng.integers(0, 60)))
    return _frame(users, items, times)


def popularity_only(seed=0, n_users=300, per_user=6) -> TrainingData:
    """No personal signal at all: every user draws items from one skewed popularity distribution."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, 201) ** 1.1
    items = rng.choice(200, size=n_users * per_user, p=p / p.sum())
    users = np.repeat(np.arange(n_users), per_user)
    return _frame(users, items, T0 + np.tile(np.arange(per_user), n_users) * 60)


@pytest.fixture(scope="module")
def data():
    return clustered()


@pytest.fixture(scope="module")
def tuned(data):
    return get_recipe(UP)(random_state=3).fit(data)


def test_the_choice_is_deterministic_for_a_seed(data, tuned):
    again = get_recipe(UP)(random_state=3).fit(data)
    assert again.tuning_report() == tuned.tuning_report()
    ids = ["u000", "u001", "u102"]
    assert [r.item_ids.tolist() for r in again.recommend(ids, n=5)] == \
           [r.item_ids.tolist() for r in tuned.recommend(ids, n=5)]


def test_the_choice_is_stored_with_the_model_and_survives_save_and_load(tuned, tmp_path):
    path = tuned.save(tmp_path / "up")
    meta = json.loads((path / "params.json").read_text())
    assert meta["state"]["settings_"]["model"] == "ease" and meta["state"]["tuning_"]["trials"]
    loaded = load_recipe(path)
    assert loaded.tuning_report() == tuned.tuning_report()
    ids = ["u000", "u050", "nobody"]
    assert [r.item_ids.tolist() for r in loaded.recommend(ids, n=5)] == \
           [r.item_ids.tolist() for r in tuned.recommend(ids, n=5)]


def test_the_choice_is_shown_as_a_sentence_and_a_table(tuned):
    report = tuned.tuning_report()
    json.dumps(report)  # JSON-safe for `train --json` and the pages
    assert report["auto_tune"] is True and report["validation_users"] >= 20
    assert report["sentence"].startswith("Auto-tuned on ") and "validation NDCG@10" in report["sentence"]
    assert " vs " in report["sentence"]  # each choice against its best alternative
    table = tuned.tuning_table()
    assert {"l2", "recency", "blend"} <= set(table.stage)
    assert table.ndcg_at_10.between(0, 1).all()
    chosen = table[table.chosen]
    assert chosen.stage.value_counts().max() == 1 and {"l2", "recency", "blend"} <= set(chosen.stage)
    # l2: the most regularised value within one standard error of the best, so never below the best one
    rows = table[table.stage == "l2"]
    value = rows.setting.str.extract(r"^l2 ([0-9.e+]+)")[0].astype(float)
    assert value[rows.chosen].iloc[0] >= value[rows.ndcg_at_10.idxmax()]
    # recency: within 1% of the best (the most responsive such setting)
    rows = table[table.stage == "recency"]
    assert rows[rows.chosen].ndcg_at_10.iloc[0] >= 0.99 * rows.ndcg_at_10.max()


def test_explicit_parameters_are_respected(data):
    r = get_recipe(UP)(random_state=3, l2=123.0, recency_mask=False, popularity_weight=0.5,
                       sequence_weight=0.0).fit(data)
    assert r.settings_["l2"] == 123.0 and r.l2_used_ == 123.0
    assert r.settings_["recency"]["unit"] == "off"
    assert r.settings_["popularity_weight"] == 0.5 and r.settings_["sequence_weight"] == 0.0
    stages = set(r.tuning_table().stage)
    assert "l2" not in stages and "recency" not in stages
    half = get_recipe(UP)(random_state=3, recency_half_life=3.0).fit(data)
    assert half.settings_["recency"] == {"unit": "events", "half_life": 3.0}
    days = get_recipe(UP)(random_state=3, recency_half_life_days=2.0).fit(data)
    assert days.settings_["recency"] == {"unit": "days", "half_life": 2.0}
    low = get_recipe(UP)(random_state=3, model="lowrank").fit(data)
    assert low.model_kind_ == "lowrank" and low.tuning_report()["trials"]
    assert low.recommend(["u000"], n=5)[0].item_ids[0][1:].isdigit()


def test_auto_tune_off_keeps_the_behaviour_before_auto_tuning():
    """Pinned from the recipe before auto-tuning existed (same data, random_state=0)."""
    from test_recipes import _two_clusters
    r = get_recipe(UP)(random_state=0, auto_tune=False).fit(_two_clusters())
    assert r.tuning_report()["auto_tune"] is False and not r.tuning_report()["trials"]
    assert r.l2_used_ == pytest.approx(26.571011709024713)
    assert r.temperature_ == pytest.approx(0.07498942093324559)
    expected = {"u00": (["a05", "a08", "a11", "a13", "a10"], [0.109396, 0.021309, 0.012624, 0.012513, 0.011669]),
                "u31": (["b08", "b06", "b00", "a06", "b02"], [0.064055, 0.012872, 0.00935, 0.009109, 0.008929]),
                "u45": (["b14", "b04", "b03", "b06", "b01"], [0.023782, 0.019452, 0.013357, 0.012056, 0.010164]),
                "nobody": (["a07", "a08", "b10", "a02", "a05"], [0.041698, 0.036694, 0.036694, 0.035026, 0.035026])}
    for user, (ids, scores) in expected.items():
        rec = r.recommend([user], n=5)[0]
        assert rec.item_ids.tolist() == ids
        np.testing.assert_allclose(rec.scores, scores, atol=2e-6)


@pytest.mark.parametrize("make", [clustered, popularity_only], ids=["clustered", "popularity-only"])
def test_never_below_popularity_on_its_own_validation_split(make):
    r = get_recipe(UP)(random_state=1).fit(make())
    report = r.tuning_report()
    assert report["chosen_ndcg_at_10"] >= report["popularity_ndcg_at_10"]
    if make is clustered:
        assert report["chosen_ndcg_at_10"] > 2 * report["popularity_ndcg_at_10"]


def test_when_popularity_wins_on_validation_the_recommendations_follow_it():
    data = popularity_only(seed=0)
    r = get_recipe(UP)(random_state=2, exploration_weight=0.0).fit(data)
    assert not r.settings_["relevance"]  # a blend never beat popularity alone here
    assert r.model_kind_ == "popularity" and "recommendations follow popularity" in r.tuning_report()["sentence"]
    pop = get_recipe("aws-popularity-count")().fit(data)
    for user in ("u000", "u007"):
        assert r.recommend([user], n=5)[0].item_ids.tolist() == pop.recommend([user], n=5)[0].item_ids.tolist()


def test_sequences_are_found_when_users_walk_their_items_in_order():
    r = get_recipe(UP)(random_state=0, exploration_weight=0.0).fit(clustered(sequential=True))
    assert r.settings_["sequence_weight"] > 0 or r.settings_["recency"]["unit"] != "off"
    # a user who just saw i010 then i011 should be shown i012 first
    events = pd.DataFrame({"USER_ID": "s1", "ITEM_ID": ["i010", "i011"], "TIMESTAMP": [T0, T0 + 60]})
    assert r.recommend(["s1"], n=3, new_events=events)[0].item_ids[0] == "i012"


def test_timestamps_without_order_tiny_data_and_event_types_all_fit():
    same_time = get_recipe(UP)(random_state=0).fit(clustered(same_time=True))
    assert same_time.settings_["recency"]["unit"] in ("off", "events")  # no time spread: no days, no baskets
    tiny = get_recipe(UP)(random_state=0).fit(clustered(n_users=12, per_user=3))
    assert "too little data" in tiny.tuning_report()["sentence"]
    frame = clustered(n_users=120).interactions
    frame = frame.assign(EVENT_TYPE=np.where(np.arange(len(frame)) % 3 == 0, "purchase", "view"),
                         EVENT_VALUE=np.arange(len(frame)) % 5 + 1.0)
    typed = get_recipe(UP)(random_state=0, event_weights={"purchase": 3.0, "view": 1.0}, use_event_value=True)
    typed.fit(TrainingData.from_frames(frame))
    assert typed.tuning_report()["trials"] and typed.recommend(["u001"], n=3)[0].item_ids.size == 3


def test_the_validation_split_holds_out_each_sampled_users_newest_events(data):
    r = UserPersonalization(auto_tune=False).fit(data)
    val = validation_split(r.hist_indptr_, r.hist_items_.astype(np.int64), r.hist_times_, r.hist_weights_,
                           len(r.item_ids_), seed=0)
    held = ~val.keep
    lens = np.diff(r.hist_indptr_)
    for u in val.users[:20]:
        start, end = r.hist_indptr_[u], r.hist_indptr_[u + 1]
        n_held = int(np.ceil(0.1 * lens[u]))
        assert held[end - n_held:end].all() and not held[start:end - n_held].any()
    assert not (val.truth & (val.seen.toarray() > 0)).any()  # no truth item is in the kept history


def test_models_saved_before_auto_tuning_still_load(data, tmp_path):
    r = get_recipe(UP)(random_state=0, auto_tune=False).fit(data)
    path = r.save(tmp_path / "old")
    meta = json.loads((path / "params.json").read_text())
    for key in ("settings_", "tuning_"):
        meta["state"].pop(key)
        meta["kinds"].pop(key)
    for key in ("auto_tune", "model", "recency_half_life_days", "sequence_weight"):
        meta["params"].pop(key)
    meta["params"].update(l2_scale=3.0, recency_half_life=5.0, popularity_weight=0.2, max_items_for_ease=30_000)
    (path / "params.json").write_text(json.dumps(meta))
    old = load_recipe(path)
    assert old.tuning_report()["auto_tune"] is False
    assert old.recommend(["u000"], n=5)[0].item_ids.tolist() == r.recommend(["u000"], n=5)[0].item_ids.tolist()


def test_choice_lines_word_each_choice_against_its_best_alternative():
    """Known answer: a stored report where switching recency off won."""
    from recsys.recipes.auto_tune import choice_lines

    trial = lambda stage, setting, score, chosen=False: {"model": "ease", "stage": stage, "setting": setting,
                                                         "ndcg_at_10": score, "chosen": chosen}
    report = {"auto_tune": True, "validation_users": 250, "chosen_ndcg_at_10": 0.21, "popularity_ndcg_at_10": 0.05,
              "settings": {"model": "ease", "l2": 40.0, "recency": {"unit": "off", "half_life": 0.0},
                           "relevance": True, "popularity_weight": 0.0, "sequence_weight": 0.0, "n_model_items": 900},
              "trials": [{"model": "popularity", "stage": "popularity", "setting": "popularity alone",
                          "ndcg_at_10": 0.05, "chosen": False},
                         trial("l2", "l2 40 (10 x mean item weight)", 0.20, True),
                         trial("l2", "l2 12.65 (3.16 x mean item weight)", 0.201),
                         trial("recency", "recency off", 0.21, True),
                         trial("recency", "recency half-life 5 events", 0.16),
                         trial("recency", "recency half-life 2 events", 0.12)]}
    assert choice_lines(report) == [
        "Auto-tuned on 250 validation users' newest events: validation NDCG@10 0.2100 (popularity alone 0.0500).",
        "model: EASE over 900 items.",
        "l2 40 (10 x mean item weight): validation NDCG@10 0.2000 vs 0.2010 with l2 12.65 (3.16 x mean item "
        "weight) (the most regularised within one standard error of the best).",
        "recency off: validation NDCG@10 0.2100 vs 0.1600 with recency half-life 5 events.",
    ]
    assert choice_lines(None) == []
    untuned = {"auto_tune": False, "reason": "auto_tune=False: the given or untuned defaults",
               "settings": report["settings"], "trials": []}
    assert choice_lines(untuned)[0].startswith("Not auto-tuned (auto_tune=False")


def test_recipes_that_do_not_tune_themselves_report_nothing(data):
    assert get_recipe("aws-popularity-count")().fit(data).tuning_report() is None
