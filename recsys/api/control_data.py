"""Control-plane operations on data: dataset groups, schemas, datasets, import jobs, event trackers, filters,
tags, and the recipe catalogue, each over the library function the CLI and the workbench call.

Example (through boto3)::

    personalize.create_schema(name="shop-interactions", schema=json.dumps(avro))
    personalize.create_dataset(name="shop-int", datasetGroupArn=group_arn, datasetType="Interactions",
                               schemaArn=schema_arn)
    personalize.create_dataset_import_job(jobName="first", datasetArn=dataset_arn,
                                          dataSource={"dataLocation": "s3://bucket/interactions.csv"},
                                          roleArn="arn:aws:iam::000000000000:role/personalize")
"""

from __future__ import annotations

import json
import logging
import time

from recsys.api.operations import Call, list_in_groups, operation, page
from recsys.api.errors import ApiError, already_exists, in_use, not_found
from recsys.exceptions import NotFoundError, ValidationError
from recsys.resources import (
    CREATE_FAILED,
    CREATE_PENDING,
    Arn,
    Dataset,
    DatasetGroup,
    DatasetSchema,
    EventTracker,
    Filter,
    ImportJob,
    validate_name,
)

log = logging.getLogger(__name__)

SCHEMA = "schema"
SCHEMA_GROUP = "_global"  # schemas belong to the workspace, as in AWS
IMPORT_JOB = "dataset-import-job"
TRACKER = "event-tracker"
FILTER = "filter"
DATASET = "dataset"


def _summaries(items) -> list[dict]:
    return [item.to_summary() for item in items]


# -- dataset groups ------------------------------------------------------------------------------------------


@operation("CreateDatasetGroup")
def create_dataset_group(call: Call, params: dict) -> dict:
    arn = call.store.arn("dataset-group", params["name"], params["name"])
    call.admin(arn)
    if params.get("kmsKeyArn"):
        raise ValidationError("kmsKeyArn is not supported: the workspace is one SQLite file; encrypt its disk.")
    group = call.store.create_dataset_group(params["name"], params.get("domain"))
    call.tag(group["arn"], params.get("tags"))
    result = {"datasetGroupArn": group["arn"]}
    if group.get("domain"):
        result["domain"] = group["domain"]
    return result


@operation("DescribeDatasetGroup")
def describe_dataset_group(call: Call, params: dict) -> dict:
    group = call.dataset_group(params["datasetGroupArn"])
    return {"datasetGroup": DatasetGroup.from_record(call.store.get_dataset_group(group)).to_api()}


@operation("ListDatasetGroups")
def list_dataset_groups(call: Call, params: dict) -> dict:
    groups = [DatasetGroup.from_record(g) for g in call.store.list_dataset_groups() if call.may(g["name"])]
    groups.sort(key=lambda g: g.created_at or 0, reverse=True)
    return page(call, params, _summaries(groups), "datasetGroups")


# What must be deleted before a dataset group, in the order a notebook deletes it (Personalize refuses too).
_GROUP_CONTENTS = ("campaign", "batch-inference-job", "batch-segment-job", "solution", "event-tracker", "filter",
                   DATASET)


@operation("DeleteDatasetGroup")
def delete_dataset_group(call: Call, params: dict) -> None:
    arn = params["datasetGroupArn"]
    group = call.dataset_group(arn)
    call.admin(arn)
    left = {t: len(call.store.list_resources(t, group)) for t in _GROUP_CONTENTS}
    left = {t: n for t, n in left.items() if n and t not in ("batch-inference-job", "batch-segment-job")}
    if left:
        listed = ", ".join(f"{n} {t}{'s' if n > 1 else ''}" for t, n in left.items())
        raise in_use(f"Dataset group {group!r} still has {listed}; delete them first (campaigns, solutions, "
                     "event trackers, filters, then datasets), as Personalize requires.")
    call.store.delete_dataset_group(group)


# -- schemas -------------------------------------------------------------------------------------------------


def _schema_record(call: Call, arn: str) -> dict:
    try:
        record = call.store.find_resource(call.canonical(arn))
    except NotFoundError:
        record = None
    if record is None or record["type"] != SCHEMA:
        raise not_found(f"Schema {arn} does not exist; create it with CreateSchema.")
    return record


def _schema_types(text: str, domain: str | None) -> list[str]:
    """The dataset types a schema is valid for; ValidationError with every type's complaint when none."""
    from recsys.schema import parse_schema

    valid, problems = [], []
    for dataset_type in ("Interactions", "Items", "Users"):
        try:
            parse_schema(dataset_type, text, domain=domain)
            valid.append(dataset_type)
        except ValidationError as exc:
            problems.append(f"as {dataset_type}: {exc}")
    if not valid:
        raise ValidationError("The schema is not a valid Personalize schema for any dataset type (" +
                              "; ".join(problems) + ")")
    return valid


