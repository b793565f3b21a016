"""Request validation driven by botocore's Personalize service models, so every limit comes from the wire contract.

Example::

    operation = OPERATIONS[("POST", "/events")]
    params = validate_request(operation, json_body)      # InvalidInput with AWS-style messages

The shapes (required members, string lengths, list/map sizes, integer ranges, patterns, timestamps) are read
from `botocore/data/personalize-runtime` and `personalize-events`. Rules that Personalize documents but the
models do not encode (numResults <= 500, <= 50 with metadata, one promotion...) are in `_RULES` below.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape

from recsys.exceptions import InvalidInput

RUNTIME = "personalize-runtime"
EVENTS = "personalize-events"

# The first releases' ARNs, `arn:recsys:<type>/<group>/<name>`, keep resolving, and AWS's Arn pattern
# (`arn:([a-z\d-]+):personalize:.*:.*:.+`) would reject them; keep the length limit, loosen the pattern.
# Data locations may also be file:// URLs and local paths (admin keys only: see recsys.api.control).
_PATTERN_OVERRIDES = {"Arn": r"arn:.+", "S3Location": r".+"}
# Java regex classes the models use that Python's `re` spells otherwise.
_JAVA_CLASSES = {r"\p{ASCII}": r"[\x00-\x7F]"}
# A lone UTF-16 surrogate (JSON's "\udc80") cannot be stored or encoded: SQLite, logs and responses would fail.
_SURROGATE = re.compile("[\ud800-\udfff]")

# Documented limits the service models leave out [AP §6.1, §6.2, §8].
MAX_RESULTS = 500
MAX_RESULTS_WITH_METADATA = 50
MAX_METADATA_COLUMNS = 10


@dataclass(frozen=True)
class Operation:
    """One served operation: its botocore model and where it lives on the wire."""

    service: str
    name: str
    method: str
    path: str
    model: OperationModel


@lru_cache(maxsize=None)
def service_model(service: str):
    """botocore's model of `service` (`personalize`, `personalize-runtime`, `personalize-events`)."""
    return botocore.session.get_session().get_service_model(service)


_service_model = service_model


def signing_name(service: str) -> str:
    """The SigV4 service name clients sign with (`personalize` for both runtime and events)."""
    return _service_model(service).signing_name


def load_operations(names: dict[str, tuple[str, ...]] | None = None) -> dict[tuple[str, str], Operation]:
    """The operations this server speaks, keyed by (method, path) as in the models' `http` traits."""
    names = names or {
        RUNTIME: ("GetRecommendations", "GetPersonalizedRanking"),
        EVENTS: ("PutEvents", "PutItems", "PutUsers"),
    }
    operations = {}
    for service, ops in names.items():
        model = _service_model(service)
        for op_name in ops:
            op = model.operation_model(op_name)
            key = (op.http["method"].upper(), op.http["requestUri"])
            operations[key] = Operation(service, op_name, key[0], key[1], op)
    return operations


OPERATIONS = load_operations()


def validate_request(operation: Operation, body: Any) -> dict:
    """Check a decoded JSON body against the operation's input shape and return it normalised.

    Timestamps become float epoch seconds. Members the model does not know are dropped (AWS ignores them).
    Raises InvalidInput naming every violation, in AWS's "N validation errors detected" form.
    """
    errors: list[str] = []
    value = _check(operation.model.input_shape, body, "", errors)
    if not errors:
        rule = _RULES.get(operation.name)
        if rule is not None:
            rule(value, errors)
    if errors:
        count = len(errors)
        head = f"{count} validation error{'s' if count > 1 else ''} detected: "
        raise InvalidInput(head + "; ".join(errors[:10]))
    return value


def _describe(shape: Shape, value: Any, path: str) -> str:
    if shape.metadata.get("sensitive") or isinstance(value, (dict, list)):
        return f"Value at '{path or 'request'}'"
    text = str(value)
    if len(text) > 64:
        text = text[:61] + "..."
    return f"Value '{text}' at '{path or 'request'}'"


def _fail(shape: Shape, value: Any, path: str) -> str:
    return f"{_describe(shape, value, path)} failed to satisfy constraint: "


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    kind = shape.type_name
    checker = _CHECKERS.get(kind)
    if checker is None:  # blob, etc.: not used by the served operations
        return value
    return checker(shape, value, path, errors)


