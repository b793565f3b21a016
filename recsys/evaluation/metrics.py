"""Offline metrics with Amazon Personalize's keys and definitions [AP §5.2], as vectorised per-user numpy arrays.

Every ranking metric takes ``recommended`` (one ranked sequence of item ids per user, best first; lists may
have different lengths) and ``truth`` (one collection of relevant item ids per user; duplicates count once)
and returns one value per user, so callers can average them, bootstrap them or break them down by segment.

Example::

    >>> recommended = [["a", "b", "c", "d", "e"]]
    >>> truth = [{"b", "e"}]                       # relevant at ranks 2 and 5 (AP §5.2 worked example)
    >>> float(reciprocal_rank_at_k(recommended, truth, 25)[0])
    0.5
    >>> round(float(ndcg_at_k(recommended, truth, 5)[0]), 4)
    0.6241
    >>> float(precision_at_k(recommended, truth, 5)[0])
    0.4
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

# Personalize's metric keys (AP §5.2) and the extras this project adds.
COVERAGE = "coverage"
DEFAULT_KS = (5, 10, 25)


def precision_key(k: int) -> str:
    return f"precision_at_{k}"


def ndcg_key(k: int) -> str:
    return f"normalized_discounted_cumulative_gain_at_{k}"


def mrr_key(k: int) -> str:
    return f"mean_reciprocal_rank_at_{k}"


def recall_key(k: int) -> str:
    return f"recall_at_{k}"


def hit_rate_key(k: int) -> str:
    return f"hit_rate_at_{k}"


def map_key(k: int) -> str:
    return f"mean_average_precision_at_{k}"


AVERAGE_REWARDS = "average_rewards_at_k"
NOVELTY = "novelty"
POPULARITY_BIAS = "popularity_bias"
RMSE = "root_mean_square_error"
MAE = "mean_absolute_error"
SEGMENT_HIT = "hit"
SEGMENT_RECALL = "recall"

#: The keys `GetSolutionMetrics` returns for a user-personalization solution, in Personalize's order.
PERSONALIZE_KEYS = (
    COVERAGE,
    mrr_key(25),
    ndcg_key(5),
    ndcg_key(10),
    ndcg_key(25),
    precision_key(5),
    precision_key(10),
    precision_key(25),
)

#: Metrics where a smaller value is better (everything else: bigger is better).
LOWER_IS_BETTER = frozenset({RMSE, MAE, POPULARITY_BIAS})

def display_name(key: str) -> str:
    """A short label for a metric key: ``normalized_discounted_cumulative_gain_at_10`` -> ``NDCG@10``."""
    prefixes = {
        "normalized_discounted_cumulative_gain_at_": "NDCG@",
        "precision_at_": "Precision@",
        "recall_at_": "Recall@",
        "hit_rate_at_": "HitRate@",
        "mean_reciprocal_rank_at_": "MRR@",
        "mean_average_precision_at_": "MAP@",
    }
    for prefix, short in prefixes.items():
        if key.startswith(prefix):
            return short + key[len(prefix):]
    return {COVERAGE: "Coverage", NOVELTY: "Novelty", POPULARITY_BIAS: "Popularity bias", RMSE: "RMSE",
            MAE: "MAE", AVERAGE_REWARDS: "Average rewards@k", SEGMENT_HIT: "Hit@K", SEGMENT_RECALL: "Recall@K"}.get(
        key, key)


@dataclass(frozen=True)
class HitMatrix:
    """Which recommended positions are relevant: ``hits[u, j]`` is True when user u's item at rank j+1 is relevant.

    ``n_relevant[u]`` is the number of distinct relevant items of user u; ``lengths[u]`` how many items were
    recommended (positions past the end of a short list are never hits).
    """

    hits: np.ndarray        # bool (n_users, k)
    n_relevant: np.ndarray  # int (n_users,)
    lengths: np.ndarray     # int (n_users,)

    @property
    def k(self) -> int:
        return self.hits.shape[1]


def _flatten(lists: Sequence[Iterable], k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ragged id lists (each cut to k) into one object array plus the length of each list."""
    arrays = []
    for values in lists:
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=object).ravel()
        arrays.append(arr[:k] if k is not None else arr)
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    flat = np.concatenate(arrays) if arrays and lengths.sum() else np.empty(0, dtype=object)
    return flat, lengths


