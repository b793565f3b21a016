"""The control plane: botocore's `personalize` service (JSON 1.1, `X-Amz-Target: AmazonPersonalize.<Operation>`,
SigV4) answered by the same library functions the CLI and the workbench call.

Example::

    personalize = boto3.client("personalize", endpoint_url="http://127.0.0.1:8080", ...)
    arn = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"]   # "ACTIVE"

Every request: body read with the size limit -> SigV4 -> operation from the target header -> validation against
the operation's input shape in botocore's model (lengths, patterns, no lone surrogates) -> authorisation (admin
key for dataset groups and schemas; otherwise the resource's dataset group must be one of the key's) -> the
handler registered with `operations.operation` (in `control_data` and `control_models`). Errors carry `__type` in the
JSON body, as AWS's JSON protocol does, so botocore and the AWS CLI see the exception's name. Operations of the
model that recsys does not implement answer 400 naming the operation and why; none answers 404.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from recsys.api import control_data, control_jobs, control_models  # noqa: F401 - importing registers operations
from recsys.api.errors import api_error_for
from recsys.api.jobs import BackgroundJobs
from recsys.api.models import Operation, service_model, validate_request
from recsys.api.operations import HANDLERS, NOT_SUPPORTED, SERVICE, Call
from recsys.api.wire import DECODER, Outcome, dumps
from recsys.exceptions import ApiError, AuthError, InvalidInput

log = logging.getLogger("recsys.api")

TARGET_PREFIX = "AmazonPersonalize."
CONTENT_TYPE = "application/x-amz-json-1.1"

# -- the endpoint ------------------------------------------------------------------------------------------------


class ControlPlane:
    """The `POST /` route: dispatch on X-Amz-Target, sharing the runtime API's body limit, SigV4 and metrics."""

    def __init__(self, api):
        self.api = api
        self.jobs = BackgroundJobs()
        self._operations: dict[str, Operation] | None = None  # read from botocore at the first control call
        self._errors: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def operations(self) -> dict[str, Operation]:
        """The model's operations by name (loaded once: a server that only serves recommendations never pays)."""
        with self._lock:
            if self._operations is None:
                model = service_model(SERVICE)
                operations = {}
                for name in model.operation_names:
                    op_model = model.operation_model(name)
                    operations[name] = Operation(SERVICE, name, "POST", "/", op_model)
                    self._errors[name] = frozenset(shape.name for shape in op_model.error_shapes)
                self._operations = operations
            return self._operations

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
        key_id = None
        try:
            key = self.api._authenticate(request, body)
            key_id = key["accessKeyId"]
            op = self._operation(name, target)
            params = validate_request(op, self._decode(body))
            call = Call(self.api.store, key, self.api.resolver, self.jobs, op.name)
            result = HANDLERS[op.name](call, params)
            outcome = Outcome(200, dumps(result or {}), content_type=CONTENT_TYPE)
        except AuthError as exc:
            outcome = self._error(ApiError(exc.status_code, exc.code, exc.message))
        except InvalidInput as exc:
            outcome = self._error(ApiError(400, "InvalidInputException", str(exc)))
        except Exception as exc:
            error = api_error_for(exc, self._errors.get(name or "", frozenset()), self.api.store.db_path)
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
        operations = self.operations()
        if name not in operations:
            raise ApiError(400, "UnknownOperationException",
                           f"{name} is not an operation of Amazon Personalize (X-Amz-Target {target!r}).")
        if name in NOT_SUPPORTED or name not in HANDLERS:
            reason = NOT_SUPPORTED.get(name, "not implemented yet")
            raise ApiError(400, "InvalidInputException", f"{name} is not supported by recsys: {reason}.")
        return operations[name]

    @staticmethod
    def _decode(body: bytes) -> Any:
        if not body.strip():
            return {}
        try:
            return DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "SerializationException", f"The request body is not valid JSON: {str(exc)[:200]}") \
                from None

    @staticmethod
    def _error(exc: ApiError) -> Outcome:
        # AWS's JSON protocol answers client errors with 400 and names the exception in `__type`.
        status = exc.status if exc.status in (403, 500) or exc.status >= 500 else 400
        if exc.code == "AccessDeniedException":
            status = 400
        return Outcome(status, dumps({"__type": exc.code, "message": exc.message}), content_type=CONTENT_TYPE,
                        error_code=exc.code, headers={"x-amzn-ErrorType": exc.code})
