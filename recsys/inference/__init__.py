"""Real-time inference on deployed campaigns: Personalize's GetRecommendations and GetPersonalizedRanking.

Example::

    from recsys.inference import get_recommendations, get_personalized_ranking
    get_recommendations(store, "arn:recsys:campaign/shop/main", user_id="u1", num_results=10,
                        context={"DEVICE": "mobile"},
                        promotions=[{"name": "new", "percentPromotedItems": 20, "filterArn": new_items_arn}])
    # {"itemList": [{"itemId": "i7", "score": 0.031, "reason": ["Because you viewed i3"]}, ...],
    #  "recommendationId": "RID-..."}

Behaviour, chosen to match Amazon Personalize [AP §6-§8, §12]:

- Real time: the user's events newer than the model (put_events, streamed imports) are folded into the
  request (`new_events`), so the very next answer changes, for user personalization and personalized ranking.
  Anonymous users send their sessionId as userId.
- Items the user already interacted with are NOT removed (Personalize does not remove them either); use a
  filter such as ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")`` (or the campaign config key
  ``excludeSeenItems: "true"``, an extension) to drop them.
- Scores: softmax over the whole catalogue for USER_PERSONALIZATION, over the input list for ranking; no
  score for popularity, trending and related-items recipes, nor for back-filled "Popular item" entries.
- Filters apply to the regular slots, a promotion's filter only to its promoted slots; when a filter leaves
  fewer than numResults items the list is back-filled with popular items that pass it ("Popular item").
- Promotions: at most one; floor(numResults * percentPromotedItems / 100) slots (at least one), filled with
  the best-scoring items that pass the promotion filter, sorted among themselves, placed at random slots
  drawn with a seed derived from the recommendationId (so a response can be reproduced), marked with
  `promotionName` and reason "Promoted item". Not allowed for personalized ranking.
- Exploration (USER_PERSONALIZATION): items created within `explorationItemAgeCutOff` days of the newest
  interaction, and items added after training, get a bonus 1 / (1 + interactions + impressions), weighted by
  `explorationWeight`, with at most ceil(weight * numResults) explored items per answer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from recsys import columns as C
from recsys.exceptions import NotFoundError, ValidationError
from recsys.inference import selection as S
from recsys.inference.runtime import READER, RUNTIME, CampaignRuntime, Catalogue, LoadedModel

__all__ = ["get_recommendations", "get_personalized_ranking", "RUNTIME", "CampaignRuntime",
           "MAX_RESULTS", "MAX_RESULTS_WITH_METADATA"]

log = logging.getLogger(__name__)

DEFAULT_RESULTS = 25
MAX_RESULTS = 500
MAX_RESULTS_WITH_METADATA = 50
MAX_METADATA_COLUMNS = 10
MAX_CONTEXT_ENTRIES = 150
MAX_FILTER_VALUES = 25
MAX_ID_LENGTH = 256
DAY = 86_400

USER_PERSONALIZATION = "USER_PERSONALIZATION"
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
POPULAR_ITEMS = "POPULAR_ITEMS"
RELATED_ITEMS = "RELATED_ITEMS"
USER_BASED = (USER_PERSONALIZATION, PERSONALIZED_RANKING, POPULAR_ITEMS)
SCORED = (USER_PERSONALIZATION, PERSONALIZED_RANKING)
# Recipes whose answers carry no score in Personalize although their type is USER_PERSONALIZATION [AP §6.4].
UNSCORED_RECIPES = ("aws-popularity-count", "aws-trending-now")


def _is_scored(model: LoadedModel) -> bool:
    """Whether answers carry Personalize's softmax score (user personalization and ranking recipes)."""
    name = getattr(model.recipe, "name", "") or model.version.get("recipe", "")
    return model.recipe_type in SCORED and name not in UNSCORED_RECIPES


# -- public API ----------------------------------------------------------------------------------------------


