"""aws-sims: related items from item-item co-occurrence in users' histories (no metadata)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.columns import ITEM_ID, USER_ID
from recsys.recipes.base import RELATED_ITEMS, ParamInfo, Recipe, _report
from recsys.recipes.popularity import unique_user_counts


def cooccurrence(recipe: Recipe, inter, min_count: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """(C, n): users who interacted with both items (diagonal removed, entries < min_count dropped), and per-item users."""
    pairs = inter[[USER_ID, ITEM_ID]].drop_duplicates()
    u = recipe._user_index().get_indexer(pairs[USER_ID].to_numpy(dtype=object))
    i = recipe._item_index().get_indexer(pairs[ITEM_ID].to_numpy(dtype=object))
    X = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(recipe.user_ids_), len(recipe.item_ids_)))
    C = (X.T @ X).tocsr()
    C.setdiag(0)
    if min_count > 1:
        C.data[C.data < min_count] = 0
    C.eliminate_zeros()
    n = np.asarray(X.sum(axis=0)).ravel().astype(np.float64)
    return C.astype(np.float32), n


class Sims(Recipe):
    """Items that the same users interacted with (Personalize's SIMS); unknown items get popular items.

    similarity(i, j) = C_ij / n_j ** popularity_discount_factor, where C_ij counts users who interacted with
    both (kept only when >= min_cointeraction_count) and n_j is j's user count: 0 keeps raw co-counts (favours
    popular items), 1 divides them out (pure association). Items without enough co-interactions are followed
    by popular items (a small popularity term breaks ties), so a list is always full.

    Example: ``Sims().fit(data).similar_items(["i1"], n=10)``
    """

    name = "aws-sims"
    description = "Related items that the same users interacted with (item-to-item collaborative filtering)."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Frequently bought together (ECOMMERCE)",
        "Because you watched X (VIDEO_ON_DEMAND)",
    )
    recipe_type = RELATED_ITEMS
    unknown_item_policy = "popular"
    returns_scores = False
    param_info = {
        "popularity_discount_factor": ParamInfo(0.5, "0 = popularity-driven co-counts, 1 = pure co-interaction",
                                                "float", (0.0, 1.0), hpo=True),
        "min_cointeraction_count": ParamInfo(3, "users needed in common before two items are related", "int",
                                             (0, 10), hpo=True),
    }

    def __init__(self, popularity_discount_factor=0.5, min_cointeraction_count=3):
        self.popularity_discount_factor = popularity_discount_factor
        self.min_cointeraction_count = min_cointeraction_count

    def _fit(self, data, progress) -> None:
        inter = data.interactions
        C, n = cooccurrence(self, inter, self.min_cointeraction_count)
        _report(progress, "co-occurrence", 0.6)
        d = np.power(np.maximum(n, 1.0), -self.popularity_discount_factor)
        S = C @ sp.diags(d.astype(np.float32))
        self.similarity_ = S.tocsr()
        self.counts_ = unique_user_counts(self, inter)

    def item_popularity(self) -> np.ndarray:
        """Unique users per item (back-fill and cold starts)."""
        return np.asarray(self.counts_, dtype=np.float64)

    def _popular_row(self) -> np.ndarray:
        c = self.counts_
        return c / max(c.sum(), 1.0)

    def _score_item_rows(self, pos) -> np.ndarray:
        pop = self._popular_row()
        out = np.tile(pop, (len(pos), 1))
        known = np.flatnonzero(pos >= 0)
        if len(known):
            rows = self.similarity_[pos[known]].toarray().astype(np.float64)
            top = rows.max(axis=1, keepdims=True)
            rows = np.where(top > 0, rows / np.where(top > 0, top, 1.0), 0.0)
            # co-interaction scores in (0, 1], popular items after them scaled below the smallest of them
            out[known] = rows + 1e-3 * pop[None, :] / max(pop.max(), 1e-12)
        return out

    def _reasons(self, user_id, pos, hist, ctx) -> list[list[str]]:
        return [[f"Users who interacted with one also interacted with the other ({int(self.counts_[p]):,} users "
                 f"interacted with it)"] for p in pos]

    def explain_similar(self, item_id: str, item_ids) -> list[list[str]]:
        """Why each of `item_ids` is related to `item_id`: shared users, or popularity fallback."""
        q = self.item_positions([item_id], strict=False)[0]
        pos = self.item_positions(item_ids)
        if q < 0:
            return [["Popular item (the query item is unknown to the model)"] for _ in pos]
        C_row = self.similarity_[q].toarray().ravel()
        out = []
        for p in pos:
            if C_row[p] > 0:
                out.append([f"Frequently interacted with together with {item_id}"])
            else:
                out.append(["Popular item"])
        return out
