"""Control-plane operations on models: solutions, solution versions (trained in the background), metrics,
campaigns and batch jobs, each over the library function the CLI and the workbench call.

Example (through boto3)::

    solution_arn = personalize.create_solution(name="up", datasetGroupArn=group_arn,
                                               recipeArn="arn:aws:personalize:::recipe/aws-user-personalization"
                                               )["solutionArn"]
    version_arn = personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    # poll describe_solution_version until ACTIVE, then:
    personalize.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path

from recsys.api.operations import Call, list_in_groups, operation, page
from recsys.api.errors import already_exists, in_use
from recsys.exceptions import NotFoundError, ValidationError
from recsys.resources import (
    ACTIVE, CREATE_FAILED, CREATE_PENDING, Arn, BatchJob, Campaign, Solution, SolutionVersion, validate_name,
)

log = logging.getLogger(__name__)

SOLUTION = "solution"
SOLUTION_VERSION = "solution-version"
CAMPAIGN = "campaign"
BATCH_INFERENCE = "batch-inference-job"
BATCH_SEGMENT = "batch-segment-job"


# -- solutions -----------------------------------------------------------------------------------------------


def _solution_params(config: dict) -> dict:
    """solutions.create_solution's keyword arguments from Personalize's solutionConfig (the engine keys of
    algorithmHyperParameters, e.g. ``"engine": "spark"``, are not recipe parameters: see `_engine`)."""
    from recsys.spark import engine_from_params

    kwargs: dict = {"params": engine_from_params(config.get("algorithmHyperParameters"))[1]}
    if config.get("eventValueThreshold") not in (None, ""):
        try:
            kwargs["event_value_threshold"] = float(config["eventValueThreshold"])
        except ValueError:
            raise ValidationError(f"solutionConfig.eventValueThreshold must be a number as a string, got "
                                  f"{config['eventValueThreshold']!r}.") from None
    if config.get("eventsConfig"):
        kwargs["events_config"] = config["eventsConfig"].get("eventParametersList") or []
    if config.get("hpoConfig"):
        kwargs["hpo_config"] = config["hpoConfig"]
    return kwargs


def _latest_version(call: Call, record: dict) -> SolutionVersion | None:
    from recsys import solutions

    versions = solutions.list_solution_versions(call.store, record["group"], record["name"])
    return versions[0] if versions else None


@operation("CreateSolution")
def create_solution(call: Call, params: dict) -> dict:
    from recsys import solutions

    group = call.dataset_group(params["datasetGroupArn"])
    name = validate_name(params["name"], "solution name")
    config = dict(params.get("solutionConfig") or {})
    if params.get("performAutoTraining"):
        raise ValidationError("performAutoTraining is not supported: create solution versions when you want to "
                              "retrain (set performAutoTraining to false).")
    if params.get("performAutoML"):
        return {"solutionArn": _start_automl(call, group, name, config, params.get("tags"))}
    if not params.get("recipeArn"):
        raise ValidationError("recipeArn is required unless performAutoML is true; ListRecipes lists them.")
    recipe = Arn.parse(params["recipeArn"])
    if recipe.resource_type != "recipe":
        raise ValidationError(f"{params['recipeArn']} is not a recipe ARN (arn:aws:personalize:::recipe/<name>).")
    engine = _engine(call, group, config)
    record = solutions.create_solution(call.store, group, name, recipe.name, event_type=params.get("eventType"),
                                      perform_hpo=bool(params.get("performHPO")), **_solution_params(config))
    if config:
        call.store.update_resource(SOLUTION, group, name, body={"solution_config": config, "engine": engine})
    call.tag(record.arn, params.get("tags"))
    return {"solutionArn": record.arn}


def _engine(call: Call, group: str, config: dict) -> dict | None:
    """The engine request in algorithmHyperParameters (``"engine": "spark", "spark_master": "yarn"``), checked
    now so a bad one fails CreateSolution; every version of the solution trains on it (None: the workspace
    default, `recsys.spark.resolve_engine`)."""
    from recsys.spark import engine_from_params, resolve_engine

    engine = engine_from_params(config.get("algorithmHyperParameters"))[0]
    if engine is not None:
        resolve_engine(call.store, group, engine)
    return engine


def _start_automl(call: Call, group: str, name: str, config: dict, tags: list | None) -> str:
    """performAutoML: compare the recipes in the background; the solution exists (CREATE PENDING) at once and
    becomes the best recipe's solution, training its first version, when the comparison ends."""
    recipes = [Arn.parse(a).name for a in (config.get("autoMLConfig") or {}).get("recipeList") or []]
    metric = (config.get("autoMLConfig") or {}).get("metricName") or "normalized_discounted_cumulative_gain_at_10"
    arn = call.store.arn(SOLUTION, group, name)
    try:
        call.store.find_resource(arn)
        exists = True
    except NotFoundError:
        exists = call.jobs.pending(arn) is not None
    if exists:
        raise already_exists(f"A solution named {name!r} already exists; pick another name.")
    now = time.time()
    record = {"type": SOLUTION, "arn": arn, "name": name, "group": group, "status": CREATE_PENDING, "recipe": None,
              "created_at": now, "updated_at": now, "failure_reason": None, "perform_auto_ml": True,
              "solution_config": config}
    store = call.store

    def run() -> None:
        from recsys import runs

        try:
            runs.perform_automl(store, group, name, recipes or None, metric=metric, wait=False)
            store.update_resource(SOLUTION, group, name, body={"solution_config": config, "perform_auto_ml": True})
        except Exception as exc:  # recorded on the solution: DescribeSolution shows failureReason
            if not isinstance(exc, ValidationError | NotFoundError):
                log.exception("AutoML for solution %s failed", name)
            try:
                store.create_resource(SOLUTION, group, name, {"recipe": None, "perform_auto_ml": True,
                                                              "solution_config": config}, status=CREATE_FAILED)
            except Exception:  # noqa: BLE001 - the solution was stored before the failure
                pass
            store.update_resource(SOLUTION, group, name, status=CREATE_FAILED,
                                  failure_reason=str(exc) or type(exc).__name__)
        if tags:
            store.tag(arn, {t["tagKey"]: t["tagValue"] for t in tags})

    call.jobs.submit(arn, record, run)
    return arn