def get_recommendations(store, campaign_arn: str, *, user_id: str | None = None, item_id: str | None = None,
                        num_results: int = DEFAULT_RESULTS, context: Mapping[str, str] | None = None,
                        filter_arn: str | None = None, filter_values: Mapping[str, str] | None = None,
                        promotions: list[dict] | None = None,
                        metadata_columns: Mapping[str, list[str]] | None = None) -> dict:
    """Personalize's GetRecommendations on a campaign: ``{"itemList": [...], "recommendationId": "RID-..."}``.

    Parameters
    ----------
    user_id : required for USER_PERSONALIZATION campaigns (a sessionId for anonymous users).
    item_id : required for RELATED_ITEMS campaigns.
    num_results : 0-500 (default 25; at most 50 with `metadata_columns`).
    context : contextual metadata, e.g. ``{"DEVICE": "mobile"}``, used by context-aware recipes.
    filter_arn, filter_values : a filter of the campaign's group and its ``$PARAM`` values.
    promotions : at most one ``{"name", "percentPromotedItems", "filterArn", "filterValues"}``.
    metadata_columns : ``{"ITEMS": ["PRICE", ...]}``: item fields returned as strings in ``metadata``.

    Raises
    ------
    NotFoundError for an unknown campaign or filter; ValidationError for bad input.
    """
    with READER.snapshot(store):
        return _get_recommendations(store, campaign_arn, user_id=user_id, item_id=item_id,
                                    num_results=num_results, context=context, filter_arn=filter_arn,
                                    filter_values=filter_values, promotions=promotions,
                                    metadata_columns=metadata_columns)


def _get_recommendations(store, campaign_arn: str, *, user_id, item_id, num_results, context, filter_arn,
                         filter_values, promotions, metadata_columns) -> dict:
    campaign, model = _resolve(store, campaign_arn)
    recipe_type = model.recipe_type
    if recipe_type == PERSONALIZED_RANKING:
        raise ValidationError(f"Campaign {campaign['arn']} serves a personalized-ranking recipe: call "
                              "get_personalized_ranking (POST /personalize-ranking) with an inputList instead.")
    if recipe_type not in (USER_PERSONALIZATION, POPULAR_ITEMS, RELATED_ITEMS):
        raise ValidationError(f"Campaign {campaign['arn']} serves a {recipe_type} recipe, which has no real-time "
                              "recommendations; use a batch job instead.")
    user_id = _check_id(user_id, "userId")
    item_id = _check_id(item_id, "itemId")
    if recipe_type == USER_PERSONALIZATION and not user_id:
        raise ValidationError(f"userId is required for campaign {campaign['arn']} (a USER_PERSONALIZATION "
                              "recipe); pass the user's id, or the sessionId for an anonymous user.")
    if recipe_type == RELATED_ITEMS and not item_id:
        raise ValidationError(f"itemId is required for campaign {campaign['arn']} (a RELATED_ITEMS recipe); "
                              "pass the item to find related items for.")
    columns = _check_metadata_columns(metadata_columns)
    num_results = _check_num_results(num_results, bool(columns))
    context = _check_context(context)
    promotion = _check_promotions(promotions)
    request = _Request(store, campaign, model, user_id=user_id, item_id=item_id, context=context)
    mask = request.filter_mask(filter_arn, filter_values, "filterArn")
    promo_mask = (request.filter_mask(promotion.get("filterArn"), promotion.get("filterValues"), "promotion filterArn")
                  if promotion else None)
    key, relevance = request.ranking_key()
    n_promoted = S.promoted_count(num_results, int(promotion["percentPromotedItems"])) if promotion else 0
    promoted = _pick_promoted(request, key, promo_mask, n_promoted) if promotion else np.empty(0, dtype=np.int64)
    regular, explored = request.pick_regular(key, mask, num_results - len(promoted), promoted)
    backfill = request.backfill(mask, num_results - len(promoted) - len(regular), np.concatenate([promoted, regular]))
    rows = _rows(request, regular, explored, relevance, "model")
    rows += _rows(request, backfill, np.zeros(len(backfill), dtype=bool), relevance, "popular")
    promo_rows = _rows(request, promoted, np.zeros(len(promoted), dtype=bool), relevance, "promoted")
    for row in promo_rows:
        row["promotionName"] = promotion["name"]
    merged, _ = S.interleave(rows, promo_rows, S.seed_from(request.recommendation_id))
    items = _finish(request, merged, columns)
    return {"itemList": items, "recommendationId": request.recommendation_id}


