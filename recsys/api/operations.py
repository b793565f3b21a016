"""The control plane's operation registry: handlers register with `@operation`, get a `Call` (the authorised
request) and page their lists with `page`. `NOT_SUPPORTED` names the model's operations recsys does not implement.

Example::

    @operation("DescribeFilter")
    def describe_filter(call: Call, params: dict) -> dict:
        ...
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Callable

from recsys.api.access import ArnResolver, require_admin, require_group
from recsys.api.errors import not_found
from recsys.api.jobs import BackgroundJobs
from recsys.api.keys import may_access
from recsys.exceptions import ApiError, ValidationError

SERVICE = "personalize"
DEFAULT_MAX_RESULTS = 100

Handler = Callable[["Call", dict], "dict | None"]
HANDLERS: dict[str, Handler] = {}

# Operations of the model that recsys does not implement, and why. They answer 400 InvalidInputException.
NOT_SUPPORTED = {
    "CreateRecommender": "domain recommenders are not implemented; create a solution, a solution version and a "
                         "campaign (the recipes are the same)",
    "UpdateRecommender": "domain recommenders are not implemented (ListRecommenders is always empty)",
    "StartRecommender": "domain recommenders are not implemented (ListRecommenders is always empty)",
    "StopRecommender": "domain recommenders are not implemented (ListRecommenders is always empty)",
    "DeleteRecommender": "domain recommenders are not implemented (ListRecommenders is always empty)",
    "CreateMetricAttribution": "metric attributions (CloudWatch/S3 reporting of event metrics) are not implemented",
    "UpdateMetricAttribution": "metric attributions are not implemented (ListMetricAttributions is always empty)",
    "DeleteMetricAttribution": "metric attributions are not implemented (ListMetricAttributions is always empty)",
    "ListMetricAttributionMetrics": "metric attributions are not implemented",
    "UpdateDataset": "changing a dataset's schema is not implemented; delete the dataset and create it with the "
                     "new schema, then import again",
    "UpdateSolution": "automatic training (performAutoTraining, autoTrainingConfig) is not implemented; create "
                      "solution versions when you want to retrain",
}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register the handler of control-plane operation `name` (a name of botocore's `personalize` model; the
    server answers a name the model lacks as unknown, and a test checks every registered name)."""

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


@dataclass
class Call:
    """One authorised request: the workspace, the caller's key, and authorisation helpers for handlers."""

    store: Any
    key: dict
    resolver: ArnResolver
    jobs: BackgroundJobs
    operation: str

    def group_of(self, arn: str, what: str = "resource") -> str:
        """The dataset group of the resource `arn`: 404 when it does not exist, 403 outside the key's groups."""
        return self.resolver.authorize(self.key, self.operation, [arn], what)

    def record(self, arn: str, resource_type: str, what: str) -> dict:
        """The stored record of the `resource_type` that `arn` names (or the queued record of a job not stored
        yet): 404 when there is none, 403 outside the key's groups, 400 when `arn` names another type."""
        pending = self.jobs.pending(self.canonical(arn))  # before the store: a job leaves the queue once stored
        if pending is not None and pending["type"] == resource_type:
            require_group(self.key, self.operation, pending["group"], arn)
            return pending
        self.group_of(arn, what)
        record = self.store.find_resource(self.canonical(arn))
        if record["type"] != resource_type:
            raise ValidationError(f"{arn} is a {record['type']}, not a {what}.")
        return record

    def canonical(self, arn: str) -> str:
        return self.resolver.canonical(arn)

    def dataset_group(self, arn: str) -> str:
        """The name of the dataset group `arn`; 404 when there is none, 403 outside the key's groups."""
        parsed = self.resolver.parsed(arn)
        if parsed is None or parsed[1].resource_type != "dataset-group":
            raise ApiError(400, "InvalidInputException", f"{arn!r} is not a dataset group ARN "
                           "(arn:aws:personalize:<region>:<account>:dataset-group/<name>).")
        group = self.resolver.group_of(arn)
        if group is None:
            raise not_found(f"Dataset group {arn} does not exist; create it with CreateDatasetGroup.")
        require_group(self.key, self.operation, group, arn)
        return group

    def admin(self, arn: str) -> None:
        require_admin(self.key, self.operation, arn)

    def location(self, location: str) -> str:
        """`location` if this key may use it: s3:// for every key; file:// and local paths, which reach the
        server's own disk, only for admin keys (the workspace's owner)."""
        from recsys.locations import is_s3

        if not is_s3(location) and not self.key.get("admin"):
            raise ApiError(400, "AccessDeniedException",
                           f"User: {self.key['accessKeyId']} is not authorized to use data location {location!r}: "
                           "file:// URLs and local paths reach the server's disk and need an admin key; use "
                           "s3://bucket/key.")
        return location

    def may(self, group: str) -> bool:
        return may_access(self.key, group)

    def reachable(self, resource_type: str, group: str | None = None) -> list[dict]:
        """The stored records of `resource_type` (in `group`, or in every group) that this call's key may see."""
        return [r for r in self.store.list_resources(resource_type, group) if self.may(r["group"])]

    def tag(self, arn: str, tags: list[dict] | None) -> None:
        if tags:
            self.store.tag(arn, {t["tagKey"]: t["tagValue"] for t in tags})


# -- pagination -------------------------------------------------------------------------------------------------


def _token(operation_name: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([operation_name, offset]).encode()).decode()


def _offset(operation_name: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        name, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
        if name == operation_name and isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, TypeError, binascii.Error):
        pass
    raise ApiError(400, "InvalidNextTokenException", f"The nextToken is not one {operation_name} returned; "
                   "start again without nextToken.")


def page(call: Call, params: dict, items: list, member: str) -> dict:
    """One page of `items` as `{member: [...], nextToken?}`: maxResults (1-100, default 100) and nextToken as
    botocore's paginators expect."""
    offset = _offset(call.operation, params.get("nextToken"))
    size = params.get("maxResults") or DEFAULT_MAX_RESULTS
    out: dict = {member: items[offset:offset + size]}
    if offset + size < len(items):
        out["nextToken"] = _token(call.operation, offset + size)
    return out


def list_in_groups(call: Call, params: dict, resource_type: str, typed, member: str) -> dict:
    """A List* answer for a resource kind that lives in dataset groups: those of `datasetGroupArn` when given,
    else of every group the key reaches; `typed` turns a record into its typed resource."""
    group = call.dataset_group(params["datasetGroupArn"]) if params.get("datasetGroupArn") else None
    return page(call, params, [typed(r).to_summary() for r in call.reachable(resource_type, group)], member)
