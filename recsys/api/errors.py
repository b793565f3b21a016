"""The API's errors (`recsys.exceptions.ApiError`), named as AWS names them, and how a library exception becomes one.

Example::

    raise not_found("No campaign with ARN ...")          # 404 ResourceNotFoundException (rest-json)
    api_error_for(exc, operation_model)                    # ConflictError -> ResourceInUseException, ...
"""

from __future__ import annotations

from recsys.api.keys import scope
import logging

from recsys.exceptions import (
    ApiError, ConflictError, EnvironmentProblem, NotFoundError, RecsysError, ValidationError,
)
from recsys.files import DAMAGED, environment_problem

log = logging.getLogger("recsys.api")


def invalid_input(message: str) -> ApiError:
    return ApiError(400, "InvalidInputException", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "ResourceNotFoundException", message)


def already_exists(message: str) -> ApiError:
    return ApiError(400, "ResourceAlreadyExistsException", message)


def in_use(message: str) -> ApiError:
    return ApiError(409, "ResourceInUseException", message)


def access_denied(key: dict, operation: str, arn: str) -> ApiError:
    return ApiError(
        403, "AccessDeniedException",
        f"User: {key['accessKeyId']} is not authorized to perform: personalize:{operation} on resource: {arn} "
        f"(the key is scoped to {scope(key)}).",
    )


def environment_error(problem: EnvironmentProblem) -> ApiError:
    """A full disk or a read-only workspace: 503, worth retrying once fixed; damaged files: 500."""
    log.error("%s", problem)
    if problem.kind == DAMAGED:
        return ApiError(500, "InternalFailure", str(problem))
    return ApiError(503, "ServiceUnavailable", str(problem))


def api_error_for(exc: Exception, error_names: frozenset[str], db_path=None) -> ApiError | None:
    """The ApiError for a library exception, picking among the errors the operation's model declares
    (`error_names`); None when `exc` is not one of ours (a server fault)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, EnvironmentProblem):
        return environment_error(exc)
    if isinstance(exc, NotFoundError):
        return not_found(str(exc))
    if isinstance(exc, ConflictError):
        text = str(exc)
        if "already exists" in text and "ResourceAlreadyExistsException" in error_names:
            return already_exists(text)
        if "ResourceInUseException" in error_names:
            return in_use(text)
        return invalid_input(text)
    if isinstance(exc, (ValidationError, RecsysError)):
        return invalid_input(str(exc))
    problem = environment_problem(exc, db_path) if db_path is not None else None
    return environment_error(problem) if problem is not None else None
