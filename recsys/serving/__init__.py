"""Serving: the only path from a request to an answer, for the HTTP API, the CLI, the workbench and batch jobs.

Example::

    from recsys.serving import get_recommendations, create_batch_inference_job
    get_recommendations(store, "arn:aws:personalize:us-east-1:000000000000:campaign/main", user_id="u1", num_results=10)
    create_batch_inference_job(store, "shop", "nightly", version_arn, "users.jsonl", "recs.jsonl")

Modules, in the order a request meets them: `request` (input validation and Personalize's limits), `runtime`
(the process-wide cache of models, catalogues, filters and exploration counts; which version a campaign
serves), `reader` (the per-thread read connection), `pipeline` (score, exclude/filter, promote, explore,
back-fill, reasons), `selection` (its pure numpy steps), then the two entry points: `realtime`
(GetRecommendations, GetPersonalizedRanking) and `batch` (batch inference and segment jobs).
"""

from recsys.serving.batch import (
    BATCH_INFERENCE_JOB, BATCH_SEGMENT_JOB, create_batch_inference_job, create_batch_segment_job, list_batch_jobs,
)
from recsys.serving.realtime import get_personalized_ranking, get_recommendations
from recsys.serving.request import DEFAULT_RESULTS, MAX_RESULTS, MAX_RESULTS_WITH_METADATA
from recsys.serving.runtime import RUNTIME, CampaignRuntime, resolve_campaign


def load_model(store, version_arn: str):
    """The fitted Recipe of an ACTIVE solution version, from the process's one model cache."""
    return RUNTIME.recipe(store, version_arn)


__all__ = [
    "BATCH_INFERENCE_JOB", "BATCH_SEGMENT_JOB", "CampaignRuntime", "DEFAULT_RESULTS", "MAX_RESULTS",
    "MAX_RESULTS_WITH_METADATA", "RUNTIME", "create_batch_inference_job", "create_batch_segment_job",
    "get_personalized_ranking", "get_recommendations", "list_batch_jobs", "load_model", "resolve_campaign",
]
