"""Pure numpy steps of one recommendation request: top-n, exploration, back-fill and promotion placement.

Everything here works on positions in a candidate array (the model's catalogue followed by items the model
has never seen); nothing reads the store, so each rule can be tested on hand-made arrays.
"""

from __future__ import annotations

import hashlib
import math
import numpy as np

REASON_POPULAR = "Popular item"
REASON_PROMOTED = "Promoted item"
REASON_EXPLORATION = "Exploration"


def softmax(scores: np.ndarray) -> np.ndarray:
    """exp(s_i) / sum_j exp(s_j) over the finite entries (others get 0); Personalize's score [AP §6.4]."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    out = np.zeros(scores.shape, dtype=np.float64)
    if not finite.any():
        return out
    shifted = np.where(finite, scores - scores[finite].max(), -np.inf)
    np.exp(shifted, out=out)
    total = out.sum()
    return out / total if total > 0 else out


def top_positions(key: np.ndarray, n: int, mask: np.ndarray | None = None,
                  exclude: np.ndarray | None = None) -> np.ndarray:
    """Positions of the `n` largest finite `key` values allowed by `mask`, best first (ties: lower position).

    `exclude` is an array of positions that may not be returned (items already placed).
    """
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    valid = np.isfinite(key)
    if mask is not None:
        valid &= mask
    if exclude is not None and len(exclude):
        valid[exclude] = False
    candidates = np.flatnonzero(valid)
    if len(candidates) > n:
        part = np.argpartition(-key[candidates], n - 1)[:n]
        candidates = candidates[part]
    order = np.lexsort((candidates, -key[candidates]))
    return candidates[order]


def promoted_count(num_results: int, percent: int) -> int:
    """Slots given to a promotion: floor(num_results * percent / 100), at least 1 when both are positive.

    Personalize documents only "the percentage of recommended items"; we round down (so a promotion never
    takes more than its share) except that a non-zero share always gets one slot.
    """
    if num_results <= 0 or percent <= 0:
        return 0
    return min(num_results, max(1, (num_results * percent) // 100))


def seed_from(recommendation_id: str) -> int:
    """A 64-bit seed derived from a recommendationId, so a response can be reproduced from its id."""
    return int.from_bytes(hashlib.sha256(recommendation_id.encode()).digest()[:8], "big")


def promotion_positions(total: int, n_promoted: int, seed: int) -> np.ndarray:
    """`n_promoted` distinct slots out of `total`, drawn at random with `seed`, ascending."""
    n_promoted = min(n_promoted, total)
    if n_promoted <= 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=n_promoted, replace=False))


def interleave(regular: list, promoted: list, seed: int) -> tuple[list, np.ndarray]:
    """Place `promoted` (kept in their order) at seeded-random slots among `regular` (kept in order).

    Returns the merged list and the slots the promoted entries took.
    """
    total = len(regular) + len(promoted)
    slots = promotion_positions(total, len(promoted), seed)
    merged: list = []
    slot_set = set(int(s) for s in slots)
    promo_iter, regular_iter = iter(promoted), iter(regular)
    for position in range(total):
        merged.append(next(promo_iter) if position in slot_set else next(regular_iter))
    return merged, slots


def exploration_bonus(eligible: np.ndarray, interactions: np.ndarray, impressions: np.ndarray) -> np.ndarray:
    """Per-candidate exploration bonus in [0, 1]: 1 / (1 + interactions + impressions) for eligible items.

    Personalize describes the bonus as inversely proportional to an item's interactions/impressions, so it
    shrinks as the item is shown without being clicked [AP §12]; non-eligible items get 0.
    """
    bonus = 1.0 / (1.0 + np.asarray(interactions, dtype=np.float64) + np.asarray(impressions, dtype=np.float64))
    return np.where(eligible, bonus, 0.0)


def select_with_exploration(relevance: np.ndarray, n: int, mask: np.ndarray | None, bonus: np.ndarray,
                            weight: float, seed: int,
                            exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-n by (1 - w) * relevance/max + w * bonus * noise, with at most ceil(w * n) explored items.

    `relevance` is the model's score (NaN/-inf where the model has none, e.g. new items); `bonus` comes from
    `exploration_bonus`. An item counts as explored when its bonus term outweighs its relevance term; those are
    capped so that exploration shares the list instead of taking it over. Returns (positions best first,
    explored flags).
    """
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    if weight <= 0 or not np.any(bonus > 0):
        picks = top_positions(relevance, n, mask, exclude)
        return picks, np.zeros(len(picks), dtype=bool)
    rel = np.where(np.isfinite(relevance), relevance, 0.0)
    top = rel.max() if len(rel) else 0.0
    rel = rel / top if top > 0 else rel
    explore_term = np.zeros(len(rel))
    boosted = np.flatnonzero(bonus > 0)
    explore_term[boosted] = weight * bonus[boosted] * np.random.default_rng(seed).uniform(0.8, 1.0, len(boosted))
    key = (1.0 - weight) * rel + explore_term
    has_score = np.isfinite(relevance)
    explored = explore_term > (1.0 - weight) * rel
    cap = math.ceil(weight * n)
    # Candidates: the best n exploit items plus the best `cap` explore-dominated ones.
    exploit = top_positions(np.where(has_score & ~explored, key, -np.inf), n, mask, exclude)
    explore_pool = top_positions(np.where(explored & (bonus > 0), key, -np.inf), cap, mask, exclude)
    candidates = np.concatenate([exploit, explore_pool])
    order = candidates[np.lexsort((candidates, -key[candidates]))][:n]
    return order, explored[order]