def get_personalized_ranking(store, campaign_arn: str, *, user_id: str, input_list: list[str],
                             context: Mapping[str, str] | None = None, filter_arn: str | None = None,
                             filter_values: Mapping[str, str] | None = None,
                             metadata_columns: Mapping[str, list[str]] | None = None) -> dict:
    """Personalize's GetPersonalizedRanking: `input_list` re-ordered for `user_id`, best first.

    Scores are a softmax over the input list [AP §6.4]; items the model never saw are appended at the end
    with score 0, in their input order; items a filter removes are dropped.
    ``{"personalizedRanking": [{"itemId", "score", "reason"}...], "recommendationId": "RID-..."}``.
    """
    with READER.snapshot(store):
        return _get_personalized_ranking(store, campaign_arn, user_id=user_id, input_list=input_list,
                                         context=context, filter_arn=filter_arn, filter_values=filter_values,
                                         metadata_columns=metadata_columns)


def _get_personalized_ranking(store, campaign_arn: str, *, user_id, input_list, context, filter_arn,
                              filter_values, metadata_columns) -> dict:
    campaign, model = _resolve(store, campaign_arn)
    if model.recipe_type not in USER_BASED or not hasattr(model.recipe, "score_users"):
        raise ValidationError(f"Campaign {campaign['arn']} serves a {model.recipe_type} recipe; personalized "
                              "ranking needs a personalized-ranking or user-personalization campaign.")
    user_id = _check_id(user_id, "userId")
    if not user_id:
        raise ValidationError("userId is required for personalized ranking; pass the user's id or sessionId.")
    columns = _check_metadata_columns(metadata_columns)
    limit = MAX_RESULTS_WITH_METADATA if columns else MAX_RESULTS
    if not isinstance(input_list, (list, tuple)) or not input_list:
        raise ValidationError("inputList must be a non-empty list of item ids to rank.")
    if len(input_list) > limit:
        raise ValidationError(f"inputList has {len(input_list)} items; the maximum is {limit}"
                              f"{' when metadataColumns is given' if columns else ''}.")
    ids = [_check_id(i, "inputList item") for i in input_list]
    ids = list(dict.fromkeys(i for i in ids if i))  # de-duplicate, keep first occurrence
    context = _check_context(context)
    request = _Request(store, campaign, model, user_id=user_id, context=context)
    cat = request.catalogue
    mask = request.filter_mask(filter_arn, filter_values, "filterArn")
    positions = cat.positions(ids)
    keep = np.ones(len(ids), dtype=bool) if mask is None else np.array(
        [p < 0 or bool(mask[p]) for p in positions], dtype=bool)
    scored_mask = keep & (positions >= 0) & (positions < cat.n_model)
    raw = request.raw_scores()
    scored = positions[scored_mask]
    probabilities = _renormalise(raw[scored]) if len(scored) else np.empty(0)
    order = np.lexsort((np.arange(len(scored)), -probabilities))
    entries = []
    for k in order:
        entries.append({"itemId": str(cat.ids[scored[k]]), "score": _score(probabilities[k]),
                        "_kind": "model", "_pos": int(scored[k])})
    for item, pos, ok, has in zip(ids, positions, keep, scored_mask):
        if ok and not has:
            entries.append({"itemId": item, "score": 0.0, "reason": ["Not in the model's training data"]})
    entries = _finish(request, entries, columns)
    return {"personalizedRanking": entries, "recommendationId": request.recommendation_id}


# -- the request -------------------------------------------------------------------------------------------

