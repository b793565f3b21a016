"""Typed resources: the `Arn` value type (the one place ARNs are formatted and parsed) and frozen dataclasses
for every resource the control plane serves, with Personalize's camelCase only at the API edge.

Example::

    arn = Arn.parse("arn:aws:personalize:eu-west-1:123456789012:campaign/main")
    arn.resource_type, arn.name                     # ("campaign", "main"): any region and account resolve
    str(arn.at("us-east-1", "000000000000"))        # the workspace's own spelling
    Arn.parse("arn:recsys:campaign/shop/main")      # the first releases' ARNs still parse (legacy=True)

    campaign = Campaign.from_record(store.find_resource(arn), store)
    campaign.solution_version_arn                   # snake_case inside the library
    campaign.to_api()                               # {"campaignArn": ..., "solutionVersionArn": ...} per botocore

ARNs are AWS-shaped, `arn:aws:personalize:<region>:<account>:<type>/<name>`: names are unique per workspace
and type, as in AWS. Two types carry more than a name, as AWS spells them: a solution version is
`solution/<solution>/<version id>` and a dataset `dataset/<dataset group>/<TYPE>`. Recipes, algorithms and
feature transformations have neither region nor account (`arn:aws:personalize:::recipe/<name>`). `to_api`
walks the botocore output shape of the resource, so a member Personalize adds in a newer model is filled as
soon as the dataclass has the matching snake_case field.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from recsys.exceptions import ValidationError

# Resource statuses, as Personalize names them.
CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
ACTIVE = "ACTIVE"
CREATE_FAILED = "CREATE FAILED"
CREATE_STOPPING = "CREATE STOPPING"
CREATE_STOPPED = "CREATE STOPPED"
STATUSES = (CREATE_PENDING, CREATE_IN_PROGRESS, ACTIVE, CREATE_FAILED, CREATE_STOPPING, CREATE_STOPPED)

# Personalize's names: 1-63 characters, a letter or digit first; unique per workspace and type.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
PARTITION = "aws"
SERVICE = "personalize"

# Internal resource types (the `type` column of the store) whose ARN path type differs.
SOLUTION_VERSION = "solution-version"
DATASET = "dataset"
_GLOBAL_TYPES = ("recipe", "algorithm", "feature-transformation")  # no region, no account

_AWS_ARN = re.compile(r"^arn:([a-z0-9-]+):personalize:([^:]*):([^:]*):([a-z][a-z-]*)/(.+)$", re.DOTALL)
_LEGACY_ARN = re.compile(r"^arn:recsys:([a-z][a-z-]*)/(.+)$", re.DOTALL)
_DATASET_TYPES = {"INTERACTIONS": "Interactions", "ITEMS": "Items", "USERS": "Users"}


@dataclass(frozen=True)
class Arn:
    """A parsed ARN: the internal resource type and name, plus the group where the ARN carries one.

    `group` is set for datasets (AWS puts the dataset group in their ARN) and for legacy
    `arn:recsys:<type>/<group>/<name>` ARNs; resources are otherwise found by type and name alone.
    """

    resource_type: str
    name: str
    group: str | None = None
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT
    partition: str = PARTITION
    legacy: bool = False

    # -- formatting ----------------------------------------------------------------------------------------

    def __str__(self) -> str:
        if self.legacy:
            if self.resource_type in _GLOBAL_TYPES:
                return f"arn:recsys:{self.resource_type}/{self.name}"
            path_type = "solution" if self.resource_type == SOLUTION_VERSION else self.resource_type
            return f"arn:recsys:{path_type}/{self.group}/{self.name}"
        if self.resource_type in _GLOBAL_TYPES:
            return f"arn:{self.partition}:{SERVICE}:::{self.resource_type}/{self.name}"
        prefix = f"arn:{self.partition}:{SERVICE}:{self.region}:{self.account}:"
        if self.resource_type == SOLUTION_VERSION:
            return f"{prefix}solution/{self.name}"
        if self.resource_type == DATASET:
            return f"{prefix}dataset/{self.group}/{self.name.upper()}"
        return f"{prefix}{self.resource_type}/{self.name}"

    def at(self, region: str, account: str) -> "Arn":
        """The same resource spelled with this workspace's region and account (AWS shape)."""
        return dataclasses.replace(self, region=region, account=account, partition=PARTITION, legacy=False)

    @classmethod
    def of(cls, resource_type: str, name: str, group: str | None = None, *, region: str = DEFAULT_REGION,
           account: str = DEFAULT_ACCOUNT) -> "Arn":
        """The AWS-shaped ARN of a stored resource (`group` matters for datasets only)."""
        return cls(resource_type, name, group if resource_type == DATASET else None, region, account)

    @classmethod
    def recipe(cls, name: str) -> "Arn":
        return cls("recipe", name, region="", account="")

    @classmethod
    def legacy_of(cls, resource_type: str, group: str, name: str) -> "Arn":
        """The first releases' ARN, `arn:recsys:<type>/<group>/<name>` (still resolvable)."""
        return cls(resource_type, name, group, region="", account="", legacy=True)

    # -- parsing -------------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: Any) -> "Arn":
        """Parse an AWS-shaped or legacy ARN; ValidationError says what an ARN looks like."""
        if not isinstance(text, str):
            raise ValidationError(f"An ARN must be a string, got {type(text).__name__}.")
        match = _AWS_ARN.match(text)
        if match:
            partition, region, account, path_type, rest = match.groups()
            return cls._from_path(path_type, rest, region=region, account=account, partition=partition, text=text)
        match = _LEGACY_ARN.match(text)
        if match:
            path_type, rest = match.groups()
            if path_type in _GLOBAL_TYPES:
                return cls(path_type, rest, region="", account="", legacy=True)
            group, _, name = rest.partition("/")
            if not group or not name:
                raise _bad_arn(text)
            if path_type == "solution" and "/" in name:
                path_type = SOLUTION_VERSION
            if path_type == DATASET:
                name = _dataset_type(name, text)
            return cls(path_type, name, group, region="", account="", legacy=True)
        raise _bad_arn(text)

    @classmethod
    def _from_path(cls, path_type: str, rest: str, *, region: str, account: str, partition: str,
                   text: str) -> "Arn":
        parts = rest.split("/")
        if not all(parts):
            raise _bad_arn(text)
        if path_type == "solution" and len(parts) == 2:
            return cls(SOLUTION_VERSION, rest, None, region, account, partition)
        if path_type == DATASET:
            if len(parts) != 2:
                raise _bad_arn(text)
            return cls(DATASET, _dataset_type(parts[1], text), parts[0], region, account, partition)
        if len(parts) != 1:
            raise _bad_arn(text)
        return cls(path_type, rest, None, region, account, partition)

    @classmethod
    def try_parse(cls, text: Any) -> "Arn | None":
        try:
            return cls.parse(text)
        except ValidationError:
            return None


