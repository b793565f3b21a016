"""The one-user path of aws-user-personalization: every real-time request scores one user, without pandas.

A mixin of `UserPersonalization`: id -> position dictionaries and EASE row lookups built once per model, and the
user's history (stored training events plus the request's new events) gathered with plain arrays. Results are
the same as the batch path's (`Recipe._history`), in the same order.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from recsys.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsys.exceptions import UnknownIdError, ValidationError
from recsys.recipes.base import History, _as_list


class OneUserPath:
    """Fast lookups for single-user requests (mixed into UserPersonalization)."""

    def _serving(self) -> dict:
        """Lookup tables for real-time requests (id -> position dicts, item -> EASE row), built once per model."""
        c = self._c()
        found = c.get("serving")
        if found is not None and found["n_items"] == len(self.item_ids_):
            return found
        n_items = len(self.item_ids_)
        active_pos = np.full(n_items, -1, dtype=np.int64)
        if getattr(self, "model_kind_", None) == "ease":
            active_pos[self.active_items_] = np.arange(len(self.active_items_))
        found = c["serving"] = {
            "n_items": n_items,
            "item_pos": {str(i): k for k, i in enumerate(self.item_ids_.tolist())},
            "user_pos": {str(u): k for k, u in enumerate(np.asarray(self.user_ids_).tolist())},
            "active_pos": active_pos,
        }
        if getattr(self, "model_kind_", None) == "als":
            # V'V costs n_items x factors^2 flops (0.8 GFlop at 50k items): once per model, not per request
            V = self.item_factors_.astype(np.float64)
            found["als_factors"] = V
            found["als_gram"] = V.T @ V + self.regularization * np.eye(V.shape[1])
        return found

    def item_positions(self, item_ids, *, strict: bool = True) -> np.ndarray:
        """Column positions of `item_ids` in `item_ids_` (-1 for unknown unless strict, then UnknownIdError)."""
        self._check_fitted()
        ids = _as_list(item_ids)
        index = self._serving()["item_pos"]
        pos = np.fromiter((index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
        if strict and (pos < 0).any():
            bad = [i for i, p in zip(ids, pos) if p < 0][:5]
            raise UnknownIdError(f"{self.name}: unknown item id(s) {bad}; the model was trained on "
                                 f"{len(self.item_ids_):,} items (retrain or add the items)")
        return pos

    def user_positions(self, user_ids) -> np.ndarray:
        """Row positions of `user_ids` among training users, -1 for users unseen in training."""
        self._check_fitted()
        ids = _as_list(user_ids)
        index = self._serving()["user_pos"]
        return np.fromiter((index.get(u, -1) for u in ids), dtype=np.int64, count=len(ids))

    def _history(self, user_ids, new_events: pd.DataFrame | None) -> History:
        """As `Recipe._history`; one user (every real-time request) without pandas: same arrays, same order."""
        if isinstance(user_ids, str) or len(user_ids) != 1:
            return super()._history(user_ids, new_events)
        user = str(list(user_ids)[0])
        # A request scores the user, then explains the chosen items: the second call reuses the first's history
        # (same user, same new-events frame object, which is kept alive by the memo so its id cannot be reused).
        c = self._c()
        memo = c.get("last_history")
        if memo is None:
            memo = c.setdefault("last_history", threading.local())
        last = getattr(memo, "value", None)
        if last is not None and last[0] == user and last[1] is new_events:
            return last[2]
        hist = self._one_history(user, new_events)
        memo.value = (user, new_events, hist)
        return hist

    def _one_history(self, user: str, new_events: pd.DataFrame | None) -> History:
        has_ctx = hasattr(self, "hist_ctx_")
        parts_items, parts_times, parts_w, parts_ctx = [], [], [], []
        upos = self._serving()["user_pos"].get(user, -1)
        if upos >= 0 and hasattr(self, "hist_indptr_"):
            start, end = int(self.hist_indptr_[upos]), int(self.hist_indptr_[upos + 1])
            if end > start:
                parts_items.append(self.hist_items_[start:end].astype(np.int64))
                parts_times.append(np.asarray(self.hist_times_[start:end], dtype=np.int64))
                parts_w.append(self.hist_weights_[start:end].astype(np.float64))
                if has_ctx:
                    parts_ctx.append(self.hist_ctx_[start:end])
        n_train = len(parts_items[0]) if parts_items else 0
        if new_events is not None and len(new_events):
            found = self._user_new_events(user, new_events, has_ctx)
            if found is not None:
                parts_items.append(found[0])
                parts_times.append(found[1])
                parts_w.append(found[2])
                if has_ctx:
                    parts_ctx.append(found[3])
        if not parts_items:
            z = np.zeros(0, dtype=np.int64)
            ctx0 = np.zeros((0, self.hist_ctx_.shape[1]), np.int32) if has_ctx else None
            return History(z, z, z, np.zeros(0), 1, ctx0)
        items, times, w = (np.concatenate(x) for x in (parts_items, parts_times, parts_w))
        ctx = np.concatenate(parts_ctx).astype(np.int32) if has_ctx else None
        if len(items) > n_train:  # stored history is already in time order; new events are merged in, stably
            order = np.argsort(times, kind="stable")
            items, times, w = items[order], times[order], w[order]
            ctx = ctx[order] if ctx is not None else None
        return History(np.zeros(len(items), dtype=np.int64), items, times, w, 1, ctx)

    def _user_new_events(self, user: str, frame: pd.DataFrame, has_ctx: bool):
        """(items, times, weights, context codes) of `user`'s rows of `frame` whose items the model knows."""
        missing = [c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c not in frame.columns]
        if missing:
            raise ValidationError(f"new_events lack column(s) {missing}; give USER_ID, ITEM_ID, TIMESTAMP")
        users = frame[USER_ID].astype("str").to_numpy(dtype=object, na_value=None)
        times_all = frame[TIMESTAMP]
        if times_all.dtype != np.int64:
            times_all = pd.to_numeric(times_all).astype("int64")
        times_all = times_all.to_numpy(dtype=np.int64)
        item_index = self._serving()["item_pos"]
        item_col = frame[ITEM_ID].astype("str").to_numpy(dtype=object, na_value=None)
        rows, items = [], []
        for k, (u, i) in enumerate(zip(users.tolist(), item_col.tolist())):
            if u == user:
                p = item_index.get(i, -1) if i is not None else -1
                if p >= 0:
                    rows.append(k)
                    items.append(p)
        if not rows:
            return None
        sel = np.asarray(rows, dtype=np.int64)
        picked = frame.iloc[sel] if len(sel) < len(frame) else frame
        weights = np.asarray(self._event_weights(picked), dtype=np.float64)
        codes = None
        if has_ctx:
            codes = self._event_context_codes(picked)
            if codes is None:
                codes = np.full((len(sel), self.hist_ctx_.shape[1]), -1, dtype=np.int32)
            codes = codes.astype(np.int32)
        return np.asarray(items, dtype=np.int64), times_all[sel], weights, codes