def hit_matrix(recommended: Sequence[Iterable], truth: Sequence[Iterable], k: int | None = None) -> HitMatrix:
    """Mark the relevant positions of every ranked list in one vectorised pass.

    Parameters
    ----------
    recommended : one ranked sequence of item ids per user (best first); lists may differ in length.
    truth : one collection of relevant item ids per user (same order and length as ``recommended``).
    k : cut every list to its first k items (default: the longest list).
    """
    if len(recommended) != len(truth):
        raise ValueError(f"recommended has {len(recommended)} users but truth has {len(truth)}; pass one "
                         "truth collection per ranked list")
    n = len(recommended)
    rec_flat, rec_len = _flatten(recommended, k)
    truth_flat, truth_len = _flatten(truth)  # duplicates collapse in the unique keys below
    width = int(k if k is not None else (rec_len.max() if n else 0))
    hits = np.zeros((n, width), dtype=bool)
    codes, uniques = pd.factorize(np.concatenate([rec_flat, truth_flat]).astype(object))
    m = max(len(uniques), 1)
    rec_user = np.repeat(np.arange(n, dtype=np.int64), rec_len)
    truth_user = np.repeat(np.arange(n, dtype=np.int64), truth_len)
    rec_keys = rec_user * m + codes[: len(rec_flat)]
    truth_keys = pd.unique(truth_user * m + codes[len(rec_flat):])
    n_relevant = np.bincount(truth_keys // m, minlength=n).astype(np.int64) if n else np.zeros(0, np.int64)
    if len(rec_flat):
        starts = np.concatenate([[0], np.cumsum(rec_len)[:-1]])
        position = np.arange(len(rec_flat)) - np.repeat(starts, rec_len)
        hits[rec_user, position] = pd.Index(truth_keys).get_indexer(rec_keys) >= 0
    return HitMatrix(hits=hits, n_relevant=n_relevant, lengths=rec_len)


def _as_hits(recommended, truth, k: int) -> HitMatrix:
    return recommended if isinstance(recommended, HitMatrix) else hit_matrix(recommended, truth, k)


def _top(h: HitMatrix, k: int) -> np.ndarray:
    """The first k columns of the hit matrix, padded with misses when the lists are shorter than k."""
    if h.k >= k:
        return h.hits[:, :k]
    return np.pad(h.hits, ((0, 0), (0, k - h.k)))


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision_at_k(recommended, truth=None, k: int = 10) -> np.ndarray:
    """Relevant items in the top k ÷ k, per user (Personalize ``precision_at_k``; a short list still divides by k)."""
    h = _as_hits(recommended, truth, k)
    return _top(h, k).sum(axis=1) / float(k)


def recall_at_k(recommended, truth=None, k: int = 10) -> np.ndarray:
    """Relevant items in the top k ÷ number of distinct relevant items, per user (0 when nothing is relevant)."""
    h = _as_hits(recommended, truth, k)
    return _safe_divide(_top(h, k).sum(axis=1), h.n_relevant)


def hit_rate_at_k(recommended, truth=None, k: int = 10) -> np.ndarray:
    """1.0 when at least one relevant item is in the top k, else 0.0, per user."""
    h = _as_hits(recommended, truth, k)
    return _top(h, k).any(axis=1).astype(np.float64)


def reciprocal_rank_at_k(recommended, truth=None, k: int = 25) -> np.ndarray:
    """1 / rank of the first relevant item in the top k (0 if none), per user; mean = ``mean_reciprocal_rank_at_k``."""
    h = _as_hits(recommended, truth, k)
    top = _top(h, k)
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1.0), 0.0)


