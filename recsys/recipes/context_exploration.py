"""Context and exploration for aws-user-personalization: per-context item lifts learned from the interactions,
and the bonus that lets new items be tried (`UserPersonalization` mixes this in).

Example::

    model.exploration_bonus()                 # (n_items,) logit bonus of new items, shrinking with impressions
    model._context_logits([{"DEVICE": "mobile"}])
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from recsys.columns import CREATION_TIMESTAMP, IMPRESSION, ITEM_ID, TIMESTAMP
from recsys.recipes.base import History

DAY = 86_400
MAX_CONTEXT_VALUES = 200


class ContextAndExploration:
    """Fitted state: context_keys_, context_fields_, context_lift_, created_, impressions_, exploration_noise_."""

    def _fit_context(self, data) -> None:
        inter = data.interactions
        n_items = len(self.item_ids_)
        iidx = self._item_index().get_indexer(inter[ITEM_ID].to_numpy(dtype=object))
        n_i = np.bincount(iidx, minlength=n_items).astype(np.float64)
        p_i = (n_i + 0.5) / (n_i.sum() + 0.5 * n_items)
        keys, lifts = [], []
        for field in data.context_fields:
            vals = inter[field]
            ok = vals.notna().to_numpy()
            top = vals[ok].value_counts().index[:MAX_CONTEXT_VALUES]
            for v in top:
                m = ok & (vals == v).to_numpy(dtype=bool, na_value=False)
                n_vi = np.bincount(iidx[m], minlength=n_items).astype(np.float64)
                a = self.context_smoothing
                expected = n_vi.sum() * p_i
                lift = np.log((n_vi + a) / (expected + a))
                keys.append(f"{field}={v}")
                lifts.append(lift.astype(np.float32))
        self.context_keys_ = np.array(keys, dtype=object)
        self.context_fields_ = list(data.context_fields)
        self.context_lift_ = np.vstack(lifts) if lifts else np.zeros((0, n_items), dtype=np.float32)

    def _event_context_codes(self, frame: pd.DataFrame) -> np.ndarray | None:
        fields = getattr(self, "context_fields_", [])
        if not fields:
            return None
        idx = pd.Index(self.context_keys_)
        out = np.full((len(frame), len(fields)), -1, dtype=np.int32)
        for j, f in enumerate(fields):
            if f in frame.columns:
                keys = (f + "=" + frame[f].astype("str")).to_numpy(dtype=object, na_value="")
                out[:, j] = idx.get_indexer(keys)
        return out

    def _fit_exploration(self, data) -> None:
        n_items = len(self.item_ids_)
        inter = data.interactions
        iidx = self._item_index().get_indexer(inter[ITEM_ID].to_numpy(dtype=object))
        first = np.full(n_items, self.t_max_, dtype=np.int64)
        np.minimum.at(first, iidx, inter[TIMESTAMP].to_numpy(np.int64))
        created = first
        if data.items is not None and CREATION_TIMESTAMP in data.items.columns:
            ct = pd.to_numeric(data.items[CREATION_TIMESTAMP], errors="coerce")
            pos = self._item_index().get_indexer(data.items[ITEM_ID].to_numpy(dtype=object))
            good = ct.notna().to_numpy() & (pos >= 0)
            created = created.copy()
            created[pos[good]] = ct.to_numpy(dtype=np.float64, na_value=0)[good].astype(np.int64)
        self.created_ = created
        impressions = np.zeros(n_items, dtype=np.float64)
        if IMPRESSION in inter.columns:
            imp = inter[IMPRESSION].dropna()
            if len(imp):
                flat = imp.str.split("|").explode()
                pos = self._item_index().get_indexer(flat.to_numpy(dtype=object))
                impressions = np.bincount(pos[pos >= 0], minlength=n_items).astype(np.float64)
        self.impressions_ = impressions
        rng = np.random.default_rng(self.random_state)
        self.exploration_noise_ = rng.standard_normal(n_items).astype(np.float32)

    def _context_rows(self, ctx: Mapping | None) -> list[int]:
        if not ctx or not len(self.context_keys_):
            return []
        c = self._c()
        if "ctx_index" not in c:
            c["ctx_index"] = {k: i for i, k in enumerate(self.context_keys_)}
        idx = c["ctx_index"]
        return [idx[f"{k}={v}"] for k, v in ctx.items() if f"{k}={v}" in idx]

    def _context_logits(self, contexts, hist: History | None = None) -> np.ndarray | float:
        """context_weight x (1 - share of the user's history in that context) x smoothed item log-lift.

        A user's profile already reflects the contexts they usually act in, so the lift counts in proportion
        to how unusual the requested context is for them (fully for cold users).
        """
        if self.context_weight == 0 or not any(contexts):
            return 0.0
        out = np.zeros((len(contexts), len(self.item_ids_)), dtype=np.float64)
        lens = hist.lengths() if hist is not None else None
        for r, ctx in enumerate(contexts):
            rows = self._context_rows(ctx)
            for k in rows:
                share = 0.0
                if hist is not None and hist.ctx is not None and lens[r] > 0:
                    lo, hi = np.searchsorted(hist.rows, [r, r + 1])
                    share = float((hist.ctx[lo:hi] == k).any(axis=1).mean())
                out[r] += self.context_weight * (1.0 - share) * self.context_lift_[k]
        return out

    # ------------------------------------------------------------------ exploration
    def exploration_bonus(self, impressions_without_clicks: Mapping[str, int] | None = None) -> np.ndarray:
        """Per-item logit bonus for new items (n_items,); zero for items older than the age cut-off.

        bonus = exploration_weight x scale x (1 + 0.1 noise) / (1 + interactions + impressions), where scale is
        the typical spread of a user's logits. `impressions_without_clicks` (item id -> count) shrinks the
        bonus further, as impressions accumulate at serving time; `record_impressions` makes that permanent.
        """
        self._check_fitted()
        if not impressions_without_clicks:
            # the same for every request until the model changes: computed once (read-only)
            c = self._c()
            key = (self.exploration_weight, self.exploration_item_age_cut_off, len(self.item_ids_),
                   self.explore_scale_, self.t_max_)
            cached = c.get("exploration_bonus")
            if cached is None or cached[0] != key:
                bonus = self._exploration_bonus(None)
                bonus.setflags(write=False)
                cached = c["exploration_bonus"] = (key, bonus)
            return cached[1]
        return self._exploration_bonus(impressions_without_clicks)

    def _exploration_bonus(self, impressions_without_clicks: Mapping[str, int] | None) -> np.ndarray:
        if self.exploration_weight == 0:
            return np.zeros(len(self.item_ids_))
        age = (self.t_max_ - self.created_) / DAY
        eligible = age <= self.exploration_item_age_cut_off
        seen = self.counts_ + self.impressions_
        if impressions_without_clicks:
            pos = self.item_positions(list(impressions_without_clicks), strict=False)
            extra = np.zeros(len(self.item_ids_))
            vals = np.array(list(impressions_without_clicks.values()), dtype=np.float64)
            np.add.at(extra, pos[pos >= 0], vals[pos >= 0])
            seen = seen + extra
        noise = 1.0 + 0.1 * self.exploration_noise_.astype(np.float64)
        return np.where(eligible, self.exploration_weight * self.explore_scale_ * noise / (1.0 + seen), 0.0)

    def record_impressions(self, counts: Mapping[str, int]) -> None:
        """Add served-but-not-clicked impressions (item id -> count) so exploration of those items decays."""
        pos = self.item_positions(list(counts), strict=False)
        vals = np.array(list(counts.values()), dtype=np.float64)
        np.add.at(self.impressions_, pos[pos >= 0], vals[pos >= 0])
        self._c().pop("exploration_bonus", None)
