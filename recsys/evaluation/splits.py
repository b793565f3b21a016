"""Train/test splits for offline evaluation: Personalize's default protocol, temporal, leave-last-n-out, segmentation.

Every split returns a `Split`: the `TrainingData` to fit on, the test users' input events (`history`), the
events to predict (`truth`) and a one-line `protocol` that is printed next to every number computed on it.

Example::

    split = personalize_split(data, test_user_fraction=0.1, holdout_fraction=0.1, seed=42)
    recipe.fit(split.train)
    recipe.recommend(split.test_user_ids, n=25, new_events=split.history)

What counts as relevant: the truth events as they are (Personalize scores the newest 10% as-is). The
metrics turn them into one *set* of distinct items per user; `evaluate(exclude_seen=True)` also drops
truth items already in the user's history, because the model is told never to recommend those.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsys.exceptions import ValidationError

_EPS = 1e-9
_ORDER = "_split_order"


@dataclass(frozen=True)
class Split:
    """One train/test split.

    Attributes
    ----------
    train : TrainingData the recipe fits on.
    history : test users' input events (same columns as the interactions), oldest first.
    truth : test users' events to predict, oldest first.
    protocol : human description printed next to every metric.
    catalogue : every item of the full data (interactions + items table): the denominator of ``coverage``.
    history_in_train : True when the history events are already part of ``train`` (temporal, leave-last-n-out),
        so `evaluate` must not fold them in a second time as new events.
    kind : ``personalize`` | ``temporal`` | ``leave_last_n_out`` | ``segmentation``.
    params : the arguments that made the split (seed, fractions, cutoff), for reports.
    """

    train: Any
    history: pd.DataFrame
    truth: pd.DataFrame
    protocol: str
    catalogue: np.ndarray
    history_in_train: bool = False
    kind: str = "personalize"
    params: dict = field(default_factory=dict)

    @property
    def test_user_ids(self) -> np.ndarray:
        """Users with at least one truth event, sorted."""
        return np.sort(pd.unique(self.truth[USER_ID].astype(object)).astype(object))

    @property
    def n_test_users(self) -> int:
        return int(self.truth[USER_ID].nunique())

    def __repr__(self) -> str:
        return (f"Split(kind={self.kind!r}, train={len(self.train.interactions)} events, "
                f"history={len(self.history)}, truth={len(self.truth)} events of {self.n_test_users} users, "
                f"protocol={self.protocol!r})")


def _interactions(data) -> pd.DataFrame:
    frame = getattr(data, "interactions", None)
    if frame is None:
        raise ValidationError("splits need a TrainingData (with .interactions); build one with "
                              "TrainingData.from_frames(...) or load_training_data(store, group)")
    missing = [c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c not in frame.columns]
    if missing:
        raise ValidationError(f"interactions lack column(s) {missing}; every split needs USER_ID, ITEM_ID "
                              "and TIMESTAMP")
    if len(frame) == 0:
        raise ValidationError("interactions are empty; import interactions before evaluating")
    return frame


def _catalogue(data, frame: pd.DataFrame) -> np.ndarray:
    cat = getattr(data, "catalogue", None)
    if cat is not None:
        return np.asarray(cat, dtype=object)
    items = getattr(data, "items", None)
    ids = [frame[ITEM_ID].astype(object).to_numpy()]
    if items is not None and ITEM_ID in items.columns:
        ids.append(items[ITEM_ID].astype(object).to_numpy())
    return np.sort(pd.unique(np.concatenate(ids)).astype(object))


def _with_interactions(data, frame: pd.DataFrame):
    """The same TrainingData (items, users, field kinds) with other interactions."""
    frame = frame.drop(columns=[_ORDER], errors="ignore").reset_index(drop=True)
    if dataclasses.is_dataclass(data):
        return dataclasses.replace(data, interactions=frame)
    return type(data).from_frames(frame, items=getattr(data, "items", None), users=getattr(data, "users", None),
                                  item_fields=getattr(data, "item_fields", None),
                                  user_fields=getattr(data, "user_fields", None),
                                  context_fields=getattr(data, "context_fields", None))


def _chronological(frame: pd.DataFrame) -> pd.DataFrame:
    """Events sorted by user then timestamp; ties keep their original (insertion) order."""
    out = frame.assign(**{_ORDER: np.arange(len(frame))})
    return out.sort_values([USER_ID, TIMESTAMP, _ORDER], kind="stable").reset_index(drop=True)


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[_ORDER], errors="ignore").reset_index(drop=True)


def _check_fraction(name: str, value: float, *, allow_one: bool = False) -> float:
    value = float(value)
    if not (0.0 < value < 1.0 or (allow_one and value == 1.0)):
        bound = "(0, 1]" if allow_one else "(0, 1)"
        raise ValidationError(f"{name} must be in {bound}, got {value}")
    return value


def _sample_users(users: np.ndarray, n: int, seed: int) -> np.ndarray:
    users = np.sort(np.asarray(users, dtype=object))
    n = min(max(n, 0), len(users))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(users, size=n, replace=False)) if n else np.empty(0, dtype=object)


def _tail_mask(ordered: pd.DataFrame, holdout_fraction: float | None = None, n_last: int | None = None) -> np.ndarray:
    """True for each user's newest events: ceil(fraction × count) (at least 1), or exactly n_last."""
    group = ordered.groupby(USER_ID, sort=False)[USER_ID]
    size = group.transform("size").to_numpy()
    pos = group.cumcount().to_numpy()
    if n_last is not None:
        n_truth = np.full(len(size), n_last)
    else:
        n_truth = np.maximum(1, np.ceil(holdout_fraction * size - _EPS)).astype(np.int64)
    return pos >= size - n_truth


