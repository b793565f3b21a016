"""RATING_PREDICTION recipes over scikit-surprise: rating-svd, rating-svdpp, rating-knn-baseline.

EVENT_VALUE is the rating (the latest value per user and item). Surprise trains the model; its learned arrays
(biases, factors, similarities) are copied into numpy arrays aligned to our ids, so prediction is vectorised
numpy and save/load stores arrays in npz (no pickle, no Surprise objects). The rating scale is the observed
(min, max) of EVENT_VALUE and predictions are clipped to it, as Surprise does. `score_users` returns predicted
ratings for the whole catalogue, so these recipes can also rank; `new_events` are ignored (these models cannot
fold in new ratings without retraining).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.columns import EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from recsys.exceptions import ValidationError
from recsys.recipes.base import RATING_PREDICTION, History, ParamInfo, Recipe, _as_list, _report


class _SurpriseRecipe(Recipe):
    recipe_type = RATING_PREDICTION

    def _ratings(self, data) -> pd.DataFrame:
        inter = data.interactions
        if EVENT_VALUE not in inter.columns or inter[EVENT_VALUE].notna().sum() == 0:
            raise ValidationError(f"{self.name} needs ratings in EVENT_VALUE; the interactions have none "
                                  f"(use aws-user-personalization for implicit feedback)")
        r = inter[inter[EVENT_VALUE].notna()].sort_values(TIMESTAMP, kind="stable")
        return r.drop_duplicates([USER_ID, ITEM_ID], keep="last")[[USER_ID, ITEM_ID, EVENT_VALUE]]

    def _trainset(self, data):
        from surprise import Dataset, Reader

        r = self._ratings(data)
        lo, hi = float(r[EVENT_VALUE].min()), float(r[EVENT_VALUE].max())
        if hi <= lo:
            hi = lo + 1.0
        self.rating_scale_ = [lo, hi]
        self._store_history(data.interactions)
        ds = Dataset.load_from_df(r.rename(columns={USER_ID: "u", ITEM_ID: "i", EVENT_VALUE: "r"}),
                                  Reader(rating_scale=(lo, hi)))
        return ds.build_full_trainset()

    def _align(self, trainset):
        """Positions of our users/items in Surprise's inner ids (-1 when absent)."""
        u_inner = pd.Index([trainset.to_raw_uid(k) for k in range(trainset.n_users)]).get_indexer(self.user_ids_)
        i_inner = pd.Index([trainset.to_raw_iid(k) for k in range(trainset.n_items)]).get_indexer(self.item_ids_)
        return u_inner, i_inner

    @staticmethod
    def _take(arr, inner):
        arr = np.asarray(arr, dtype=np.float64)
        shape = (len(inner),) if arr.ndim == 1 else (len(inner), arr.shape[1])
        out = np.zeros(shape, dtype=np.float64)
        ok = inner >= 0
        out[ok] = arr[inner[ok]]
        return out

    def predict(self, user_ids, item_ids) -> np.ndarray:
        """Predicted ratings of (user, item) pairs (equal-length lists); unknown ids fall back to the baselines."""
        self._check_fitted()
        user_ids, item_ids = _as_list(user_ids), _as_list(item_ids)
        if len(user_ids) != len(item_ids):
            raise ValidationError(f"predict: {len(user_ids)} user ids but {len(item_ids)} item ids; pass pairs")
        u = self.user_positions(user_ids)
        i = self.item_positions(item_ids, strict=False)
        return self._predict_pairs(u, i)

    def _score_rows(self, upos, hist: History, contexts) -> np.ndarray:
        return self._predict_matrix(upos)

    def _clip(self, x):
        lo, hi = self.rating_scale_
        return np.clip(x, lo, hi)

    def _reasons(self, user_id, pos, hist, ctx) -> list[list[str]]:
        u = self.user_positions([user_id])
        preds = self._predict_pairs(np.repeat(u, len(pos)), pos)
        return [[f"Predicted rating {p:.2f}"] for p in preds]


class _FactorRecipe(_SurpriseRecipe):
    """Shared prediction for SVD and SVD++: mu + b_u + b_i + q_i . p_u (clipped)."""

    def _predict_matrix(self, upos) -> np.ndarray:
        known = upos >= 0
        P = np.zeros((len(upos), self.qi_.shape[1]))
        bu = np.zeros(len(upos))
        P[known], bu[known] = self.pu_[upos[known]], self.bu_[upos[known]]
        return self._clip(self.global_mean_ + bu[:, None] + self.bi_[None, :] + P @ self.qi_.T)

    def _predict_pairs(self, u, i) -> np.ndarray:
        ku, ki = u >= 0, i >= 0
        est = np.full(len(u), self.global_mean_)
        est[ku] += self.bu_[u[ku]]
        est[ki] += self.bi_[i[ki]]
        both = ku & ki
        est[both] += np.einsum("ij,ij->i", self.pu_[u[both]], self.qi_[i[both]])
        return self._clip(est)


