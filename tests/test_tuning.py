"""HPO and AutoML: hpoConfig parsing, seeded search on known objectives, validation on training users only."""

import json
import math
import threading

import numpy as np
import pandas as pd
import pytest

from recsys.data import TrainingData
from recsys.evaluation import personalize_split
from recsys.exceptions import ValidationError
from recsys.recipes import ParamInfo, Recipe
from recsys.tuning import SearchSpace, automl, max_trials_of, search, tune

HPO = {
    "hpoResourceConfig": {"maxNumberOfTrainingJobs": "30", "maxParallelTrainingJobs": "1"},
    "algorithmHyperParameterRanges": {
        "integerHyperParameterRanges": [{"name": "x", "minValue": "0", "maxValue": "100"}],
        "continuousHyperParameterRanges": [{"name": "lr", "minValue": 0.0001, "maxValue": 1.0}],
        "categoricalHyperParameterRanges": [{"name": "kind", "values": ["a", "b", "c"]}],
    },
}


def synthetic(params):
    """Known optimum: x = 70, lr = 0.01, kind = 'b'."""
    return (-((params["x"] - 70) / 30) ** 2 - (math.log10(params["lr"]) + 2) ** 2 / 4
            + (1.0 if params["kind"] == "b" else 0.0))


def test_hpo_config_parsing():
    space = SearchSpace.from_hpo_config(HPO)
    dims = {d.name: d for d in space.dimensions}
    assert dims["x"].kind == "integer" and (dims["x"].low, dims["x"].high) == (0, 100) and not dims["x"].log
    assert dims["lr"].log  # 0.0001..1 spans 4 decades: log scale by default
    assert dims["kind"].values == ("a", "b", "c")
    assert max_trials_of(HPO) == 30 and max_trials_of(None) == 10
    assert SearchSpace.from_hpo_config(space.to_hpo_ranges()) == space  # round trip
    with pytest.raises(ValidationError, match="minValue .* > maxValue"):
        SearchSpace.from_hpo_config({"integerHyperParameterRanges": [{"name": "x", "minValue": 5, "maxValue": 1}]})
    with pytest.raises(ValidationError, match="unknown key"):
        SearchSpace.from_hpo_config({"integerRanges": []})
    with pytest.raises(ValidationError, match="not hyperparameters of this recipe"):
        SearchSpace.from_hpo_config(HPO, {"x": ParamInfo(1, "x", kind="int")})


def test_search_finds_the_known_optimum_within_budget_and_keeps_every_trial():
    space = SearchSpace.from_hpo_config(HPO)
    trials = search(space, synthetic, 30, seed=3)
    assert len(trials) == 30 and all(t["status"] == "COMPLETED" for t in trials)
    assert [t["phase"] for t in trials].count("refine") == 12  # 60% random, then refinement
    best = max(trials, key=lambda t: t["value"])
    assert best["params"]["kind"] == "b"
    assert abs(best["params"]["x"] - 70) <= 15 and 0.001 <= best["params"]["lr"] <= 0.1
    for t in trials:
        assert isinstance(t["params"]["x"], int) and 0 <= t["params"]["x"] <= 100
        assert 0.0001 <= t["params"]["lr"] <= 1.0
    # refinement helps: the best refined trial beats the best random one on average over seeds
    gains = []
    for seed in range(8):
        ts = search(space, synthetic, 30, seed=seed)
        rand = max(t["value"] for t in ts if t["phase"] == "random")
        gains.append(max(t["value"] for t in ts) - rand)
    assert np.mean(gains) > 0
    assert [t["params"] for t in search(space, synthetic, 30, seed=3)] == [t["params"] for t in trials]  # seeded


def test_search_keeps_failures_and_stops_on_cancel():
    space = SearchSpace.from_hpo_config(HPO)

    def flaky(params):
        if params["kind"] == "c":
            raise RuntimeError("diverged")
        return synthetic(params)

    trials = search(space, flaky, 12, seed=0)
    failed = [t for t in trials if t["status"] == "FAILED"]
    assert len(trials) == 12 and failed and all("diverged" in t["error"] for t in failed)
    stop = threading.Event()
    seen = []

    def stop_after_three(params):
        if len(seen) == 3:
            stop.set()
        seen.append(params)
        return synthetic(params)

    assert len(search(space, stop_after_three, 20, seed=0, cancel=stop)) == 4


# --------------------------------------------------------------------------------------- tune() with a recipe