@operation("DescribeSolution")
def describe_solution(call: Call, params: dict) -> dict:
    record = call.record(params["solutionArn"], SOLUTION, "solution")
    return {"solution": Solution.from_record(record, call.store, _latest_version(call, record)).to_api()}


@operation("ListSolutions")
def list_solutions(call: Call, params: dict) -> dict:
    return list_in_groups(call, params, SOLUTION, lambda r: Solution.from_record(r, call.store), "solutions")


@operation("DeleteSolution")
def delete_solution(call: Call, params: dict) -> None:
    from recsys import runs

    record = call.record(params["solutionArn"], SOLUTION, "solution")
    campaigns = [c for c in call.store.list_resources(CAMPAIGN, record["group"])
                 if c.get("solutionArn") == record["arn"]]
    if campaigns:
        raise in_use(f"Solution {record['name']!r} is deployed by campaign {campaigns[0]['name']!r}; delete the "
                     "campaign first.")
    runs.delete_solution(call.store, record["group"], record["name"])


# -- solution versions ---------------------------------------------------------------------------------------


@operation("CreateSolutionVersion")
def create_solution_version(call: Call, params: dict) -> dict:
    from recsys import runs

    solution = call.record(params["solutionArn"], SOLUTION, "solution")
    mode = params.get("trainingMode") or "FULL"
    if mode == "AUTOTRAIN":
        raise ValidationError("trainingMode AUTOTRAIN is not supported; use FULL or UPDATE.")
    version = runs.create_solution_version(call.store, solution["group"], solution["name"], mode,
                                           engine=solution.get("engine"))
    call.tag(version.arn, params.get("tags"))
    return {"solutionVersionArn": version.arn}


def _version(call: Call, arn: str) -> tuple[dict, Solution]:
    from recsys import solutions

    record = call.record(arn, SOLUTION_VERSION, "solution version")
    return record, solutions.get_solution(call.store, record["group"], record["solution"])


@operation("DescribeSolutionVersion")
def describe_solution_version(call: Call, params: dict) -> dict:
    record, solution = _version(call, params["solutionVersionArn"])
    return {"solutionVersion": SolutionVersion.from_record(record, call.store, solution).to_api()}


def _of_solution(call: Call, params: dict, resource_type: str, belongs) -> list[dict]:
    """Records of `resource_type` that `belongs(record, solution)` to the request's `solutionArn`, or all those
    the key reaches when it names none."""
    if params.get("solutionArn"):
        solution = call.record(params["solutionArn"], SOLUTION, "solution")
        return [r for r in call.store.list_resources(resource_type, solution["group"]) if belongs(r, solution)]
    return call.reachable(resource_type)


