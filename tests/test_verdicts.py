"""Compare's verdicts: one sentence per pair of versions, split by recipe type and protocol, in the library."""

import numpy as np
import pandas as pd

from recsys.evaluation import EvaluationReport, comparisons, pairwise
from recsys.evaluation.compare import readable

NDCG = "normalized_discounted_cumulative_gain_at_10"
PROTOCOL = "Personalize default: 10% of users held out"


def report(name, values, *, recipe_type="USER_PERSONALIZATION", protocol=PROTOCOL, metric=NDCG, entity="USER_ID"):
    per_user = pd.DataFrame({entity: [f"u{i}" for i in range(len(values))], metric: values})
    return EvaluationReport(metrics={metric: float(np.mean(values))}, per_user=per_user, protocol=protocol,
                            recipe_name=name, n_test_users=len(values), recipe_type=recipe_type)


def test_a_clear_winner_gets_a_sentence_with_lift_interval_and_paired_p():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.0, 0.1, 400)
    reports = {"aws-popularity-count": report("aws-popularity-count", base),
               "aws-user-personalization": report("aws-user-personalization", base + 0.2)}
    pairs = pairwise(reports, NDCG)
    assert len(pairs) == 1
    row = pairs.iloc[0]
    assert row["better"] == "aws-user-personalization" and bool(row["clear"]) and bool(row["paired"])
    lift = 0.2 / base.mean()
    assert np.isclose(row["lift"], lift)
    assert row["verdict"].startswith(f"aws-user-personalization beats aws-popularity-count on NDCG@10 by +{lift:.0%} (")
    assert "95% CI +0.2000 to +0.2000" in row["verdict"] and "paired p < 0.001" in row["verdict"]


def test_noise_is_no_clear_difference():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 1, 300), rng.uniform(0, 1, 300)
    pairs = pairwise({"a": report("a", a), "b": report("b", b)}, NDCG)
    assert not pairs["clear"].iloc[0]
    assert pairs["verdict"].iloc[0].startswith("No clear difference between ")
    low, high = pairs[["diff_ci_low", "diff_ci_high"]].iloc[0]
    assert low < 0 < high


def test_every_pair_once_best_first_and_lower_is_better_metrics_flip():
    values = {"low": 0.1, "mid": 0.5, "high": 0.9}
    reports = {k: report(k, np.full(50, v)) for k, v in values.items()}
    pairs = pairwise(reports, NDCG)
    assert list(zip(pairs["better"], pairs["worse"])) == [("high", "mid"), ("high", "low"), ("mid", "low")]
    rmse = {k: report(k, np.full(50, v), metric="root_mean_square_error", recipe_type="RATING_PREDICTION")
            for k, v in values.items()}
    assert pairwise(rmse, "root_mean_square_error")["better"].iloc[0] == "low"


def test_recipe_types_and_protocols_are_compared_apart():
    rng = np.random.default_rng(2)
    reports = {
        "pop": report("aws-popularity-count", rng.uniform(0, 0.2, 100)),
        "up": report("aws-user-personalization", rng.uniform(0.1, 0.5, 100)),
        "affinity": report("aws-item-affinity", rng.uniform(0, 1, 30), recipe_type="USER_SEGMENTATION",
                           protocol="Personalize segmentation", metric="hit", entity="ITEM_ID"),
        "up-temporal": report("aws-user-personalization", rng.uniform(0, 1, 100), protocol="Temporal"),
    }
    sets = comparisons(reports, NDCG)
    assert [sorted(c.reports) for c in sets] == [["pop", "up"], ["up-temporal"], ["affinity"]]
    assert [c.metric for c in sets] == [NDCG, NDCG, "hit"]
    assert sets[1].verdicts.empty and sets[2].verdicts.empty
    table = readable(sets[0].table, NDCG)
    assert list(table.columns) == ["version", "recipe", "test users", "NDCG@10", "95% CI low", "95% CI high",
                                   "lift % vs baseline", "p-value"]
    assert table["version"].iloc[0] == "pop" and table["lift % vs baseline"].iloc[0] == 0.0


def test_short_labels_name_versions_by_recipe_or_solution(tmp_path):
    from recsys import solutions, workspace
    from recsys.store import Store

    store = Store(tmp_path)
    store.create_dataset_group("g")
    made = {}
    for name, recipe in (("popularity-count", "aws-popularity-count"), ("up", "aws-user-personalization"),
                         ("user-personalization-hpo-1-best", "aws-user-personalization")):
        solutions.create_solution(store, "g", name, recipe)
        made[name] = solutions.new_solution_version(store, "g", name).arn
    twice = solutions.new_solution_version(store, "g", "up").arn
    labels = workspace.short_labels(store, [*made.values(), twice])
    version_ids = {arn: solutions.get_solution_version(store, arn).version_id for arn in (made["up"], twice)}
    assert labels[made["popularity-count"]] == "aws-popularity-count"
    assert labels[made["user-personalization-hpo-1-best"]] == "user-personalization-hpo-1-best"
    assert labels[twice] == f"up/{version_ids[twice]} (aws-user-personalization)"
    assert workspace.short_labels(store, [made["up"]]) == {made["up"]: "up (aws-user-personalization)"}
