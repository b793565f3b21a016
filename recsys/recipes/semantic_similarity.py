"""aws-semantic-similarity: related items from item text and attributes alone (TF-IDF + LSA); no interactions needed."""

from __future__ import annotations

import numpy as np

from recsys.exceptions import ValidationError
from recsys.recipes.base import RELATED_ITEMS, ParamInfo, Recipe, _report
from recsys.recipes.similar_items import item_features


class SemanticSimilarity(Recipe):
    """Items whose text and categorical attributes mean the same thing (Personalize's Semantic-Similarity).

    Features are TF-IDF of the textual field plus one-hot categoricals, reduced by TruncatedSVD (latent
    semantic analysis) to `n_components` dimensions and L2-normalised; similarity is the cosine. Items
    without metadata have a zero vector and get no neighbours; unknown items raise UnknownIdError.

    Example: ``SemanticSimilarity(random_state=0).fit(data).similar_items(["i1"], n=10)``
    """

    name = "aws-semantic-similarity"
    description = "Related items by the meaning of their text and attributes, with no interactions needed."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "More like this for new or rarely seen items",
        "Related items in a catalogue without history",
    )
    recipe_type = RELATED_ITEMS
    unknown_item_policy = "error"
    returns_scores = False
    param_info = {
        "n_components": ParamInfo(64, "LSA dimensions (capped by the number of features)", "int", (2, 1024),
                                  hpo=True),
        "random_state": ParamInfo(None, "seed of the randomized SVD", "seed"),
    }

    def __init__(self, n_components=64, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, data, progress=None):
        """Fit on the Items table (interactions optional)."""
        return super().fit(data, progress)

    def _fit(self, data, progress) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.preprocessing import normalize

        F = item_features(self, data)
        if F.shape[1] == 0:
            raise ValidationError(f"{self.name} needs an Items dataset with a textual or categorical field")
        _report(progress, "lsa", 0.5)
        k = min(self.n_components, F.shape[1] - 1, F.shape[0] - 1)
        if k >= 2:
            E = TruncatedSVD(n_components=k, random_state=self.random_state).fit_transform(F)
        else:
            E = F.toarray()
        self.embeddings_ = normalize(E).astype(np.float64)

    def _score_item_rows(self, pos) -> np.ndarray:
        # rounded so that batch and single queries (different BLAS paths) break ties identically
        return np.round(self.embeddings_[pos] @ self.embeddings_.T, 9)

    def _reasons(self, user_id, pos, hist, ctx) -> list[list[str]]:
        return [["Similar description and attributes"] for _ in pos]
