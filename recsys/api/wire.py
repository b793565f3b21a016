"""What every API route shares on the wire: the outcome of a request and the JSON codec (one decoder, one encoder).

Example::

    params = DECODER.decode(body.decode())            # NaN / Infinity refused, as JSON is
    Outcome(200, dumps({"itemList": items}))           # numpy scalars and arrays encode as JSON numbers and lists
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

JSON = "application/json"


@dataclass
class Outcome:
    """A finished request: status, body and what the access log records."""

    status: int
    body: bytes
    content_type: str = JSON
    error_code: str | None = None
    access_key_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every request (json.loads with options builds a new decoder per call, ~0.1 ms).
DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default, allow_nan=False)


def dumps(data: Any) -> bytes:
    return _ENCODER.encode(data).encode()
