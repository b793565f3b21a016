"""The one sequence from a validated query to an answer: score, exclude/filter, promote, explore, back-fill, reasons.

Real-time requests (`recsys.serving.realtime`) and batch jobs (`recsys.serving.batch`) both run it, so they
cannot disagree: a batch job answers each input line as a real-time request with the same user, campaign
state and recommendationId would. Batch is the primitive: `Pipeline.answer` takes a chunk of queries and
scores them with one recipe call; a real-time request is a chunk of one.

Behaviour, chosen to match Amazon Personalize [AP §6-§8, §12]:

- The user's events newer than the model (put_events, streamed imports) are folded into the scores
  (`new_events`), so the very next answer changes, for user personalization and personalized ranking.
  Anonymous users send their sessionId as userId.
- Items the user already interacted with are NOT removed (Personalize does not remove them either); use a
  filter such as ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")`` (or the campaign config key
  ``excludeSeenItems: "true"``, an extension) to drop them.
- Scores: softmax over the whole catalogue for USER_PERSONALIZATION, over the input list for ranking; none
  for recipes that declare ``returns_scores = False`` (popularity, trending, related items), nor for
  back-filled "Popular item" entries.
- Items on the group's exclusion list (`recsys.cleaning`: fees, postage...) are never returned, in any slot.
- Filters apply to the regular slots, a promotion's filter only to its promoted slots; when a filter leaves
  fewer than numResults items the list is back-filled with popular items that pass it ("Popular item").
- Promotions: at most one; floor(numResults * percentPromotedItems / 100) slots (at least one), filled with
  the best-scoring items that pass the promotion filter, sorted among themselves, placed at random slots
  drawn with a seed derived from the recommendationId (so a response can be reproduced), marked with
  `promotionName` and reason "Promoted item". Not allowed for personalized ranking.
- Exploration (scored USER_PERSONALIZATION recipes): items created within `explorationItemAgeCutOff` days of
  the newest interaction, and items added after training, get a bonus 1 / (1 + interactions + impressions),
  weighted by `explorationWeight`, with at most ceil(weight * numResults) explored items per answer.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

import recsys.serving.selection as S
from recsys import columns as C
from recsys.exceptions import NotFoundError, RecsysError, ValidationError
from recsys.filters import FilterContext, parse_filter
from recsys.recipes import PERSONALIZED_RANKING, POPULAR_ITEMS, RELATED_ITEMS, USER_PERSONALIZATION
from recsys.resources import Campaign
from recsys.serving.reader import READER
from recsys.serving.request import (
    DEFAULT_EXPLORATION_AGE_CUT_OFF, DEFAULT_EXPLORATION_WEIGHT, DEFAULT_RESULTS, check_filter_values,
)
from recsys.serving.runtime import RUNTIME, CampaignRuntime, Catalogue, LoadedModel

log = logging.getLogger(__name__)

DAY = 86_400
ANONYMOUS = "\x00anonymous"  # the user scored for requests without a userId (trending, popularity)
RECOMMENDABLE = (USER_PERSONALIZATION, POPULAR_ITEMS, RELATED_ITEMS)  # types answering GetRecommendations
RANKABLE = (USER_PERSONALIZATION, PERSONALIZED_RANKING, POPULAR_ITEMS)  # types answering GetPersonalizedRanking
SCORING_ERRORS = (RecsysError, KeyError, IndexError, ValueError)  # a recipe's answer to a query it cannot score


def new_recommendation_id() -> str:
    return f"RID-{uuid.uuid4()}"


@dataclass
class Query:
    """One validated request: GetRecommendations (`input_list` None) or GetPersonalizedRanking."""

    user_id: str | None = None
    item_id: str | None = None
    num_results: int = DEFAULT_RESULTS
    context: dict | None = None
    filter_arn: str | None = None
    filter_values: Mapping[str, str] | None = None
    filter_expression: str | None = None  # an unsaved expression (the workbench), used when filter_arn is None
    promotion: dict | None = None
    metadata_columns: list[str] = field(default_factory=list)
    input_list: list[str] | None = None
    recommendation_id: str | None = None  # a new one when None
    explain: bool = True                  # batch output has no reasons


class Pipeline:
    """Answers queries on one campaign (or solution version) with one model."""

    def __init__(self, store, campaign: Campaign, model: LoadedModel, runtime: CampaignRuntime = RUNTIME):
        self.store, self.campaign, self.model, self.runtime = store, campaign, model, runtime

    def answer(self, queries: list[Query]) -> list[list[dict] | RecsysError]:
        """Each query's item list (or the error that stopped it), scoring the chunk with one recipe call (one
        call per query when the chunk call fails, so that an error stays with its own query)."""
        requests = [_Request(self, q) for q in queries]
        try:
            _score_chunk(self.model, requests)
        except SCORING_ERRORS as exc:
            if len(requests) == 1:
                requests[0].error = _as_recsys_error(exc)
            else:
                for request in requests:
                    try:
                        _score_chunk(self.model, [request])
                    except SCORING_ERRORS as alone:
                        request.error = _as_recsys_error(alone)
        out: list[list[dict] | RecsysError] = []
        for request in requests:
            try:
                out.append(request.rank() if request.query.input_list is not None else request.recommend())
            except RecsysError as exc:
                out.append(exc)
        return out

    def answer_one(self, query: Query) -> list[dict]:
        """The item list of one query (a chunk of one); raises its error."""
        (result,) = self.answer([query])
        if isinstance(result, RecsysError):
            raise result
        return result


# -- the request -------------------------------------------------------------------------------------------

_NONE = object()  # "looked up: nothing" (so a user without new events is read once per request)


class _Request:
    """One query's resolved campaign, model, catalogue, user events and cached intermediate results."""

    def __init__(self, pipeline: Pipeline, query: Query):
        self.store = pipeline.store
        self.campaign = pipeline.campaign
        self.group = pipeline.campaign.group
        self.model = pipeline.model
        self.runtime = pipeline.runtime
        self.query = query
        self.user_id = query.user_id
        self.item_id = query.item_id
        self.recommendation_id = query.recommendation_id or new_recommendation_id()
        self.catalogue: Catalogue = self.runtime.catalogue(self.store, self.group, self.model)
        self._new_events: Any = None
        self._history: pd.DataFrame | None = None
        self._raw: np.ndarray | None = None
        self.error: RecsysError | None = None  # why the chunk could not score this query
        self.model_context = query.context if self.model.recipe.uses_context else None

    # steps ----------------------------------------------------------------------------------------------
    def recommend(self) -> list[dict]:
        """GetRecommendations: regular slots, promoted slots, back-fill, merged; then reasons and metadata."""
        query = self.query
        promotion, num_results = query.promotion, query.num_results
        mask = self.allowed(self.filter_mask(query.filter_arn, query.filter_values, "filterArn",
                                             query.filter_expression))
        promo_mask = (self.allowed(self.filter_mask(promotion.get("filterArn"), promotion.get("filterValues"),
                                                    "promotion filterArn")) if promotion else None)
        key, relevance = self.ranking_key()
        n_promoted = S.promoted_count(num_results, int(promotion["percentPromotedItems"])) if promotion else 0
        promoted = self.pick_promoted(key, promo_mask, n_promoted) if promotion else np.empty(0, dtype=np.int64)
        regular, explored = self.pick_regular(key, mask, num_results - len(promoted), promoted)
        backfill = self.backfill(mask, num_results - len(promoted) - len(regular),
                                 np.concatenate([promoted, regular]))
        rows = self.rows(regular, explored, relevance, "model")
        rows += self.rows(backfill, np.zeros(len(backfill), dtype=bool), relevance, "popular")
        promo_rows = self.rows(promoted, np.zeros(len(promoted), dtype=bool), relevance, "promoted")
        for row in promo_rows:
            row["promotionName"] = promotion["name"]
        merged, _ = S.interleave(rows, promo_rows, S.seed_from(self.recommendation_id))
        return self.finish(merged)

    def rank(self) -> list[dict]:
        """GetPersonalizedRanking: the input list by score (a softmax over it), unknown items last with 0."""
        ids, cat = self.query.input_list, self.catalogue
        mask = self.allowed(self.filter_mask(self.query.filter_arn, self.query.filter_values, "filterArn",
                                             self.query.filter_expression))
        positions = cat.positions(ids)
        keep = np.ones(len(ids), dtype=bool) if mask is None else np.array(
            [p < 0 or bool(mask[p]) for p in positions], dtype=bool)
        scored_mask = keep & (positions >= 0) & (positions < cat.n_model)
        raw = self.raw_scores()
        scored = positions[scored_mask]
        probabilities = renormalise(raw[scored]) if len(scored) else np.empty(0)
        order = np.lexsort((np.arange(len(scored)), -probabilities))
        entries = []
        for k in order:
            entries.append({"itemId": str(cat.ids[scored[k]]), "score": _score(probabilities[k]),
                            "_kind": "model", "_pos": int(scored[k])})
        for item, ok, has in zip(ids, keep, scored_mask):
            if ok and not has:
                entries.append({"itemId": item, "score": 0.0, "reason": ["Not in the model's training data"]})
        return self.finish(entries)

    # user data ------------------------------------------------------------------------------------------
    @property
    def new_events(self) -> pd.DataFrame | None:
        """The user's interactions recorded after the model's data snapshot (real-time events)."""
        if self._new_events is None:
            found = (READER.user_events(self.store, self.group, self.user_id, self.model.max_seq)
                     if self.user_id else None)
            self._new_events = found if found is not None and len(found) else _NONE
        return None if self._new_events is _NONE else self._new_events

    @property
    def history(self) -> pd.DataFrame:
        """The user's full interaction history from the store (filters look at it)."""
        if self._history is None:
            self._history = READER.user_events(self.store, self.group, self.user_id, None) if self.user_id else None
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
            if self.error is not None:
                raise self.error
            _score_chunk(self.model, [self])
        return self._raw

    def ranking_key(self) -> tuple[np.ndarray, np.ndarray]:
        """(ranking key, relevance score) per candidate; new items get -inf relevance (only exploration)."""
        cat = self.catalogue
        raw = self.raw_scores()
        full = np.full(len(cat.ids), -np.inf)
        relevant = np.isfinite(raw)
        if not self.model.recipe.returns_scores:
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
        config = self.campaign.campaign_config
        return str(config.get("excludeSeenItems", "false")).lower() == "true" and bool(self.user_id)

    # selection ------------------------------------------------------------------------------------------
    def pick_promoted(self, key: np.ndarray, promo_mask, n: int) -> np.ndarray:
        """The promoted items: best by score among those the promotion filter allows, then popular ones."""
        picks = S.top_positions(key, n, promo_mask)
        if len(picks) < n:
            picks = np.concatenate([picks, self.backfill(promo_mask, n - len(picks), picks)])
        return picks

    def pick_regular(self, key: np.ndarray, mask, n: int, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weight, cutoff_days = self.exploration()
        if weight <= 0:
            picks = S.top_positions(key, n, mask, exclude)
            return picks, np.zeros(len(picks), dtype=bool)
        bonus = self.exploration_bonus(cutoff_days)
        return S.select_with_exploration(key, n, mask, bonus, weight, S.seed_from(self.recommendation_id), exclude)

    def exploration(self) -> tuple[float, float]:
        """(explorationWeight, explorationItemAgeCutOff days) for USER_PERSONALIZATION campaigns, else (0, 0)."""
        if self.model.recipe_type != USER_PERSONALIZATION or not self.model.recipe.returns_scores:
            return 0.0, 0.0
        config = self.campaign.campaign_config.get("itemExplorationConfig") or {}
        weight = float(config.get("explorationWeight", DEFAULT_EXPLORATION_WEIGHT))
        cutoff = float(config.get("explorationItemAgeCutOff", DEFAULT_EXPLORATION_AGE_CUT_OFF))
        return min(max(weight, 0.0), 1.0), max(cutoff, 0.0)

    def exploration_bonus(self, cutoff_days: float) -> np.ndarray:
        """Per-candidate bonus (cached per catalogue until the activity counts or the cut-off change)."""
        cat = self.catalogue
        activity = self.runtime.activity(self.store, self.group)
        key = (cutoff_days, activity.last_seq, activity.max_timestamp)
        cached = cat.bonus
        if cached is not None and cached[0] == key:
            return cached[1]
        bonus = self._compute_bonus(cat, activity, cutoff_days)
        bonus.setflags(write=False)
        cat.bonus = (key, bonus)
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
    def filter_mask(self, filter_arn, filter_values, what: str, expression: str | None = None) -> np.ndarray | None:
        """The boolean mask over candidates of a filter, or of an unsaved `expression` (None when neither)."""
        if not filter_arn and not expression:
            if filter_values:
                raise ValidationError(f"filterValues were given without a {what}; pass the filter's ARN too.")
            return None
        check_filter_values(filter_values)
        compiled = (compiled_filter(self.store, self.group, filter_arn, self.runtime) if filter_arn
                    else expression_filter(expression))
        cat = self.catalogue
        needs_history = C.INTERACTIONS in compiled.datasets
        needs_users = any(d in (C.USERS, "CurrentUser") for d, _ in compiled.fields)
        history = None
        if needs_history:
            wanted = frozenset([C.USER_ID, C.ITEM_ID] + [f.upper() for d, f in compiled.fields
                                                          if d == C.INTERACTIONS])
            history = self.history_columns(wanted)
        ctx = FilterContext(
            item_ids=cat.ids,
            items=cat.items,
            user_interactions=history,
            users=self.runtime.users(self.store, self.group) if needs_users else None,
            user_id=self.user_id,
            current_item_id=self.item_id,
            index=cat.index(),
        )
        return np.asarray(compiled.item_mask(ctx, dict(filter_values or {})), dtype=bool)

    def allowed(self, mask: np.ndarray | None) -> np.ndarray | None:
        """`mask` without the group's excluded items (`recsys.cleaning`): they are never recommended."""
        excluded = self.runtime.excluded(self.store, self.group, self.catalogue)
        if excluded is None:
            return mask
        return ~excluded if mask is None else mask & ~excluded

    # output ---------------------------------------------------------------------------------------------
    def rows(self, positions: np.ndarray, explored: np.ndarray, relevance: np.ndarray, kind: str) -> list[dict]:
        cat = self.catalogue
        scored = self.model.recipe.returns_scores and kind != "popular"
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

    def finish(self, rows: list[dict]) -> list[dict]:
        """Add reasons (recipe explanations, Popular item, Promoted item, Exploration) and metadata."""
        n_model = self.catalogue.n_model
        need_explain = [r["itemId"] for r in rows
                        if r.get("_kind") in ("model", "promoted", None) and r.get("_pos", 0) < n_model]
        explained = dict(zip(need_explain, self.explain(need_explain))) if self.query.explain else {}
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
        if self.query.metadata_columns:
            _attach_metadata(self.catalogue, rows, self.query.metadata_columns)
        return rows

    def explain(self, item_ids: list[str]) -> list[list[str]]:
        """The recipe's reasons per item (history items that led to it, trending, popular...)."""
        if not item_ids:
            return []
        recipe = self.model.recipe
        try:
            if self.model.recipe_type == RELATED_ITEMS:
                reasons = recipe.explain_similar(self.item_id, list(item_ids))
            else:
                kwargs: dict[str, Any] = {"new_events": self.new_events}
                if self.model_context is not None:
                    kwargs["context"] = self.model_context
                reasons = recipe.explain(self.user_id or ANONYMOUS, list(item_ids), **kwargs)
        except (NotFoundError, ValidationError, KeyError, IndexError):
            log.debug("explain failed for %s", self.item_id or self.user_id, exc_info=True)
            return [[] for _ in item_ids]
        return [list(r or []) for r in reasons]


# -- scoring a chunk -----------------------------------------------------------------------------------------


def _score_chunk(model: LoadedModel, requests: list[_Request]) -> None:
    """Set each request's raw scores over the model catalogue, with one recipe call for the whole chunk."""
    if not requests:
        return
    rows = _item_scores(model, requests) if model.recipe_type == RELATED_ITEMS else _user_scores(model, requests)
    for request, row in zip(requests, rows):
        request._raw = row


def _user_scores(model: LoadedModel, requests: list[_Request]) -> list[np.ndarray]:
    recipe = model.recipe
    users = [r.user_id or ANONYMOUS for r in requests]
    kwargs: dict[str, Any] = {"new_events": _chunk_events(requests)}
    contexts = [r.model_context for r in requests]
    if any(c is not None for c in contexts):
        kwargs["context"] = contexts[0] if len(contexts) == 1 else contexts
    # The campaign's exploration config replaces the recipe's built-in bonus (see pick_regular).
    logits = recipe.logits_without_exploration(users, **kwargs) if recipe.returns_scores else None
    if logits is not None:
        return [S.softmax(row) for row in np.asarray(logits, dtype=np.float64)]
    return list(np.asarray(recipe.score_users(users, **kwargs), dtype=np.float64))


def _chunk_events(requests: list[_Request]) -> pd.DataFrame | None:
    """The new events of the chunk's users, each user's once."""
    frames, seen = [], set()
    for request in requests:
        events = request.new_events
        if events is not None and request.user_id not in seen:
            seen.add(request.user_id)
            frames.append(events)
    if not frames:
        return None
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _item_scores(model: LoadedModel, requests: list[_Request]) -> list[np.ndarray]:
    """Similarity of each query item to the catalogue; unknown items get none (popular back-fill, as
    Personalize's Similar-Items does [AP §12]) and the query item itself is never recommended."""
    unknown = np.full(len(model.item_ids), -np.inf)
    unknown.setflags(write=False)
    rows = [unknown] * len(requests)
    positions = [int(r.catalogue.positions([r.item_id])[0]) for r in requests]
    known = [k for k, pos in enumerate(positions) if 0 <= pos < len(model.item_ids)]
    if known:
        scores = np.asarray(model.recipe.score_items([requests[k].item_id for k in known]), dtype=np.float64)
        for row, k in zip(scores, known):
            row = row.copy()
            row[positions[k]] = -np.inf
            rows[k] = row
    return rows


# -- helpers ---------------------------------------------------------------------------------------------


def _as_recsys_error(exc: Exception) -> RecsysError:
    return exc if isinstance(exc, RecsysError) else ValidationError(f"{type(exc).__name__}: {exc}")


def renormalise(scores: np.ndarray) -> np.ndarray:
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


def compiled_filter(store, group: str, filter_arn: str, runtime: CampaignRuntime, target: str = "ItemID"):
    """The parsed filter behind `filter_arn` (NotFoundError unless it is a filter of `group`), which must filter
    `target`: ItemID for recommendations, UserID for segment jobs."""
    if not isinstance(filter_arn, str) or not filter_arn:
        raise ValidationError("filterArn must be a filter's ARN, e.g. arn:aws:personalize:us-east-1:000000000000:filter/<name>.")
    resource = READER.resource(store, filter_arn)
    if resource is None:
        raise NotFoundError(f"Filter {filter_arn!r} does not exist; create it first (python -m recsys filter "
                            "create ...) or check the ARN.")
    if resource["type"] != "filter" or resource["group"] != group:
        raise NotFoundError(f"Filter {filter_arn!r} does not exist in dataset group {group!r}; filters only apply "
                            "to the campaigns of their own group.")
    if resource.get("status") not in (None, "ACTIVE"):
        raise ValidationError(f"Filter {filter_arn} is {resource['status']}, not ACTIVE.")
    compiled = runtime.compiled_filter(resource, parse_filter)
    if compiled.target != target:
        raise ValidationError(WRONG_TARGET[target].format(arn=filter_arn))
    return compiled


WRONG_TARGET = {
    "ItemID": "Filter {arn} filters UserID (for user segments); item recommendations need an INCLUDE/EXCLUDE ItemID "
              "filter.",
    "UserID": "Filter {arn} filters ItemID; segment jobs need an INCLUDE/EXCLUDE UserID filter, e.g. EXCLUDE UserID "
              "WHERE Interactions.EVENT_TYPE IN (\"purchase\").",
}


def expression_filter(expression: str):
    """The parsed ItemID filter of an unsaved expression (FilterSyntaxError with a caret when it does not parse)."""
    compiled = parse_filter(expression)
    if compiled.target != "ItemID":
        raise ValidationError("The filter expression filters UserID (for user segments); item recommendations "
                              "need an INCLUDE/EXCLUDE ItemID expression.")
    return compiled


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