def validate_name(name: Any, what: str = "name") -> str:
    """Check a resource name against Personalize's rule and return it."""
    if not isinstance(name, str) or not 1 <= len(name) <= 63 or not NAME_PATTERN.match(name):
        raise ValidationError(
            f"Invalid {what} {name!r}: use 1-63 characters, letters, digits, '-' and '_', "
            "starting with a letter or digit."
        )
    return name


def _dataset_type(text: str, arn: str) -> str:
    found = _DATASET_TYPES.get(text.upper())
    if found is None:
        raise ValidationError(f"{arn!r} names dataset type {text!r}; a dataset ARN ends in INTERACTIONS, ITEMS or "
                              "USERS.")
    return found


def _bad_arn(text: str) -> ValidationError:
    shown = text if len(text) <= 120 else text[:117] + "..."
    return ValidationError(
        f"{shown!r} is not a Personalize ARN: use arn:aws:personalize:<region>:<account>:<type>/<name> "
        "(e.g. arn:aws:personalize:us-east-1:000000000000:campaign/main)."
    )


# -- key styles ------------------------------------------------------------------------------------------------

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Members whose snake_case field has another name inside the library.
_EDGE_NAMES = {"creationDateTime": "created_at", "lastUpdatedDateTime": "updated_at", "jobName": "name"}


