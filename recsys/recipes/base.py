"""The Recipe base class (scikit-learn estimator contract), its parameter metadata and the Recommendations value.

A recipe subclass declares `name`, `recipe_type`, `param_info` and an `__init__` that only stores its keyword
parameters, then implements private hooks: `_fit(data, progress)`, and `_score_rows(uidx, hist, contexts)` for
user-based recipes or `_score_item_rows(iidx)` for item-based ones, plus optionally `_reasons(...)`.
The base class does parameter validation, id mapping, history folding (`new_events`), exclusion of seen
items, top-n selection, explanations and atomic save/load (JSON + npz, never pickle).
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.columns import EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from recsys.exceptions import NotFittedError, UnknownIdError, ValidationError
from recsys.files import atomic_path, damaged_file

log = logging.getLogger(__name__)

USER_PERSONALIZATION = "USER_PERSONALIZATION"
POPULAR_ITEMS = "POPULAR_ITEMS"
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
RELATED_ITEMS = "RELATED_ITEMS"
USER_SEGMENTATION = "USER_SEGMENTATION"
RATING_PREDICTION = "RATING_PREDICTION"
USER_BASED = (USER_PERSONALIZATION, POPULAR_ITEMS, PERSONALIZED_RANKING, USER_SEGMENTATION, RATING_PREDICTION)
# The user id of cold-start scores: no history, so every user-based recipe answers with its popularity prior.
COLD_START_USER = "\x00cold-start"
FORMAT_VERSION = 1
_RETRAIN = "Train the solution version again, or restore its files."

Progress = Callable[[str, float], None] | None


@dataclass(frozen=True)
class ParamInfo:
    """What the UI and HPO need to know about one hyperparameter.

    kind: 'int' | 'float' | 'bool' | 'str' | 'dict' (str -> float, or None) | 'seed' (None or int >= 0).
    range: inclusive (low, high) for numbers (None bound = open); choices: allowed values for 'str'.
    hpo: whether tuning may search it; log: search on a log scale; nullable: None is allowed (e.g. 'auto').
    """

    default: Any
    help: str
    kind: str = "float"
    range: tuple | None = None
    choices: tuple | None = None
    hpo: bool = False
    log: bool = False
    nullable: bool = False

    def check(self, owner: str, name: str, value: Any) -> None:
        """Raise ValidationError naming the parameter when `value` breaks the declared kind, range or choices."""
        def bad(why):
            allowed = (f"one of {list(self.choices)}" if self.choices else
                       f"in [{self.range[0]}, {self.range[1]}]" if self.range else f"of kind {self.kind}")
            raise ValidationError(f"{owner}: parameter {name}={value!r} {why}; use a value {allowed} "
                                  f"(default {self.default!r})")
        if self.nullable and value is None:
            return
        if self.kind == "seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < 0):
                bad("must be None or an int >= 0")
            return
        if self.kind == "dict":
            if value is None:
                return
            if not isinstance(value, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                    for k, v in value.items()):
                bad("must be None or a dict of str -> non-negative number")
            return
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                bad("must be True or False")
            return
        if self.kind == "str":
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                bad("is not allowed")
            return
        if self.kind == "int" and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            bad("must be an int")
        if self.kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))):
            bad("must be a number")
        if self.kind in ("int", "float") and not np.isfinite(value):
            bad("must be finite")
        if self.range:
            lo, hi = self.range
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                bad("is out of range")


@dataclass
class Recommendations:
    """One ranked list: for a user (`user_id`) or for a query item (`item_id`); best first."""

    user_id: str | None
    item_ids: np.ndarray
    scores: np.ndarray
    reasons: list[list[str]] | None = None
    item_id: str | None = None

    def __len__(self) -> int:
        return len(self.item_ids)

    def to_frame(self) -> pd.DataFrame:
        """ITEM_ID, score, rank (1 = best) as a DataFrame."""
        return pd.DataFrame({ITEM_ID: pd.array(self.item_ids, dtype="str"), "score": self.scores,
                             "rank": np.arange(1, len(self.item_ids) + 1)})


@dataclass
class History:
    """Interactions of a batch of query rows: parallel arrays sorted by (row, time); `row` indexes the batch."""

    rows: np.ndarray
    items: np.ndarray
    times: np.ndarray
    weights: np.ndarray
    n_rows: int
    ctx: np.ndarray | None = None  # (n_events, n_context_fields) context-value codes, -1 = unknown

    def matrix(self, n_items: int, weights: np.ndarray | None = None) -> sp.csr_matrix:
        """Sum of weights per (row, item) as a CSR matrix (n_rows, n_items)."""
        w = self.weights if weights is None else weights
        return sp.csr_matrix((w.astype(np.float64), (self.rows, self.items)), shape=(self.n_rows, n_items))

    def rank_from_newest(self, distinct_times: bool = False) -> np.ndarray:
        """0 for each row's newest event, 1 for the one before, ... (relies on the (row, time) sort).

        With distinct_times, events of a row that share a timestamp (one basket) share a rank.
        """
        n = len(self.rows)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if not distinct_times:
            ends = np.searchsorted(self.rows, self.rows, side="right")
            return ends - 1 - np.arange(n)
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = (self.rows[1:] != self.rows[:-1]) | (self.times[1:] != self.times[:-1])
        g = np.cumsum(new_group) - 1                      # global group number, increasing within a row
        last_g = g[np.searchsorted(self.rows, self.rows, side="right") - 1]
        return last_g - g

    def lengths(self) -> np.ndarray:
        return np.bincount(self.rows, minlength=self.n_rows)


class Recipe:
    """Base class of every recipe: scikit-learn parameters, fit -> self, id mapping, top-n, save/load."""

    name: ClassVar[str] = ""
    recipe_type: ClassVar[str] = USER_PERSONALIZATION
    uses_context: ClassVar[bool] = False
    param_info: ClassVar[dict[str, ParamInfo]] = {}
    description: ClassVar[str] = ""           # one sentence for people choosing a recipe
    use_cases: ClassVar[tuple[str, ...]] = ()  # the Personalize use cases (domain recommenders) it serves
    #: what an unknown item id does in item queries: 'popular' (falls back to popular items) or 'error'.
    unknown_item_policy: ClassVar[str] = "error"
    #: whether real-time and batch answers carry a score; Personalize gives none for popularity-count,
    #: trending-now and related-items recipes [AP §6.4].
    returns_scores: ClassVar[bool] = True
    #: whether the recipe segments users by item attribute expressions (`users_for_attributes`) as well as
    #: by item (`users_for_items`); USER_SEGMENTATION recipes only.
    segments_by_attributes: ClassVar[bool] = False

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                raise TypeError(f"{cls.__name__}.__init__ must not take *args/**kwargs (scikit-learn contract)")
            names.append(p.name)
        return names

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params) -> "Recipe":
        """Set parameters by name (validated at the next `fit`); returns self."""
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValidationError(f"{k!r} is not a parameter of {type(self).__name__} ({self.name}); "
                                      f"check get_params().keys() for the valid ones: {valid}")
            setattr(self, k, v)
        return self

    def clone(self) -> "Recipe":
        """A new, unfitted recipe with the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        parts = []
        for k, v in self.get_params().items():
            info = self.param_info.get(k)
            if info is None or v != info.default:
                parts.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _validate_params(self) -> None:
        names = self._param_names()
        if set(names) != set(self.param_info):
            raise TypeError(f"{type(self).__name__}: param_info keys {sorted(self.param_info)} differ from "
                            f"__init__ parameters {sorted(names)}")
        for k in names:
            self.param_info[k].check(type(self).__name__, k, getattr(self, k))

    # ------------------------------------------------------------------ fitting
    def fit(self, data, progress: Progress = None) -> "Recipe":
        """Learn from `data` (a TrainingData); replaces any earlier fit; returns self.

        `progress(stage, fraction)` is called a few times with fraction in [0, 1].
        """
        self._validate_params()
        for k in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, k)
        self._cache = {}
        _report(progress, "prepare", 0.0)
        if len(data.interactions) == 0 and self.recipe_type != RELATED_ITEMS:
            raise ValidationError(f"{self.name}: the training data has no interactions; import interactions first")
        self.item_ids_ = np.asarray(data.catalogue, dtype=object)
        self.user_ids_ = np.asarray(data.user_ids, dtype=object)
        self._fit(data, progress)
        _report(progress, "done", 1.0)
        return self

    def _fit(self, data, progress: Progress) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_ids_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(data) first")

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "item_ids_")

    # ------------------------------------------------------------------ id mapping
    def _c(self) -> dict:
        if not hasattr(self, "_cache"):
            self._cache = {}
        return self._cache

    def _item_index(self) -> pd.Index:
        c = self._c()
        if "item_index" not in c:
            c["item_index"] = pd.Index(np.asarray(self.item_ids_, dtype=object))
        return c["item_index"]

    def _user_index(self) -> pd.Index:
        c = self._c()
        if "user_index" not in c:
            c["user_index"] = pd.Index(np.asarray(self.user_ids_, dtype=object))
        return c["user_index"]

    def item_positions(self, item_ids, *, strict: bool = True) -> np.ndarray:
        """Column positions of `item_ids` in `item_ids_` (-1 for unknown unless strict, then UnknownIdError)."""
        self._check_fitted()
        ids = np.asarray(_as_list(item_ids), dtype=object)
        pos = self._item_index().get_indexer(ids) if len(ids) else np.zeros(0, dtype=np.int64)
        if strict and (pos < 0).any():
            bad = ids[pos < 0][:5].tolist()
            raise UnknownIdError(f"{self.name}: unknown item id(s) {bad}; the model was trained on "
                                 f"{len(self.item_ids_):,} items (retrain or add the items)")
        return pos

    def user_positions(self, user_ids) -> np.ndarray:
        """Row positions of `user_ids` among training users, -1 for users unseen in training."""
        self._check_fitted()
        ids = np.asarray(_as_list(user_ids), dtype=object)
        return self._user_index().get_indexer(ids) if len(ids) else np.zeros(0, dtype=np.int64)

    def knows_user(self, user_id: str) -> bool:
        return bool(self.user_positions([user_id])[0] >= 0)

    def knows_item(self, item_id: str) -> bool:
        return bool(self.item_positions([item_id], strict=False)[0] >= 0)

    # ------------------------------------------------------------------ histories
    def _store_history(self, inter: pd.DataFrame) -> None:
        """Keep every training user's history (item, time, weight) in CSR-like arrays sorted by time."""
        uidx = self._user_index().get_indexer(inter[USER_ID].to_numpy(dtype=object))
        iidx = self._item_index().get_indexer(inter[ITEM_ID].to_numpy(dtype=object))
        times = inter[TIMESTAMP].to_numpy(dtype=np.int64)
        weights = self._event_weights(inter)
        order = np.lexsort((times, uidx))
        codes = self._event_context_codes(inter)
        if codes is not None:
            self.hist_ctx_ = codes[order].astype(np.int32)
        self.hist_indptr_ = np.concatenate([[0], np.cumsum(np.bincount(uidx, minlength=len(self.user_ids_)))]
                                           ).astype(np.int64)
        self.hist_items_ = iidx[order].astype(np.int32)
        self.hist_times_ = times[order]
        self.hist_weights_ = weights[order].astype(np.float32)

    def _event_context_codes(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Hook: per-event context codes (n, n_fields) for context-aware recipes; None = no context kept."""
        return None

    def _event_weights(self, frame: pd.DataFrame) -> np.ndarray:
        """Per-event weight from the `event_weights` parameter (EVENT_TYPE -> weight; others weigh 1)."""
        w = np.ones(len(frame), dtype=np.float64)
        ew = getattr(self, "event_weights", None)
        if ew and EVENT_TYPE in frame.columns:
            types = frame[EVENT_TYPE]
            w = types.map(lambda t: ew.get(t, ew.get("*", 1.0)) if isinstance(t, str) else 1.0)
            w = w.to_numpy(dtype=np.float64, na_value=1.0)
        if getattr(self, "use_event_value", False) and EVENT_VALUE in frame.columns:
            v = frame[EVENT_VALUE].to_numpy(dtype=np.float64, na_value=np.nan)
            w = w * np.where(np.isfinite(v) & (v > 0), np.log1p(np.clip(v, 0, None)), 1.0)
        return w

    def _history(self, user_ids: Sequence[str], new_events: pd.DataFrame | None) -> History:
        """Training history of known users plus `new_events` of any user in the batch, sorted by (row, time)."""
        n = len(user_ids)
        upos = self.user_positions(user_ids)
        rows_l, items_l, times_l, w_l, c_l = [], [], [], [], []
        has_ctx = hasattr(self, "hist_ctx_")
        if hasattr(self, "hist_indptr_"):
            known = np.flatnonzero(upos >= 0)
            starts = self.hist_indptr_[upos[known]]
            lens = self.hist_indptr_[upos[known] + 1] - starts
            total = int(lens.sum())
            if total:
                offs = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(total)
                rows_l.append(np.repeat(known, lens))
                items_l.append(self.hist_items_[offs].astype(np.int64))
                times_l.append(self.hist_times_[offs])
                w_l.append(self.hist_weights_[offs].astype(np.float64))
                if has_ctx:
                    c_l.append(self.hist_ctx_[offs])
        if new_events is not None and len(new_events):
            ev = _check_events(new_events)
            batch = pd.DataFrame({USER_ID: pd.array(np.asarray(user_ids, dtype=object), dtype="str"),
                                  "_row": np.arange(n)})
            ev = ev.assign(_w=self._event_weights(ev), _i=self._item_index().get_indexer(
                ev[ITEM_ID].to_numpy(dtype=object)), _k=np.arange(len(ev)))
            codes = self._event_context_codes(ev) if has_ctx else None
            ev = ev[ev["_i"] >= 0]
            m = batch.merge(ev[[USER_ID, TIMESTAMP, "_w", "_i", "_k"]], on=USER_ID, how="inner")
            if len(m):
                rows_l.append(m["_row"].to_numpy(np.int64))
                items_l.append(m["_i"].to_numpy(np.int64))
                times_l.append(m[TIMESTAMP].to_numpy(np.int64))
                w_l.append(m["_w"].to_numpy(np.float64))
                if has_ctx:
                    c_l.append(codes[m["_k"].to_numpy(np.int64)].astype(np.int32))
        if not rows_l:
            z = np.zeros(0, dtype=np.int64)
            ctx0 = np.zeros((0, self.hist_ctx_.shape[1]), np.int32) if has_ctx else None
            return History(z, z, z, np.zeros(0), n, ctx0)
        rows, items, times, w = (np.concatenate(x) for x in (rows_l, items_l, times_l, w_l))
        order = np.lexsort((times, rows))
        ctx = np.concatenate(c_l)[order] if has_ctx else None
        return History(rows[order], items[order], times[order], w[order], n, ctx)

    # ------------------------------------------------------------------ user-based inference
    def score_users(self, user_ids, *, new_events: pd.DataFrame | None = None, context=None) -> np.ndarray:
        """Scores (n_users, n_items) in `item_ids_` column order; unknown users without events get cold-start scores."""
        self._check_fitted()
        self._require_user_based()
        user_ids = _as_list(user_ids)
        hist = self._history(user_ids, new_events)
        contexts = self._contexts(context, len(user_ids))
        return self._score_rows(self.user_positions(user_ids), hist, contexts)

    def _score_rows(self, upos: np.ndarray, hist: History, contexts: list[dict | None]) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def recommend(self, user_ids, n: int = 25, *, new_events: pd.DataFrame | None = None, context=None,
                  exclude_seen: bool = True, allowed: np.ndarray | None = None) -> list[Recommendations]:
        """Top-`n` items per user, best first (batch primitive; a single id gives a one-element list).

        exclude_seen drops items in the user's training history and `new_events`; `allowed` is a bool mask
        over `item_ids_`, shape (n_items,) or (n_users, n_items).
        """
        self._check_fitted()
        self._require_user_based()
        user_ids = _as_list(user_ids)
        _check_n(n)
        hist = self._history(user_ids, new_events)
        contexts = self._contexts(context, len(user_ids))
        scores = self._score_rows(self.user_positions(user_ids), hist, contexts)
        rank_scores = np.array(scores, dtype=np.float64, copy=True)
        if exclude_seen and len(hist.rows):
            rank_scores[hist.rows, hist.items] = -np.inf
        rank_scores = self._apply_allowed(rank_scores, allowed)
        top = _top_n(rank_scores, n)
        return [Recommendations(user_id=u, item_ids=self.item_ids_[t].astype(object),
                                scores=scores[r, t].astype(np.float64), reasons=None)
                for r, (u, t) in enumerate(zip(user_ids, top))]

    def recommend_one(self, user_id: str, n: int = 25, **kwargs) -> Recommendations:
        """`recommend` for a single user."""
        return self.recommend([user_id], n, **kwargs)[0]

    def explain(self, user_id: str, item_ids, *, new_events: pd.DataFrame | None = None,
                context=None) -> list[list[str]]:
        """Human reasons for each of `item_ids` being recommended to `user_id` (one list of strings per item)."""
        self._check_fitted()
        pos = self.item_positions(item_ids)
        if self.recipe_type in USER_BASED:
            hist = self._history([user_id], new_events)
            ctx = self._contexts(context, 1)[0]
        else:
            hist, ctx = None, None
        return self._reasons(user_id, pos, hist, ctx)

    def _reasons(self, user_id, pos, hist, ctx) -> list[list[str]]:
        return [["Recommended by " + self.name] for _ in pos]

    def explain_similar(self, item_id: str, item_ids) -> list[list[str]]:
        """Human reasons for each of `item_ids` being related to `item_id` (RELATED_ITEMS recipes)."""
        return self.explain(item_id, item_ids)

    # ------------------------------------------------------------------ what serving needs
    def item_popularity(self) -> np.ndarray | None:
        """One popularity value per item of `item_ids_`, used to back-fill lists and answer cold starts.

        The default is the cold-start scores of user-based recipes (-inf where a recipe has none); None for
        related-items recipes, and then serving counts the stored interactions instead.
        """
        if self.recipe_type == RELATED_ITEMS:
            return None
        scores = np.asarray(self.score_users([COLD_START_USER]), dtype=np.float64)[0]
        return np.where(np.isfinite(scores), scores, -np.inf) if np.isfinite(scores).any() else None

    def tuning_report(self) -> dict | None:
        """How the fit chose its own settings on a validation split (JSON-safe, stored with the solution version
        as `auto_tune`; `recsys.recipes.auto_tune.choice_lines` words it); None for recipes that do not tune
        themselves."""
        return None

    def logits_without_exploration(self, user_ids, *, new_events: pd.DataFrame | None = None,
                                   context=None) -> np.ndarray | None:
        """Log-scores (n_users, n_items) without the recipe's own exploration bonus, for a campaign that explores
        by its itemExplorationConfig instead; None when `score_users` has no built-in exploration."""
        return None

    # ------------------------------------------------------------------ item-based inference
    def score_items(self, item_ids) -> np.ndarray:
        """Similarity scores (n_query, n_items) of each query item to every catalogue item."""
        self._check_fitted()
        if self.recipe_type != RELATED_ITEMS:
            raise ValidationError(f"{self.name} is a {self.recipe_type} recipe; score_items needs a RELATED_ITEMS "
                                  f"recipe such as aws-sims")
        pos = self.item_positions(item_ids, strict=self.unknown_item_policy == "error")
        return self._score_item_rows(pos)

    def _score_item_rows(self, pos: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def similar_items(self, item_ids, n: int = 25, *, allowed: np.ndarray | None = None) -> list[Recommendations]:
        """Top-`n` related items per query item (the query item itself excluded); batch primitive."""
        item_ids = _as_list(item_ids)
        _check_n(n)
        scores = self.score_items(item_ids)
        pos = self.item_positions(item_ids, strict=False)
        rank_scores = np.array(scores, dtype=np.float64, copy=True)
        known = np.flatnonzero(pos >= 0)
        rank_scores[known, pos[known]] = -np.inf
        rank_scores = self._apply_allowed(rank_scores, allowed)
        top = _top_n(rank_scores, n)
        return [Recommendations(user_id=None, item_id=q, item_ids=self.item_ids_[t].astype(object),
                                scores=scores[r, t].astype(np.float64))
                for r, (q, t) in enumerate(zip(item_ids, top))]

    # ------------------------------------------------------------------ helpers
    def _require_user_based(self) -> None:
        if self.recipe_type not in USER_BASED:
            raise ValidationError(f"{self.name} is a {self.recipe_type} recipe; it answers similar_items(item_ids), "
                                  f"not user recommendations")

    def _contexts(self, context, n: int) -> list[dict | None]:
        if context is not None and not self.uses_context and not self._c().get("warned_context"):
            log.warning("%s ignores context (only context-aware recipes such as aws-user-personalization use it)",
                        self.name)
            self._c()["warned_context"] = True
        if context is None or isinstance(context, Mapping):
            return [context] * n
        context = list(context)
        if len(context) != n:
            raise ValidationError(f"context: got {len(context)} dicts for {n} users; pass one dict or one per user")
        return context

    def _apply_allowed(self, scores: np.ndarray, allowed) -> np.ndarray:
        if allowed is None:
            return scores
        allowed = np.asarray(allowed, dtype=bool)
        if allowed.shape not in ((scores.shape[1],), scores.shape):
            raise ValidationError(f"allowed mask has shape {allowed.shape}; expected ({scores.shape[1]},) or "
                                  f"{scores.shape} (one flag per catalogue item)")
        return np.where(allowed, scores, -np.inf)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted recipe to directory `path` (params.json, arrays.npz, ids.json), atomically."""
        self._check_fitted()
        path = Path(path)
        arrays, ids, state, kinds = {}, {}, {}, {}
        for k, v in vars(self).items():
            if not k.endswith("_") or k.startswith("_"):
                continue
            if sp.issparse(v):
                v = sp.csr_matrix(v)
                arrays[f"{k}.data"], arrays[f"{k}.indices"], arrays[f"{k}.indptr"] = v.data, v.indices, v.indptr
                arrays[f"{k}.shape"] = np.asarray(v.shape, dtype=np.int64)
                kinds[k] = "csr"
            elif isinstance(v, np.ndarray) and (v.dtype == object or v.dtype.kind in "US"):
                ids[k] = [None if x is None else str(x) for x in v.tolist()]
                kinds[k] = "str"
            elif isinstance(v, np.ndarray):
                arrays[k] = v
                kinds[k] = "array"
            else:
                state[k] = _jsonable(v, f"{type(self).__name__}.{k}")
                kinds[k] = "json"
        meta = {"recipe": self.name, "class": type(self).__name__, "format": FORMAT_VERSION,
                "params": _jsonable(self.get_params(), "params"), "state": state, "kinds": kinds}
        with atomic_path(path, directory=True) as tmp:
            (tmp / "params.json").write_text(json.dumps(meta, indent=1))
            (tmp / "ids.json").write_text(json.dumps(ids))
            with open(tmp / "arrays.npz", "wb") as fh:
                np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Recipe":
        """Read a recipe written by `save` (any registered recipe when called on `Recipe`)."""
        path = Path(path)
        try:
            meta = json.loads((path / "params.json").read_text())
        except FileNotFoundError as exc:
            raise ValidationError(f"{path} is not a saved recipe (no params.json); save one with recipe.save(path)") \
                from exc
        except ValueError as exc:  # not JSON: edited or truncated
            raise damaged_file(path, exc, _RETRAIN) from exc
        from recsys.recipes import get_recipe
        try:
            klass = get_recipe(meta["recipe"])
        except (ValidationError, TypeError, KeyError) as exc:
            raise damaged_file(path, exc, _RETRAIN) from exc
        if cls is not Recipe and not issubclass(klass, cls):
            raise ValidationError(f"{path} holds a {meta['recipe']} recipe, not {cls.name}; use load_recipe(path)")
        try:
            return klass._from_files(path, meta)
        except (ValidationError, TypeError, ValueError, KeyError, IndexError, AttributeError, OSError, EOFError,
                zipfile.BadZipFile) as exc:  # edited, truncated or missing files
            raise damaged_file(path, exc, _RETRAIN) from exc

    @classmethod
    def _from_files(cls, path: Path, meta: dict) -> "Recipe":
        obj = cls(**meta["params"])
        obj._cache = {}
        ids = json.loads((path / "ids.json").read_text())
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        for k, kind in meta["kinds"].items():
            if kind == "csr":
                shape = tuple(int(x) for x in arrays[f"{k}.shape"])
                v = sp.csr_matrix((arrays[f"{k}.data"], arrays[f"{k}.indices"], arrays[f"{k}.indptr"]), shape=shape)
            elif kind == "str":
                v = np.array(ids[k], dtype=object)
            elif kind == "array":
                v = arrays[k]
            else:
                v = meta["state"][k]
            setattr(obj, k, v)
        obj._after_load()
        return obj

    def _after_load(self) -> None:
        """Hook: rebuild derived, unsaved objects after `load`."""


# ---------------------------------------------------------------------- module helpers
def _report(progress: Progress, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, float(min(max(fraction, 0.0), 1.0)))


def _as_list(ids) -> list[str]:
    if isinstance(ids, str):
        return [ids]
    if ids is None:
        raise ValidationError("ids must be a string or a list of strings, got None")
    return [str(x) for x in ids]


def _check_n(n) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValidationError(f"n={n!r}: the number of results must be an int >= 1 (Personalize: 1..500)")


def _check_events(ev: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c not in ev.columns]
    if missing:
        raise ValidationError(f"new_events lack column(s) {missing}; give USER_ID, ITEM_ID, TIMESTAMP")
    ev = ev.copy()
    ev[USER_ID] = ev[USER_ID].astype("str")
    ev[ITEM_ID] = ev[ITEM_ID].astype("str")
    ev[TIMESTAMP] = pd.to_numeric(ev[TIMESTAMP]).astype("int64")
    return ev


def _top_n(scores: np.ndarray, n: int) -> list[np.ndarray]:
    """Column indices of the n best finite scores per row, best first (argpartition, then a small sort)."""
    n_rows, n_cols = scores.shape
    k = min(n, n_cols)
    if k == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(n_rows)]
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(n_cols), (n_rows, 1))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1) if n_rows else part
    top = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    finite = np.isfinite(vals).sum(axis=1)
    return [top[r, :finite[r]] for r in range(n_rows)]


def _jsonable(v, what: str):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x, what) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, what) for x in v]
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    raise TypeError(f"{what}: cannot save a {type(v).__name__} (only arrays, sparse matrices and JSON values)")


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (sums to 1); -inf logits get probability 0."""
    m = np.max(logits, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    return e / np.where(s > 0, s, 1.0)
