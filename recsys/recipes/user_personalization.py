"""aws-user-personalization: the flagship recipe (self-tuned EASE, recency-weighted profiles, sequence, context,
exploration).

How a user's scores are made, all vectorised over a batch of users:

1. Profile: the user's training history plus any `new_events` (real-time events, an anonymous session, the
   evaluation history of a held-out user), each event weighted by its type (`event_weights`, e.g. purchase >
   cart > view), optionally by EVENT_VALUE, and by recency (an exponential half-life counted in events, in
   baskets of one timestamp, or in days), summed per item and squashed with log1p.
2. Relevance: EASE (Steck 2019, closed form) over the catalogue, or over its most popular items plus a
   low-rank EASE over all of them when the catalogue is large; implicit's ALS on request (`model='als'`).
3. Logits: relevance / fitted temperature + a log-popularity prior + next-item transitions out of the user's
   newest events; plus, when a `context` is given (e.g. ``{"DEVICE": "mobile"}``), a smoothed per-context item
   log-lift learned from the training interactions; plus an exploration bonus for new items (created within
   `exploration_item_age_cut_off` days of the latest interaction), inversely proportional to their
   interactions + impressions, with a small seeded noise.
4. Scores: softmax over the catalogue (sum to 1), as Personalize defines them. The temperature is fitted at
   training time by maximum likelihood of each sampled user's last event, so scores are calibrated.

With `auto_tune=True` (the default) `fit` first chooses the model, l2, recency and the two blend weights on a
validation split of the training data (`recsys.recipes.auto_tune`); parameters given explicitly are kept as
given. `settings_` holds what was used, `tuning_report()` what was tried. Cold users (no history, no events)
get popularity, shifted by context when given. Context lifts and the exploration bonus live in
`recsys.recipes.context_exploration`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.columns import CREATION_TIMESTAMP, EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from recsys.exceptions import ValidationError
from recsys.recipes import auto_tune as at
from recsys.recipes import item_models as im
from recsys.recipes.base import USER_PERSONALIZATION, History, ParamInfo, Recipe, _report, softmax_rows
from recsys.recipes.item_models import spd_inverse as _spd_inverse  # noqa: F401  (kept importable)
from recsys.recipes.context_exploration import ContextAndExploration
from recsys.recipes.one_user import OneUserPath
from recsys.recipes.popularity import unique_user_counts

log = logging.getLogger(__name__)

#: what a parameter left at None means without auto-tuning (the behaviour before auto-tuning existed)
UNTUNED = {"l2_scale": 3.0, "max_items_for_ease": 30_000, "recency_half_life": 5.0, "popularity_weight": 0.2,
           "sequence_weight": 0.0}
#: when the validation split held out less than this share of the events, its model is the final one
REUSE_VALIDATION_MODEL_BELOW = 0.01
EASE_DTYPE = np.float64  # the untuned dense EASE; auto-tuned fits use float32 (l2 >= 0.1 x mean item weight)


class UserPersonalization(OneUserPath, ContextAndExploration, Recipe):
    """Personalized recommendations for a user, updated in real time by new events (Personalize's flagship).

    Example: ``UserPersonalization(random_state=0).fit(data).recommend(["u1"], n=10, context={"DEVICE": "mobile"})``
    then ``print(recipe.tuning_report()["sentence"])`` for the settings the validation split chose.
    """

    name = "aws-user-personalization"
    description = (
        "Personalized recommendations for each user, updated as new events arrive, with exploration of new "
        "items."
    )
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Recommended for you (ECOMMERCE)",
        "Top picks for you (VIDEO_ON_DEMAND)",
        "Personalized e-mails and home pages",
    )
    recipe_type = USER_PERSONALIZATION
    uses_context = True
    unknown_item_policy = "error"
    param_info = {
        "auto_tune": ParamInfo(True, "choose the model, l2, recency and blend weights left at auto on a "
                               "validation split of the training data (each user's newest events)", "bool"),
        "model": ParamInfo("auto", "relevance model: auto (by catalogue size and validation), ease (dense), "
                           "lowrank (low-rank EASE), als (implicit ALS)", "str",
                           choices=("auto", "ease", "lowrank", "als")),
        "l2": ParamInfo(None, "EASE L2 regularisation; None = auto (searched, or l2_scale x mean item weight)",
                        "float", (0.0, None), nullable=True, hpo=False),
        "l2_scale": ParamInfo(None, "l2 as a multiple of the mean item weight; None = auto (3 without auto_tune)",
                              "float", (0.001, 100.0), hpo=True, log=True, nullable=True),
        "max_items_for_ease": ParamInfo(None, "largest catalogue for dense EASE; above it, EASE over the most "
                                        "popular items or low-rank EASE (auto) or ALS (untuned); None = auto",
                                        "int", (1, 100_000), nullable=True),
        "factors": ParamInfo(128, "ALS latent factors (model='als' or large untuned catalogues)", "int", (8, 512),
                             hpo=True),
        "iterations": ParamInfo(15, "ALS iterations (model='als' or large untuned catalogues)", "int", (1, 100),
                                hpo=True),
        "regularization": ParamInfo(0.05, "ALS regularisation (model='als' or large untuned catalogues)", "float",
                                    (0.0, 10.0), hpo=True, log=True),
        "recency_mask": ParamInfo(True, "let recent events weigh more (Personalize's recency_mask); False = never",
                                  "bool", hpo=True),
        "recency_half_life": ParamInfo(None, "half-life, in events, of an event's weight in the user profile; "
                                       "None = auto (5 without auto_tune)", "float", (0.5, 10_000.0), hpo=True,
                                       log=True, nullable=True),
        "recency_half_life_days": ParamInfo(None, "half-life in days instead of events; None = auto", "float",
                                            (0.01, 10_000.0), log=True, nullable=True),
        "event_weights": ParamInfo(None, "EVENT_TYPE -> weight, e.g. {'purchase': 3, 'cart': 2, 'view': 1}; "
                                   "'*' sets the default; None = all 1", "dict"),
        "use_event_value": ParamInfo(False, "multiply event weights by log(1 + EVENT_VALUE)", "bool"),
        "popularity_weight": ParamInfo(None, "weight of the log-popularity prior added to the logits; None = "
                                       "auto (0.2 without auto_tune)", "float", (0.0, 5.0), hpo=True,
                                       nullable=True),
        "sequence_weight": ParamInfo(None, "weight of next-item transitions from the user's newest events added "
                                     "to the logits; None = auto (0 without auto_tune)", "float", (0.0, 50.0),
                                     hpo=True, nullable=True),
        "context_weight": ParamInfo(1.0, "weight of the per-context item log-lift when context is given",
                                    "float", (0.0, 5.0), hpo=True),
        "context_history_boost": ParamInfo(0.0, "extra weight of history events made in the requested "
                                           "context (e.g. same DEVICE)", "float", (0.0, 100.0), hpo=True),
        "context_smoothing": ParamInfo(10.0, "pseudo-count shrinking context lifts towards 0", "float",
                                       (0.0, 10_000.0)),
        "exploration_weight": ParamInfo(0.3, "how much to favour new, little-seen items (0 = none, 1 = most)",
                                        "float", (0.0, 1.0)),
        "exploration_item_age_cut_off": ParamInfo(30.0, "only items created within this many days of the "
                                                  "latest interaction are explored", "float", (1.0, 3650.0)),
        "random_state": ParamInfo(None, "seed for the validation split, ALS, exploration noise and the "
                                  "calibration sample", "seed"),
    }

    def __init__(self, auto_tune=True, model="auto", l2=None, l2_scale=None, max_items_for_ease=None, factors=128,
                 iterations=15, regularization=0.05, recency_mask=True, recency_half_life=None,
                 recency_half_life_days=None, event_weights=None, use_event_value=False, popularity_weight=None,
                 sequence_weight=None, context_weight=1.0, context_history_boost=0.0, context_smoothing=10.0,
                 exploration_weight=0.3, exploration_item_age_cut_off=30.0, random_state=None):
        self.auto_tune = auto_tune
        self.model = model
        self.l2 = l2
        self.l2_scale = l2_scale
        self.max_items_for_ease = max_items_for_ease
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.recency_mask = recency_mask
        self.recency_half_life = recency_half_life
        self.recency_half_life_days = recency_half_life_days
        self.event_weights = event_weights
        self.use_event_value = use_event_value
        self.popularity_weight = popularity_weight
        self.sequence_weight = sequence_weight
        self.context_weight = context_weight
        self.context_history_boost = context_history_boost
        self.context_smoothing = context_smoothing
        self.exploration_weight = exploration_weight
        self.exploration_item_age_cut_off = exploration_item_age_cut_off
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _fit(self, data, progress) -> None:
        inter = data.interactions
        n_items = len(self.item_ids_)
        self._fit_context(data)
        self._store_history(inter)
        self.counts_ = unique_user_counts(self, inter)
        self.log_pop_ = np.log((self.counts_ + 1.0) / (self.counts_.sum() + n_items))
        self.t_max_ = int(inter[TIMESTAMP].max())
        _report(progress, "validation search", 0.05)
        self.settings_, self.tuning_ = self._choose_settings(inter)
        _report(progress, "model", 0.5)
        X = im.training_matrix(self.hist_indptr_, self.hist_items_, self.hist_weights_, n_items)
        if self.settings_["relevance"]:
            getattr(self, f"_fit_{self.settings_['model']}")(X)
        else:  # popularity won on validation: no relevance model to fit
            self.model_kind_ = "popularity"
        if self.settings_["sequence_blend"] > 0 or self.settings_["sequence_weight"] > 0:
            self.transitions_ = im.transitions(self.hist_indptr_, self.hist_items_.astype(np.int64), n_items)
        _report(progress, "exploration", 0.8)
        self._fit_exploration(data)
        _report(progress, "calibrate", 0.9)
        self._fit_temperature()

    def _choose_settings(self, inter: pd.DataFrame) -> tuple[dict, dict]:
        """The settings to fit with (model, l2, recency, weights) and the record of how they were chosen."""
        n_active = int(np.count_nonzero(self.counts_))
        fixed, weights = {}, {}
        if self.model != "auto":
            fixed["model"] = self.model
        if self.l2 is not None:
            fixed["l2"] = float(self.l2)
        elif self.l2_scale is not None:
            fixed["l2"] = float(self.l2_scale) * self._mean_item_weight()
        if not self.recency_mask:
            fixed["recency"] = dict(im.RECENCY_OFF)
        elif self.recency_half_life is not None:
            fixed["recency"] = {"unit": "events", "half_life": float(self.recency_half_life)}
        elif self.recency_half_life_days is not None:
            fixed["recency"] = {"unit": "days", "half_life": float(self.recency_half_life_days)}
        for name in ("popularity_weight", "sequence_weight"):
            if getattr(self, name) is not None:  # logit units: used as given, not searched
                weights[name] = float(getattr(self, name))
                fixed[name.replace("weight", "blend")] = 0.0
        dense_max = self.max_items_for_ease
        untuned = {"model": fixed.get("model") or ("ease" if n_active <= (dense_max or UNTUNED["max_items_for_ease"])
                                                   else "als"),
                   "l2": fixed.get("l2", UNTUNED["l2_scale"] * self._mean_item_weight()),
                   "recency": fixed.get("recency", {"unit": "events", "half_life": UNTUNED["recency_half_life"]}),
                   "popularity_blend": 0.0, "sequence_blend": 0.0, "relevance": True, "n_model_items": n_active,
                   "dtype": "float64", "popularity_weight": weights.get("popularity_weight",
                                                                        UNTUNED["popularity_weight"]),
                   "sequence_weight": weights.get("sequence_weight", UNTUNED["sequence_weight"])}
        if not self.auto_tune:
            return untuned, {"auto_tune": False, "reason": "auto_tune=False: the given or untuned defaults"}
        if fixed.get("model") == "als":
            return untuned, {"auto_tune": True, "reason": "model='als' is not searched; the given or untuned "
                             "defaults"}
        options = self._weight_options(inter)
        search = at.SettingsSearch(self.hist_indptr_, self.hist_items_.astype(np.int64), self.hist_times_,
                                   self.hist_weights_, len(self.item_ids_), seed=self._seed(), fixed=fixed,
                                   dense_max_items=dense_max or im.DENSE_EASE_MAX_ITEMS,
                                   weight_options={k: v[0] for k, v in options.items()})
        if "popularity_weight" in weights:
            search.allow_popularity_alone = False
        result = search.run()
        if result is None:
            return untuned, {"auto_tune": True, "reason": f"too little data for a validation split (needs "
                             f"{at.MIN_VALIDATION_USERS} users with 2+ events and a new item to find)"}
        if result.model is not None and result.held_out_share < REUSE_VALIDATION_MODEL_BELOW:
            self._validation_model = result.model
        chosen = options.get(result.settings.get("event_weighting"))
        if chosen is not None:  # profiles and the model weigh events as validation preferred
            self.hist_weights_ = chosen[0].astype(np.float32)
        settings = {**result.settings, "dtype": "float32", **(chosen[1] if chosen else {}),
                    "popularity_weight": weights.get("popularity_weight", 0.0),
                    "sequence_weight": weights.get("sequence_weight", 0.0)}
        return settings, {"auto_tune": True, "metric": "NDCG@10", "validation_users": result.validation_users,
                          "validation": "each sampled user's newest 10% of events (at least 1) held out, the "
                                        "rest of the training data fitted",
                          "popularity_ndcg_at_10": round(result.popularity_score, 6),
                          "chosen_ndcg_at_10": round(result.chosen_score, 6), "trials": result.trials}

    def _weight_options(self, inter: pd.DataFrame) -> dict:
        """Event weightings to try (name -> (weights in stored history order, settings)), when not given."""
        options = {}
        order = np.lexsort((inter[TIMESTAMP].to_numpy(dtype=np.int64),
                            self._user_index().get_indexer(inter[USER_ID].to_numpy(dtype=object))))
        if self.event_weights is None and EVENT_TYPE in inter.columns and inter[EVENT_TYPE].nunique() >= 2:
            # rarer event types (purchases among views) as stronger signals: weight sqrt(most common / count)
            counts = inter[EVENT_TYPE].value_counts()
            by_type = {str(t): float(np.sqrt(counts.max() / c)) for t, c in counts.items()}
            factor = inter[EVENT_TYPE].map(by_type).to_numpy(dtype=np.float64, na_value=1.0)[order]
            options["by event type"] = (self.hist_weights_ * factor, {"event_type_weights": by_type})
        if not self.use_event_value and EVENT_VALUE in inter.columns and inter[EVENT_VALUE].nunique() > 1:
            options["by event value"] = (self.hist_weights_ * _value_factor(inter)[order],
                                         {"event_value_weights": True})
        return options

    def _event_weights(self, frame: pd.DataFrame) -> np.ndarray:
        """The base weights (event_weights, use_event_value) times the weighting auto-tuning chose, if any."""
        w = super()._event_weights(frame)
        s = getattr(self, "settings_", None) or {}
        if s.get("event_type_weights") and EVENT_TYPE in frame.columns:
            w = w * frame[EVENT_TYPE].map(s["event_type_weights"]).to_numpy(dtype=np.float64, na_value=1.0)
        if s.get("event_value_weights") and EVENT_VALUE in frame.columns:
            w = w * _value_factor(frame)
        return w

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _mean_item_weight(self) -> float:
        """Mean diagonal of the item Gram matrix over the items with interactions (the scale of l2)."""
        X = im.training_matrix(self.hist_indptr_, self.hist_items_, self.hist_weights_, len(self.item_ids_))
        return float(X.power(2).sum() / max(np.count_nonzero(self.counts_), 1))

    def _model_items(self) -> np.ndarray:
        """Item positions the relevance model covers: the active items, or the most popular n_model_items."""
        active = np.flatnonzero(self.counts_ > 0)
        n = int(self.settings_.get("n_model_items", len(active)))
        if n < len(active):
            active = np.sort(active[np.argsort(-self.counts_[active], kind="stable")[:n]])
        return active

    def _fit_ease(self, X: sp.csr_matrix) -> None:
        self.model_kind_ = "ease"
        reuse = self.__dict__.pop("_validation_model", None)
        if reuse is not None:  # the validation model saw all but a sliver of the events: no second inversion
            self.active_items_, self.ease_B_ = reuse[0].astype(np.int64), reuse[1]
            self.settings_["reused_validation_model"] = True
        else:
            active = self._model_items()
            dtype = np.float32 if self.settings_.get("dtype") == "float32" else EASE_DTYPE
            self.active_items_ = active.astype(np.int64)
            self.ease_B_ = im.ease_weights(im.gram(X, active, dtype), self.settings_["l2"], overwrite=True)
        self.l2_used_ = float(self.settings_["l2"])

    def _fit_lowrank(self, X: sp.csr_matrix) -> None:
        active = self._model_items()
        Q, s2 = im.lowrank_basis(X, active, im.LOWRANK_RANK, self._seed())
        w, d = im.lowrank_shrink(Q, s2, self.settings_["l2"])
        self.model_kind_ = "lowrank"
        self.active_items_ = active.astype(np.int64)
        self.lowrank_Q_, self.lowrank_w_, self.lowrank_d_ = Q, w, d
        self.l2_used_ = float(self.settings_["l2"])

    def _fit_als(self, X: sp.csr_matrix) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        seed = self.random_state if self.random_state is not None else None
        with threadpool_limits(1, "blas"):  # implicit's advice: its own threads, single-threaded BLAS
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            iterations=self.iterations, random_state=seed)
            model.fit(X.astype(np.float32), show_progress=False)
        self.model_kind_ = "als"
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.l2_used_ = float(self.regularization)

    def _fit_temperature(self) -> None:
        """Fit the softmax temperature by maximum likelihood of each sampled user's last training event.

        The ranking part (relevance plus the searched blends, in relevance units) is divided by the temperature;
        weights given in logit units are added as they are. The blends then become logit weights in settings_.
        """
        s = self.settings_
        s["relevance_weight"] = 1.0 if s["relevance"] else 0.0
        lens = np.diff(self.hist_indptr_)
        users = np.flatnonzero(lens >= 2)
        self.temperature_ = 1.0
        self.explore_scale_ = 1.0
        if len(users) == 0:
            return
        rng = np.random.default_rng(0 if self.random_state is None else self.random_state)
        # about a million logits per trial temperature: 500 users, fewer on large catalogues
        size = int(np.clip(1_000_000 // max(len(self.item_ids_), 1), 100, 500)) if self.tuning_.get("trials") else 500
        users = np.sort(rng.choice(users, size=min(len(users), size), replace=False))
        last = self.hist_indptr_[users + 1] - 1
        target = self.hist_items_[last].astype(np.int64)
        starts, l = self.hist_indptr_[users], lens[users] - 1
        offs = np.repeat(starts - np.concatenate([[0], np.cumsum(l)[:-1]]), l) + np.arange(l.sum())
        hist = History(np.repeat(np.arange(len(users)), l), self.hist_items_[offs].astype(np.int64),
                       self.hist_times_[offs], self.hist_weights_[offs].astype(np.float64), len(users))
        seq = (im.sequence_scores(hist.rows, hist.items, hist.n_rows, self.transitions_)
               if hasattr(self, "transitions_") else 0.0)
        if s["relevance"]:
            raw = self._relevance(hist) + s["popularity_blend"] * self.log_pop_ + s["sequence_blend"] * seq
        else:  # popularity won on validation
            raw = np.tile(self.log_pop_, (len(users), 1))
        prior = s["popularity_weight"] * self.log_pop_ + s["sequence_weight"] * seq
        rows = np.arange(len(users))

        def nll(t):
            logits = raw / t + prior
            m = logits.max(axis=1, keepdims=True)
            lse = np.log(np.exp(logits - m).sum(axis=1)) + m[:, 0]
            return float(np.mean(lse - logits[rows, target]))

        coarse = np.exp(np.linspace(np.log(1e-3), np.log(1e3), 13))
        vals = [nll(t) for t in coarse]
        k = int(np.argmin(vals))
        fine = np.exp(np.linspace(np.log(coarse[max(k - 1, 0)]), np.log(coarse[min(k + 1, len(coarse) - 1)]), 9))
        fine_vals = [nll(t) for t in fine]
        best = float(fine[int(np.argmin(fine_vals))])
        self.temperature_ = best
        logits = raw / best + prior
        spread = logits.max(axis=1) - np.median(logits, axis=1)
        self.explore_scale_ = float(np.median(spread)) if len(spread) else 1.0
        # in logit units from here on: logits = relevance_weight x relevance / T + popularity_weight x log_pop + ...
        if s["relevance"]:
            s["popularity_weight"] += s["popularity_blend"] / best
            s["sequence_weight"] += s["sequence_blend"] / best
        else:
            s["popularity_weight"] += 1.0 / best

    # ------------------------------------------------------------------ what was chosen
    def tuning_report(self) -> dict:
        """How this fit's settings were chosen, JSON-safe: 'sentence' (one line), 'settings', 'trials' (every
        candidate's validation NDCG@10 and whether it was chosen), 'validation_users', 'auto_tune'."""
        self._check_fitted()
        return at.describe(self.tuning_, self.settings_)

    def tuning_table(self) -> pd.DataFrame:
        """The candidates tried by auto-tuning: model, stage, setting, ndcg_at_10, chosen (empty when untuned)."""
        return pd.DataFrame(self.tuning_report()["trials"], columns=["model", "stage", "setting", "ndcg_at_10",
                                                                     "chosen"])

    def _after_load(self) -> None:
        if not hasattr(self, "settings_"):  # saved before auto-tuning existed: its parameters say what was used
            self.settings_ = {"model": self.model_kind_, "l2": float(getattr(self, "l2_used_", 0.0)),
                              "recency": {"unit": "events", "half_life": float(self.recency_half_life or 5.0)}
                              if self.recency_mask else dict(im.RECENCY_OFF),
                              "relevance": True, "relevance_weight": 1.0, "sequence_weight": 0.0,
                              "popularity_weight": float(UNTUNED["popularity_weight"] if self.popularity_weight
                                                         is None else self.popularity_weight)}
            self.tuning_ = {"auto_tune": False, "reason": "trained before auto-tuning existed"}

    # ------------------------------------------------------------------ scoring
    def _profile(self, hist: History, contexts=None) -> sp.csr_matrix:
        return im.profile_matrix(hist, self._profile_weights(hist, contexts), len(self.item_ids_))

    def _profile_row(self, hist: History, contexts=None) -> tuple[np.ndarray, np.ndarray]:
        """`_profile` of a one-row history as (item positions ascending, log1p summed weights), without scipy."""
        plain = not (self.context_history_boost > 0 and contexts is not None and any(contexts))
        if plain and getattr(hist, "_row_profile", None) is not None:
            return hist._row_profile  # type: ignore[attr-defined]
        w = self._profile_weights(hist, contexts)
        if not len(hist.items):
            found = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        else:
            items, inverse = np.unique(hist.items, return_inverse=True)
            data = np.bincount(inverse, weights=np.asarray(w, dtype=np.float64), minlength=len(items))
            found = items, np.log1p(data)
        if plain:
            hist._row_profile = found  # type: ignore[attr-defined]  # explain() reuses the scoring's profile
        return found

    def _profile_weights(self, hist: History, contexts=None) -> np.ndarray:
        w = hist.weights
        if len(w) and self.settings_["recency"]["unit"] != "off":
            w = w * im.recency_multiplier(hist, self.settings_["recency"])
        if (contexts is not None and hist.ctx is not None and len(w) and self.context_history_boost > 0
                and any(contexts)):
            # events made in the requested context (e.g. on the same device) weigh more
            req = np.full((hist.n_rows, hist.ctx.shape[1]), -2, dtype=np.int64)
            for r, ctx in enumerate(contexts):
                for k in self._context_rows(ctx):
                    j = self.context_fields_.index(str(self.context_keys_[k]).split("=", 1)[0])
                    req[r, j] = k
            match = (hist.ctx == req[hist.rows]).any(axis=1)
            w = w * np.where(match, 1.0 + self.context_history_boost, 1.0)
        return w

    def _relevance(self, hist: History, contexts=None) -> np.ndarray:
        """Raw relevance (n_rows, n_items) from the profile; 0 for rows without history."""
        n_items = len(self.item_ids_)
        if hist.n_rows == 1 and self.model_kind_ == "ease":
            # one user (a real-time request): gather the B rows of the user's few items instead of a sparse
            # product, which would convert all of B to float64 on every call
            out = np.zeros((1, n_items), dtype=np.float64)
            items, data = self._profile_row(hist, contexts)
            if len(items):
                rows = self._serving()["active_pos"][items]
                ok = rows >= 0
                if ok.any():
                    out[0, self.active_items_] = data[ok] @ self.ease_B_[rows[ok]].astype(np.float64)
            return out
        X = self._profile(hist, contexts)
        out = np.zeros((hist.n_rows, n_items), dtype=np.float64)
        if self.model_kind_ == "ease":
            act = self.active_items_
            if len(act) < n_items:
                Xa = X[:, act] if len(act) else None
            else:
                Xa = X
            if Xa is not None and Xa.nnz:
                out[:, act] = np.asarray(Xa @ self.ease_B_, dtype=np.float64)
        elif self.model_kind_ == "popularity":
            pass
        elif self.model_kind_ == "lowrank":
            act = self.active_items_
            out[:, act] = im.lowrank_scores(X[:, act], self.lowrank_Q_, self.lowrank_w_, self.lowrank_d_)
        else:
            serving = self._serving()
            V, gram = serving["als_factors"], serving["als_gram"]
            for r in range(hist.n_rows):
                row = X.getrow(r)
                if row.nnz == 0:
                    continue
                Vi, c = V[row.indices], 1.0 + 40.0 * row.data
                A = gram + (Vi.T * (c - 1.0)) @ Vi
                u = np.linalg.solve(A, Vi.T @ c)
                out[r] = V @ u
        return out

    def logits(self, user_ids, *, new_events=None, context=None) -> np.ndarray:
        """Unnormalised log-scores (n_users, n_items); softmax of a row gives `score_users`."""
        self._check_fitted()
        user_ids = [user_ids] if isinstance(user_ids, str) else list(user_ids)
        hist = self._history(user_ids, new_events)
        return self._logits_rows(hist, self._contexts(context, len(user_ids)))

    def _logits_rows(self, hist: History, contexts) -> np.ndarray:
        s = self.settings_
        if s["relevance_weight"]:
            logits = self._relevance(hist, contexts) / self.temperature_ + s["popularity_weight"] * self.log_pop_
        else:
            logits = np.tile(s["popularity_weight"] * self.log_pop_, (hist.n_rows, 1))
        if s["sequence_weight"]:
            logits += s["sequence_weight"] * im.sequence_scores(hist.rows, hist.items, hist.n_rows,
                                                                self.transitions_)
        logits[hist.lengths() == 0] = self.log_pop_  # cold start: popularity
        logits += self._context_logits(contexts, hist)
        logits += self.exploration_bonus()[None, :]
        return logits

    def _score_rows(self, upos, hist: History, contexts) -> np.ndarray:
        return softmax_rows(self._logits_rows(hist, contexts))

    def logits_without_exploration(self, user_ids, *, new_events=None, context=None) -> np.ndarray:
        """`logits` minus the built-in exploration bonus (a campaign explores by its own config instead)."""
        logits = np.asarray(self.logits(user_ids, new_events=new_events, context=context), dtype=np.float64)
        return logits - np.asarray(self.exploration_bonus(), dtype=np.float64)

    def item_popularity(self) -> np.ndarray:
        """Unique users per item (back-fill and cold starts)."""
        return np.asarray(self.counts_, dtype=np.float64)

    def update_items(self, items: pd.DataFrame) -> "UserPersonalization":
        """Add items unknown at training (UPDATE training mode): they get exploration, not relevance, scores.

        `items` needs ITEM_ID and may have CREATION_TIMESTAMP (default: the latest interaction time). Known items
        are ignored. Returns self.
        """
        self._check_fitted()
        if ITEM_ID not in items.columns:
            raise ValidationError("update_items: the items frame needs an ITEM_ID column")
        ids = pd.unique(items[ITEM_ID].astype(str).to_numpy(dtype=object))
        new = np.array([i for i in ids if i not in self._item_index()], dtype=object)
        if not len(new):
            return self
        k = len(new)
        created = np.full(k, self.t_max_, dtype=np.int64)
        if CREATION_TIMESTAMP in items.columns:
            ct = items.assign(_id=items[ITEM_ID].astype(str)).drop_duplicates("_id", keep="last").set_index("_id")
            vals = pd.to_numeric(ct[CREATION_TIMESTAMP], errors="coerce").reindex(pd.Index(new))
            created = np.where(vals.notna(), vals.to_numpy(dtype=np.float64, na_value=0), self.t_max_).astype(np.int64)
        self.item_ids_ = np.concatenate([self.item_ids_, new])
        self.counts_ = np.concatenate([self.counts_, np.zeros(k)])
        self.log_pop_ = np.concatenate([self.log_pop_, np.full(k, self.log_pop_.min())])
        self.created_ = np.concatenate([self.created_, created])
        self.impressions_ = np.concatenate([self.impressions_, np.zeros(k)])
        rng = np.random.default_rng(None if self.random_state is None else self.random_state + len(self.item_ids_))
        self.exploration_noise_ = np.concatenate([self.exploration_noise_,
                                                  rng.standard_normal(k).astype(np.float32)])
        self.context_lift_ = np.hstack([self.context_lift_, np.zeros((len(self.context_lift_), k), np.float32)])
        if self.model_kind_ == "als":
            self.item_factors_ = np.vstack([self.item_factors_, np.zeros((k, self.item_factors_.shape[1]),
                                                                         np.float32)])
        if hasattr(self, "transitions_"):
            T = self.transitions_.tocoo()
            self.transitions_ = sp.csr_matrix((T.data, (T.row, T.col)), shape=(len(self.item_ids_),) * 2)
        self._cache = {}
        return self

    # ------------------------------------------------------------------ explanations
    def _reasons(self, user_id, pos, hist: History, ctx) -> list[list[str]]:
        reasons: list[list[str]] = [[] for _ in pos]
        if hist.n_rows == 1:
            hist_items, hist_data = self._profile_row(hist)
        else:
            X = self._profile(hist)
            hist_items, hist_data = X.indices, X.data
        bonus = self.exploration_bonus()
        ctx_rows = self._context_rows(ctx)
        pos = np.asarray(pos, dtype=np.int64)
        personal = bool(len(hist_items)) and bool(self.settings_["relevance_weight"])
        if personal and self.model_kind_ == "ease":
            active_pos = self._serving()["active_pos"]
            act_pos = active_pos[pos]
            h_act = active_pos[hist_items]
            ok = h_act >= 0
            valid = np.flatnonzero(act_pos >= 0)
            # contrib[r, j]: how much history item j adds to recommended item r (all rows at once)
            contrib = np.zeros((len(valid), len(hist_items)))
            if len(valid) and ok.any():
                contrib[:, ok] = (hist_data[ok][:, None] * self.ease_B_[np.ix_(h_act[ok], act_pos[valid])]).T
            best_two = np.argsort(-contrib, axis=1)[:, :2]
            best_vals = np.take_along_axis(contrib, best_two, axis=1).tolist()
            names = self.item_ids_[hist_items][best_two].tolist() if len(valid) else []
            for k, r in enumerate(valid.tolist()):
                best = [str(name) for name, v in zip(names[k], best_vals[k]) if v > 0]
                if best:
                    reasons[r].append("Because you interacted with " + " and ".join(best))
        elif personal:
            recent = hist_items[np.argsort(-hist_data)[:2]]
            for r in range(len(pos)):
                reasons[r].append("Because you interacted with " + " and ".join(self.item_ids_[recent]))
        pos_bonus = bonus[pos].tolist()
        pos_counts = self.counts_[pos].tolist()
        for r, p in enumerate(pos.tolist()):
            if pos_bonus[r] > 0 and (not reasons[r] or pos_counts[r] < 5):
                reasons[r].append("Exploration: new item")
            if ctx_rows:
                lift = float(self.context_lift_[ctx_rows, p].sum())
                if lift > np.log(1.25):
                    keys = ", ".join(str(self.context_keys_[i]) for i in ctx_rows)
                    reasons[r].append(f"Popular in context {keys} (x{np.exp(lift):.1f})")
            if not reasons[r]:
                reasons[r].append(f"Popular item: {int(pos_counts[r]):,} users interacted with it")
        return reasons


def _value_factor(frame: pd.DataFrame) -> np.ndarray:
    """log(1 + EVENT_VALUE) per row, 1 where the value is missing or not positive (as `use_event_value`)."""
    v = frame[EVENT_VALUE].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(v) & (v > 0), np.log1p(np.clip(v, 0, None)), 1.0)