@lru_cache(maxsize=None)
def camel_to_snake(name: str) -> str:
    """`datasetGroupArn` -> `dataset_group_arn`, `performHPO` -> `perform_hpo`, `minProvisionedTPS` -> ..."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


@lru_cache(maxsize=None)
def _shape(shape_name: str):
    from recsys.api.models import service_model

    return service_model("personalize").shape_for(shape_name)


def _timestamp(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, kw_only=True)
class _Resource:
    """What every typed resource shares: its ARN, name, status and times, and how it is spelled at the API edge."""

    API_SHAPE: ClassVar[str]        # botocore output shape of Describe<Type> (e.g. "Campaign")
    SUMMARY_SHAPE: ClassVar[str]    # botocore shape of its List<Type>s entries
    ARN_MEMBER: ClassVar[str]       # the member holding the resource's own ARN

    arn: str
    name: str
    group: str | None = None        # the dataset group it belongs to (not an API member: AWS puts it in ARNs)
    status: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    failure_reason: str | None = None

    def _edge_value(self, member: str) -> Any:
        if member == self.ARN_MEMBER:
            return getattr(self, "arn")
        return getattr(self, _EDGE_NAMES.get(member) or camel_to_snake(member), None)

    def _shaped(self, shape_name: str) -> dict:
        shape = _shape(shape_name)
        out = {}
        for member, member_shape in shape.members.items():
            value = self._edge_value(member)
            if value is None or value == {} and member_shape.type_name == "structure":
                continue
            if member_shape.type_name == "timestamp":
                value = _timestamp(value)
            elif member_shape.type_name == "string" and not isinstance(value, str):
                value = str(value)
            out[member] = value
        return out

    def to_api(self) -> dict:
        """The Describe* body member, e.g. DescribeCampaign's `campaign`, with only members the model knows."""
        return self._shaped(self.API_SHAPE)

    def to_summary(self) -> dict:
        """One entry of the List* response."""
        return self._shaped(self.SUMMARY_SHAPE)

    @classmethod
    def from_record(cls, record: dict, store=None) -> "_Resource":
        """The typed resource of a store record whose body keys are the field names (types with derived members
        override this)."""
        return cls(**_common(record), **_stored_fields(cls, record))


def _common(record: dict) -> dict:
    return {
        "arn": record["arn"],
        "name": record["name"],
        "group": record.get("group"),
        "status": record.get("status"),
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "failure_reason": record.get("failure_reason"),
    }


def _group_arn(store, group: str) -> str:
    return store.arn("dataset-group", group, group)


@dataclass(frozen=True, kw_only=True)
class DatasetGroup(_Resource):
    API_SHAPE: ClassVar[str] = "DatasetGroup"
    SUMMARY_SHAPE: ClassVar[str] = "DatasetGroupSummary"
    ARN_MEMBER: ClassVar[str] = "datasetGroupArn"

    status: str | None = "ACTIVE"
    domain: str | None = None
    role_arn: str | None = None
    kms_key_arn: str | None = None

    @classmethod
    def from_record(cls, row: dict, store=None) -> "DatasetGroup":
        return cls(arn=row["arn"], name=row["name"], created_at=row.get("created_at"),
                   updated_at=row.get("updated_at") or row.get("created_at"), domain=row.get("domain"),
                   role_arn=row.get("role_arn"), kms_key_arn=row.get("kms_key_arn"))


@dataclass(frozen=True, kw_only=True)
class DatasetSchema(_Resource):
    API_SHAPE: ClassVar[str] = "DatasetSchema"
    SUMMARY_SHAPE: ClassVar[str] = "DatasetSchemaSummary"
    ARN_MEMBER: ClassVar[str] = "schemaArn"

    schema: str
    domain: str | None = None

    @classmethod
    def from_record(cls, record: dict, store=None) -> "DatasetSchema":
        return cls(**_common(record), schema=record["schema"], domain=record.get("domain"))