def _structure(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        errors.append(_fail(shape, value, path) + "Member must be an object")
        return value
    out = {}
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null")
    for name, member in shape.members.items():
        if value.get(name) is not None:
            out[name] = _check(member, value[name], _join(path, name), errors)
    return out


def _size_limits(shape: Shape, size: int, value: Any, path: str, errors: list[str], what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        errors.append(
            _fail(shape, value, path) + f"Member must have {what} greater than or equal to {low}"
        )
    if high is not None and size > high:
        errors.append(
            _fail(shape, value, path) + f"Member must have {what} less than or equal to {high}"
        )


@lru_cache(maxsize=None)
def _pattern(shape_name: str, pattern: str) -> re.Pattern | None:
    pattern = _PATTERN_OVERRIDES.get(shape_name, pattern)
    for java, python in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:  # a construct Python lacks: length and Unicode checks still apply
        return None


def has_lone_surrogate(value: str) -> bool:
    """Whether `value` holds half of a UTF-16 surrogate pair (not encodable as UTF-8)."""
    return _SURROGATE.search(value) is not None


def _string(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, str):
        errors.append(_fail(shape, value, path) + "Member must be a string")
        return value
    if has_lone_surrogate(value):
        errors.append(f"Value at '{path or 'request'}' failed to satisfy constraint: Member must be valid Unicode "
                      "(it holds a lone UTF-16 surrogate such as \\udc80)")
        return value
    _size_limits(shape, len(value), value, path, errors, "length")
    pattern = shape.metadata.get("pattern")
    compiled = _pattern(shape.name, pattern) if pattern else None
    if compiled is not None and not compiled.fullmatch(value):
        shown = _PATTERN_OVERRIDES.get(shape.name, pattern)
        errors.append(
            _fail(shape, value, path) + f"Member must satisfy regular expression pattern: {shown}"
        )
    return value


def _integer(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            errors.append(_fail(shape, value, path) + "Member must be an integer")
            return value
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        errors.append(
            _fail(shape, value, path) + f"Member must have value greater than or equal to {low}"
        )
    if high is not None and value > high:
        errors.append(
            _fail(shape, value, path) + f"Member must have value less than or equal to {high}"
        )
    return value


def _number(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        errors.append(_fail(shape, value, path) + "Member must be a finite number")
        return value
    return float(value)


def _boolean(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, bool):
        errors.append(_fail(shape, value, path) + "Member must be a boolean")
    return value


def _timestamp(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    """Epoch seconds (what botocore sends in rest-json bodies) or an ISO 8601 string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=_dt.timezone.utc)
            return parsed.timestamp()
    errors.append(
        _fail(shape, value, path) + "Member must be a timestamp "
        "(epoch seconds or ISO 8601)"
    )
    return value


def _list(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, list):
        errors.append(_fail(shape, value, path) + "Member must be a list")
        return value
    _size_limits(shape, len(value), value, path, errors, "length")
    return [_check(shape.member, v, f"{path}.{i + 1}.member", errors) for i, v in enumerate(value)]


def _map(shape: Shape, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        errors.append(_fail(shape, value, path) + "Member must be a map")
        return value
    _size_limits(shape, len(value), value, path, errors, "length")
    out = {}
    for key, item in value.items():
        _check(shape.key, key, f"{path}.key", errors)
        out[key] = _check(shape.value, item, f"{path}.{key}", errors) if item is not None else None
    return out


_CHECKERS = {
    "structure": _structure,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "float": _number,
    "double": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "list": _list,
    "map": _map,
}


# -- documented rules the models do not encode -------------------------------------------------------------


def _metadata_rules(params: dict, errors: list[str]) -> bool:
    columns = params.get("metadataColumns")
    if not columns:
        return False
    for dataset_type, names in columns.items():
        if dataset_type != "ITEMS":
            errors.append(
                f"Value '{dataset_type}' at 'metadataColumns.key' failed to satisfy constraint: "
                "Member must be ITEMS (the only dataset whose columns can be returned)"
            )
        if len(names) > MAX_METADATA_COLUMNS:
            errors.append(
                f"Value at 'metadataColumns.{dataset_type}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_METADATA_COLUMNS}"
            )
    return True


def _get_recommendations_rules(params: dict, errors: list[str]) -> None:
    with_metadata = _metadata_rules(params, errors)
    high = MAX_RESULTS_WITH_METADATA if with_metadata else MAX_RESULTS
    num = params.get("numResults")
    if num is not None and not 1 <= num <= high:
        why = " when metadataColumns is given" if with_metadata else ""
        errors.append(
            f"Value '{num}' at 'numResults' failed to satisfy constraint: "
            f"Member must have value between 1 and {high}{why}"
        )
    if not params.get("campaignArn") and not params.get("recommenderArn"):
        errors.append("Value null at 'campaignArn' failed to satisfy constraint: give campaignArn (or recommenderArn)")
    if params.get("campaignArn") and params.get("recommenderArn"):
        errors.append("Give either campaignArn or recommenderArn, not both")


def _get_personalized_ranking_rules(params: dict, errors: list[str]) -> None:
    with_metadata = _metadata_rules(params, errors)
    high = MAX_RESULTS_WITH_METADATA if with_metadata else MAX_RESULTS
    size = len(params.get("inputList") or [])
    if not 1 <= size <= high:
        why = " when metadataColumns is given" if with_metadata else ""
        errors.append(
            f"Value at 'inputList' failed to satisfy constraint: Member must have length between 1 and {high}{why}"
        )


def _json_holds_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return has_lone_surrogate(value)
    if isinstance(value, dict):
        return any(_json_holds_surrogate(k) or _json_holds_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_json_holds_surrogate(v) for v in value)
    return False


def _properties_rules(list_member: str):
    """`properties` is a JSON document inside a string: its escapes (\\udc80) can hide a lone surrogate."""

    def check(params: dict, errors: list[str]) -> None:
        for i, record in enumerate(params.get(list_member) or []):
            text = record.get("properties") if isinstance(record, dict) else None
            if not isinstance(text, str) or "\\u" not in text:
                continue  # no escape, so no hidden surrogate (the string itself was checked)
            try:
                decoded = json.loads(text)
            except ValueError:
                continue  # the library reports malformed properties with their own message
            if _json_holds_surrogate(decoded):
                errors.append(f"Value at '{list_member}.{i + 1}.member.properties' failed to satisfy constraint: "
                              "Member must be valid Unicode (a \\u escape makes a lone UTF-16 surrogate)")

    return check


_RULES = {
    "GetRecommendations": _get_recommendations_rules,
    "GetPersonalizedRanking": _get_personalized_ranking_rules,
    "PutEvents": _properties_rules("eventList"),
    "PutItems": _properties_rules("items"),
    "PutUsers": _properties_rules("users"),
}
