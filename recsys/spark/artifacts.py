"""Spark results turned into the recipes' own fitted objects, so they save and serve exactly as local training.

Each adapter takes what Spark computed (factors, counts, co-occurrences, histories as numpy arrays indexed by
the sorted id arrays) and sets the fitted state the recipe's `fit` would have set; the caller saves it with
the recipe's own `save` (params.json + ids.json + arrays.npz, no pickle). When a recipe's internal state
changes, the adapter here and the round-trip test in tests/test_spark.py are the two places that show it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.columns import CREATION_TIMESTAMP, ITEM_ID


@dataclass
class Histories:
    """Every training user's events as the recipes keep them: CSR-like arrays sorted by (user, time)."""

    indptr: np.ndarray        # (n_users + 1,) int64
    items: np.ndarray         # (n_events,) int32 item positions
    times: np.ndarray         # (n_events,) int64
    weights: np.ndarray       # (n_events,) float32 event weights
    ctx: np.ndarray | None = None   # (n_events, n_context_fields) int32 context codes, -1 = unknown


def _base(recipe, item_ids: np.ndarray, user_ids: np.ndarray) -> None:
    recipe._validate_params()
    recipe._cache = {}
    recipe.item_ids_ = np.asarray(item_ids, dtype=object)
    recipe.user_ids_ = np.asarray(user_ids, dtype=object)


def _set_histories(recipe, hist: Histories) -> None:
    recipe.hist_indptr_ = np.asarray(hist.indptr, dtype=np.int64)
    recipe.hist_items_ = np.asarray(hist.items, dtype=np.int32)
    recipe.hist_times_ = np.asarray(hist.times, dtype=np.int64)
    recipe.hist_weights_ = np.asarray(hist.weights, dtype=np.float32)
    if hist.ctx is not None:
        recipe.hist_ctx_ = np.asarray(hist.ctx, dtype=np.int32)


def user_personalization(params: dict, *, item_ids, user_ids, item_factors: np.ndarray, counts: np.ndarray,
                         histories: Histories, t_max: int, first_seen: np.ndarray,
                         impressions: np.ndarray, items: pd.DataFrame | None = None,
                         context_fields=(), context_keys=(), context_lift: np.ndarray | None = None):
    """A fitted aws-user-personalization on its ALS path from Spark's item factors.

    counts: unique users per item; first_seen: each item's first interaction time (t_max when never seen);
    impressions: impressions per item; context_lift: (n_context_keys, n_items) smoothed log-lifts.
    The softmax temperature is then fitted by the recipe itself, on these histories, as `fit` does.
    """
    from recsys.recipes.user_personalization import UserPersonalization

    recipe = UserPersonalization(**params)
    _base(recipe, item_ids, user_ids)
    n_items = len(recipe.item_ids_)
    recipe.context_keys_ = np.asarray(list(context_keys), dtype=object)
    recipe.context_fields_ = list(context_fields)
    recipe.context_lift_ = (np.asarray(context_lift, dtype=np.float32) if context_lift is not None and len(context_keys)
                            else np.zeros((0, n_items), dtype=np.float32))
    _set_histories(recipe, histories)
    recipe.counts_ = np.asarray(counts, dtype=np.float64)
    recipe.log_pop_ = np.log((recipe.counts_ + 1.0) / (recipe.counts_.sum() + n_items))
    recipe.t_max_ = int(t_max)
    recipe.model_kind_ = "als"
    recipe.item_factors_ = np.asarray(item_factors, dtype=np.float32)
    recipe.l2_used_ = float(recipe.regularization)
    created = np.asarray(first_seen, dtype=np.int64).copy()
    if items is not None and CREATION_TIMESTAMP in items.columns:
        ct = pd.to_numeric(items[CREATION_TIMESTAMP], errors="coerce")
        pos = recipe._item_index().get_indexer(items[ITEM_ID].to_numpy(dtype=object))
        good = ct.notna().to_numpy() & (pos >= 0)
        created[pos[good]] = ct.to_numpy(dtype=np.float64, na_value=0)[good].astype(np.int64)
    recipe.created_ = created
    recipe.impressions_ = np.asarray(impressions, dtype=np.float64)
    rng = np.random.default_rng(recipe.random_state)
    recipe.exploration_noise_ = rng.standard_normal(n_items).astype(np.float32)
    # the settings an untuned ALS fit of these parameters uses (Spark fits ALS as given, no auto-tuning)
    asked = recipe.auto_tune, recipe.model
    recipe.auto_tune, recipe.model = False, "als"
    recipe.settings_, _ = recipe._choose_settings(None)
    recipe.auto_tune, recipe.model = asked
    recipe.tuning_ = {"auto_tune": False, "reason": "trained on Spark: ALS with the given parameters, not auto-tuned"}
    recipe._fit_temperature()
    return recipe


def popularity_count(*, item_ids, user_ids, counts: np.ndarray, histories: Histories):
    """A fitted aws-popularity-count from unique-user counts per item."""
    from recsys.recipes.popularity import PopularityCount

    recipe = PopularityCount()
    _base(recipe, item_ids, user_ids)
    recipe.counts_ = np.asarray(counts, dtype=np.float64)
    _set_histories(recipe, histories)
    return recipe


def trending_now(params: dict, *, item_ids, user_ids, t_max: int, current: np.ndarray, previous: np.ndarray,
                 total: np.ndarray, histories: Histories):
    """A fitted aws-trending-now from interaction counts in the latest two intervals and overall."""
    from recsys.recipes.trending import TrendingNow, trend_scores

    recipe = TrendingNow(**params)
    _base(recipe, item_ids, user_ids)
    recipe.t_max_ = int(t_max)
    recipe.current_ = np.asarray(current, dtype=np.float64)
    recipe.previous_ = np.asarray(previous, dtype=np.float64)
    recipe.total_ = np.asarray(total, dtype=np.float64)
    _set_histories(recipe, histories)
    recipe.trend_rate_, recipe.trend_score_ = trend_scores(recipe.current_, recipe.previous_, recipe.total_)
    return recipe


def sims(params: dict, *, item_ids, user_ids, rows: np.ndarray, cols: np.ndarray, co_counts: np.ndarray,
         counts: np.ndarray):
    """A fitted aws-sims from item-item co-occurrence counts (COO, diagonal and small counts already dropped)."""
    from recsys.recipes.sims import Sims

    recipe = Sims(**params)
    _base(recipe, item_ids, user_ids)
    n_items = len(recipe.item_ids_)
    C = sp.csr_matrix((np.asarray(co_counts, dtype=np.float32), (rows, cols)), shape=(n_items, n_items))
    d = np.power(np.maximum(np.asarray(counts, dtype=np.float64), 1.0), -recipe.popularity_discount_factor)
    recipe.similarity_ = (C @ sp.diags(d.astype(np.float32))).tocsr()
    recipe.counts_ = np.asarray(counts, dtype=np.float64)
    return recipe
