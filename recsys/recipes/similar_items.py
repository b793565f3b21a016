"""aws-similar-items: co-occurrence blended with item metadata similarity, so cold items get neighbours too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.columns import ITEM_ID
from recsys.exceptions import ValidationError
from recsys.recipes.base import RELATED_ITEMS, ParamInfo, Recipe, _report
from recsys.recipes.popularity import unique_user_counts
from recsys.recipes.sims import cooccurrence

COLD_ITEM_INTERACTIONS = 5  # Personalize: a cold item has fewer than 5 interactions


def item_features(recipe: Recipe, data, *, max_text_features: int = 5000) -> sp.csr_matrix:
    """Row-normalised item features in `item_ids_` order: one-hot categoricals ('|' multi-values) + TF-IDF text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    n = len(recipe.item_ids_)
    items = data.items
    if items is None or not len(items):
        return sp.csr_matrix((n, 0), dtype=np.float32)
    pos = recipe._item_index().get_indexer(items[ITEM_ID].to_numpy(dtype=object))
    keep = pos >= 0
    items, pos = items[keep].reset_index(drop=True), pos[keep]
    blocks = []
    for c in [c for c, k in data.item_fields.items() if k == "categorical"]:
        flat = items[c].astype("str").str.lower().str.split("|").explode()
        flat = flat[flat.notna() & (flat.str.strip() != "")]
        if not len(flat):
            continue
        codes, uniq = pd.factorize(flat.str.strip().to_numpy(dtype=object))
        rows = pos[flat.index.to_numpy()]
        m = sp.csr_matrix((np.ones(len(codes), np.float32), (rows, codes)), shape=(n, len(uniq)))
        m.sum_duplicates()
        m.data[:] = 1.0
        blocks.append(normalize(m))
    texts = [c for c, k in data.item_fields.items() if k == "textual"]
    if texts:
        doc = items[texts].astype("str").fillna("").agg(" ".join, axis=1).to_numpy(dtype=object)
        if any(d.strip() for d in doc):
            vec = TfidfVectorizer(max_features=max_text_features, sublinear_tf=True, stop_words="english")
            T = vec.fit_transform(doc).tocoo()
            M = sp.csr_matrix((T.data.astype(np.float32), (pos[T.row], T.col)), shape=(n, T.shape[1]))
            blocks.append(normalize(M))
    if not blocks:
        return sp.csr_matrix((n, 0), dtype=np.float32)
    return normalize(sp.hstack(blocks).tocsr()).astype(np.float32)


class SimilarItems(Recipe):
    """Related items from co-occurrence blended with metadata similarity (Personalize's Similar-Items).

    score(i, j) = a_i x cooc(i, j) + (1 - a_i) x cosine(features_i, features_j), with cooc normalised to
    [0, 1] per query and a_i = (1 - metadata_weight) x min(n_i, 5) / 5: cold items (fewer than 5
    interactions, Personalize's definition) lean on metadata. Features: one-hot categorical fields
    (multi-values split on '|') and TF-IDF of the textual field. Unknown items get popular items.

    Example: ``SimilarItems().fit(data).similar_items(["i1"], n=10)``
    """

    name = "aws-similar-items"
    description = "Related items from co-interactions blended with item metadata, so new items have neighbours too."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Customers who viewed X also viewed (ECOMMERCE)",
        "More like X (VIDEO_ON_DEMAND)",
    )
    recipe_type = RELATED_ITEMS
    unknown_item_policy = "popular"
    returns_scores = False
    param_info = {
        "metadata_weight": ParamInfo(0.3, "share of metadata similarity for items with enough interactions",
                                     "float", (0.0, 1.0), hpo=True),
        "popularity_discount_factor": ParamInfo(0.5, "co-occurrence discount of popular items (as in aws-sims)",
                                                "float", (0.0, 1.0), hpo=True),
        "min_cointeraction_count": ParamInfo(1, "users needed in common before two items co-occur", "int",
                                             (0, 10)),
    }

    def __init__(self, metadata_weight=0.3, popularity_discount_factor=0.5, min_cointeraction_count=1):
        self.metadata_weight = metadata_weight
        self.popularity_discount_factor = popularity_discount_factor
        self.min_cointeraction_count = min_cointeraction_count

    def _fit(self, data, progress) -> None:
        inter = data.interactions
        C, n = cooccurrence(self, inter, self.min_cointeraction_count)
        d = np.power(np.maximum(n, 1.0), -self.popularity_discount_factor)
        self.cooc_ = (C @ sp.diags(d.astype(np.float32))).tocsr()
        self.counts_ = unique_user_counts(self, inter)
        _report(progress, "metadata", 0.5)
        self.features_ = item_features(self, data)
        if self.features_.shape[1] == 0:
            raise ValidationError(f"{self.name} needs an Items dataset with categorical or textual fields; "
                                  f"use aws-sims for interactions only")

    def item_popularity(self) -> np.ndarray:
        """Unique users per item (back-fill and cold starts)."""
        return np.asarray(self.counts_, dtype=np.float64)

    def _score_item_rows(self, pos) -> np.ndarray:
        pop = self.counts_ / max(self.counts_.sum(), 1.0)
        out = np.tile(pop, (len(pos), 1))
        known = np.flatnonzero(pos >= 0)
        if len(known):
            p = pos[known]
            co = self.cooc_[p].toarray().astype(np.float64)
            top = co.max(axis=1, keepdims=True)
            co = np.where(top > 0, co / np.where(top > 0, top, 1.0), 0.0)
            meta = np.round(np.asarray((self.features_[p] @ self.features_.T).todense(), dtype=np.float64), 6)
            a = (1.0 - self.metadata_weight) * np.minimum(self.counts_[p], COLD_ITEM_INTERACTIONS) / COLD_ITEM_INTERACTIONS
            out[known] = a[:, None] * co + (1 - a[:, None]) * meta + 1e-3 * pop[None, :] / max(pop.max(), 1e-12)
        return out

    def _reasons(self, user_id, pos, hist, ctx) -> list[list[str]]:
        return [["Similar by co-interactions and item attributes"] for _ in pos]