@operation("CreateSchema")
def create_schema(call: Call, params: dict) -> dict:
    name = validate_name(params["name"], "schema name")
    arn = call.store.arn(SCHEMA, SCHEMA_GROUP, name)
    call.admin(arn)
    try:
        json.loads(params["schema"])
    except ValueError as exc:
        raise ValidationError(f"schema is not valid JSON ({exc}); give the Avro schema as a JSON string.") from None
    types = _schema_types(params["schema"], params.get("domain"))
    record = call.store.create_resource(SCHEMA, SCHEMA_GROUP, name, {
        "schema": params["schema"], "domain": params.get("domain"), "dataset_types": types})
    return {"schemaArn": record["arn"]}


@operation("DescribeSchema")
def describe_schema(call: Call, params: dict) -> dict:
    return {"schema": DatasetSchema.from_record(_schema_record(call, params["schemaArn"])).to_api()}


@operation("ListSchemas")
def list_schemas(call: Call, params: dict) -> dict:
    schemas = [DatasetSchema.from_record(r) for r in call.store.list_resources(SCHEMA, SCHEMA_GROUP)]
    return page(call, params, _summaries(schemas), "schemas")


@operation("DeleteSchema")
def delete_schema(call: Call, params: dict) -> None:
    record = _schema_record(call, params["schemaArn"])
    call.admin(record["arn"])
    users = [d for d in call.store.list_resources(DATASET) if d.get("schemaArn") == record["arn"]]
    if users:
        raise in_use(f"Schema {record['name']!r} is used by {len(users)} dataset(s) "
                     f"({', '.join(call.store.arn(DATASET, d['group'], d['name']) for d in users[:3])}); "
                     "delete them first.")
    call.store.delete_resource(SCHEMA, SCHEMA_GROUP, record["name"])


# -- datasets ------------------------------------------------------------------------------------------------


def _dataset_record(call: Call, arn: str) -> dict:
    return call.record(arn, DATASET, "dataset")


@operation("CreateDataset")
def create_dataset(call: Call, params: dict) -> dict:
    from recsys import datasets
    from recsys.schema import normalize_dataset_type

    group = call.dataset_group(params["datasetGroupArn"])
    dataset_type = normalize_dataset_type(params["datasetType"])
    schema = _schema_record(call, params["schemaArn"])
    if dataset_type not in schema.get("dataset_types", [dataset_type]):
        raise ValidationError(f"Schema {schema['name']!r} is not a valid {dataset_type} schema (it fits "
                              f"{', '.join(schema.get('dataset_types', []))}); pick a schema for {dataset_type}.")
    try:
        datasets.create_dataset(call.store, group, dataset_type, schema["schema"])
    except Exception as exc:
        if "already has" in str(exc):
            raise already_exists(str(exc)) from None
        raise
    record = call.store.update_resource(DATASET, group, dataset_type,
                                        body={"api_name": validate_name(params["name"], "dataset name"),
                                              "schemaArn": schema["arn"]})
    call.tag(record["arn"], params.get("tags"))
    return {"datasetArn": record["arn"]}


@operation("DescribeDataset")
def describe_dataset(call: Call, params: dict) -> dict:
    record = _dataset_record(call, params["datasetArn"])
    return {"dataset": Dataset.from_record(record, call.store).to_api()}


@operation("ListDatasets")
def list_datasets(call: Call, params: dict) -> dict:
    return list_in_groups(call, params, DATASET, lambda r: Dataset.from_record(r, call.store), "datasets")


@operation("DeleteDataset")
def delete_dataset(call: Call, params: dict) -> None:
    from recsys import datasets

    record = _dataset_record(call, params["datasetArn"])
    running = [j for j in _import_records(call, record["group"])
               if j.get("dataset_type") == record["name"] and j["status"] in (CREATE_PENDING, "CREATE IN_PROGRESS")]
    if running:
        raise in_use(f"Import job {running[0]['name']!r} is still loading this dataset; wait for it to finish.")
    datasets.delete_dataset(call.store, record["group"], record["name"])


# -- dataset import jobs -------------------------------------------------------------------------------------


def _import_records(call: Call, group: str | None) -> list[dict]:
    stored = call.store.list_resources(IMPORT_JOB, group)
    names = {r["name"] for r in stored}
    pending = [r for r in call.jobs.pending_records() if r["type"] == IMPORT_JOB and r["name"] not in names
               and (group is None or r["group"] == group)]
    return pending + stored


