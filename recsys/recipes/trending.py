"""aws-trending-now: items whose interactions grow fastest between the latest interval and the one before it."""

from __future__ import annotations

import numpy as np

from recsys.columns import ITEM_ID, TIMESTAMP
from recsys.recipes.base import POPULAR_ITEMS, History, ParamInfo, Recipe, _report

FREQUENCIES = {"30 minutes": 1_800, "1 hour": 3_600, "2 hours": 7_200, "3 hours": 10_800, "1 day": 86_400}


class TrendingNow(Recipe):
    """Trending items, the same list for everyone (Personalize's Trending-Now).

    Intervals end at the latest interaction in the data (not the wall clock): `current` counts interactions
    in (t_max - f, t_max], `previous` in (t_max - 2f, t_max - f], f = `trend_discovery_frequency`. The trend
    score is ``(current - previous) / (previous + 1)``, ties broken by current count then overall popularity.
    Scores are the trend scores mapped to (0, 1) shares that sum to 1 over the catalogue.

    Example: ``TrendingNow(trend_discovery_frequency="1 day").fit(data).recommend(["u1"], n=10)``
    """

    name = "aws-trending-now"
    description = "The items whose interactions grow fastest right now, the same list for everyone."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Trending now (VIDEO_ON_DEMAND)",
        "Trending products on a home page",
    )
    recipe_type = POPULAR_ITEMS
    returns_scores = False
    param_info = {
        "trend_discovery_frequency": ParamInfo("2 hours", "length of the intervals compared to find trends", "str",
                                               choices=tuple(FREQUENCIES)),
    }

    def __init__(self, trend_discovery_frequency="2 hours"):
        self.trend_discovery_frequency = trend_discovery_frequency

    def _fit(self, data, progress) -> None:
        inter = data.interactions
        n_items = len(self.item_ids_)
        f = FREQUENCIES[self.trend_discovery_frequency]
        t = inter[TIMESTAMP].to_numpy(np.int64)
        iidx = self._item_index().get_indexer(inter[ITEM_ID].to_numpy(dtype=object))
        self.t_max_ = int(t.max())
        cur = (t > self.t_max_ - f)
        prev = (t > self.t_max_ - 2 * f) & ~cur
        self.current_ = np.bincount(iidx[cur], minlength=n_items).astype(np.float64)
        self.previous_ = np.bincount(iidx[prev], minlength=n_items).astype(np.float64)
        self.total_ = np.bincount(iidx, minlength=n_items).astype(np.float64)
        _report(progress, "trend", 0.5)
        self._store_history(inter)
        rate = (self.current_ - self.previous_) / (self.previous_ + 1.0)
        # lexicographic key (rate, current, total) folded into one float that keeps the order
        key = np.lexsort((self.total_, self.current_, rate))
        rank = np.empty(n_items, dtype=np.float64)
        rank[key] = np.arange(n_items)
        s = np.exp((rank - rank.max()) / max(n_items / 20.0, 1.0))
        self.trend_score_ = s / s.sum()
        self.trend_rate_ = rate

    def _score_rows(self, upos, hist: History, contexts) -> np.ndarray:
        return np.tile(self.trend_score_, (len(upos), 1))

    def _reasons(self, user_id, pos, hist, ctx) -> list[list[str]]:
        out = []
        for p in pos:
            cur, prev = int(self.current_[p]), int(self.previous_[p])
            span = self.trend_discovery_frequency
            if cur > prev and prev > 0:
                out.append([f"Trending: +{(cur - prev) / prev * 100:.0f}% interactions in the last {span} "
                            f"({cur} vs {prev})"])
            elif cur > prev:
                out.append([f"Trending: {cur} interactions in the last {span}, none in the {span} before"])
            else:
                out.append([f"Popular item: {int(self.total_[p]):,} interactions, not trending in the last {span}"])
        return out