@dataclass(frozen=True, kw_only=True)
class Dataset(_Resource):
    API_SHAPE: ClassVar[str] = "Dataset"
    SUMMARY_SHAPE: ClassVar[str] = "DatasetSummary"
    ARN_MEMBER: ClassVar[str] = "datasetArn"

    dataset_type: str
    dataset_group_arn: str
    schema_arn: str | None = None
    tracking_id: str | None = None
    latest_dataset_update: dict | None = None

    @classmethod
    def from_record(cls, record: dict, store) -> "Dataset":
        common = _common(record)
        common["name"] = record.get("api_name") or f"{record['group']}-{record['name'].lower()}"
        return cls(**common, dataset_type=record["name"].upper(), dataset_group_arn=_group_arn(store, record["group"]),
                   schema_arn=record.get("schemaArn") or record.get("schema_arn"),
                   tracking_id=record.get("tracking_id"))


@dataclass(frozen=True, kw_only=True)
class ImportJob(_Resource):
    API_SHAPE: ClassVar[str] = "DatasetImportJob"
    SUMMARY_SHAPE: ClassVar[str] = "DatasetImportJobSummary"
    ARN_MEMBER: ClassVar[str] = "datasetImportJobArn"

    dataset_arn: str | None = None
    data_source: dict | None = None
    role_arn: str | None = None
    import_mode: str | None = None
    publish_attribution_metrics_to_s3: bool | None = None
    rows_accepted: int | None = None
    rows_rejected: int | None = None

    @classmethod
    def from_record(cls, record: dict, store) -> "ImportJob":
        dataset_type = record.get("dataset_type")
        location = record.get("data_location") or record.get("path")
        return cls(**_common(record),
                   dataset_arn=store.arn(DATASET, record["group"], dataset_type) if dataset_type else None,
                   data_source={"dataLocation": location} if location else None,
                   role_arn=record.get("role_arn"), import_mode=record.get("mode"),
                   publish_attribution_metrics_to_s3=record.get("publish_attribution_metrics_to_s3"),
                   rows_accepted=record.get("rows_accepted"), rows_rejected=record.get("rows_rejected"))


@dataclass(frozen=True, kw_only=True)
class EventTracker(_Resource):
    API_SHAPE: ClassVar[str] = "EventTracker"
    SUMMARY_SHAPE: ClassVar[str] = "EventTrackerSummary"
    ARN_MEMBER: ClassVar[str] = "eventTrackerArn"

    tracking_id: str
    dataset_group_arn: str
    account_id: str | None = None

    @classmethod
    def from_record(cls, record: dict, store) -> "EventTracker":
        return cls(**_common(record), tracking_id=record["trackingId"],
                   dataset_group_arn=_group_arn(store, record["group"]), account_id=store.account)


def solution_config(record: dict) -> dict:
    """A solution's Personalize `solutionConfig`: the one it was created with, else one built from its params."""
    if record.get("solution_config"):
        return dict(record["solution_config"])
    config: dict = {}
    if record.get("params"):
        config["algorithmHyperParameters"] = {k: str(v) for k, v in record["params"].items()}
    if record.get("event_value_threshold") is not None:
        config["eventValueThreshold"] = str(record["event_value_threshold"])
    if record.get("hpo_config"):
        config["hpoConfig"] = record["hpo_config"]
    return config


def _stored_fields(cls, record: dict) -> dict:
    """The members of `record` (a store dict) that are fields of `cls` beyond the common ones: the training
    code writes its bodies in snake_case, so their keys are the field names."""
    common = {f.name for f in dataclasses.fields(_Resource)}
    return {f.name: record[f.name] for f in dataclasses.fields(cls) if f.name in record and f.name not in common}