def _with_location(call: Call, record: dict) -> dict:
    """The stored import record with the API's view (data location, role) of a job still running."""
    pending = call.jobs.pending(record["arn"])
    if pending:
        record = {**record, "data_location": pending["data_location"], "role_arn": pending.get("role_arn")}
    return record


def _import_record(call: Call, arn: str) -> dict:
    canonical = call.canonical(arn)
    for _ in range(2):  # store, then the queue, then the store again: never missed in between
        try:
            record = call.store.find_resource(canonical)
        except NotFoundError:
            record = call.jobs.pending(canonical)
        if record is not None:
            if record["type"] != IMPORT_JOB:
                raise ValidationError(f"{arn} is a {record['type']}, not a dataset import job.")
            if not call.may(record["group"]):
                call.group_of(arn)  # raises AccessDenied
            return _with_location(call, record)
    raise not_found(f"Dataset import job {arn} does not exist.")


def _run_import(store, record: dict) -> None:
    from recsys import locations
    from recsys.ingest import import_file

    arn, group, name = record["arn"], record["group"], record["name"]
    try:
        with locations.staged_input(store, record["data_location"]) as path:
            import_file(store, group, record["dataset_type"], path, mode=record["mode"], job_name=name)
    except Exception as exc:  # recorded on the job: clients read it with DescribeDatasetImportJob
        try:
            store.find_resource(arn)
        except NotFoundError:  # failed before the import started: store the failure ourselves
            store.create_resource(IMPORT_JOB, group, name, {**_public_body(record)}, status=CREATE_FAILED)
            store.update_resource(IMPORT_JOB, group, name, failure_reason=str(exc) or type(exc).__name__)
        if not isinstance(exc, ValidationError | NotFoundError):
            log.exception("import job %s failed", name)
    finally:
        try:
            store.update_resource(IMPORT_JOB, group, name, body=_public_body(record))
        except NotFoundError:
            pass


def _public_body(record: dict) -> dict:
    return {k: record.get(k) for k in ("dataset_type", "mode", "data_location", "role_arn",
                                       "publish_attribution_metrics_to_s3")}


@operation("CreateDatasetImportJob")
def create_dataset_import_job(call: Call, params: dict) -> dict:
    dataset = _dataset_record(call, params["datasetArn"])
    group, name = dataset["group"], validate_name(params["jobName"], "job name")
    arn = call.store.arn(IMPORT_JOB, group, name)
    location = (params.get("dataSource") or {}).get("dataLocation")
    if not location:
        raise ValidationError("dataSource.dataLocation is required: s3://bucket/key (or prefix/), file:///path or "
                              "a local path.")
    call.location(location)
    if call.jobs.pending(arn) is not None:
        raise already_exists(f"Dataset import job {name!r} already exists; pick another jobName.")
    try:
        call.store.find_resource(arn)
    except NotFoundError:
        pass
    else:
        raise already_exists(f"Dataset import job {name!r} already exists; pick another jobName.")
    now = time.time()
    record = {"type": IMPORT_JOB, "arn": arn, "name": name, "group": group, "status": CREATE_PENDING,
              "created_at": now, "updated_at": now, "failure_reason": None, "dataset_type": dataset["name"],
              "mode": params.get("importMode") or "FULL", "data_location": location, "role_arn": params.get("roleArn"),
              "publish_attribution_metrics_to_s3": params.get("publishAttributionMetricsToS3")}
    store, jobs = call.store, call.jobs
    jobs.submit(arn, record, lambda: _run_import(store, record))
    call.tag(arn, params.get("tags"))
    return {"datasetImportJobArn": arn}


@operation("DescribeDatasetImportJob")
def describe_dataset_import_job(call: Call, params: dict) -> dict:
    record = _import_record(call, params["datasetImportJobArn"])
    return {"datasetImportJob": ImportJob.from_record(record, call.store).to_api()}


@operation("ListDatasetImportJobs")
def list_dataset_import_jobs(call: Call, params: dict) -> dict:
    if params.get("datasetArn"):
        dataset = _dataset_record(call, params["datasetArn"])
        records = [r for r in _import_records(call, dataset["group"]) if r.get("dataset_type") == dataset["name"]]
    else:
        records = [r for r in _import_records(call, None) if call.may(r["group"])]
    jobs = [ImportJob.from_record(_with_location(call, r), call.store) for r in records]
    return page(call, params, _summaries(jobs), "datasetImportJobs")


# -- event trackers ------------------------------------------------------------------------------------------