def _discounts(k: int) -> np.ndarray:
    """DCG weight of positions 1..k: 1 / log(1 + position) (log base 2; the base cancels in NDCG)."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def ndcg_at_k(recommended, truth=None, k: int = 10) -> np.ndarray:
    """Normalised discounted cumulative gain at k, per user (AP §5.2).

    ``DCG = sum over relevant positions p <= k of 1 / log(1 + p)``; the ideal DCG puts min(k, |relevant|)
    relevant items at the top; NDCG = DCG / ideal DCG (0 when nothing is relevant).
    """
    h = _as_hits(recommended, truth, k)
    disc = _discounts(k)
    dcg = _top(h, k) @ disc
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(h.n_relevant, k)]
    return _safe_divide(dcg, ideal)


def average_precision_at_k(recommended, truth=None, k: int = 25) -> np.ndarray:
    """Average of precision@p over the relevant positions p <= k, ÷ min(k, |relevant|), per user."""
    h = _as_hits(recommended, truth, k)
    top = _top(h, k)
    precisions = np.cumsum(top, axis=1) / np.arange(1, k + 1)
    return _safe_divide((precisions * top).sum(axis=1), np.minimum(h.n_relevant, k))


def ranking_metrics(recommended, truth=None, ks: Sequence[int] = DEFAULT_KS) -> dict[str, np.ndarray]:
    """Every per-user ranking metric for each k in ``ks`` from one hit matrix, keyed by metric key.

    Keys: ``precision_at_k``, ``recall_at_k``, ``hit_rate_at_k``, ``normalized_discounted_cumulative_gain_at_k``
    for each k, and ``mean_reciprocal_rank_at_K`` / ``mean_average_precision_at_K`` for K = max(ks)
    (Personalize reports MRR at 25 only).
    """
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    top_k = ks[-1]
    h = _as_hits(recommended, truth, top_k)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[ndcg_key(k)] = ndcg_at_k(h, k=k)
        out[precision_key(k)] = precision_at_k(h, k=k)
        out[recall_key(k)] = recall_at_k(h, k=k)
        out[hit_rate_key(k)] = hit_rate_at_k(h, k=k)
    out[mrr_key(top_k)] = reciprocal_rank_at_k(h, k=top_k)
    out[map_key(top_k)] = average_precision_at_k(h, k=top_k)
    return out


def coverage(recommended: Sequence[Iterable], catalogue: Iterable) -> float:
    """Distinct items recommended to any user ÷ catalogue size (Personalize ``coverage``).

    The catalogue is every item in the Interactions and Items data sets; recommended ids outside it are
    ignored.
    """
    cat = pd.Index(pd.unique(np.asarray(list(catalogue) if not isinstance(catalogue, np.ndarray) else catalogue,
                                        dtype=object)))
    if len(cat) == 0:
        return 0.0
    flat, _ = _flatten(recommended)
    if not len(flat):
        return 0.0
    seen = pd.unique(flat)
    return float((cat.get_indexer(seen) >= 0).sum()) / len(cat)


def item_popularity(interactions: pd.DataFrame, user_col: str = "USER_ID", item_col: str = "ITEM_ID") -> pd.Series:
    """Number of distinct users who interacted with each item (the popularity behind novelty and bias)."""
    return interactions[[user_col, item_col]].drop_duplicates()[item_col].value_counts()


def _per_user_mean(recommended: Sequence[Iterable], values_of, k: int | None) -> np.ndarray:
    flat, lengths = _flatten(recommended, k)
    values = values_of(flat)
    user = np.repeat(np.arange(len(lengths)), lengths)
    sums = np.bincount(user, weights=values, minlength=len(lengths)) if len(flat) else np.zeros(len(lengths))
    return _safe_divide(sums, lengths)


def novelty(recommended: Sequence[Iterable], popularity: Mapping | pd.Series, n_users: int,
            k: int | None = None) -> np.ndarray:
    """Mean self-information of the recommended items, per user, in bits.

    ``novelty(i) = -log2((users(i) + 1) / (n_users + 1))`` where users(i) is how many training users
    interacted with item i (the +1 keeps never-seen items finite). Higher = less obvious recommendations.
    """
    pop = popularity if isinstance(popularity, pd.Series) else pd.Series(dict(popularity), dtype=np.float64)
    index = pd.Index(pop.index.astype(object))
    counts = pop.to_numpy(dtype=np.float64)

    def info(flat):
        pos = index.get_indexer(flat)
        c = np.where(pos >= 0, counts[np.maximum(pos, 0)], 0.0) if len(counts) else np.zeros(len(flat))
        return -np.log2((c + 1.0) / (n_users + 1.0))

    return _per_user_mean(recommended, info, k)


def popularity_percentile(recommended: Sequence[Iterable], popularity: Mapping | pd.Series,
                          catalogue: Iterable | None = None, k: int | None = None) -> np.ndarray:
    """Mean popularity percentile of the recommended items, per user (the popularity bias).

    An item's percentile is the share of catalogue items strictly less popular than it plus half the share
    with equal popularity (mid-rank), so the most popular item is near 1, an unseen item near 0, and a
    random recommender scores about 0.5.
    """
    pop = popularity if isinstance(popularity, pd.Series) else pd.Series(dict(popularity), dtype=np.float64)
    pop = pop.astype(np.float64)
    pop.index = pop.index.astype(object)
    if catalogue is not None:
        cat = pd.Index(pd.unique(np.asarray(list(catalogue), dtype=object)))
        pop = pop.reindex(cat.union(pop.index), fill_value=0.0)
    pct = pop.rank(method="average", pct=False)
    pct = (pct - 0.5) / max(len(pop), 1)
    index = pd.Index(pct.index)
    values = pct.to_numpy()

    def lookup(flat):
        pos = index.get_indexer(flat)
        return np.where(pos >= 0, values[np.maximum(pos, 0)], 0.0) if len(values) else np.zeros(len(flat))

    return _per_user_mean(recommended, lookup, k)


def average_rewards_at_k(recommended: Sequence[Iterable], truth: Sequence[Iterable], rewards: Mapping | pd.Series,
                         k: int = 25) -> np.ndarray:
    """Reward earned by the top-k list ÷ the best reward the user's relevant items could give, per user.

    Our reading of Personalize's ``average_rewards_at_k`` (AP §5.2, defined there only in words): the reward of
    an item is its optimisation-objective value (e.g. PRICE). Numerator = sum of rewards of relevant items in
    the top k; denominator = sum of the min(k, |relevant|) largest rewards among the relevant items. So 1.0
    means the list holds the user's most rewarding relevant items; users with no reward to earn score 0.
    """
    rw = rewards if isinstance(rewards, pd.Series) else pd.Series(dict(rewards), dtype=np.float64)
    index = pd.Index(rw.index.astype(object))
    values = np.clip(rw.to_numpy(dtype=np.float64), 0.0, None)

    def reward_of(ids) -> np.ndarray:
        pos = index.get_indexer(np.asarray(ids, dtype=object))
        return np.where(pos >= 0, values[np.maximum(pos, 0)], 0.0) if len(values) else np.zeros(len(pos))

    h = hit_matrix(recommended, truth, k)
    rec_flat, rec_len = _flatten(recommended, k)
    earned = np.zeros(len(rec_len))
    if len(rec_flat):
        starts = np.concatenate([[0], np.cumsum(rec_len)[:-1]])
        position = np.arange(len(rec_flat)) - np.repeat(starts, rec_len)
        user = np.repeat(np.arange(len(rec_len)), rec_len)
        gain = reward_of(rec_flat) * h.hits[user, position]
        earned = np.bincount(user, weights=gain, minlength=len(rec_len))
    best = np.array([np.sort(reward_of(list(set(t))))[::-1][:k].sum() for t in truth], dtype=np.float64)
    return _safe_divide(earned, best)


def rmse(y_true, y_pred) -> float:
    """Root mean squared error of rating predictions: sqrt(mean((y - ŷ)²))."""
    y_true, y_pred = _paired(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2))) if len(y_true) else float("nan")


def mae(y_true, y_pred) -> float:
    """Mean absolute error of rating predictions: mean(|y - ŷ|)."""
    y_true, y_pred = _paired(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred))) if len(y_true) else float("nan")


def _paired(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=np.float64).ravel()
    b = np.asarray(y_pred, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"y_true has {a.size} values but y_pred has {b.size}; pass one prediction per rating")
    return a, b


def segment_k(n_users: int, fraction: float = 0.01) -> int:
    """K for segmentation metrics: the top 1% of users (at least 1), as Personalize does (AP §5.2)."""
    return max(1, int(math.ceil(fraction * n_users - 1e-9)))


def segmentation_metrics(predicted_users: Sequence[Iterable], actual_users: Sequence[Iterable],
                         k: int) -> dict[str, np.ndarray]:
    """Per-item ``hit`` and ``recall`` for USER_SEGMENTATION recipes (AP §5.2).

    For each query item, ``predicted_users`` is the model's ranked user list and ``actual_users`` the users who
    interacted with it in the test data. hit = how many of the top-k predicted users actually interacted;
    recall = that number ÷ the number of users who interacted (the "percentage" Personalize averages).
    """
    h = hit_matrix(predicted_users, actual_users, k)
    found = _top(h, k).sum(axis=1).astype(np.float64)
    return {SEGMENT_HIT: found, SEGMENT_RECALL: _safe_divide(found, h.n_relevant)}
