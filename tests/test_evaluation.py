"""Offline evaluation: hand-computed metrics, split properties, bootstrap CIs, evaluate/compare/segments end to end."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data import TrainingData
from recsys.evaluation import (
    EvaluationReport, bootstrap_ci, compare, leave_last_n_out, paired_bootstrap, personalize_split,
    segment_metrics, segmentation_split, temporal_split,
)
from recsys.evaluation import metrics as M
from recsys.exceptions import ValidationError


def log2(x):
    return math.log(x, 2)


# ------------------------------------------------------------------------------------------- metrics (known answers)


def test_personalize_worked_example():
    """AP §5.2: relevant items at ranks 2 and 5, K = 5."""
    recs = [["a", "r1", "b", "c", "r2"]]
    truth = [{"r1", "r2"}]
    assert M.reciprocal_rank_at_k(recs, truth, 25)[0] == pytest.approx(0.5)
    expected = (1 / math.log(3) + 1 / math.log(6)) / (1 / math.log(2) + 1 / math.log(3))
    assert M.ndcg_at_k(recs, truth, 5)[0] == pytest.approx(expected)
    assert round(M.ndcg_at_k(recs, truth, 5)[0], 4) == 0.6241
    assert M.precision_at_k(recs, truth, 5)[0] == pytest.approx(0.4)
    out = M.ranking_metrics(recs, truth, (5, 10, 25))
    assert out["mean_reciprocal_rank_at_25"][0] == pytest.approx(0.5)
    assert out["normalized_discounted_cumulative_gain_at_5"][0] == pytest.approx(0.6241, abs=5e-5)
    assert out["precision_at_5"][0] == pytest.approx(0.4)


def test_ndcg_ideal_uses_min_of_k_and_relevant():
    # 10 relevant items, only the top one recommended, K=5: ideal DCG has 5 relevant items, not 10
    recs = [["r0", "x1", "x2", "x3", "x4"]]
    truth = [{f"r{i}" for i in range(10)}]
    ideal = sum(1 / log2(p + 1) for p in range(1, 6))
    assert M.ndcg_at_k(recs, truth, 5)[0] == pytest.approx(1 / ideal)
    # a perfect list scores 1 at every k
    assert M.ndcg_at_k([["r0", "r1", "r2"]], [{"r0", "r1", "r2"}], 10)[0] == pytest.approx(1.0)


def test_precision_recall_hit_rate_on_ragged_lists():
    recs = [["a", "b", "c"], ["d"], []]
    truth = [["c", "z", "c"], {"q"}, {"a"}]  # duplicates in truth count once
    assert M.precision_at_k(recs, truth, 5).tolist() == [pytest.approx(0.2), 0.0, 0.0]  # short list still ÷ k
    assert M.recall_at_k(recs, truth, 5).tolist() == [pytest.approx(0.5), 0.0, 0.0]
    assert M.hit_rate_at_k(recs, truth, 2).tolist() == [0.0, 0.0, 0.0]
    assert M.hit_rate_at_k(recs, truth, 3).tolist() == [1.0, 0.0, 0.0]
    assert M.reciprocal_rank_at_k(recs, truth, 25).tolist() == [pytest.approx(1 / 3), 0.0, 0.0]
    h = M.hit_matrix(recs, truth)
    assert h.n_relevant.tolist() == [2, 1, 1] and h.lengths.tolist() == [3, 1, 0]


def test_average_precision():
    # hits at ranks 1 and 3 of 2 relevant: (1/1 + 2/3) / 2
    assert M.average_precision_at_k([["a", "x", "b"]], [{"a", "b"}], 25)[0] == pytest.approx((1 + 2 / 3) / 2)


def test_ranking_metrics_keys():
    out = M.ranking_metrics([["a"]], [{"a"}], (5, 10, 25))
    for key in M.PERSONALIZE_KEYS[1:]:
        assert key in out
    assert {"recall_at_5", "recall_at_10", "recall_at_25", "hit_rate_at_5", "hit_rate_at_25"} <= set(out)


def test_coverage_counts_distinct_catalogue_items():
    recs = [["a", "b"], ["b", "c"], ["zz"]]  # zz is not in the catalogue
    assert M.coverage(recs, list("abcde")) == pytest.approx(3 / 5)
    assert M.coverage([], list("abc")) == 0.0


def test_rating_errors_surprise_style():
    y, p = [1, 2, 3], [1, 3, 5]
    assert M.rmse(y, p) == pytest.approx(math.sqrt(5 / 3))
    assert M.mae(y, p) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one prediction per rating"):
        M.rmse([1, 2], [1])


def test_novelty_and_popularity_bias():
    popularity = pd.Series({"hit": 3, "mid": 1})  # users who interacted; 3 training users
    novelty = M.novelty([["hit"], ["new"], ["hit", "new"]], popularity, n_users=3)
    assert novelty.tolist() == pytest.approx([0.0, 2.0, 1.0])  # -log2(4/4), -log2(1/4), mean of both
    # catalogue hit (3), mid (1), new (0), old (0): mid-rank percentiles 7/8, 5/8, 2/8, 2/8
    bias = M.popularity_percentile([["hit"], ["mid", "new"]], popularity, ["hit", "mid", "new", "old"])
    assert bias.tolist() == pytest.approx([7 / 8, (5 / 8 + 2 / 8) / 2])


def test_average_rewards_at_k():
    rewards = {"cheap": 1.0, "dear": 9.0, "other": 5.0}
    # relevant: cheap + dear; best possible with k=1 is dear (9); the list earns only cheap (1)
    assert M.average_rewards_at_k([["cheap", "x"]], [{"cheap", "dear"}], rewards, k=1)[0] == pytest.approx(1 / 9)
    assert M.average_rewards_at_k([["dear", "cheap"]], [{"cheap", "dear"}], rewards, k=2)[0] == pytest.approx(1.0)


def test_segmentation_hit_and_recall():
    assert M.segment_k(1000) == 10 and M.segment_k(30) == 1
    out = M.segmentation_metrics([["u1", "u2"], ["u9", "u8"]], [{"u2", "u3", "u4"}, {"u8"}], k=2)
    assert out["hit"].tolist() == [1.0, 1.0]
    assert out["recall"].tolist() == pytest.approx([1 / 3, 1.0])


def test_display_names():
    assert M.display_name("normalized_discounted_cumulative_gain_at_10") == "NDCG@10"
    assert M.display_name("mean_reciprocal_rank_at_25") == "MRR@25"


# ------------------------------------------------------------------------------------------------------ splits


def frame_from_counts(counts, seed=0, tie_every=None):
    """Interactions: user i has counts[i] events with random (possibly tied) timestamps."""
    rng = np.random.default_rng(seed)
    rows = []
    for u, c in enumerate(counts):
        for _ in range(c):
            ts = int(rng.integers(0, 50 if tie_every else 10_000))
            rows.append((f"u{u}", f"i{rng.integers(0, 30)}", ts))
    return TrainingData.from_frames(pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"]))


def assert_history_before_truth(split):
    last_hist = split.history.groupby("USER_ID")["TIMESTAMP"].max()
    first_truth = split.truth.groupby("USER_ID")["TIMESTAMP"].min()
    common = last_hist.index.intersection(first_truth.index)
    assert (last_hist[common] <= first_truth[common]).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(counts=st.lists(st.integers(1, 25), min_size=3, max_size=40), seed=st.integers(0, 2**16),
       frac=st.sampled_from([0.1, 0.2, 0.5]), ties=st.booleans())
def test_personalize_split_properties(counts, seed, frac, ties):
    data = frame_from_counts(counts, seed, tie_every=ties)
    n_users = len(counts)
    eligible = sum(c >= 2 for c in counts)
    if eligible == 0 or min(max(round(frac * n_users), 1), eligible) >= n_users:
        with pytest.raises(ValidationError):
            personalize_split(data, test_user_fraction=frac, seed=seed)
        return
    split = personalize_split(data, test_user_fraction=frac, seed=seed)
    test_users = set(split.truth["USER_ID"])
    assert test_users.isdisjoint(set(split.train.interactions["USER_ID"]))
    assert len(test_users) == min(max(round(frac * n_users), 1), eligible)
    assert set(split.history["USER_ID"]) == test_users  # every test user keeps at least one input event
    assert_history_before_truth(split)
    per_user = data.interactions["USER_ID"].value_counts()
    n_truth = split.truth["USER_ID"].value_counts()
    for user in test_users:
        assert per_user[user] >= 2
        assert n_truth[user] == max(1, math.ceil(0.1 * per_user[user] - 1e-9))
    assert len(split.train.interactions) + len(split.history) + len(split.truth) == len(data.interactions)
    assert split.protocol.startswith("Personalize default") and str(seed) in split.protocol
    assert personalize_split(data, test_user_fraction=frac, seed=seed).truth.equals(split.truth)  # seeded


def test_personalize_split_ceil_is_not_fooled_by_float_error():
    data = frame_from_counts([30] * 10 + [2] * 10)
    split = personalize_split(data, test_user_fraction=0.5, seed=1)
    sizes = data.interactions["USER_ID"].value_counts()
    truth = split.truth["USER_ID"].value_counts()
    for user, n in truth.items():
        assert n == (3 if sizes[user] == 30 else 1)  # 0.1 * 30 is 3.0000000000000004 in floating point


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(1, 20), min_size=2, max_size=30), seed=st.integers(0, 1000),
       frac=st.sampled_from([0.1, 0.25, 0.5]))
def test_temporal_split_properties(counts, seed, frac):
    data = frame_from_counts(counts, seed)
    ts = data.interactions["TIMESTAMP"]
    if ts.nunique() < 2:
        return
    split = temporal_split(data, test_fraction=frac)
    cutoff = split.params["cutoff"]
    assert (split.train.interactions["TIMESTAMP"] < cutoff).all()
    assert (split.truth["TIMESTAMP"] >= cutoff).all()
    assert len(split.train.interactions) + len(split.truth) == len(data.interactions)
    assert_history_before_truth(split)
    assert split.history_in_train
    assert set(split.history["USER_ID"]) <= set(split.truth["USER_ID"])


def test_temporal_split_with_explicit_cutoff_and_errors():
    data = frame_from_counts([5, 5, 5])
    ts = np.sort(data.interactions["TIMESTAMP"].to_numpy())
    split = temporal_split(data, cutoff=int(ts[10]))
    assert len(split.truth) == (data.interactions["TIMESTAMP"] >= ts[10]).sum()
    assert "Temporal" in split.protocol
    with pytest.raises(ValidationError, match="empty train or test"):
        temporal_split(data, cutoff=int(ts[-1]) + 1)
    tied = TrainingData.from_frames(pd.DataFrame({"USER_ID": ["a", "b"] * 10, "ITEM_ID": ["x"] * 20,
                                                  "TIMESTAMP": [1] * 18 + [2, 3]}))
    assert temporal_split(tied, test_fraction=0.5).params["cutoff"] == 2  # ties at the oldest time
    with pytest.raises(ValidationError, match="same timestamp"):
        temporal_split(TrainingData.from_frames(pd.DataFrame({"USER_ID": ["a", "b"], "ITEM_ID": ["x", "y"],
                                                              "TIMESTAMP": [5, 5]})))


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(1, 15), min_size=1, max_size=30), n=st.integers(1, 3),
       seed=st.integers(0, 1000))
def test_leave_last_n_out_properties(counts, n, seed):
    data = frame_from_counts(counts, seed)
    if not any(c > n for c in counts):
        with pytest.raises(ValidationError, match=f"more than {n}"):
            leave_last_n_out(data, n=n)
        return
    split = leave_last_n_out(data, n=n, seed=seed)
    assert (split.truth["USER_ID"].value_counts() == n).all()
    assert split.n_test_users == sum(c > n for c in counts)
    assert_history_before_truth(split)
    assert len(split.train.interactions) + len(split.truth) == len(data.interactions)
    assert len(split.history) == sum(c - n for c in counts if c > n)


def test_segmentation_split_is_80_20_per_user():
    data = frame_from_counts([10, 5, 1])
    split = segmentation_split(data)
    assert split.truth["USER_ID"].value_counts().to_dict() == {"u0": 2, "u1": 1}
    assert len(split.train.interactions) == 16 - 3


def test_split_keeps_items_and_users_tables():
    base = frame_from_counts([5] * 20)
    items = pd.DataFrame({"ITEM_ID": [f"i{i}" for i in range(40)], "GENRE": ["a", "b"] * 20})
    data = TrainingData.from_frames(base.interactions, items=items)
    split = personalize_split(data, seed=3)
    assert split.train.items is data.items
    assert len(split.catalogue) == 40  # items i30..i39 exist only in the items table


# ---------------------------------------------------------------------------------------------- bootstrap CIs


def test_bootstrap_ci_contains_the_mean_and_narrows_with_more_users():
    rng = np.random.default_rng(0)
    small = rng.random(50)
    large = rng.random(5000)
    lo_s, hi_s = bootstrap_ci(small, seed=1)
    lo_l, hi_l = bootstrap_ci(large, seed=1)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5  # ~ 1/sqrt(100) = 1/10 as wide
    assert bootstrap_ci(small, seed=1) == (lo_s, hi_s)  # seeded
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_paired_bootstrap_tells_noise_from_a_real_difference():
    rng = np.random.default_rng(1)
    base = rng.random(400)
    noise = base + rng.normal(0, 0.01, 400)
    better = base + 0.05 + rng.normal(0, 0.01, 400)
    real = paired_bootstrap(better, base, seed=2)
    assert real["p_value"] < 0.01 and real["low"] > 0
    null = paired_bootstrap(noise, base, seed=2)
    assert null["p_value"] > 0.05 and null["low"] < 0 < null["high"]


# ------------------------------------------------------------------------------------- reports without a recipe


def make_report(name, values, users=None, recipe="r"):
    users = users if users is not None else [f"u{i}" for i in range(len(values))]
    per_user = pd.DataFrame({"USER_ID": users, "normalized_discounted_cumulative_gain_at_10": values,
                             "history_bucket": ["cold (0)" if i % 2 else "5-19" for i in range(len(values))]})
    return EvaluationReport(metrics={"coverage": 0.5, "normalized_discounted_cumulative_gain_at_10":
                                     float(np.mean(values))},
                            per_user=per_user, protocol="p", recipe_name=recipe, n_test_users=len(values))


def test_compare_rows_cis_lift_and_p_values():
    rng = np.random.default_rng(3)
    base = rng.random(300) * 0.2
    reports = {"v2": make_report("v2", base + 0.1, recipe="aws-user-personalization"),
               "pop": make_report("pop", base, recipe="aws-popularity-count")}
    table = compare(reports, n_boot=300)
    key = "normalized_discounted_cumulative_gain_at_10"
    assert table["version"].tolist() == ["pop", "v2"]  # popularity baseline detected and shown first
    v2 = table.set_index("version").loc["v2"]
    assert v2[f"{key}_lift"] == pytest.approx((base.mean() + 0.1) / base.mean() - 1)
    assert v2[f"{key}_diff"] == pytest.approx(0.1)
    assert v2[f"{key}_p_value"] < 0.01
    assert v2[f"{key}_ci_low"] <= v2[key] <= v2[f"{key}_ci_high"]
    assert table.set_index("version").loc["pop", "coverage_lift"] == 0.0
    with pytest.raises(ValidationError, match="baseline"):
        compare(reports, baseline="nope")
    # reports on different users fall back to an unpaired bootstrap of the difference
    other = make_report("o", base + 0.1, users=[f"x{i}" for i in range(300)])
    unpaired = compare({"pop": reports["pop"], "other": other}, n_boot=300).set_index("version")
    assert unpaired.loc["other", f"{key}_p_value"] < 0.01
    assert unpaired.loc["other", f"{key}_diff"] == pytest.approx(0.1)


def test_segment_metrics_by_column():
    rep = make_report("x", [1.0, 0.0, 1.0, 0.0])
    seg = segment_metrics(rep, by="history", n_boot=50)
    assert seg["history_bucket"].tolist() == ["cold (0)", "5-19"]  # cold first
    assert seg["normalized_discounted_cumulative_gain_at_10"].tolist() == [0.0, 1.0]
    assert seg["n_users"].tolist() == [2, 2]
    with pytest.raises(ValidationError, match="cannot segment"):
        segment_metrics(rep, by="NOPE")


def test_report_json_round_trip():
    rep = make_report("x", [0.5, 0.25])
    rep.lists = pd.DataFrame({"USER_ID": ["u0", "u1"], "RECOMMENDED": [["a", "b"], ["c"]], "TRUTH": [["a"], ["z"]]})
    back = EvaluationReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back.metrics == rep.metrics and back.protocol == rep.protocol
    pd.testing.assert_frame_equal(back.per_user, rep.per_user, check_dtype=False)
    assert back.lists["RECOMMENDED"].tolist() == [["a", "b"], ["c"]]


# ------------------------------------------------------------------------------------- evaluate end to end

from recsys.evaluation import evaluate  # noqa: E402
from recsys.recipes import ParamInfo, Recipe  # noqa: E402
from recsys.recipes.popularity import PopularityCount  # noqa: E402


class CoVisit(Recipe):
    """A small, real item-to-item co-occurrence recipe: score = history × co-occurrence (+ optional noise)."""

    name = "test-covisit"
    param_info = {"noise": ParamInfo(0.0, "random noise added to scores", kind="float", range=(0.0, 10.0),
                                     hpo=True)}

    def __init__(self, noise=0.0):
        self.noise = noise

    def _fit(self, data, progress):
        import scipy.sparse as sp

        inter = data.interactions
        rows = self._user_index().get_indexer(inter["USER_ID"].to_numpy(dtype=object))
        cols = self._item_index().get_indexer(inter["ITEM_ID"].to_numpy(dtype=object))
        x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(self.user_ids_), len(self.item_ids_)))
        x.data[:] = 1.0
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        self.cooc_ = co
        self._store_history(inter)

    def _score_rows(self, upos, hist, contexts):
        h = hist.matrix(len(self.item_ids_))
        h.data[:] = 1.0
        scores = np.asarray((h @ self.cooc_).todense(), dtype=np.float64)
        if self.noise:
            scores += self.noise * scores.std() * np.random.default_rng(0).random(scores.shape)
        return scores


def clustered_data(n_users=240, n_groups=4, items_per_group=30, events=12, seed=0, with_meta=True):
    """Users each stick to one item group (so co-visitation beats global popularity)."""
    rng = np.random.default_rng(seed)
    rows = []
    weights = 1.0 / np.arange(1, items_per_group + 1)
    weights /= weights.sum()
    for u in range(n_users):
        g = u % n_groups
        picks = rng.choice(items_per_group, size=events, replace=False, p=weights)
        for t, p in enumerate(picks):
            rows.append((f"u{u}", f"g{g}-i{p}", 1_000 + 10 * t + u))
    inter = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"])
    if not with_meta:
        return TrainingData.from_frames(inter)
    items = pd.DataFrame({"ITEM_ID": [f"g{g}-i{p}" for g in range(n_groups) for p in range(items_per_group)],
                          "GENRE": [f"genre{g}" for g in range(n_groups) for _ in range(items_per_group)],
                          "PRICE": [float(p + 1) for _ in range(n_groups) for p in range(items_per_group)]})
    users = pd.DataFrame({"USER_ID": [f"u{u}" for u in range(n_users)],
                          "SEGMENT": ["even" if u % 2 == 0 else "odd" for u in range(n_users)]})
    return TrainingData.from_frames(inter, items=items, users=users)


@pytest.fixture(scope="module")
def clustered_split():
    return personalize_split(clustered_data(), test_user_fraction=0.25, holdout_fraction=0.2, seed=7)


@pytest.fixture(scope="module")
def reports(clustered_split):
    return {"popularity": evaluate(PopularityCount(), clustered_split, batch_size=16),
            "covisit": evaluate(CoVisit(), clustered_split, batch_size=16, objective_field="PRICE")}


def test_evaluate_report_has_personalize_keys_and_protocol(reports, clustered_split):
    rep = reports["covisit"]
    for key in M.PERSONALIZE_KEYS:
        assert key in rep.metrics and 0.0 <= rep.metrics[key] <= 1.0
    assert list(rep.metrics)[:2] == ["coverage", "mean_reciprocal_rank_at_25"]
    for key in ("recall_at_10", "hit_rate_at_25", "novelty", "popularity_bias", "average_rewards_at_k"):
        assert key in rep.metrics
    assert rep.n_test_users == clustered_split.n_test_users == 60
    assert rep.protocol.startswith("Personalize default") and "history" in rep.protocol
    assert rep.recipe_name == "test-covisit" and rep.params == {"noise": 0.0}
    assert {"USER_ID", "history_length", "history_bucket", "SEGMENT", "n_truth_items"} <= set(rep.per_user.columns)
    assert (rep.per_user["history_length"] == 9).all() and (rep.per_user["n_truth_items"] == 3).all()
    # means of per-user values are the reported metrics
    assert rep.metrics["precision_at_10"] == pytest.approx(rep.per_user["precision_at_10"].mean())
    # recommendations never contain the history (exclude_seen), and stay within 25
    hist = clustered_split.history.groupby("USER_ID")["ITEM_ID"].agg(set)
    for user, recs in zip(rep.lists["USER_ID"], rep.lists["RECOMMENDED"]):
        assert len(recs) == 25 and not (set(recs) & hist[user])


def test_good_recipe_beats_popularity_and_compare_says_it_is_real(reports):
    key = "normalized_discounted_cumulative_gain_at_10"
    assert reports["covisit"].metrics[key] > 1.5 * reports["popularity"].metrics[key]
    assert reports["covisit"].metrics["coverage"] > reports["popularity"].metrics["coverage"]
    assert reports["covisit"].metrics["popularity_bias"] < reports["popularity"].metrics["popularity_bias"]
    table = compare(reports, n_boot=300).set_index("version")
    assert table.index.tolist() == ["popularity", "covisit"]
    assert table.loc["covisit", f"{key}_lift"] > 0.5
    assert table.loc["covisit", f"{key}_p_value"] < 0.01
    assert table.loc["covisit", f"{key}_diff_ci_low"] > 0


def test_segments_history_user_attribute_and_item_category(reports):
    rep = reports["covisit"]
    by_user = segment_metrics(rep, by="SEGMENT", n_boot=50)
    assert set(by_user["SEGMENT"]) == {"even", "odd"} and by_user["n_users"].sum() == rep.n_test_users
    by_genre = segment_metrics(rep, by="GENRE", n_boot=50)
    assert set(by_genre["GENRE"]) == {"genre0", "genre1", "genre2", "genre3"}
    assert by_genre["n_users"].sum() == rep.n_test_users  # each user's truth lies in one genre
    by_history = segment_metrics(rep, by="history", n_boot=50)
    assert by_history["history_bucket"].tolist() == ["5-19"]


def test_report_round_trips_through_json(reports):
    rep = reports["covisit"]
    back = EvaluationReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back.metrics == pytest.approx(rep.metrics)
    assert back.n_test_users == rep.n_test_users and back.recipe_name == rep.recipe_name
    assert back.lists["RECOMMENDED"].tolist() == rep.lists["RECOMMENDED"].tolist()
    # segments work on a restored report given the items table
    seg = segment_metrics(back, by="GENRE", items=clustered_data().items, n_boot=20)
    assert len(seg) == 4


def test_evaluate_temporal_and_leave_last_out_splits():
    data = clustered_data(n_users=80, with_meta=False)
    for split in (temporal_split(data, test_fraction=0.2), leave_last_n_out(data, n=2, test_user_fraction=0.5)):
        rep = evaluate(CoVisit(), split)
        assert rep.n_test_users > 0 and rep.metrics["hit_rate_at_25"] > 0.3
        assert rep.protocol.startswith(split.protocol)


def test_evaluate_uses_a_fitted_recipe_as_is_and_can_be_cancelled(clustered_split):
    import threading

    from recsys.exceptions import CancelledError

    fitted = PopularityCount().fit(clustered_split.train)
    counts = fitted.counts_
    evaluate(fitted, clustered_split)
    assert fitted.counts_ is counts  # not refitted
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError):
        evaluate(PopularityCount(), clustered_split, cancel=stop)


def test_real_user_personalization_beats_popularity(clustered_split, reports):
    from recsys.recipes import get_recipe

    up = evaluate(get_recipe("aws-user-personalization")(random_state=0), clustered_split)
    key = "normalized_discounted_cumulative_gain_at_10"
    table = compare({"popularity": reports["popularity"], "up": up}, n_boot=300).set_index("version")
    assert table.loc["up", key] > 2 * table.loc["popularity", key]
    assert table.loc["up", f"{key}_p_value"] < 0.01


# --------------------------------------------------------------- other recipe types (small real Recipe subclasses)


def _cooc(recipe, inter):
    import scipy.sparse as sp

    rows = recipe._user_index().get_indexer(inter["USER_ID"].to_numpy(dtype=object))
    cols = recipe._item_index().get_indexer(inter["ITEM_ID"].to_numpy(dtype=object))
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(recipe.user_ids_), len(recipe.item_ids_)))
    x.data[:] = 1.0
    return x, (x.T @ x).tocsr()


class CoVisitSims(Recipe):
    name = "test-covisit-sims"
    recipe_type = "RELATED_ITEMS"
    param_info = {}

    def __init__(self):
        pass

    def _fit(self, data, progress):
        _, self.cooc_ = _cooc(self, data.interactions)

    def _score_item_rows(self, pos):
        return np.asarray(self.cooc_[pos].todense(), dtype=np.float64)


class ItemMeanRating(Recipe):
    name = "test-item-mean"
    recipe_type = "RATING_PREDICTION"
    param_info = {}

    def __init__(self):
        pass

    def _fit(self, data, progress):
        means = data.interactions.groupby("ITEM_ID")["EVENT_VALUE"].mean()
        self.means_ = means.reindex(self.item_ids_).to_numpy(dtype=np.float64)
        self.global_ = np.asarray([data.interactions["EVENT_VALUE"].mean()])

    def predict(self, user_ids, item_ids):
        pos = self.item_positions(item_ids, strict=False)
        return np.where(pos >= 0, self.means_[np.maximum(pos, 0)], self.global_[0])


class CoVisitSegments(Recipe):
    name = "test-covisit-segments"
    recipe_type = "USER_SEGMENTATION"
    param_info = {}

    def __init__(self):
        pass

    def _fit(self, data, progress):
        self.x_, self.cooc_ = _cooc(self, data.interactions)

    def users_for_items(self, item_ids, n=10):
        pos = self.item_positions(item_ids)
        affinity = np.asarray((self.x_ @ self.cooc_[:, pos]).todense()).T  # (n_query, n_users)
        affinity[np.asarray(self.x_[:, pos].todense()).T > 0] = -1.0  # users who already have the item
        top = np.argsort(-affinity, axis=1, kind="stable")[:, :n]
        return [self.user_ids_[t] for t in top]


def test_evaluate_related_items_recipe(clustered_split, reports):
    rep = evaluate(CoVisitSims(), clustered_split)
    assert rep.recipe_type == "RELATED_ITEMS" and rep.n_test_users == 60
    key = "normalized_discounted_cumulative_gain_at_10"
    assert rep.metrics[key] > reports["popularity"].metrics[key]
    hist = clustered_split.history.groupby("USER_ID")["ITEM_ID"].agg(set)
    for user, recs in zip(rep.lists["USER_ID"], rep.lists["RECOMMENDED"]):
        assert not (set(recs) & hist[user])


def test_evaluate_rating_recipe_reports_rmse_and_mae():
    rng = np.random.default_rng(0)
    inter = pd.DataFrame({"USER_ID": [f"u{i % 50}" for i in range(1000)],
                          "ITEM_ID": [f"i{i % 37}" for i in range(1000)],
                          "TIMESTAMP": np.arange(1000), "EVENT_VALUE": rng.integers(1, 6, 1000).astype(float)})
    split = leave_last_n_out(TrainingData.from_frames(inter), n=2)
    rep = evaluate(ItemMeanRating(), split)
    truth = split.truth
    means = split.train.interactions.groupby("ITEM_ID")["EVENT_VALUE"].mean()
    pred = truth["ITEM_ID"].map(means).fillna(split.train.interactions["EVENT_VALUE"].mean())
    assert rep.metrics["root_mean_square_error"] == pytest.approx(np.sqrt(((truth["EVENT_VALUE"] - pred) ** 2).mean()))
    assert rep.metrics["mean_absolute_error"] == pytest.approx((truth["EVENT_VALUE"] - pred).abs().mean())
    assert rep.n_test_users == 50 and "squared_error" in rep.per_user.columns


def test_evaluate_segmentation_recipe_hit_and_recall():
    data = clustered_data(n_users=200, with_meta=False)
    split = segmentation_split(data)
    rep = evaluate(CoVisitSegments(), split)
    assert rep.recipe_type == "USER_SEGMENTATION" and rep.extra["k"] == 2  # top 1% of 200 users
    assert set(rep.metrics) == {"hit", "recall"} and 0 < rep.metrics["recall"] <= 1
    assert rep.metrics["hit"] > 0.3  # most of the top-2 users of an item are from its group
    assert "K = 2 users" in rep.protocol and "ITEM_ID" in rep.per_user.columns


def test_exclude_seen_false_keeps_repeat_items_in_truth_and_lists():
    rows = [(f"u{u}", f"i{(u + t) % 7}", 100 * u + t) for u in range(40) for t in range(10)]
    rows += [(f"u{u}", f"i{u % 7}", 100 * u + 50) for u in range(40)]  # each user's newest event is a repeat
    data = TrainingData.from_frames(pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"]))
    split = leave_last_n_out(data, n=1)
    with pytest.raises(ValidationError, match="exclude_seen=False"):  # every truth item is a repeat of history
        evaluate(PopularityCount(), split)
    loose = evaluate(PopularityCount(), split, exclude_seen=False)
    assert loose.n_test_users == 40 and loose.metrics["hit_rate_at_10"] == 1.0  # all 7 items fit in the top 10
    assert "neither recommended nor scored" not in loose.protocol


def test_default_split_per_recipe_type():
    from recsys.evaluation import default_split

    data = clustered_data(n_users=40, with_meta=False)
    assert default_split(data, "USER_PERSONALIZATION").kind == "personalize"
    assert default_split(data, "USER_SEGMENTATION").kind == "segmentation"
    rating = default_split(data, "RATING_PREDICTION")
    assert rating.kind == "rating" and rating.history_in_train
    assert (rating.truth["USER_ID"].value_counts() == 2).all()  # ceil(10% of 12)


def test_real_data_user_personalization_beats_popularity(shared_datasets):
    """MovieLens 100K, Personalize's default protocol: the learned recipe must beat the baseline, and not by noise."""
    from recsys.recipes import get_recipe

    raw = pd.read_csv(shared_datasets / "ml-100k" / "u.data", sep="\t",
                      names=["USER_ID", "ITEM_ID", "EVENT_VALUE", "TIMESTAMP"])
    split = personalize_split(TrainingData.from_frames(raw))
    assert split.n_test_users == 94 and len(split.catalogue) == 1682
    reps = {"pop": evaluate("aws-popularity-count", split),
            "up": evaluate(get_recipe("aws-user-personalization")(random_state=0), split)}
    key = "normalized_discounted_cumulative_gain_at_10"
    table = compare(reps, n_boot=500).set_index("version")
    assert table.loc["up", key] > table.loc["pop", key]
    assert table.loc["up", f"{key}_p_value"] < 0.05
    assert table.loc["up", "coverage"] > table.loc["pop", "coverage"]