@operation("CreateEventTracker")
def create_event_tracker(call: Call, params: dict) -> dict:
    from recsys import events

    group = call.dataset_group(params["datasetGroupArn"])
    existing = call.store.list_resources(TRACKER, group)
    if existing:
        raise ApiError(400, "LimitExceededException",
                       f"Dataset group {group!r} already has event tracker {existing[0]['name']!r}; a dataset group "
                       "has one event tracker (delete it first to make another).")
    tracker = events.create_event_tracker(call.store, group, params["name"])
    call.tag(tracker["arn"], params.get("tags"))
    return {"eventTrackerArn": tracker["arn"], "trackingId": tracker["trackingId"]}


@operation("DescribeEventTracker")
def describe_event_tracker(call: Call, params: dict) -> dict:
    record = call.record(params["eventTrackerArn"], TRACKER, "event tracker")
    return {"eventTracker": EventTracker.from_record(record, call.store).to_api()}


@operation("ListEventTrackers")
def list_event_trackers(call: Call, params: dict) -> dict:
    return list_in_groups(call, params, TRACKER, lambda r: EventTracker.from_record(r, call.store), "eventTrackers")


@operation("DeleteEventTracker")
def delete_event_tracker(call: Call, params: dict) -> None:
    from recsys import events

    record = call.record(params["eventTrackerArn"], TRACKER, "event tracker")
    events.delete_event_tracker(call.store, record["group"], record["name"])


# -- filters -------------------------------------------------------------------------------------------------


@operation("CreateFilter")
def create_filter(call: Call, params: dict) -> dict:
    from recsys.filters.resources import create_filter as store_filter

    group = call.dataset_group(params["datasetGroupArn"])
    created = store_filter(call.store, group, params["name"], params["filterExpression"])
    call.tag(created.arn, params.get("tags"))
    return {"filterArn": created.arn}


@operation("DescribeFilter")
def describe_filter(call: Call, params: dict) -> dict:
    record = call.record(params["filterArn"], FILTER, "filter")
    return {"filter": Filter.from_record(record, call.store).to_api()}


@operation("ListFilters")
def list_filters(call: Call, params: dict) -> dict:
    return list_in_groups(call, params, FILTER, lambda r: Filter.from_record(r, call.store), "Filters")


@operation("DeleteFilter")
def delete_filter(call: Call, params: dict) -> None:
    from recsys.filters.resources import delete_filter as remove_filter

    record = call.record(params["filterArn"], FILTER, "filter")
    remove_filter(call.store, record["group"], record["name"])


# -- tags ----------------------------------------------------------------------------------------------------


def _tagged_arn(call: Call, arn: str, write: bool) -> str:
    """The canonical ARN of a taggable resource the key may see (and, for schemas, write only as admin)."""
    parsed = call.resolver.parsed(arn)
    if parsed is None:
        raise ValidationError(f"{arn!r} is not a Personalize ARN.")
    if parsed[1].resource_type == "dataset-group":
        call.dataset_group(arn)
        return parsed[0]
    if parsed[1].resource_type == SCHEMA:
        record = _schema_record(call, arn)
        if write:
            call.admin(arn)
        return record["arn"]
    call.group_of(arn)
    return parsed[0]


@operation("TagResource")
def tag_resource(call: Call, params: dict) -> None:
    arn = _tagged_arn(call, params["resourceArn"], write=True)
    if len(call.store.tags(arn)) + len(params["tags"]) > 200:
        raise ApiError(400, "TooManyTagsException", "A resource has at most 200 tags.")
    call.tag(arn, params["tags"])


@operation("UntagResource")
def untag_resource(call: Call, params: dict) -> None:
    call.store.untag(_tagged_arn(call, params["resourceArn"], write=True), params["tagKeys"])


@operation("ListTagsForResource")
def list_tags_for_resource(call: Call, params: dict) -> dict:
    tags = call.store.tags(_tagged_arn(call, params["resourceArn"], write=False))
    return {"tags": [{"tagKey": k, "tagValue": v} for k, v in tags.items()]}


# -- recipes, algorithms, feature transformations ------------------------------------------------------------

_EPOCH = 1_700_000_000.0  # recipes ship with the product: a fixed creation time keeps responses stable


def _recipe_class(arn: str, resource_type: str):
    from recsys.recipes import REGISTRY

    parsed = Arn.try_parse(arn)
    if parsed is None or parsed.resource_type != resource_type or parsed.name not in REGISTRY:
        raise not_found(f"{arn} names no {resource_type} here; ListRecipes lists them "
                        f"(arn:aws:personalize:::{resource_type}/<name>).")
    return REGISTRY[parsed.name]