_NONE = object()  # "looked up: nothing" (so a user without new events is read once per request)


class _Request:
    """One request's resolved campaign, model, catalogue, user events and cached intermediate results."""

    def __init__(self, store, campaign: dict, model: LoadedModel, *, user_id=None, item_id=None, context=None,
                 runtime: CampaignRuntime = RUNTIME):
        self.store = store
        self.campaign = campaign
        self.group = campaign["group"]
        self.model = model
        self.runtime = runtime
        self.user_id = user_id
        self.item_id = item_id
        self.context = context
        self.recommendation_id = f"RID-{uuid.uuid4()}"
        self.catalogue: Catalogue = runtime.catalogue(store, self.group, model)
        self._new_events: pd.DataFrame | None = None
        self._history: pd.DataFrame | None = None
        self._raw: np.ndarray | None = None
        self._model_context = context if getattr(model.recipe, "uses_context", False) else None

    # user data ------------------------------------------------------------------------------------------
    @property
    def new_events(self) -> pd.DataFrame | None:
        """The user's interactions recorded after the model's data snapshot (real-time events)."""
        if self._new_events is None:
            found = _user_events(self.store, self.group, self.user_id, self.model.max_seq) if self.user_id else None
            self._new_events = found if found is not None and len(found) else _NONE
        return None if self._new_events is _NONE else self._new_events

    @property
    def history(self) -> pd.DataFrame:
        """The user's full interaction history from the store (filters look at it)."""
        if self._history is None:
            self._history = _user_events(self.store, self.group, self.user_id, None) if self.user_id else None
            if self._history is None:
                self._history = pd.DataFrame({C.USER_ID: pd.Series([], dtype="str"),
                                              C.ITEM_ID: pd.Series([], dtype="str"),
                                              C.EVENT_TYPE: pd.Series([], dtype="str")})
        return self._history

    def history_columns(self, columns: frozenset) -> pd.DataFrame:
        """The user's full history restricted to `columns` (upper-case field names), for filters."""
        if self._history is not None or not self.user_id:
            return self.history
        found = READER.user_events(self.store, self.group, self.user_id, None, columns)
        return self.history if found is None else found

    # scores ---------------------------------------------------------------------------------------------
    def raw_scores(self) -> np.ndarray:
        """The model's scores over its catalogue for this user (or this item for related-items)."""
        if self._raw is None:
            recipe = self.model.recipe
            if self.model.recipe_type == RELATED_ITEMS:
                self._raw = self._item_scores()
            else:
                user = self.user_id or "\x00anonymous"
                kwargs = {"new_events": self.new_events}
                if self._model_context is not None:
                    kwargs["context"] = self._model_context
                if _is_scored(self.model) and hasattr(recipe, "logits") and hasattr(recipe, "exploration_bonus"):
                    # The campaign's exploration config replaces the recipe's built-in bonus (see pick_regular).
                    logits = np.asarray(recipe.logits([user], **kwargs), dtype=np.float64)[0]
                    self._raw = S.softmax(logits - np.asarray(recipe.exploration_bonus(), dtype=np.float64))
                else:
                    self._raw = np.asarray(recipe.score_users([user], **kwargs), dtype=np.float64)[0]
        return self._raw

    def _item_scores(self) -> np.ndarray:
        model = self.model
        known = np.flatnonzero(model.item_ids == self.item_id)
        if not len(known):  # unknown item: popular items (back-fill), as Personalize's Similar-Items does [AP §12]
            return np.full(len(model.item_ids), -np.inf)
        scores = np.asarray(model.recipe.score_items([self.item_id]), dtype=np.float64)[0].copy()
        scores[known[0]] = -np.inf  # never recommend the query item itself
        return scores

    def ranking_key(self) -> tuple[np.ndarray, np.ndarray]:
        """(ranking key, relevance score) per candidate; new items get -inf relevance (only exploration)."""
        cat = self.catalogue
        raw = self.raw_scores()
        full = np.full(len(cat.ids), -np.inf)
        relevant = np.isfinite(raw)
        if not _is_scored(self.model):
            relevant &= raw > 0  # no similarity / no interactions: not a relevant item, only a back-fill
        full[: cat.n_model] = np.where(relevant, raw, -np.inf)
        if self.item_id is not None:
            pos = cat.positions([self.item_id])[0]
            if pos >= 0:
                full[pos] = -np.inf
        if self._exclude_seen():
            seen = cat.positions(self.history[C.ITEM_ID].astype(str).unique())
            full[seen[seen >= 0]] = -np.inf
        return full, full

    def _exclude_seen(self) -> bool:
        config = self.campaign.get("campaignConfig") or {}
        return str(config.get("excludeSeenItems", "false")).lower() == "true" and bool(self.user_id)

    # selection ------------------------------------------------------------------------------------------
    def pick_regular(self, key: np.ndarray, mask, n: int, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weight, cutoff_days = self.exploration()
        if weight <= 0:
            picks = S.top_positions(key, n, mask, exclude)
            return picks, np.zeros(len(picks), dtype=bool)
        bonus = self.exploration_bonus(cutoff_days)
        return S.select_with_exploration(key, n, mask, bonus, weight, S.seed_from(self.recommendation_id), exclude)

    def exploration(self) -> tuple[float, float]:
        """(explorationWeight, explorationItemAgeCutOff days) for USER_PERSONALIZATION campaigns, else (0, 0)."""
        if self.model.recipe_type != USER_PERSONALIZATION or not _is_scored(self.model):
            return 0.0, 0.0
        config = (self.campaign.get("campaignConfig") or {}).get("itemExplorationConfig") or {}
        weight = float(config.get("explorationWeight", 0.3))
        cutoff = float(config.get("explorationItemAgeCutOff", 30))
        return min(max(weight, 0.0), 1.0), max(cutoff, 0.0)

    def exploration_bonus(self, cutoff_days: float) -> np.ndarray:
        """Per-candidate bonus (cached per catalogue until the activity counts or the cut-off change)."""
        cat = self.catalogue
        activity = self.runtime.activity(self.store, self.group)
        key = (cutoff_days, activity.last_seq, activity.max_timestamp)
        cached = getattr(cat, "_bonus", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        bonus = self._compute_bonus(cat, activity, cutoff_days)
        bonus.setflags(write=False)
        cat._bonus = (key, bonus)  # type: ignore[attr-defined]
        return bonus

    def _compute_bonus(self, cat: Catalogue, activity, cutoff_days: float) -> np.ndarray:
        newest = activity.max_timestamp or self.model.max_timestamp
        eligible = np.zeros(len(cat.ids), dtype=bool)
        eligible[cat.n_model:] = True  # items added after training: only exploration can surface them
        if newest is not None:
            with np.errstate(invalid="ignore"):
                eligible |= cat.creation >= newest - cutoff_days * DAY
        pos = np.flatnonzero(eligible)
        interactions = np.zeros(len(cat.ids))
        impressions = np.zeros(len(cat.ids))
        if len(pos):
            ids = cat.ids[pos]
            interactions[pos] = [activity.interactions.get(i, 0) for i in ids]
            impressions[pos] = [activity.impressions.get(i, 0) for i in ids]
        return S.exploration_bonus(eligible, interactions, impressions)

    def backfill(self, mask, n: int, exclude: np.ndarray) -> np.ndarray:
        """Up to `n` popular items that pass `mask`, not already placed ("Popular item")."""
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        popularity = self.catalogue.popularity.copy()
        popularity[~np.isfinite(popularity)] = -1e300  # items without popularity still fill, last
        if self.item_id is not None:
            pos = self.catalogue.positions([self.item_id])[0]
            if pos >= 0:
                popularity[pos] = -np.inf
        return S.top_positions(popularity, n, mask, exclude)

    # filters --------------------------------------------------------------------------------------------
    def filter_mask(self, filter_arn, filter_values, what: str) -> np.ndarray | None:
        """The boolean mask over candidates of a filter (None when no filter)."""
        if not filter_arn:
            if filter_values:
                raise ValidationError(f"filterValues were given without a {what}; pass the filter's ARN too.")
            return None
        _check_filter_values(filter_values)
        compiled = _compiled_filter(self.store, self.group, filter_arn, self.runtime)
        from recsys.filters import FilterContext

        cat = self.catalogue
        needs_history = any(d == C.INTERACTIONS for d in getattr(compiled, "datasets", (C.INTERACTIONS,)))
        fields = getattr(compiled, "fields", None)
        needs_users = fields is None or any(d in (C.USERS, "CurrentUser") for d, _ in fields)
        history = None
        if needs_history:
            if fields is None:
                history = self.history
            else:
                wanted = frozenset([C.USER_ID, C.ITEM_ID] + [f.upper() for d, f in fields if d == C.INTERACTIONS])
                history = self.history_columns(wanted)
        ctx = FilterContext(
            item_ids=cat.ids,
            items=cat.items,
            user_interactions=history,
            users=self.runtime.users(self.store, self.group) if needs_users else None,
            user_id=self.user_id,
            current_item_id=self.item_id,
            index=_filter_index(cat),
        )
        mask = np.asarray(compiled.item_mask(ctx, dict(filter_values or {})), dtype=bool)
        return mask

    # output ---------------------------------------------------------------------------------------------
    def explain(self, item_ids: list[str]) -> list[list[str]]:
        """The recipe's reasons per item (history items that led to it, trending, popular...)."""
        if not item_ids:
            return []
        recipe = self.model.recipe
        related = self.model.recipe_type == RELATED_ITEMS
        explain = getattr(recipe, "explain_similar" if related and hasattr(recipe, "explain_similar") else "explain",
                          None)
        if explain is None:
            return [[] for _ in item_ids]
        subject = self.item_id if related else (self.user_id or "\x00anonymous")
        kwargs: dict[str, Any] = {}
        if not related:
            kwargs["new_events"] = self.new_events
            if self._model_context is not None:
                kwargs["context"] = self._model_context
        try:
            reasons = explain(subject, list(item_ids), **kwargs)
        except (NotFoundError, ValidationError, KeyError, IndexError):
            log.debug("explain failed for %s", subject, exc_info=True)
            return [[] for _ in item_ids]
        return [list(r or []) for r in reasons]


def _pick_promoted(request: _Request, key: np.ndarray, promo_mask, n: int) -> np.ndarray:
    """The promoted items: best by score among those the promotion filter allows, then popular ones."""
    picks = S.top_positions(key, n, promo_mask)
    if len(picks) < n:
        picks = np.concatenate([picks, request.backfill(promo_mask, n - len(picks), picks)])
    return picks


def _rows(request: _Request, positions: np.ndarray, explored: np.ndarray, relevance: np.ndarray,
          kind: str) -> list[dict]:
    cat = request.catalogue
    scored = _is_scored(request.model) and kind != "popular"
    positions = np.asarray(positions, dtype=np.int64)
    pos_list = positions.tolist()
    ids = cat.ids[positions].tolist()
    if scored:
        values = relevance[positions]
        scores = np.where(np.isfinite(values), values, 0.0).tolist()
    rows = []
    for k, (pos, was_explored) in enumerate(zip(pos_list, explored.tolist())):
        row: dict[str, Any] = {"itemId": str(ids[k]), "_pos": pos,
                               "_kind": "exploration" if was_explored and kind != "popular" else kind}
        if scored:
            row["score"] = float(round(scores[k], 7))
        rows.append(row)
    return rows


def _finish(request: _Request, rows: list[dict], columns: list[str]) -> list[dict]:
    """Add reasons (recipe explanations, Popular item, Promoted item, Exploration) and metadata."""
    n_model = request.catalogue.n_model
    need_explain = [r["itemId"] for r in rows
                    if r.get("_kind") in ("model", "promoted", None) and r.get("_pos", 0) < n_model]
    explained = dict(zip(need_explain, request.explain(need_explain)))
    for row in rows:
        kind = row.pop("_kind", None)
        row.pop("_pos", None)
        if kind == "popular":
            row["reason"] = [S.REASON_POPULAR]
        elif kind == "exploration":
            row["reason"] = [S.REASON_EXPLORATION]
        elif kind == "promoted":
            row["reason"] = [S.REASON_PROMOTED] + explained.get(row["itemId"], [])
        elif "reason" not in row:
            row["reason"] = explained.get(row["itemId"]) or ["Recommended for you"]
    if columns:
        _attach_metadata(request.catalogue, rows, columns)
    return rows


def _attach_metadata(cat: Catalogue, rows: list[dict], columns: list[str]) -> None:
    items = cat.items
    if items is None:
        raise ValidationError("metadataColumns was given, but the dataset group has no Items dataset; import "
                              "item metadata first.")
    by_upper = {c.upper(): c for c in items.columns}
    missing = [c for c in columns if c.upper() not in by_upper]
    if missing:
        known = ", ".join(c for c in items.columns if c != C.ITEM_ID)
        raise ValidationError(f"metadataColumns {missing} are not fields of the Items dataset (fields: {known}).")
    resolved = [by_upper[c.upper()] for c in columns]
    positions = cat.positions([r["itemId"] for r in rows])
    for row, pos in zip(rows, positions):
        line = cat.item_rows[pos] if pos >= 0 else -1
        row["metadata"] = {name: (_text(items[col].iloc[line]) if line >= 0 else "")
                           for name, col in zip(columns, resolved)}


def _text(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    if isinstance(value, (np.floating, float)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def _renormalise(scores: np.ndarray) -> np.ndarray:
    """Softmax restricted to a list, from the model's catalogue-wide softmax scores: p_i / sum_list p_j.

    Equal to exp(s_i) / sum_list exp(s_j) [AP §6.4]. Scores that are not probabilities (negative, or a recipe
    without softmax) are turned into them with a softmax first.
    """
    scores = np.where(np.isfinite(scores), scores, 0.0)
    if (scores < 0).any() or scores.sum() <= 0:
        return S.softmax(scores)
    return scores / scores.sum()


def _score(value: float) -> float:
    return float(round(float(value), 7))


# -- resolution and validation -----------------------------------------------------------------------------


def _resolve(store, campaign_arn: str) -> tuple[dict, LoadedModel]:
    from recsys.campaigns import resolve_campaign

    campaign, version_arn = resolve_campaign(store, campaign_arn)
    return campaign, RUNTIME.model(store, version_arn)


def _compiled_filter(store, group: str, filter_arn: str, runtime: CampaignRuntime):
    if not isinstance(filter_arn, str) or not filter_arn:
        raise ValidationError("filterArn must be a filter's ARN, e.g. arn:recsys:filter/<group>/<name>.")
    from recsys.inference.runtime import READER

    resource = READER.resource(store, filter_arn)
    if resource is None:
        raise NotFoundError(f"Filter {filter_arn!r} does not exist; create it first (python -m recsys filter "
                            "create ...) or check the ARN.")
    if resource["type"] != "filter" or resource["group"] != group:
        raise NotFoundError(f"Filter {filter_arn!r} does not exist in dataset group {group!r}; filters only apply "
                            "to the campaigns of their own group.")
    if resource.get("status") not in (None, "ACTIVE"):
        raise ValidationError(f"Filter {filter_arn} is {resource['status']}, not ACTIVE.")
    from recsys.filters import parse_filter

    compiled = runtime.compiled_filter(resource, parse_filter)
    if getattr(compiled, "target", "ItemID") != "ItemID":
        raise ValidationError(f"Filter {filter_arn} filters UserID (for user segments); item recommendations "
                              "need an INCLUDE/EXCLUDE ItemID filter.")
    return compiled


def _filter_index(cat: Catalogue):
    index = getattr(cat, "_filter_index", None)
    if index is None:
        from recsys.filters.index import FilterIndex
        from recsys.columns import ITEM_ID

        index = FilterIndex(cat.ids, cat.items, ITEM_ID)
        cat._filter_index = index  # type: ignore[attr-defined]
    return index


def _user_events(store, group: str, user_id: str, since_seq: int | None) -> pd.DataFrame | None:
    """One user's interactions newer than `since_seq` (all of them when None), through the hot-path reader."""
    from recsys.inference.runtime import READER

    return READER.user_events(store, group, user_id, since_seq)


def _check_id(value, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        value = str(value)
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{what} is {len(value)} characters long; the maximum is {MAX_ID_LENGTH}.")
    return value


def _check_num_results(num_results, with_metadata: bool) -> int:
    if num_results is None:
        return DEFAULT_RESULTS
    if isinstance(num_results, bool) or not isinstance(num_results, (int, np.integer)):
        try:
            num_results = int(str(num_results))
        except ValueError:
            raise ValidationError(f"numResults must be an integer, got {num_results!r}.") from None
    limit = MAX_RESULTS_WITH_METADATA if with_metadata else MAX_RESULTS
    if not 0 <= num_results <= limit:
        extra = " when metadataColumns is given" if with_metadata else ""
        raise ValidationError(f"numResults {num_results} is out of range: use 0 to {limit}{extra}.")
    return int(num_results)


def _check_context(context) -> dict | None:
    if not context:
        return None
    if not isinstance(context, Mapping):
        raise ValidationError("context must be a map of field name to value, e.g. {\"DEVICE\": \"mobile\"}.")
    if len(context) > MAX_CONTEXT_ENTRIES:
        raise ValidationError(f"context has {len(context)} entries; the maximum is {MAX_CONTEXT_ENTRIES}.")
    return {str(k): str(v) for k, v in context.items()}


def _check_filter_values(values) -> None:
    if values is None:
        return
    if not isinstance(values, Mapping):
        raise ValidationError('filterValues must be a map, e.g. {"CATEGORY": "\\"shoes\\""}.')
    if len(values) > MAX_FILTER_VALUES:
        raise ValidationError(f"filterValues has {len(values)} entries; the maximum is {MAX_FILTER_VALUES}.")


def _check_metadata_columns(metadata_columns) -> list[str]:
    if not metadata_columns:
        return []
    if not isinstance(metadata_columns, Mapping) or set(metadata_columns) - {"ITEMS"}:
        raise ValidationError('metadataColumns must look like {"ITEMS": ["PRICE", "CATEGORY"]} (only ITEMS).')
    columns = list(metadata_columns.get("ITEMS") or [])
    if len(columns) > MAX_METADATA_COLUMNS:
        raise ValidationError(f"metadataColumns lists {len(columns)} columns; the maximum is {MAX_METADATA_COLUMNS}.")
    if not all(isinstance(c, str) and c for c in columns):
        raise ValidationError("metadataColumns ITEMS must be a list of column names.")
    return columns


def _check_promotions(promotions) -> dict | None:
    if not promotions:
        return None
    if isinstance(promotions, Mapping):
        promotions = [promotions]
    if len(promotions) > 1:
        raise ValidationError(f"{len(promotions)} promotions given; Personalize allows at most 1 per request.")
    promotion = dict(promotions[0])
    from recsys.store import validate_name

    validate_name(promotion.get("name"), "promotion name")
    percent = promotion.get("percentPromotedItems")
    try:
        percent = int(percent)
    except (TypeError, ValueError):
        raise ValidationError("promotion percentPromotedItems must be an integer from 1 to 100.") from None
    if not 1 <= percent <= 100:
        raise ValidationError(f"promotion percentPromotedItems {percent} is out of range: use 1 to 100.")
    promotion["percentPromotedItems"] = percent
    if not promotion.get("filterArn"):
        raise ValidationError(f"promotion {promotion['name']!r} needs a filterArn selecting the promoted items.")
    return promotion