def personalize_split(data, test_user_fraction: float = 0.1, holdout_fraction: float = 0.1, seed: int = 42,
                      *, test_fraction: float | None = None) -> Split:
    """Personalize's default protocol (AP §5.1): hold out a share of users, score their newest events.

    ``round(test_user_fraction × users)`` users with at least 2 events are drawn (seeded) and removed from
    training entirely. Each one's events are sorted by TIMESTAMP; the newest ceil(holdout_fraction × n) (at
    least 1) are the truth, the older ones are the history given to the model as new events.

    ``test_fraction`` is accepted as an alias of ``test_user_fraction``.
    """
    if test_fraction is not None:
        test_user_fraction = test_fraction
    _check_fraction("test_user_fraction", test_user_fraction)
    _check_fraction("holdout_fraction", holdout_fraction)
    frame = _interactions(data)
    counts = frame[USER_ID].value_counts()
    eligible = counts.index[counts.to_numpy() >= 2].to_numpy(dtype=object)
    n_test = int(round(test_user_fraction * len(counts)))
    n_test = min(max(n_test, 1), len(eligible))
    if n_test == 0 or n_test >= len(counts):
        raise ValidationError(f"cannot hold out users: {len(counts)} users, {len(eligible)} with >= 2 events; "
                              "a user split needs at least 2 users and one user with 2 or more events")
    test_users = _sample_users(eligible, n_test, seed)
    is_test = frame[USER_ID].isin(test_users).to_numpy()
    test = _chronological(frame[is_test])
    tail = _tail_mask(test, holdout_fraction=holdout_fraction)
    protocol = (f"Personalize default: {test_user_fraction:.0%} of users held out (seed {seed}, {n_test} users "
                f"with >= 2 events); oldest {1 - holdout_fraction:.0%} of each held-out user's events as input, "
                f"newest {holdout_fraction:.0%} (at least 1) scored")
    return Split(train=_with_interactions(data, frame[~is_test]), history=_clean(test[~tail]),
                 truth=_clean(test[tail]), protocol=protocol, catalogue=_catalogue(data, frame),
                 history_in_train=False, kind="personalize",
                 params={"test_user_fraction": test_user_fraction, "holdout_fraction": holdout_fraction,
                         "seed": seed})


def temporal_split(data, test_fraction: float = 0.1, *, cutoff: int | None = None,
                   max_test_users: int | None = None, seed: int = 42) -> Split:
    """Global temporal holdout: train on events before a cutoff, score every user's events from the cutoff on.

    The cutoff is given (epoch seconds) or chosen so that about ``test_fraction`` of the events are at or after
    it. Test users are the users with events at or after the cutoff (cold users with no earlier event
    included); their earlier events are the history (already in train). ``max_test_users`` samples users
    (seeded) to bound evaluation time.
    """
    frame = _interactions(data)
    ts = frame[TIMESTAMP].to_numpy(dtype=np.int64)
    if cutoff is None:
        _check_fraction("test_fraction", test_fraction)
        ordered = np.sort(ts)
        idx = min(len(ordered) - 1, int(math.floor((1.0 - test_fraction) * len(ordered))))
        cutoff = int(ordered[idx])
        if cutoff <= ordered[0]:  # many ties at the oldest timestamp: cut at the next distinct one
            later = ordered[ordered > ordered[0]]
            if not len(later):
                raise ValidationError("every event has the same timestamp, so a temporal split is impossible; use "
                                      "personalize_split or leave_last_n_out")
            cutoff = int(later[0])
    cutoff = int(cutoff)
    after = ts >= cutoff
    if not after.any() or after.all():
        raise ValidationError(f"cutoff {cutoff} leaves an empty train or test set; pick a timestamp between "
                              f"{ts.min()} and {ts.max()}")
    test_frame = frame[after]
    users = pd.unique(test_frame[USER_ID].astype(object))
    if max_test_users is not None and len(users) > max_test_users:
        users = _sample_users(users, max_test_users, seed)
        test_frame = test_frame[test_frame[USER_ID].isin(users)]
    train_frame = frame[~after]
    history = train_frame[train_frame[USER_ID].isin(users)]
    share = after.mean()
    sampled = f", {len(users)} sampled users (seed {seed})" if max_test_users is not None else ""
    protocol = (f"Temporal: trained on events before {pd.Timestamp(cutoff, unit='s'):%Y-%m-%d %H:%M:%S} UTC "
                f"(cutoff {cutoff}); {share:.1%} of events at or after it scored for {len(users)} users{sampled}; "
                "earlier events of those users are their history")
    return Split(train=_with_interactions(data, train_frame), history=_clean(_chronological(history)),
                 truth=_clean(_chronological(test_frame)), protocol=protocol, catalogue=_catalogue(data, frame),
                 history_in_train=True, kind="temporal",
                 params={"test_fraction": test_fraction, "cutoff": cutoff, "max_test_users": max_test_users,
                         "seed": seed})


