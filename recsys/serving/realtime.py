"""Real-time inference on deployed campaigns: Personalize's GetRecommendations and GetPersonalizedRanking.

Example::

    from recsys.serving import get_recommendations, get_personalized_ranking
    get_recommendations(store, "arn:aws:personalize:us-east-1:000000000000:campaign/main", user_id="u1", num_results=10,
                        context={"DEVICE": "mobile"},
                        promotions=[{"name": "new", "percentPromotedItems": 20, "filterArn": new_items_arn}])
    # {"itemList": [{"itemId": "i7", "score": 0.031, "reason": ["Because you viewed i3"]}, ...],
    #  "recommendationId": "RID-..."}

Each call validates its input (`recsys.serving.request`), resolves the campaign to the version it serves
and answers through `recsys.serving.pipeline` (the behaviour is described there), inside one read snapshot
of the workspace. An ACTIVE solution version ARN may be given instead of a campaign ARN.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from recsys.exceptions import ValidationError
from recsys.serving.pipeline import RANKABLE, RECOMMENDABLE, Pipeline, Query, new_recommendation_id
from recsys.serving.reader import READER
from recsys.recipes import PERSONALIZED_RANKING, RELATED_ITEMS, USER_PERSONALIZATION
from recsys.resources import Campaign
from recsys.serving.request import (
    DEFAULT_RESULTS, check_campaign_config, check_context, check_id, check_input_list, check_metadata_columns, check_num_results,
    check_promotions,
)
from recsys.serving.runtime import RUNTIME, LoadedModel, resolve_campaign


def get_recommendations(store, campaign_arn: str, *, user_id: str | None = None, item_id: str | None = None,
                        num_results: int = DEFAULT_RESULTS, context: Mapping[str, str] | None = None,
                        filter_arn: str | None = None, filter_values: Mapping[str, str] | None = None,
                        promotions: list[dict] | None = None,
                        metadata_columns: Mapping[str, list[str]] | None = None,
                        recommendation_id: str | None = None, campaign_config: dict | None = None,
                        filter_expression: str | None = None) -> dict:
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
    recommendation_id : reproduce an answer: its exploration and promotion draws derive from this id (an
        extension; a new id is made when None).
    campaign_config : keys of the campaign's config to override for this request, e.g.
        ``{"excludeSeenItems": "true"}`` (an extension, used by the CLI when it answers from a version).
    filter_expression : an unsaved filter expression, applied as a filter of the group would be (an extension:
        the workbench tries expressions without storing them); ignored when `filter_arn` is given.

    Raises
    ------
    NotFoundError for an unknown campaign or filter; ValidationError for bad input.
    """
    with READER.snapshot(store):
        campaign, model = _resolve(store, campaign_arn, campaign_config)
        recipe_type = model.recipe_type
        if recipe_type == PERSONALIZED_RANKING:
            raise ValidationError(f"Campaign {campaign.arn} serves a personalized-ranking recipe: call "
                                  "get_personalized_ranking (POST /personalize-ranking) with an inputList instead.")
        if recipe_type not in RECOMMENDABLE:
            raise ValidationError(f"Campaign {campaign.arn} serves a {recipe_type} recipe, which has no real-time "
                                  "recommendations; use a batch job instead.")
        user_id = check_id(user_id, "userId")
        item_id = check_id(item_id, "itemId")
        if recipe_type == USER_PERSONALIZATION and not user_id:
            raise ValidationError(f"userId is required for campaign {campaign.arn} (a USER_PERSONALIZATION "
                                  "recipe); pass the user's id, or the sessionId for an anonymous user.")
        if recipe_type == RELATED_ITEMS and not item_id:
            raise ValidationError(f"itemId is required for campaign {campaign.arn} (a RELATED_ITEMS recipe); "
                                  "pass the item to find related items for.")
        columns = check_metadata_columns(metadata_columns)
        query = Query(user_id=user_id, item_id=item_id, num_results=check_num_results(num_results, bool(columns)),
                      context=check_context(context), filter_arn=filter_arn, filter_values=filter_values,
                      filter_expression=filter_expression or None,
                      promotion=check_promotions(promotions), metadata_columns=columns,
                      recommendation_id=recommendation_id or new_recommendation_id())
        items = Pipeline(store, campaign, model).answer_one(query)
    return {"itemList": items, "recommendationId": query.recommendation_id}


def get_personalized_ranking(store, campaign_arn: str, *, user_id: str, input_list: list[str],
                             context: Mapping[str, str] | None = None, filter_arn: str | None = None,
                             filter_values: Mapping[str, str] | None = None,
                             metadata_columns: Mapping[str, list[str]] | None = None,
                             recommendation_id: str | None = None, campaign_config: dict | None = None,
                             filter_expression: str | None = None) -> dict:
    """Personalize's GetPersonalizedRanking: `input_list` re-ordered for `user_id`, best first.

    Scores are a softmax over the input list [AP §6.4]; items the model never saw are appended at the end
    with score 0, in their input order; items a filter removes are dropped.
    ``{"personalizedRanking": [{"itemId", "score", "reason"}...], "recommendationId": "RID-..."}``.
    `recommendation_id`, `campaign_config` and `filter_expression` are as for `get_recommendations`.
    """
    with READER.snapshot(store):
        campaign, model = _resolve(store, campaign_arn, campaign_config)
        if model.recipe_type not in RANKABLE:
            raise ValidationError(f"Campaign {campaign.arn} serves a {model.recipe_type} recipe; personalized "
                                  "ranking needs a personalized-ranking or user-personalization campaign.")
        user_id = check_id(user_id, "userId")
        if not user_id:
            raise ValidationError("userId is required for personalized ranking; pass the user's id or sessionId.")
        columns = check_metadata_columns(metadata_columns)
        query = Query(user_id=user_id, input_list=check_input_list(input_list, bool(columns)),
                      context=check_context(context), filter_arn=filter_arn, filter_values=filter_values,
                      filter_expression=filter_expression or None,
                      metadata_columns=columns, recommendation_id=recommendation_id or new_recommendation_id())
        items = Pipeline(store, campaign, model).answer_one(query)
    return {"personalizedRanking": items, "recommendationId": query.recommendation_id}


def _resolve(store, campaign_arn: str, config: dict | None) -> tuple[Campaign, LoadedModel]:
    campaign, version_arn = resolve_campaign(store, campaign_arn)
    if config:  # the resolved campaign is shared by other requests: change a copy
        campaign = dataclasses.replace(campaign, campaign_config={**campaign.campaign_config,
                                                                  **check_campaign_config(config)})
    return campaign, RUNTIME.model(store, version_arn)