class NoisyCoVisit(Recipe):
    """Co-visitation scores plus `noise` × random: the less noise, the better (a known-better parameter)."""

    name = "test-noisy-covisit"
    param_info = {"noise": ParamInfo(8.0, "noise", kind="float", range=(0.0, 10.0), hpo=True),
                  "unused": ParamInfo(1, "an extra, fixed parameter", kind="int", range=(0, 5))}

    def __init__(self, noise=8.0, unused=1):
        self.noise = noise
        self.unused = unused

    def _fit(self, data, progress):
        import scipy.sparse as sp

        inter = data.interactions
        rows = self._user_index().get_indexer(inter["USER_ID"].to_numpy(dtype=object))
        cols = self._item_index().get_indexer(inter["ITEM_ID"].to_numpy(dtype=object))
        x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(self.user_ids_), len(self.item_ids_)))
        x.data[:] = 1.0
        self.cooc_ = (x.T @ x).tocsr()
        self._store_history(inter)
        if progress is not None:
            progress("fit", 0.5)

    def _score_rows(self, upos, hist, contexts):
        h = hist.matrix(len(self.item_ids_))
        h.data[:] = 1.0
        scores = np.asarray((h @ self.cooc_).todense(), dtype=np.float64)
        rng = np.random.default_rng(0)
        return scores / (scores.max() or 1.0) + self.noise * rng.random(scores.shape)


def clustered(n_users=160, groups=4, per_group=25, events=10, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(f"u{u}", f"g{u % groups}-i{p}", 100 * u + t)
            for u in range(n_users) for t, p in enumerate(rng.choice(per_group, events, replace=False))]
    return TrainingData.from_frames(pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"]))


@pytest.fixture(scope="module")
def split():
    return personalize_split(clustered(), test_user_fraction=0.2, seed=1)


def test_tune_finds_less_noise_on_training_users_only(split):
    progress = []
    finished = []
    result = tune(NoisyCoVisit, split, max_trials=8, seed=5, progress=lambda s, f: progress.append(f),
                  on_trial=finished.append)
    trials = result.trials
    assert len(trials) == 8 and len(finished) == 8 and (trials["status"] == "COMPLETED").all()
    assert trials.loc[0, "phase"] == "default" and trials.loc[0, "param.noise"] == 8.0
    key = "normalized_discounted_cumulative_gain_at_10"
    assert result.objective == key and result.best_value == trials[key].max()
    assert result.best_params["noise"] < 4.0 and result.best_params["unused"] == 1
    assert result.best_value > trials.loc[0, key]  # better than the defaults
    assert {"seconds", "precision_at_10", "coverage"} <= set(trials.columns)
    assert progress[-1] == 1.0 and all(0 <= f <= 1 for f in progress)
    # validation users come from the training users, never the test users
    assert "training data only" in result.protocol
    assert isinstance(result.best_recipe(), NoisyCoVisit) and result.best_recipe().noise == result.best_params["noise"]
    summary = json.loads(json.dumps(result.to_dict()))  # JSON-ready; trials are flat records in trial order
    assert summary["ranges"]["continuousHyperParameterRanges"][0]["name"] == "noise"
    records = pd.DataFrame(summary["trials"])
    assert len(records) == 8 and records["value"].tolist() == pytest.approx(trials["value"].tolist())
    assert "param.noise" in records.columns and "trial" not in records.columns


def test_tune_validation_never_uses_test_users(split):
    test_users = set(split.truth["USER_ID"])
    seen_users = []

    class Spy(NoisyCoVisit):
        def recommend(self, user_ids, *args, **kwargs):
            seen_users.extend(user_ids)
            return super().recommend(user_ids, *args, **kwargs)

    tune(Spy, split, max_trials=2, seed=0)
    assert seen_users and test_users.isdisjoint(seen_users)


def test_tune_errors_and_cancel(split):
    with pytest.raises(ValidationError, match="unknown objective"):
        tune(NoisyCoVisit, split, objective="ndcg")
    with pytest.raises(ValidationError, match="between 1 and 40"):
        tune(NoisyCoVisit, split, max_trials=41)
    stop = threading.Event()
    stop.set()
    result = tune(NoisyCoVisit, split, max_trials=5, cancel=stop)
    assert result.cancelled and len(result.trials) == 0


def test_tune_with_explicit_ranges_minimising_popularity_bias(split):
    hpo = {"hpoObjective": {"type": "Minimize", "metricName": "popularity_bias"},
           "algorithmHyperParameterRanges": {
               "continuousHyperParameterRanges": [{"name": "noise", "minValue": 0, "maxValue": 10}]}}
    result = tune(NoisyCoVisit(unused=3), split, hpo, max_trials=4, seed=2)
    assert result.objective == "popularity_bias"
    assert not result.maximize and result.best_value == result.trials["popularity_bias"].min()
    assert result.best_params["unused"] == 3  # an instance's parameters are kept fixed


def test_automl_ranks_recipes_on_one_split(split):
    from recsys.recipes import REGISTRY

    REGISTRY.setdefault(NoisyCoVisit.name, NoisyCoVisit)
    try:
        result = automl(None, ["aws-popularity-count", NoisyCoVisit.name], split=split,
                        params={NoisyCoVisit.name: {"noise": 0.0}})
    finally:
        REGISTRY.pop(NoisyCoVisit.name, None)
    assert result.best == NoisyCoVisit.name
    assert result.ranking["rank"].tolist() == [1, 2] and (result.ranking["status"] == "COMPLETED").all()
    assert set(result.reports) == {"aws-popularity-count", NoisyCoVisit.name}
    with pytest.raises(ValidationError, match="unknown recipe"):
        automl(None, ["nope"], split=split)