@dataclass(frozen=True, kw_only=True)
class Solution(_Resource):
    """A recipe with its parameters and event filtering, in one dataset group."""

    API_SHAPE: ClassVar[str] = "Solution"
    SUMMARY_SHAPE: ClassVar[str] = "SolutionSummary"
    ARN_MEMBER: ClassVar[str] = "solutionArn"

    recipe: str | None = None
    recipe_type: str | None = None
    params: dict = field(default_factory=dict)
    event_type: str | None = None
    event_value_threshold: float | None = None
    events_config: list | None = None
    perform_hpo: bool = False
    hpo_config: dict | None = None
    perform_auto_ml: bool = False
    automl: dict | None = None               # the AutoML comparison that picked the recipe
    solution_config: dict = field(default_factory=dict)   # Personalize's solutionConfig (given or derived)
    dataset_group_arn: str | None = None
    latest_solution_version: dict | None = None
    perform_incremental_update: bool | None = None

    @property
    def recipe_arn(self) -> str | None:
        return str(Arn.recipe(self.recipe)) if self.recipe else None

    @property
    def auto_ml_result(self) -> dict | None:
        return {"bestRecipeArn": self.recipe_arn} if self.automl and self.recipe else None

    @classmethod
    def from_record(cls, record: dict, store=None, latest_version: "SolutionVersion | None" = None) -> "Solution":
        stored = _stored_fields(cls, record)
        stored.update(params=dict(record.get("params") or {}), perform_hpo=bool(record.get("perform_hpo")),
                      perform_auto_ml=bool(record.get("perform_auto_ml")), solution_config=solution_config(record),
                      dataset_group_arn=_group_arn(store, record["group"]) if store is not None
                      else record.get("dataset_group_arn"),
                      latest_solution_version=latest_version.to_summary() if latest_version is not None else None)
        return cls(**_common(record), **stored)


@dataclass(frozen=True, kw_only=True)
class SolutionVersion(_Resource):
    """One training of a solution: its progress while it runs, then its metrics, model files and data snapshot.
    Named `<solution>/<version_id>`."""

    API_SHAPE: ClassVar[str] = "SolutionVersion"
    SUMMARY_SHAPE: ClassVar[str] = "SolutionVersionSummary"
    ARN_MEMBER: ClassVar[str] = "solutionVersionArn"

    solution: str
    solution_arn: str | None = None
    version_id: str | None = None
    training_mode: str = "FULL"
    base_version_arn: str | None = None     # the FULL version an UPDATE started from
    recipe: str | None = None
    recipe_type: str | None = None
    progress: dict | None = None            # {stage, percent, eta_seconds} while training
    started_at: float | None = None
    finished_at: float | None = None
    training_seconds: float | None = None
    peak_memory_mb: float | None = None
    memory_delta_mb: float | None = None
    artifact: str | None = None             # model files, relative to the workspace's artifacts/
    metrics: dict = field(default_factory=dict)
    metrics_protocol: str | None = None
    metrics_from: str | None = None         # an UPDATE keeps its base version's metrics
    evaluation_error: str | None = None
    hpo: dict | None = None                 # {best_params, trials, ...} when the solution tunes
    auto_tune: dict | None = None           # how the recipe chose its own settings (Recipe.tuning_report)
    promoted_to: str | None = None          # the solution training a tuning run's best parameters (the Tune page)
    params: dict | None = None              # the parameters the model was fitted with
    event_weights: dict | None = None
    data: dict | None = None                # snapshot of the training data (counts, max_seq, ...)
    new_items: int | None = None
    engine: dict | None = None              # {"name": "spark", "master", ...} for a Spark run; None: local
    # Personalize's view, from the solution (filled when the solution is given to from_record)
    dataset_group_arn: str | None = None
    event_type: str | None = None
    perform_hpo: bool = False
    perform_auto_ml: bool = False
    solution_config: dict = field(default_factory=dict)
    training_type: str = "MANUAL"

    @property
    def recipe_arn(self) -> str | None:
        return str(Arn.recipe(self.recipe)) if self.recipe else None

    @property
    def training_hours(self) -> float | None:
        return round(self.training_seconds / 3600, 6) if self.training_seconds is not None else None

    @property
    def tuned_hpo_params(self) -> dict | None:
        best = (self.hpo or {}).get("best_params")
        return {"algorithmHyperParameters": {k: str(v) for k, v in best.items()}} if best else None

    @classmethod
    def from_record(cls, record: dict, store=None, solution: "dict | Solution | None" = None) -> "SolutionVersion":
        stored = _stored_fields(cls, record)
        stored["metrics"] = dict(record.get("metrics") or {})
        if store is not None:
            stored["solution_arn"] = store.arn("solution", record["group"], record["solution"])
            stored["dataset_group_arn"] = _group_arn(store, record["group"])
        if isinstance(solution, Solution):
            stored.update(event_type=solution.event_type, perform_hpo=solution.perform_hpo,
                          perform_auto_ml=solution.perform_auto_ml, solution_config=solution.solution_config)
        elif solution:
            stored.update(event_type=solution.get("event_type"), perform_hpo=bool(solution.get("perform_hpo")),
                          perform_auto_ml=bool(solution.get("perform_auto_ml")),
                          solution_config=solution_config(solution))
        return cls(**_common(record), **stored)


