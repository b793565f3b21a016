"""The control plane: botocore's `personalize` service (JSON 1.1, `X-Amz-Target: AmazonPersonalize.<Operation>`,
SigV4) answered by the same library functions the CLI and the workbench call.

Example::

    personalize = boto3.client("personalize", endpoint_url="http://127.0.0.1:8080", ...)
    arn = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"]   # "ACTIVE"

Every request: body read with the size limit -> SigV4 -> operation from the target header -> validation against
the operation's input shape in botocore's model (lengths, patterns, no lone surrogates) -> authorisation (admin
key for dataset groups and schemas; otherwise the resource's dataset group must be one of the key's) -> the
handler registered with `@operation` (in `control_data` and `control_models`). Errors carry `__type` in the
JSON body, as AWS's JSON protocol does, so botocore and the AWS CLI see the exception's name. Operations of the
model that recsys does not implement answer 400 naming the operation and why; none answers 404.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from recsys.api.access import ArnResolver, require_admin, require_group
from recsys.api.errors import ApiError, api_error_for, not_found
from recsys.api.jobs import BackgroundJobs
from recsys.api.keys import may_access
from recsys.api.models import InvalidInput, Operation, service_model, validate_request
from recsys.api.sigv4 import AuthError

log = logging.getLogger("recsys.api")

SERVICE = "personalize"
TARGET_PREFIX = "AmazonPersonalize."
CONTENT_TYPE = "application/x-amz-json-1.1"
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
    "CreateDataDeletionJob": "data deletion jobs are not implemented; delete the dataset or re-import it FULL",
    "CreateDatasetExportJob": "dataset export jobs are not implemented; read the data with recsys.datasets "
                              "(read_interactions, read_items, read_users) or the workbench's downloads",
    "UpdateDataset": "changing a dataset's schema is not implemented; delete the dataset and create it with the "
                     "new schema, then import again",
    "UpdateSolution": "automatic training (performAutoTraining, autoTrainingConfig) is not implemented; create "
                      "solution versions when you want to retrain",
}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register the handler of control-plane operation `name` (a name of botocore's `personalize` model)."""

    def register(fn: Handler) -> Handler:
        if name not in service_model(SERVICE).operation_names:
            raise ValueError(f"{name} is not an operation of botocore's personalize model")
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


# -- the endpoint ------------------------------------------------------------------------------------------------


class ControlPlane:
    """The `POST /` route: dispatch on X-Amz-Target, sharing the runtime API's body limit, SigV4 and metrics."""

    def __init__(self, api):
        from recsys.api import control_data, control_models  # noqa: F401 - they register their operations

        self.api = api
        self.jobs = BackgroundJobs()
        self.model = service_model(SERVICE)
        self._operations: dict[str, Operation] = {}
        self._errors: dict[str, frozenset[str]] = {}
        for name in self.model.operation_names:
            op_model = self.model.operation_model(name)
            self._operations[name] = Operation(SERVICE, name, "POST", "/", op_model)
            self._errors[name] = frozenset(shape.name for shape in op_model.error_shapes)

    async def endpoint(self, request: Request) -> Response:
        start = time.perf_counter()
        request_id = str(uuid.uuid4())
        target = request.headers.get("x-amz-target", "")
        name = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else None
        try:
            body = await self.api._read_body(request)
        except ApiError as exc:
            outcome = self._error(exc)
        else:
            outcome = await anyio.to_thread.run_sync(self._process, name, target, request, body,
                                                     limiter=self.api._limiter)
        return self.api._finish(request, name or "Unknown", outcome, start, request_id)

    def _process(self, name: str | None, target: str, request: Request, body: bytes):
        from recsys.api.app import _dumps, _Outcome

        key_id = None
        try:
            key = self.api._authenticate(request, body)
            key_id = key["accessKeyId"]
            op = self._operation(name, target)
            params = validate_request(op, self._decode(body))
            call = Call(self.api.store, key, self.api.resolver, self.jobs, op.name)
            result = HANDLERS[op.name](call, params)
            outcome = _Outcome(200, _dumps(result or {}), content_type=CONTENT_TYPE)
        except AuthError as exc:
            outcome = self._error(ApiError(exc.status_code, exc.code, exc.message))
        except InvalidInput as exc:
            outcome = self._error(ApiError(400, "InvalidInputException", str(exc)))
        except Exception as exc:
            error = api_error_for(exc, self._errors.get(name or "", frozenset()))
            if error is None:
                log.exception("Unexpected error in %s", name)
                error = ApiError(500, "InternalFailure", "The server hit an unexpected error; see the server log.")
            outcome = self._error(error)
        outcome.access_key_id = key_id
        return outcome

    def _operation(self, name: str | None, target: str) -> Operation:
        if name is None:
            raise ApiError(400, "UnknownOperationException",
                           f"X-Amz-Target {target!r} names no operation: use AmazonPersonalize.<Operation>, as "
                           "botocore's personalize client does.")
        if name not in self._operations:
            raise ApiError(400, "UnknownOperationException",
                           f"{name} is not an operation of Amazon Personalize (X-Amz-Target {target!r}).")
        if name in NOT_SUPPORTED or name not in HANDLERS:
            reason = NOT_SUPPORTED.get(name, "not implemented yet")
            raise ApiError(400, "InvalidInputException", f"{name} is not supported by recsys: {reason}.")
        return self._operations[name]

    @staticmethod
    def _decode(body: bytes) -> Any:
        from recsys.api.app import _DECODER

        if not body.strip():
            return {}
        try:
            return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "SerializationException", f"The request body is not valid JSON: {str(exc)[:200]}") \
                from None

    @staticmethod
    def _error(exc: ApiError):
        from recsys.api.app import _dumps, _Outcome

        # AWS's JSON protocol answers client errors with 400 and names the exception in `__type`.
        status = exc.status if exc.status in (403, 500) or exc.status >= 500 else 400
        if exc.code == "AccessDeniedException":
            status = 400
        return _Outcome(status, _dumps({"__type": exc.code, "message": exc.message}), content_type=CONTENT_TYPE,
                        error_code=exc.code, headers={"x-amzn-ErrorType": exc.code})
