"""aws-personalized-ranking: re-rank a caller's list of items for a user with the flagship's scorer."""

from __future__ import annotations

import numpy as np

from recsys.recipes.base import PERSONALIZED_RANKING, Recommendations, _as_list, softmax_rows
from recsys.recipes.user_personalization import UserPersonalization


class PersonalizedRanking(UserPersonalization):
    """Rank an input list (search results, a curated shelf) for a user (Personalize's Personalized-Ranking).

    Same parameters and scorer as aws-user-personalization. `rank` returns the known items best first with
    softmax-over-the-list scores (summing to 1 over the known items), then the items the model has never seen,
    in input order, with score None (Personalize appends them without a score).

    Example: ``PersonalizedRanking(random_state=0).fit(data).rank("u1", ["i3", "i1", "new-item"])``
    """

    name = "aws-personalized-ranking"
    description = "Re-orders a list you give (search results, a curated shelf) for each user."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Personalized search results",
        "Personalized curated collections and shelves",
    )
    recipe_type = PERSONALIZED_RANKING

    def rank(self, user_id: str, item_ids, *, new_events=None, context=None) -> Recommendations:
        """The input items ranked for `user_id`; unknown items appended at the end with score None."""
        return self.rank_batch([user_id], [item_ids], new_events=new_events, context=context)[0]

    def rank_batch(self, user_ids, item_lists, *, new_events=None, context=None) -> list[Recommendations]:
        """`rank` for many (user, input list) pairs at once."""
        self._check_fitted()
        user_ids = _as_list(user_ids)
        logits = self.logits(user_ids, new_events=new_events, context=context)
        out = []
        for r, (u, items) in enumerate(zip(user_ids, item_lists)):
            items = list(dict.fromkeys(_as_list(items)))
            pos = self.item_positions(items, strict=False)
            known = pos >= 0
            kp = pos[known]
            scores = softmax_rows(logits[r, kp][None, :])[0] if len(kp) else np.zeros(0)
            order = np.argsort(-scores, kind="stable")
            ids = [items[j] for j in np.flatnonzero(known)[order]] + [items[j] for j in np.flatnonzero(~known)]
            sc = np.array([float(x) for x in scores[order]] + [None] * int((~known).sum()), dtype=object)
            out.append(Recommendations(user_id=u, item_ids=np.array(ids, dtype=object), scores=sc))
        return out