class RatingSVD(_FactorRecipe):
    """Surprise's SVD (Funk matrix factorisation with biases) for explicit ratings.

    Example: ``RatingSVD(random_state=0).fit(data).predict(["u1"], ["i1"])``
    """

    name = "rating-svd"
    description = "Predicts the rating a user would give an item, by matrix factorisation of explicit ratings."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Predicted star ratings on item pages",
        "Ranking by predicted rating where users rate items",
    )
    param_info = {
        "n_factors": ParamInfo(100, "latent factors", "int", (1, 1000), hpo=True),
        "n_epochs": ParamInfo(20, "SGD epochs", "int", (1, 500), hpo=True),
        "biased": ParamInfo(True, "use user and item biases", "bool"),
        "lr_all": ParamInfo(0.005, "SGD learning rate", "float", (1e-5, 1.0), hpo=True, log=True),
        "reg_all": ParamInfo(0.02, "L2 regularisation", "float", (0.0, 10.0), hpo=True, log=True),
        "random_state": ParamInfo(None, "seed of the factor initialisation", "seed"),
    }

    def __init__(self, n_factors=100, n_epochs=20, biased=True, lr_all=0.005, reg_all=0.02, random_state=None):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.biased = biased
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.random_state = random_state

    def _fit(self, data, progress) -> None:
        from surprise import SVD

        ts = self._trainset(data)
        algo = SVD(n_factors=self.n_factors, n_epochs=self.n_epochs, biased=self.biased, lr_all=self.lr_all,
                   reg_all=self.reg_all, random_state=self.random_state)
        _report(progress, "sgd", 0.2)
        algo.fit(ts)
        u_in, i_in = self._align(ts)
        self.global_mean_ = float(ts.global_mean) if self.biased else 0.0
        self.bu_ = self._take(algo.bu, u_in) if self.biased else np.zeros(len(u_in))
        self.bi_ = self._take(algo.bi, i_in) if self.biased else np.zeros(len(i_in))
        self.pu_ = self._take(algo.pu, u_in)
        self.qi_ = self._take(algo.qi, i_in)


class RatingSVDpp(_FactorRecipe):
    """Surprise's SVD++ (SVD plus implicit feedback from which items a user rated).

    The implicit term is folded into each training user's vector at fit time
    (p_u + |I_u|^-1/2 sum_j y_j), so prediction has SVD's form.
    """

    name = "rating-svdpp"
    description = "Predicts ratings like SVD, also learning from which items each user chose to rate."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Predicted star ratings when who-rated-what carries signal",
    )
    param_info = {
        "n_factors": ParamInfo(20, "latent factors", "int", (1, 500), hpo=True),
        "n_epochs": ParamInfo(20, "SGD epochs", "int", (1, 500), hpo=True),
        "lr_all": ParamInfo(0.007, "SGD learning rate", "float", (1e-5, 1.0), hpo=True, log=True),
        "reg_all": ParamInfo(0.02, "L2 regularisation", "float", (0.0, 10.0), hpo=True, log=True),
        "random_state": ParamInfo(None, "seed of the factor initialisation", "seed"),
    }

    def __init__(self, n_factors=20, n_epochs=20, lr_all=0.007, reg_all=0.02, random_state=None):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.random_state = random_state

    def _fit(self, data, progress) -> None:
        from surprise import SVDpp

        ts = self._trainset(data)
        algo = SVDpp(n_factors=self.n_factors, n_epochs=self.n_epochs, lr_all=self.lr_all, reg_all=self.reg_all,
                     random_state=self.random_state)
        _report(progress, "sgd", 0.2)
        algo.fit(ts)
        pu = np.array(algo.pu, dtype=np.float64)
        yj = np.asarray(algo.yj, dtype=np.float64)
        for u in range(ts.n_users):
            rated = [j for j, _ in ts.ur[u]]
            if rated:
                pu[u] += yj[rated].sum(axis=0) / np.sqrt(len(rated))
        u_in, i_in = self._align(ts)
        self.global_mean_ = float(ts.global_mean)
        self.bu_ = self._take(algo.bu, u_in)
        self.bi_ = self._take(algo.bi, i_in)
        self.pu_ = self._take(pu, u_in)
        self.qi_ = self._take(algo.qi, i_in)


