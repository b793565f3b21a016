"""`evaluate()`: fit a recipe on a split, score the test users in batches and collect per-user metrics in a report.

Example::

    split = personalize_split(data)
    report = evaluate(get_recipe("aws-user-personalization")(), split)
    report.metrics["normalized_discounted_cumulative_gain_at_10"], report.protocol
    report.per_user           # USER_ID, one column per metric, history_length, history_bucket, user attributes
    EvaluationReport.from_dict(json.loads(json.dumps(report.to_dict())))
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from recsys.columns import EVENT_VALUE, ITEM_ID, USER_ID
from recsys.evaluation import metrics as M
from recsys.evaluation.splits import Split
from recsys.exceptions import CancelledError, ValidationError

log = logging.getLogger(__name__)

RECOMMENDED = "RECOMMENDED"
TRUTH = "TRUTH"
HISTORY_LENGTH = "history_length"
HISTORY_BUCKET = "history_bucket"
N_TRUTH = "n_truth_items"
#: History-length buckets for the cold/warm breakdown (left-closed: 0, 1-4, 5-19, 20-99, 100+).
HISTORY_BINS = (0, 1, 5, 20, 100)
HISTORY_LABELS = ("cold (0)", "1-4", "5-19", "20-99", "100+")
_SCORE_CELLS = 20_000_000  # float64 cells per scoring batch (~160 MB)

ProgressFn = Callable[[str, float], None]


def history_bucket(lengths) -> np.ndarray:
    """Label each history length with its cold/warm bucket (``cold (0)``, ``1-4``, ``5-19``, ``20-99``, ``100+``)."""
    idx = np.searchsorted(np.asarray(HISTORY_BINS), np.asarray(lengths, dtype=np.int64), side="right") - 1
    return np.asarray(HISTORY_LABELS, dtype=object)[np.clip(idx, 0, len(HISTORY_LABELS) - 1)]


@dataclass
class EvaluationReport:
    """Metrics of one recipe on one split, with the per-user values behind every mean.

    ``metrics`` uses Personalize's keys (``coverage``, ``mean_reciprocal_rank_at_25``,
    ``normalized_discounted_cumulative_gain_at_{5,10,25}``, ``precision_at_{5,10,25}``) plus ``recall_at_k``,
    ``hit_rate_at_k``, ``mean_average_precision_at_25``, ``novelty``, ``popularity_bias`` and, when asked for,
    ``average_rewards_at_k``; rating recipes report ``root_mean_square_error`` / ``mean_absolute_error``,
    segmentation recipes ``hit`` / ``recall``. ``lists`` keeps each test user's recommended and relevant items
    (for item-category breakdowns).
    """

    metrics: dict[str, float]
    per_user: pd.DataFrame
    protocol: str
    recipe_name: str
    params: dict = field(default_factory=dict)
    n_test_users: int = 0
    seconds: float = 0.0
    ks: tuple[int, ...] = M.DEFAULT_KS
    recipe_type: str = "USER_PERSONALIZATION"
    lists: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)
    items: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # not serialised

    @property
    def entity(self) -> str:
        """The column identifying a row of ``per_user``: USER_ID, or ITEM_ID for segmentation reports."""
        return ITEM_ID if self.recipe_type == "USER_SEGMENTATION" else USER_ID

    def summary(self) -> pd.DataFrame:
        """One row per metric: key, short name, value."""
        return pd.DataFrame({"metric": list(self.metrics), "name": [M.display_name(k) for k in self.metrics],
                             "value": list(self.metrics.values())})

    def __str__(self) -> str:
        lines = [f"{self.recipe_name} — {self.n_test_users} test users — {self.protocol}"]
        lines += [f"  {M.display_name(k):<20} {v:.4f}" for k, v in self.metrics.items()]
        return "\n".join(lines)

    def to_dict(self, include_lists: bool = True) -> dict:
        """A JSON-serialisable dict (frames as column lists); `from_dict` restores an equal report."""
        return {
            "recipe_name": self.recipe_name,
            "recipe_type": self.recipe_type,
            "params": _jsonable(self.params),
            "protocol": self.protocol,
            "metrics": {k: _num(v) for k, v in self.metrics.items()},
            "n_test_users": int(self.n_test_users),
            "seconds": float(self.seconds),
            "ks": [int(k) for k in self.ks],
            "extra": _jsonable(self.extra),
            "per_user": _frame_to_dict(self.per_user),
            "lists": _frame_to_dict(self.lists) if include_lists and self.lists is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "EvaluationReport":
        return cls(metrics={k: (float("nan") if v is None else float(v)) for k, v in d["metrics"].items()},
                   per_user=_frame_from_dict(d["per_user"]), protocol=d["protocol"],
                   recipe_name=d["recipe_name"], params=dict(d.get("params") or {}),
                   n_test_users=int(d.get("n_test_users", 0)), seconds=float(d.get("seconds", 0.0)),
                   ks=tuple(d.get("ks") or M.DEFAULT_KS), recipe_type=d.get("recipe_type", "USER_PERSONALIZATION"),
                   lists=_frame_from_dict(d["lists"]) if d.get("lists") else None, extra=dict(d.get("extra") or {}))


def _num(v):
    v = float(v)
    return None if math.isnan(v) else v


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return _num(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def _frame_to_dict(frame: pd.DataFrame | None) -> dict | None:
    if frame is None:
        return None
    return {"columns": [str(c) for c in frame.columns],
            "data": {str(c): _jsonable(frame[c].tolist()) for c in frame.columns}}


def _frame_from_dict(d: dict | None) -> pd.DataFrame | None:
    if d is None:
        return None
    return pd.DataFrame({c: d["data"][c] for c in d["columns"]}, columns=d["columns"])


# --------------------------------------------------------------------------------------------------- evaluate


def _resolve_recipe(recipe, params: dict | None):
    """A Recipe instance from an instance, a class, a (class, params) pair or a registry name."""
    if isinstance(recipe, tuple) and len(recipe) == 2:
        recipe, params = recipe[0], {**(recipe[1] or {}), **(params or {})}
    if isinstance(recipe, str):
        from recsys.recipes import get_recipe

        recipe = get_recipe(recipe)
    if isinstance(recipe, type):
        return recipe(**(params or {}))
    if params:
        recipe = recipe.clone() if hasattr(recipe, "clone") else recipe
        recipe.set_params(**params)
    return recipe


def _is_fitted(recipe) -> bool:
    return getattr(recipe, "item_ids_", None) is not None


def _ids(rec) -> np.ndarray:
    for attr in ("item_ids", "user_ids"):
        if hasattr(rec, attr):
            return np.asarray(getattr(rec, attr), dtype=object)
    return np.asarray(rec, dtype=object)


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("evaluation cancelled by the user")


def evaluate(recipe, split: Split, ks: Sequence[int] = M.DEFAULT_KS, exclude_seen: bool = True,
             batch_size: int | None = None, *, params: dict | None = None, refit: bool = False,
             objective_field: str | None = None, progress: ProgressFn | None = None, cancel=None,
             name: str | None = None) -> EvaluationReport:
    """Fit ``recipe`` on ``split.train`` (unless already fitted) and score the split's test users.

    Parameters
    ----------
    recipe : a Recipe instance (used as is when fitted, unless ``refit``), a Recipe class, a ``(class, params)``
        pair or a registry name.
    split : from `personalize_split`, `temporal_split`, `leave_last_n_out` or `segmentation_split`.
    ks : cut-offs; MRR and MAP are reported at max(ks) (Personalize: 25).
    exclude_seen : recommend only items outside the user's history, and score only truth items outside it
        (an item the model may not recommend can never be a hit).
    batch_size : users per `recommend` call; default: as many as keep one (users × catalogue) score matrix
        near 160 MB (at most 1000).
    objective_field : numeric Items column (e.g. PRICE) that adds ``average_rewards_at_k`` at max(ks).
    progress : ``progress(stage, fraction)``; cancel : a `threading.Event` that stops the run
        (`CancelledError`).
    """
    started = time.perf_counter()
    ks = tuple(sorted({int(k) for k in ks}))
    recipe = _resolve_recipe(recipe, params)
    fit_seconds = 0.0
    if refit or not _is_fitted(recipe):
        _check_cancel(cancel)
        t0 = time.perf_counter()
        fit_progress = None
        if progress is not None or cancel is not None:
            def fit_progress(stage, fraction):
                _check_cancel(cancel)
                if progress is not None:
                    progress(f"fit: {stage}", 0.5 * float(fraction))
        recipe.fit(split.train, progress=fit_progress) if fit_progress else recipe.fit(split.train)
        fit_seconds = time.perf_counter() - t0
    rtype = getattr(recipe, "recipe_type", "USER_PERSONALIZATION")
    if rtype == "USER_SEGMENTATION":
        report = _evaluate_segmentation(recipe, split, progress, cancel)
    elif rtype == "RATING_PREDICTION":
        report = _evaluate_ratings(recipe, split)
    else:
        report = _evaluate_ranking(recipe, split, ks, exclude_seen, batch_size, objective_field, progress, cancel)
    report.recipe_name = name or getattr(recipe, "name", type(recipe).__name__)
    report.recipe_type = rtype
    report.params = _jsonable(recipe.get_params()) if hasattr(recipe, "get_params") else {}
    report.seconds = time.perf_counter() - started
    report.extra.update({"fit_seconds": fit_seconds, "split": split.kind, "split_params": _jsonable(split.params)})
    if progress is not None:
        progress("done", 1.0)
    log.info("evaluated %s on %d users in %.1fs", report.recipe_name, report.n_test_users, report.seconds)
    return report


def _truth_sets(split: Split, exclude_seen: bool) -> tuple[np.ndarray, list[np.ndarray], pd.Series]:
    """Test users (sorted), each one's distinct relevant items, and each one's history length."""
    truth = split.truth[[USER_ID, ITEM_ID]].astype(object).drop_duplicates()
    if exclude_seen and len(split.history):
        seen = split.history[[USER_ID, ITEM_ID]].astype(object).drop_duplicates()
        merged = truth.merge(seen, on=[USER_ID, ITEM_ID], how="left", indicator=True)
        truth = merged.loc[merged["_merge"] == "left_only", [USER_ID, ITEM_ID]]
    users, groups = _group(truth[USER_ID].to_numpy(dtype=object), truth[ITEM_ID].to_numpy(dtype=object))
    hist_len = split.history.groupby(USER_ID)[ITEM_ID].size()
    hist_len.index = hist_len.index.astype(object)
    return users, groups, hist_len.reindex(users, fill_value=0)


def _group(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sorted distinct keys and, for each, its values (original order kept within a key)."""
    if len(keys) == 0:
        return np.empty(0, dtype=object), []
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    uniq, starts = np.unique(keys, return_index=True)
    return uniq.astype(object), np.split(values, starts[1:])