@operation("ListSolutionVersions")
def list_solution_versions(call: Call, params: dict) -> dict:
    records = _of_solution(call, params, SOLUTION_VERSION, lambda v, solution: v.get("solution") == solution["name"])
    items = [SolutionVersion.from_record(v, call.store).to_summary() for v in records]
    return page(call, params, items, "solutionVersions")


@operation("StopSolutionVersionCreation")
def stop_solution_version_creation(call: Call, params: dict) -> None:
    from recsys import runs

    record, _ = _version(call, params["solutionVersionArn"])
    runs.cancel_solution_version(call.store, record["arn"])


@operation("GetSolutionMetrics")
def get_solution_metrics(call: Call, params: dict) -> dict:
    record, _ = _version(call, params["solutionVersionArn"])
    if record["status"] != ACTIVE:
        raise in_use(f"Solution version {record['arn']} is {record['status']}; metrics exist once it is ACTIVE.")
    metrics = {k: float(v) for k, v in (record.get("metrics") or {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    return {"solutionVersionArn": record["arn"], "metrics": metrics}


# -- campaigns -----------------------------------------------------------------------------------------------


def _campaign_config(config: dict | None) -> dict | None:
    if config is None:
        return None
    config = dict(config)
    for flag in ("enableMetadataWithRecommendations", "syncWithLatestSolutionVersion"):
        if flag in config and not config[flag]:
            config.pop(flag)
    if config.pop("syncWithLatestSolutionVersion", False):
        raise ValidationError("syncWithLatestSolutionVersion is not supported; deploy <solution arn>/$LATEST "
                              "as the solutionVersionArn to follow a solution's newest version.")
    return config


def _version_arn(call: Call, arn: str) -> tuple[str, str]:
    """(group, canonical ARN) of a version to deploy, also for `<solution arn>/$LATEST`."""
    if arn.endswith("/$LATEST"):
        solution = arn[: -len("/$LATEST")]
        return call.group_of(solution, "solution"), call.canonical(solution) + "/$LATEST"
    return call.group_of(arn, "solution version"), call.canonical(arn)


@operation("CreateCampaign")
def create_campaign(call: Call, params: dict) -> dict:
    from recsys import campaigns

    group, version = _version_arn(call, params["solutionVersionArn"])
    campaign = campaigns.create_campaign(call.store, group, params["name"], version,
                                         min_provisioned_tps=params.get("minProvisionedTPS") or 1,
                                         campaign_config=_campaign_config(params.get("campaignConfig")))
    call.tag(campaign.arn, params.get("tags"))
    return {"campaignArn": campaign.arn}


@operation("DescribeCampaign")
def describe_campaign(call: Call, params: dict) -> dict:
    record = call.record(params["campaignArn"], CAMPAIGN, "campaign")
    return {"campaign": Campaign.from_record(record).to_api()}


@operation("ListCampaigns")
def list_campaigns(call: Call, params: dict) -> dict:
    records = _of_solution(call, params, CAMPAIGN, lambda c, solution: c.get("solutionArn") == solution["arn"])
    return page(call, params, [Campaign.from_record(c).to_summary() for c in records], "campaigns")


@operation("UpdateCampaign")
def update_campaign(call: Call, params: dict) -> dict:
    from recsys import campaigns

    record = call.record(params["campaignArn"], CAMPAIGN, "campaign")
    version = None
    if params.get("solutionVersionArn"):
        group, version = _version_arn(call, params["solutionVersionArn"])
        if group != record["group"]:
            raise ValidationError(f"{params['solutionVersionArn']} belongs to dataset group {group!r}, not "
                                  f"{record['group']!r}.")
    campaigns.update_campaign(call.store, record["group"], record["name"], solution_version_arn=version,
                              min_provisioned_tps=params.get("minProvisionedTPS"),
                              campaign_config=_campaign_config(params.get("campaignConfig")))
    return {"campaignArn": record["arn"]}


@operation("DeleteCampaign")
def delete_campaign(call: Call, params: dict) -> None:
    from recsys import campaigns

    record = call.record(params["campaignArn"], CAMPAIGN, "campaign")
    campaigns.delete_campaign(call.store, record["group"], record["name"])


# -- batch jobs ----------------------------------------------------------------------------------------------


def _run_batch(store, jobs, kind: str, group: str, name: str, request: dict) -> None:
    """Stage the input, run the library's batch job into a temporary file, publish the output."""
    from recsys import locations
    from recsys.serving import batch

    try:
        source = request["input"]
        with locations.staged_input(store, source) as path, tempfile.TemporaryDirectory(prefix="recsys-out-") as tmp:
            output = Path(tmp) / (Path(source.rstrip("/")).name + ".out")
            common = dict(num_results=request["num_results"], resume=True)
            if kind == BATCH_SEGMENT:
                batch.create_batch_segment_job(store, group, name, request["version"], path, output, **common)
            else:
                batch.create_batch_inference_job(store, group, name, request["version"], path, output,
                                                 filter_arn=request["filter"], **common)
            target = locations.output_location(request["output"], output.name)
            locations.publish(store, output, target)
            store.update_resource(kind, group, name, body={"output_location": target})
    except Exception as exc:  # recorded on the job; DescribeBatch*Job shows failureReason
        if not isinstance(exc, ValidationError | NotFoundError):
            log.exception("batch job %s failed", name)
        store.update_resource(kind, group, name, status=CREATE_FAILED, failure_reason=str(exc) or type(exc).__name__)


def _create_batch_job(call: Call, params: dict, kind: str) -> str:
    group, version = _version_arn(call, params["solutionVersionArn"])
    name = validate_name(params["jobName"], "job name")
    filter_arn = None
    if params.get("filterArn"):
        if call.group_of(params["filterArn"], "filter") != group:
            raise ValidationError("filterArn belongs to another dataset group than the solution version.")
        filter_arn = call.canonical(params["filterArn"])
    source = call.location(params["jobInput"]["s3DataSource"]["path"])
    destination = call.location(params["jobOutput"]["s3DataDestination"]["path"])
    request = {"version": version, "input": source, "output": destination, "filter": filter_arn,
               "num_results": params.get("numResults") or 25}
    body = {"solution_version_arn": version, "num_results": request["num_results"], "filter_arn": filter_arn,
            "job_input": params["jobInput"], "job_output": params["jobOutput"], "role_arn": params.get("roleArn"),
            "batch_inference_job_config": params.get("batchInferenceJobConfig")}
    if kind == BATCH_SEGMENT:
        body.pop("filter_arn")
    try:
        record = call.store.create_resource(kind, group, name, body, status=CREATE_PENDING)
    except Exception as exc:
        if "already exists" in str(exc):
            raise already_exists(str(exc)) from None
        raise
    store, jobs = call.store, call.jobs
    jobs.submit(record["arn"], record, lambda: _run_batch(store, jobs, kind, group, name, request))
    call.tag(record["arn"], params.get("tags"))
    return record["arn"]


@operation("CreateBatchInferenceJob")
def create_batch_inference_job(call: Call, params: dict) -> dict:
    return {"batchInferenceJobArn": _create_batch_job(call, params, BATCH_INFERENCE)}


@operation("CreateBatchSegmentJob")
def create_batch_segment_job(call: Call, params: dict) -> dict:
    return {"batchSegmentJobArn": _create_batch_job(call, params, BATCH_SEGMENT)}


def _batch_job(call: Call, record: dict) -> BatchJob:
    """The job as clients see it: the library marks it ACTIVE when its output file is written, but it is done
    only once the output is published to its location."""
    if record["status"] == ACTIVE and call.jobs.pending(record["arn"]) is not None:
        record = {**record, "status": "CREATE IN_PROGRESS"}
    return BatchJob.from_record(record)


@operation("DescribeBatchInferenceJob")
def describe_batch_inference_job(call: Call, params: dict) -> dict:
    record = call.record(params["batchInferenceJobArn"], BATCH_INFERENCE, "batch inference job")
    return {"batchInferenceJob": _batch_job(call, record).to_api()}


@operation("DescribeBatchSegmentJob")
def describe_batch_segment_job(call: Call, params: dict) -> dict:
    record = call.record(params["batchSegmentJobArn"], BATCH_SEGMENT, "batch segment job")
    return {"batchSegmentJob": _batch_job(call, record).to_api()}


def _list_batch(call: Call, params: dict, kind: str, member: str) -> dict:
    if params.get("solutionVersionArn"):
        group, version = _version_arn(call, params["solutionVersionArn"])
        records = [j for j in call.store.list_resources(kind, group) if j.get("solution_version_arn") == version]
    else:
        records = call.reachable(kind)
    return page(call, params, [_batch_job(call, j).to_summary() for j in records], member)


@operation("ListBatchInferenceJobs")
def list_batch_inference_jobs(call: Call, params: dict) -> dict:
    return _list_batch(call, params, BATCH_INFERENCE, "batchInferenceJobs")


@operation("ListBatchSegmentJobs")
def list_batch_segment_jobs(call: Call, params: dict) -> dict:
    return _list_batch(call, params, BATCH_SEGMENT, "batchSegmentJobs")