@dataclass(frozen=True, kw_only=True)
class Campaign(_Resource):
    """A deployed solution version. `solution_version_arn` is what was asked for (a version ARN, or
    `<solution arn>/$LATEST`); `deployed_solution_version_arn` the version it serves."""

    API_SHAPE: ClassVar[str] = "Campaign"
    SUMMARY_SHAPE: ClassVar[str] = "CampaignSummary"
    ARN_MEMBER: ClassVar[str] = "campaignArn"

    solution_version_arn: str
    solution_arn: str | None = None
    min_provisioned_tps: int = 1
    campaign_config: dict = field(default_factory=dict)
    latest_campaign_update: dict | None = None
    deployed_solution_version_arn: str | None = None
    recipe: str | None = None
    recipe_type: str | None = None
    problem: str | None = None      # why the version to serve cannot be found now (describe_campaign)

    @classmethod
    def from_record(cls, record: dict, store=None) -> "Campaign":
        update = record.get("latestCampaignUpdate")
        if update:
            update = {**update, "creationDateTime": update.get("creationDateTime", update.get("lastUpdatedDateTime"))}
        return cls(**_common(record), solution_version_arn=record.get("solutionVersionArn"),
                   solution_arn=record.get("solutionArn"),
                   min_provisioned_tps=int(record.get("minProvisionedTPS") or 1),
                   campaign_config=dict(record.get("campaignConfig") or {}), latest_campaign_update=update,
                   deployed_solution_version_arn=record.get("deployedSolutionVersionArn"),
                   recipe=record.get("recipe"), recipe_type=record.get("recipe_type"))

    @classmethod
    def of_version(cls, version: dict) -> "Campaign":
        """A solution version served directly (beyond Personalize: no campaign to deploy), with the default
        config."""
        return cls(arn=version["arn"], name=version["name"], group=version["group"], status=version["status"],
                   solution_version_arn=version["arn"], deployed_solution_version_arn=version["arn"],
                   recipe=version.get("recipe"), recipe_type=version.get("recipe_type"))


@dataclass(frozen=True, kw_only=True)
class Filter(_Resource):
    API_SHAPE: ClassVar[str] = "Filter"
    SUMMARY_SHAPE: ClassVar[str] = "FilterSummary"
    ARN_MEMBER: ClassVar[str] = "filterArn"

    filter_expression: str
    dataset_group_arn: str | None = None

    @classmethod
    def from_record(cls, record: dict, store=None) -> "Filter":
        group_arn = _group_arn(store, record["group"]) if store is not None else record.get("datasetGroupArn")
        return cls(**_common(record), filter_expression=record["filterExpression"], dataset_group_arn=group_arn)