def leave_last_n_out(data, n: int = 1, test_user_fraction: float = 1.0, seed: int = 42) -> Split:
    """Hold out each test user's newest ``n`` events; everything else (their older events too) is training.

    Test users are drawn (seeded) from users with more than n events, so each keeps at least one history event.
    """
    if int(n) < 1:
        raise ValidationError(f"n must be >= 1, got {n}")
    n = int(n)
    _check_fraction("test_user_fraction", test_user_fraction, allow_one=True)
    frame = _interactions(data)
    counts = frame[USER_ID].value_counts()
    eligible = counts.index[counts.to_numpy() > n].to_numpy(dtype=object)
    n_test = min(len(eligible), max(1, int(round(test_user_fraction * len(eligible)))))
    if len(eligible) == 0:
        raise ValidationError(f"no user has more than {n} events, so none can leave {n} out; lower n")
    test_users = _sample_users(eligible, n_test, seed)
    ordered = _chronological(frame)
    tail = _tail_mask(ordered, n_last=n) & ordered[USER_ID].isin(test_users).to_numpy()
    train = ordered[~tail]
    history = train[train[USER_ID].isin(test_users)]
    protocol = (f"Leave-last-{n}-out: newest {n} event(s) of {n_test} users "
                f"({test_user_fraction:.0%} of users with > {n} events, seed {seed}) scored; all other events, "
                "those users' older events included, are training")
    return Split(train=_with_interactions(data, train.sort_values(_ORDER, kind="stable")), history=_clean(history),
                 truth=_clean(ordered[tail]), protocol=protocol, catalogue=_catalogue(data, frame),
                 history_in_train=True, kind="leave_last_n_out",
                 params={"n": n, "test_user_fraction": test_user_fraction, "seed": seed})


def segmentation_split(data, holdout_fraction: float = 0.2) -> Split:
    """USER_SEGMENTATION protocol (AP §5.1): each user's oldest 80% of events train, newest 20% test.

    Users with one event keep it in training. The truth answers "which users will interact with item i".
    """
    return _per_user_holdout(
        data, holdout_fraction, "segmentation",
        f"Personalize segmentation: oldest {1 - holdout_fraction:.0%} of each user's events train, newest "
        f"{holdout_fraction:.0%} (at least 1, users with >= 2 events) test; K = top 1% of users")


def rating_split(data, holdout_fraction: float = 0.1) -> Split:
    """RATING_PREDICTION protocol: each user's newest 10% of ratings (at least 1) are predicted, the rest train.

    Every user stays in training (a rating model needs the user's past ratings); users with one rating keep it.
    """
    return _per_user_holdout(
        data, holdout_fraction, "rating",
        f"Per-user holdout: newest {holdout_fraction:.0%} (at least 1) of each user's events with >= 2 events "
        "predicted; all older events train")


def _per_user_holdout(data, holdout_fraction: float, kind: str, protocol: str) -> Split:
    _check_fraction("holdout_fraction", holdout_fraction)
    frame = _interactions(data)
    ordered = _chronological(frame)
    size = ordered.groupby(USER_ID, sort=False)[USER_ID].transform("size").to_numpy()
    tail = _tail_mask(ordered, holdout_fraction=holdout_fraction) & (size >= 2)
    train = ordered[~tail]
    return Split(train=_with_interactions(data, train.sort_values(_ORDER, kind="stable")),
                 history=_clean(train[train[USER_ID].isin(ordered.loc[tail, USER_ID])]),
                 truth=_clean(ordered[tail]), protocol=protocol, catalogue=_catalogue(data, frame),
                 history_in_train=True, kind=kind, params={"holdout_fraction": holdout_fraction})


def default_split(data, recipe_type: str | None = None, seed: int = 42, *, test_user_fraction: float = 0.1) -> Split:
    """The split for a recipe type: Personalize's user holdout, per-user 80/20 for USER_SEGMENTATION (AP §5.1),
    per-user newest 10% for RATING_PREDICTION (ours; Personalize has no rating recipes)."""
    if recipe_type == "USER_SEGMENTATION":
        return segmentation_split(data)
    if recipe_type == "RATING_PREDICTION":
        return rating_split(data)
    return personalize_split(data, test_user_fraction=test_user_fraction, seed=seed)