def _request_context(split: Split, users: np.ndarray) -> list[dict] | None:
    """Each test user's context at their first truth event (what the app would have sent)."""
    fields = [c for c in getattr(split.train, "context_fields", ()) or () if c in split.truth.columns]
    if not fields:
        return None
    first = split.truth.drop_duplicates(USER_ID).set_index(USER_ID)[fields].reindex(users)
    return [{k: v for k, v in row.items() if isinstance(v, str) and v} for row in first.to_dict("records")]


def _evaluate_ranking(recipe, split, ks, exclude_seen, batch_size, objective_field, progress, cancel):
    max_k = ks[-1]
    users, truth, hist_len = _truth_sets(split, exclude_seen)
    skipped = int(split.n_test_users - len(users))
    if len(users) == 0:
        raise ValidationError("no test user has a relevant item left to predict (all truth items are already in "
                              "their history); use exclude_seen=False or another split")
    if batch_size is None:
        batch_size = max(1, min(1000, _SCORE_CELLS // max(len(recipe.item_ids_), 1)))
    batch_size = max(1, int(batch_size))
    history = split.history if not split.history_in_train else None
    context = _request_context(split, users) if getattr(recipe, "uses_context", False) else None
    rtype = getattr(recipe, "recipe_type", "USER_PERSONALIZATION")
    recommended: list[np.ndarray] = []
    t0 = time.perf_counter()
    for start in range(0, len(users), batch_size):
        _check_cancel(cancel)
        batch = users[start:start + batch_size]
        if rtype == "RELATED_ITEMS":
            recommended.extend(_related_items_lists(recipe, split, batch, max_k, exclude_seen))
        else:
            new_events = None
            if history is not None:
                new_events = history[history[USER_ID].isin(batch)]
            kwargs: dict[str, Any] = {"n": max_k, "new_events": new_events, "exclude_seen": exclude_seen}
            if context is not None:
                kwargs["context"] = context[start:start + batch_size]
            recommended.extend(_ids(r)[:max_k] for r in recipe.recommend(list(batch), **kwargs))
        if progress is not None:
            progress("scoring test users", 0.5 + 0.5 * min(1.0, (start + len(batch)) / len(users)))
    score_seconds = time.perf_counter() - t0
    per_user = pd.DataFrame({USER_ID: users})
    for key, values in M.ranking_metrics(recommended, truth, ks).items():
        per_user[key] = values
    metrics: dict[str, float] = {M.COVERAGE: M.coverage(recommended, split.catalogue)}
    train = split.train.interactions
    popularity = M.item_popularity(train)
    per_user[M.NOVELTY] = M.novelty(recommended, popularity, int(train[USER_ID].nunique()), max_k)
    per_user[M.POPULARITY_BIAS] = M.popularity_percentile(recommended, popularity, split.catalogue, max_k)
    if objective_field is not None:
        items = getattr(split.train, "items", None)
        if items is None or objective_field not in items.columns:
            raise ValidationError(f"objective_field {objective_field!r} is not a column of the Items data; pass a "
                                  "numeric Items column such as PRICE")
        rewards = pd.Series(pd.to_numeric(items[objective_field], errors="coerce").fillna(0.0).to_numpy(),
                            index=items[ITEM_ID].astype(object))
        per_user[M.AVERAGE_REWARDS] = M.average_rewards_at_k(recommended, truth, rewards, max_k)
    ordered = [M.mrr_key(max_k)] + [f(k) for f in (M.ndcg_key, M.precision_key, M.recall_key, M.hit_rate_key)
                                    for k in ks]
    rest = [c for c in per_user.columns if c != USER_ID and c not in ordered]
    for key in ordered + rest:
        metrics[key] = float(per_user[key].mean())
    per_user[HISTORY_LENGTH] = hist_len.to_numpy(dtype=np.int64)
    per_user[HISTORY_BUCKET] = history_bucket(per_user[HISTORY_LENGTH])
    per_user[N_TRUTH] = np.fromiter((len(t) for t in truth), dtype=np.int64, count=len(truth))
    per_user = _with_user_attributes(per_user, split.train)
    lists = pd.DataFrame({USER_ID: users, RECOMMENDED: [list(map(str, r)) for r in recommended],
                          TRUTH: [list(map(str, t)) for t in truth]})
    return EvaluationReport(metrics=metrics, per_user=per_user, protocol=_protocol(split, exclude_seen),
                            recipe_name="", n_test_users=len(users), ks=ks, lists=lists,
                            items=getattr(split.train, "items", None),
                            extra={"n_skipped_users": skipped, "score_seconds": score_seconds,
                                   "exclude_seen": exclude_seen})


def _protocol(split: Split, exclude_seen: bool) -> str:
    if not exclude_seen:
        return split.protocol
    return split.protocol + "; items already in a user's history neither recommended nor scored"


def _related_items_lists(recipe, split, users, k, exclude_seen) -> list[np.ndarray]:
    """RELATED_ITEMS recipes: query with each user's newest history item, drop history items, keep k."""
    hist = split.history[split.history[USER_ID].isin(users)]
    last = hist.drop_duplicates(USER_ID, keep="last").set_index(USER_ID)[ITEM_ID]
    h_users, h_items = _group(hist[USER_ID].to_numpy(dtype=object), hist[ITEM_ID].to_numpy(dtype=object))
    seen = dict(zip(h_users, (set(i) for i in h_items))) if exclude_seen else {}
    known = pd.Index(np.asarray(recipe.item_ids_, dtype=object))
    queries = [last.get(u) for u in users]
    ok = [i for i, q in enumerate(queries) if q is not None and known.get_indexer([q])[0] >= 0]
    out = [np.empty(0, dtype=object) for _ in users]
    for start in range(0, len(ok), 200):  # a (200, n_items) score block at a time
        rows = ok[start:start + 200]
        n = min(len(known), k + 1 + max(len(seen.get(users[i], ())) for i in rows))
        for i, rec in zip(rows, recipe.similar_items([queries[i] for i in rows], n=n)):
            drop = seen.get(users[i], set()) | {queries[i]}
            out[i] = np.asarray([x for x in _ids(rec) if x not in drop], dtype=object)[:k]
    return out


def _with_user_attributes(per_user: pd.DataFrame, train) -> pd.DataFrame:
    users = getattr(train, "users", None)
    if users is None or USER_ID not in users.columns:
        return per_user
    kinds = dict(getattr(train, "user_fields", {}) or {})
    cols = [c for c in users.columns if c != USER_ID and c not in per_user.columns
            and kinds.get(c, "categorical") == "categorical"]
    if not cols:
        return per_user
    attrs = users[[USER_ID, *cols]].astype({USER_ID: object}).drop_duplicates(USER_ID)
    return per_user.merge(attrs, on=USER_ID, how="left")


def _evaluate_ratings(recipe, split: Split) -> EvaluationReport:
    """RATING_PREDICTION recipes: RMSE and MAE of EVENT_VALUE over the truth events."""
    if EVENT_VALUE not in split.truth.columns:
        raise ValidationError("rating evaluation needs EVENT_VALUE in the interactions; this data has none")
    truth = split.truth.dropna(subset=[EVENT_VALUE])
    kwargs = {}
    if not split.history_in_train and _accepts(recipe.predict, "new_events"):
        kwargs["new_events"] = split.history
    pred = np.asarray(recipe.predict(truth[USER_ID].astype(object).tolist(), truth[ITEM_ID].astype(object).tolist(),
                                     **kwargs), dtype=np.float64)
    y = truth[EVENT_VALUE].to_numpy(dtype=np.float64)
    err = pd.DataFrame({USER_ID: truth[USER_ID].astype(object).to_numpy(), "se": (y - pred) ** 2,
                        "ae": np.abs(y - pred)})
    per_user = err.groupby(USER_ID, sort=True).agg(**{"squared_error": ("se", "mean"),
                                                      "absolute_error": ("ae", "mean"),
                                                      N_TRUTH: ("se", "size")}).reset_index()
    hist_len = split.history.groupby(USER_ID)[ITEM_ID].size().reindex(per_user[USER_ID], fill_value=0)
    per_user[HISTORY_LENGTH] = hist_len.to_numpy(dtype=np.int64)
    per_user[HISTORY_BUCKET] = history_bucket(per_user[HISTORY_LENGTH])
    metrics = {M.RMSE: M.rmse(y, pred), M.MAE: M.mae(y, pred)}
    return EvaluationReport(metrics=metrics, per_user=_with_user_attributes(per_user, split.train),
                            protocol=split.protocol, recipe_name="", n_test_users=len(per_user),
                            extra={"n_ratings": int(len(y))})


def _evaluate_segmentation(recipe, split: Split, progress, cancel) -> EvaluationReport:
    """USER_SEGMENTATION recipes: for each test item, are the top 1% users the ones who interacted with it?"""
    truth = split.truth[[USER_ID, ITEM_ID]].astype(object).drop_duplicates()
    known = pd.Index(np.asarray(recipe.item_ids_, dtype=object))
    truth = truth[known.get_indexer(truth[ITEM_ID]) >= 0]
    grouped = truth.groupby(ITEM_ID, sort=True)[USER_ID].agg(lambda s: s.to_numpy(dtype=object))
    items = grouped.index.to_numpy(dtype=object)
    n_users = int(split.train.interactions[USER_ID].nunique())
    k = M.segment_k(n_users)
    predicted: list[np.ndarray] = []
    for start in range(0, len(items), 200):
        _check_cancel(cancel)
        batch = list(items[start:start + 200])
        predicted.extend(_ids(r)[:k] for r in recipe.users_for_items(batch, n=k))
        if progress is not None:
            progress("scoring test items", 0.5 + 0.5 * min(1.0, (start + len(batch)) / max(len(items), 1)))
    values = M.segmentation_metrics(predicted, list(grouped.to_numpy()), k)
    per_item = pd.DataFrame({ITEM_ID: items, **values,
                             N_TRUTH: np.fromiter((len(t) for t in grouped), dtype=np.int64, count=len(items))})
    metrics = {key: float(v.mean()) if len(v) else float("nan") for key, v in values.items()}
    return EvaluationReport(metrics=metrics, per_user=per_item, protocol=split.protocol + f"; K = {k} users",
                            recipe_name="", n_test_users=int(truth[USER_ID].nunique()),
                            extra={"k": k, "n_test_items": int(len(items))})