@dataclass(frozen=True, kw_only=True)
class BatchJob(_Resource):
    """A batch inference job or a batch segment job (`kind`): their records differ only in a few members."""

    API_SHAPE: ClassVar[str] = "BatchInferenceJob"
    SUMMARY_SHAPE: ClassVar[str] = "BatchInferenceJobSummary"
    ARN_MEMBER: ClassVar[str] = "batchInferenceJobArn"
    SEGMENT: ClassVar[str] = "batch-segment-job"

    kind: str
    solution_version_arn: str | None = None
    num_results: int | None = None
    filter_arn: str | None = None
    recipe_type: str | None = None
    input_path: str | None = None           # the local files the library read and wrote
    output_path: str | None = None
    csv_path: str | None = None
    csv_rows: int | None = None
    item_columns: list | None = None
    exclude_seen: bool | None = None
    job_config: dict | None = None
    lines_total: int | None = None
    lines_done: int | None = None
    lines_failed: int | None = None
    resumed_from: int | None = None
    seconds: float | None = None
    lines_per_second: float | None = None
    progress: dict | None = None
    engine: dict | None = None              # {"name": "spark", "master"} for a job run on Spark; None: local
    # Personalize's view (jobs created through the control plane)
    job_input: dict | None = None
    job_output: dict | None = None
    role_arn: str | None = None
    batch_inference_job_config: dict | None = None
    output_location: str | None = None      # where the control plane published the output

    @property
    def batch_inference_job_mode(self) -> str | None:
        return "BATCH_INFERENCE" if self.kind != self.SEGMENT else None

    def _names(self) -> tuple[str, str, str]:
        if self.kind == self.SEGMENT:
            return "BatchSegmentJob", "BatchSegmentJobSummary", "batchSegmentJobArn"
        return "BatchInferenceJob", "BatchInferenceJobSummary", "batchInferenceJobArn"

    def _edge_value(self, member: str) -> Any:
        if member == self._names()[2]:
            return self.arn
        if member == "jobInput":
            return self.job_input or ({"s3DataSource": {"path": self.input_path}} if self.input_path else None)
        if member == "jobOutput":
            return self.job_output or ({"s3DataDestination": {"path": self.output_path}} if self.output_path else None)
        return super()._edge_value(member)

    def to_api(self) -> dict:
        return self._shaped(self._names()[0])

    def to_summary(self) -> dict:
        return self._shaped(self._names()[1])

    @classmethod
    def from_record(cls, record: dict, store=None) -> "BatchJob":
        return cls(**_common(record), kind=record["type"], **_stored_fields(cls, record))


@dataclass(frozen=True, kw_only=True)
class ExportJob(_Resource):
    """A dataset export job: a dataset's rows written as CSV to a location."""

    API_SHAPE: ClassVar[str] = "DatasetExportJob"
    SUMMARY_SHAPE: ClassVar[str] = "DatasetExportJobSummary"
    ARN_MEMBER: ClassVar[str] = "datasetExportJobArn"

    dataset_arn: str | None = None
    ingestion_mode: str = "ALL"
    role_arn: str | None = None
    job_output: dict | None = None
    rows: int | None = None
    output_location: str | None = None


# Data deletion jobs have their own statuses in Personalize.
_DELETION_STATUS = {CREATE_PENDING: "PENDING", CREATE_IN_PROGRESS: "IN_PROGRESS", ACTIVE: "COMPLETED",
                    CREATE_FAILED: "FAILED"}


@dataclass(frozen=True, kw_only=True)
class DeletionJob(_Resource):
    """A data deletion job: the interactions and Users rows of the users listed at a location, deleted."""

    API_SHAPE: ClassVar[str] = "DataDeletionJob"
    SUMMARY_SHAPE: ClassVar[str] = "DataDeletionJobSummary"
    ARN_MEMBER: ClassVar[str] = "dataDeletionJobArn"

    dataset_group_arn: str | None = None
    data_source: dict | None = None
    role_arn: str | None = None
    num_deleted: int | None = None

    def _edge_value(self, member: str) -> Any:
        if member == "status":
            return _DELETION_STATUS.get(self.status, self.status)
        return super()._edge_value(member)


TYPES: dict[str, type] = {
    "schema": DatasetSchema, "dataset": Dataset, "dataset-import-job": ImportJob, "event-tracker": EventTracker,
    "solution": Solution, "solution-version": SolutionVersion, "campaign": Campaign, "filter": Filter,
    "batch-inference-job": BatchJob, "batch-segment-job": BatchJob, "dataset-export-job": ExportJob,
    "data-deletion-job": DeletionJob,
}


def typed(record: dict, store) -> _Resource:
    """The typed resource of a store record (`Store.find_resource`'s dict); ValidationError for other types."""
    cls = TYPES.get(record.get("type"))
    if cls is None:
        raise ValidationError(f"A {record.get('type')} has no typed resource; typed ones: {', '.join(TYPES)}.")
    return cls.from_record(record, store)