def _description(cls) -> str:
    doc = (cls.__doc__ or cls.name).strip().splitlines()[0]
    if not cls.name.startswith("aws-"):
        doc += " (a recsys recipe beyond Amazon Personalize's.)"
    return doc


@operation("ListRecipes")
def list_recipes(call: Call, params: dict) -> dict:
    from recsys.recipes import REGISTRY

    if params.get("recipeProvider") not in (None, "SERVICE"):
        raise ValidationError("recipeProvider must be SERVICE.")
    recipes = [{"name": name, "recipeArn": str(Arn.recipe(name)), "status": "ACTIVE", "creationDateTime": _EPOCH,
                "lastUpdatedDateTime": _EPOCH} for name in sorted(REGISTRY)]
    return page(call, params, recipes, "recipes")


@operation("DescribeRecipe")
def describe_recipe(call: Call, params: dict) -> dict:
    cls = _recipe_class(params["recipeArn"], "recipe")
    return {"recipe": {
        "name": cls.name, "recipeArn": str(Arn.recipe(cls.name)),
        "algorithmArn": str(Arn("algorithm", cls.name, region="", account="")),
        "featureTransformationArn": str(Arn("feature-transformation", cls.name, region="", account="")),
        "status": "ACTIVE", "description": _description(cls), "recipeType": cls.recipe_type,
        "creationDateTime": _EPOCH, "lastUpdatedDateTime": _EPOCH}}


def _ranges(cls) -> dict:
    """The recipe's tunable parameters as Personalize's defaultHyperParameterRanges."""
    ints, floats, cats = [], [], []
    for name, info in (getattr(cls, "param_info", {}) or {}).items():
        if not info.hpo:
            continue
        low, high = info.range or (None, None)
        if info.kind == "int" and low is not None and high is not None:
            ints.append({"name": name, "minValue": int(low), "maxValue": int(high), "isTunable": True})
        elif info.kind == "float" and low is not None and high is not None:
            floats.append({"name": name, "minValue": float(low), "maxValue": float(high), "isTunable": True})
        elif info.choices:
            cats.append({"name": name, "values": [str(c) for c in info.choices], "isTunable": True})
        elif info.kind == "bool":
            cats.append({"name": name, "values": ["true", "false"], "isTunable": True})
    return {"integerHyperParameterRanges": ints, "continuousHyperParameterRanges": floats,
            "categoricalHyperParameterRanges": cats}


@operation("DescribeAlgorithm")
def describe_algorithm(call: Call, params: dict) -> dict:
    cls = _recipe_class(params["algorithmArn"], "algorithm")
    defaults = {name: str(info.default).lower() if isinstance(info.default, bool) else str(info.default)
                for name, info in (getattr(cls, "param_info", {}) or {}).items()}
    return {"algorithm": {
        "name": cls.name, "algorithmArn": str(Arn("algorithm", cls.name, region="", account="")),
        "algorithmImage": {"name": f"{cls.__module__}.{cls.__name__}"}, "defaultHyperParameters": defaults,
        "defaultHyperParameterRanges": _ranges(cls), "defaultResourceConfig": {}, "trainingInputMode": "File",
        "creationDateTime": _EPOCH, "lastUpdatedDateTime": _EPOCH}}


@operation("DescribeFeatureTransformation")
def describe_feature_transformation(call: Call, params: dict) -> dict:
    cls = _recipe_class(params["featureTransformationArn"], "feature-transformation")
    return {"featureTransformation": {
        "name": cls.name, "featureTransformationArn": str(Arn("feature-transformation", cls.name, region="",
                                                              account="")),
        "defaultParameters": {}, "status": "ACTIVE", "creationDateTime": _EPOCH, "lastUpdatedDateTime": _EPOCH}}


# -- resource kinds recsys does not have: their lists are empty and their ARNs name nothing ----------------------

def _empty_list(member: str):
    def handler(call: Call, params: dict) -> dict:
        return page(call, params, [], member)
    return handler


def _nothing(what: str, member: str):
    def handler(call: Call, params: dict) -> dict:
        raise not_found(f"No {what} with ARN {params.get(member)!r}: recsys has no {what}s.")
    return handler


for _op, _member in (("ListRecommenders", "recommenders"), ("ListMetricAttributions", "metricAttributions")):
    operation(_op)(_empty_list(_member))
for _op, _what, _member in (("DescribeRecommender", "recommender", "recommenderArn"),
                            ("DescribeMetricAttribution", "metric attribution", "metricAttributionArn")):
    operation(_op)(_nothing(_what, _member))