def _all_recipes():
    from recsys.recipes import REGISTRY

    return sorted(REGISTRY)


@pytest.fixture(scope="module")
def rich_data():
    base = clustered_data(n_users=120)
    inter = base.interactions.assign(EVENT_VALUE=np.random.default_rng(0).integers(1, 6, len(base.interactions))
                                     .astype(float))
    items = base.items.assign(DESCRIPTION="an item about " + base.items["GENRE"] + " and more things")
    return TrainingData.from_frames(inter, items=items, users=base.users)


@pytest.mark.parametrize("recipe_name", _all_recipes())
def test_every_registered_recipe_evaluates_on_its_default_split(recipe_name, rich_data):
    from recsys.evaluation import default_split
    from recsys.recipes import get_recipe

    cls = get_recipe(recipe_name)
    rep = evaluate(cls(), default_split(rich_data, cls.recipe_type))
    assert rep.n_test_users > 0 and rep.metrics
    assert all(np.isfinite(v) for v in rep.metrics.values())
    expected = {"USER_SEGMENTATION": {"hit", "recall"},
                "RATING_PREDICTION": {"root_mean_square_error", "mean_absolute_error"}}.get(
        cls.recipe_type, set(M.PERSONALIZE_KEYS))
    assert expected <= set(rep.metrics)
    json.dumps(rep.to_dict())
