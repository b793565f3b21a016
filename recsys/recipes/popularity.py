"""aws-popularity-count: the same list for everyone, items ranked by how many unique users interacted with them."""

from __future__ import annotations

import numpy as np

from recsys.columns import ITEM_ID, USER_ID
from recsys.recipes.base import USER_PERSONALIZATION, History, Recipe, _report


def unique_user_counts(recipe: Recipe, inter) -> np.ndarray:
    """Unique users per catalogue item (in `recipe.item_ids_` order)."""
    pairs = inter[[USER_ID, ITEM_ID]].drop_duplicates()
    pos = recipe._item_index().get_indexer(pairs[ITEM_ID].to_numpy(dtype=object))
    return np.bincount(pos, minlength=len(recipe.item_ids_)).astype(np.float64)


class PopularityCount(Recipe):
    """Most popular items by unique users (Personalize's recommended offline baseline; no hyperparameters).

    Scores are each item's share of unique-user interactions (they sum to 1); the API omits them as
    Personalize does. Any user id works (the list is the same for everyone); seen items can be excluded.

    Example: ``PopularityCount().fit(data).recommend(["u1"], n=10)``
    """

    name = "aws-popularity-count"
    description = "The items most users interacted with, the same list for everyone; the baseline to beat."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Most viewed / Best sellers (ECOMMERCE)",
        "Most popular (VIDEO_ON_DEMAND)",
        "Offline baseline for every comparison",
    )
    recipe_type = USER_PERSONALIZATION
    param_info = {}
    unknown_item_policy = "error"
    returns_scores = False

    def __init__(self):
        pass

    def _fit(self, data, progress) -> None:
        inter = data.interactions
        self.counts_ = unique_user_counts(self, inter)
        _report(progress, "count", 0.5)
        self._store_history(inter)

    def item_popularity(self) -> np.ndarray:
        """Unique users per item (back-fill and cold starts)."""
        return np.asarray(self.counts_, dtype=np.float64)

    def _score_rows(self, upos, hist: History, contexts) -> np.ndarray:
        total = self.counts_.sum()
        p = self.counts_ / total if total > 0 else np.full(len(self.counts_), 1.0 / max(len(self.counts_), 1))
        return np.tile(p, (len(upos), 1))

    def _reasons(self, user_id, pos, hist, ctx) -> list[list[str]]:
        return [[f"Popular item: {int(self.counts_[p]):,} users interacted with it"] for p in pos]