class RatingKNNBaseline(_SurpriseRecipe):
    """Surprise's KNNBaseline: baseline estimate plus a k-nearest-neighbour correction.

    Surprise computes the baselines (ALS) and the similarity matrix at fit time; we keep them plus the training
    ratings as arrays and predict with vectorised numpy exactly as Surprise's ``estimate`` does (top-k
    neighbours by similarity among those who rated the item, positive similarities only, at least `min_k`).
    The similarity matrix is dense (users x users, or items x items with user_based=False): a small-data recipe.
    """

    name = "rating-knn-baseline"
    description = "Predicts ratings from a user's or item's nearest neighbours on top of a baseline estimate."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Predicted star ratings explained by similar users or items",
    )
    param_info = {
        "k": ParamInfo(40, "maximum neighbours", "int", (1, 1000), hpo=True),
        "min_k": ParamInfo(1, "minimum neighbours for the correction to apply", "int", (1, 100)),
        "sim_name": ParamInfo("pearson_baseline", "similarity measure", "str",
                              choices=("pearson_baseline", "cosine", "msd", "pearson")),
        "user_based": ParamInfo(True, "neighbours are users (True) or items (False)", "bool"),
        "shrinkage": ParamInfo(100, "shrinkage of pearson_baseline similarities", "int", (0, 10_000)),
    }

    def __init__(self, k=40, min_k=1, sim_name="pearson_baseline", user_based=True, shrinkage=100):
        self.k = k
        self.min_k = min_k
        self.sim_name = sim_name
        self.user_based = user_based
        self.shrinkage = shrinkage

    def _fit(self, data, progress) -> None:
        from surprise import KNNBaseline

        ts = self._trainset(data)
        algo = KNNBaseline(k=self.k, min_k=self.min_k, verbose=False,
                           sim_options={"name": self.sim_name, "user_based": self.user_based,
                                        "shrinkage": self.shrinkage})
        _report(progress, "similarities", 0.2)
        algo.fit(ts)
        u_in, i_in = self._align(ts)
        self.global_mean_ = float(ts.global_mean)
        self.bu_ = self._take(algo.bu, u_in)
        self.bi_ = self._take(algo.bi, i_in)
        x_in = u_in if self.user_based else i_in
        sim = np.zeros((len(x_in), len(x_in)), dtype=np.float32)
        ok = np.flatnonzero(x_in >= 0)
        sim[np.ix_(ok, ok)] = np.asarray(algo.sim)[np.ix_(x_in[ok], x_in[ok])]
        self.sim_ = sim
        r = self._ratings(data)
        self.r_users_ = self.user_positions(r[USER_ID].tolist()).astype(np.int64)
        self.r_items_ = self.item_positions(r[ITEM_ID].tolist()).astype(np.int64)
        self.r_values_ = r[EVENT_VALUE].to_numpy(np.float64)

    def _residuals(self) -> np.ndarray:
        c = self._c()
        if "dense" not in c:
            R = np.full((len(self.user_ids_), len(self.item_ids_)), np.nan)
            R[self.r_users_, self.r_items_] = self.r_values_ - (
                self.global_mean_ + self.bu_[self.r_users_] + self.bi_[self.r_items_])
            c["dense"] = R
        return c["dense"]

    def _predict_matrix(self, upos) -> np.ndarray:
        R = self._residuals()
        rated = ~np.isnan(R)
        Rz = np.nan_to_num(R)
        out = np.empty((len(upos), len(self.item_ids_)))
        for row, u in enumerate(upos):
            base = self.global_mean_ + (self.bu_[u] if u >= 0 else 0.0) + self.bi_
            if u < 0:
                out[row] = base
                continue
            if self.user_based:
                s = self.sim_[u].astype(np.float64)
                order = np.argsort(-s, kind="stable")
                M = rated[order]
                within = M & (np.cumsum(M, axis=0) <= self.k)
                w = within * np.clip(s[order], 0, None)[:, None]
                num, den = (w * Rz[order]).sum(axis=0), w.sum(axis=0)
                cnt = (w > 0).sum(axis=0)
            else:
                J = np.flatnonzero(rated[u])
                S = self.sim_[:, J].astype(np.float64)
                order = np.argsort(-S, axis=1, kind="stable")[:, :self.k]
                Ss = np.take_along_axis(S, order, 1)
                w = np.clip(Ss, 0, None)
                num, den = (w * Rz[u, J][order]).sum(axis=1), w.sum(axis=1)
                cnt = (w > 0).sum(axis=1)
            corr = np.where((den > 0) & (cnt >= self.min_k), num / np.where(den > 0, den, 1), 0.0)
            known_item = np.ones(len(self.item_ids_), dtype=bool)
            out[row] = base + corr * known_item
        return self._clip(out)

    def _predict_pairs(self, u, i) -> np.ndarray:
        est = np.empty(len(u))
        for uu in np.unique(u):
            rows = np.flatnonzero(u == uu)
            full = self._predict_matrix(np.array([uu]))[0]
            ii = i[rows]
            est[rows] = np.where(ii >= 0, full[np.maximum(ii, 0)],
                                 self._clip(self.global_mean_ + (self.bu_[uu] if uu >= 0 else 0.0)))
        return est
