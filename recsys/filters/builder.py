"""Filter expressions for the common cases, built from choices instead of typed: presets from the group's own event
types, and a point-and-click builder (exclude what the user interacted with; include by category, value or range).

Example::

    presets(["purchase", "view"])
    # {"Exclude items the user interacted with": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
    #  "Exclude items the user purchase-d": ..., ...}
    build_expression(exclude_event_types=["*"], include={"CATEGORY_L1": ["books"]},
                     ranges={"PRICE": (None, 20)})
    # 'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books") AND Items.PRICE <= 20 |
    #  EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'

Every expression built here is parsed with `recsys.filters.parse_filter` before it is returned, so it is valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.columns import ITEM_ID
from recsys.exceptions import ValidationError
from recsys.filters.evaluate import ALL_EVENT_TYPES, parse_filter
from recsys.filters.lexer import _quote

INTERACTED = "Exclude items the user interacted with"
INTERACTED_EXPRESSION = f'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("{ALL_EVENT_TYPES}")'
MAX_CHOICES = 200


def exclude_interacted(event_types: Sequence[str] = (ALL_EVENT_TYPES,)) -> str:
    """``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (...)``; ("*",) means every event type."""
    types = list(dict.fromkeys(str(t) for t in event_types)) or [ALL_EVENT_TYPES]
    if ALL_EVENT_TYPES in types:
        types = [ALL_EVENT_TYPES]
    return f"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ({', '.join(_quote(t) for t in types)})"


def presets(event_types: Iterable[str]) -> dict[str, str]:
    """Ready-made filters for a group, from the event types its interactions really have (none: only "*").

    An event-type preset only exists for types in the data: a filter on a type the data lacks would silently
    remove nothing.
    """
    out = {INTERACTED: INTERACTED_EXPRESSION}
    for event_type in event_types:
        out[f"Exclude items the user had a {event_type!r} event on"] = exclude_interacted([event_type])
    return out


def build_expression(*, exclude_event_types: Sequence[str] = (), include: Mapping[str, Sequence[str]] | None = None,
                     ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
                     exclude: Mapping[str, Sequence[str]] | None = None) -> str:
    """A filter expression from builder choices (at least one).

    Parameters
    ----------
    exclude_event_types : drop items the user interacted with by these event types ("*" for any).
    include : keep only items whose Items field has one of the values, {field: values} (fields AND-ed).
    ranges : keep only items whose numeric Items field is within (low, high); None leaves a side open.
    exclude : drop items whose Items field has one of the values.
    """
    conditions = [f"Items.{field} IN ({', '.join(_quote(str(v)) for v in values)})"
                  for field, values in (include or {}).items() if values]
    for field, (low, high) in (ranges or {}).items():
        if low is not None and high is not None and float(low) > float(high):
            raise ValidationError(f"The range of {field} goes from {low:g} down to {high:g}; swap the two bounds.")
        if low is not None:
            conditions.append(f"Items.{field} >= {_number(low)}")
        if high is not None:
            conditions.append(f"Items.{field} <= {_number(high)}")
    parts = []
    if conditions:
        parts.append("INCLUDE ItemID WHERE " + " AND ".join(conditions))
    for field, values in (exclude or {}).items():
        if values:
            parts.append(f"EXCLUDE ItemID WHERE Items.{field} IN ({', '.join(_quote(str(v)) for v in values)})")
    if exclude_event_types:
        parts.append(exclude_interacted(exclude_event_types))
    if not parts:
        raise ValidationError("Choose at least one rule: items to exclude, or values or a range to include.")
    expression = " | ".join(parts)
    parse_filter(expression)
    return expression


def builder_fields(items: pd.DataFrame | None, schema) -> dict:
    """What the builder offers for a group's Items: {"categorical": {field: [values]}, "numeric": {field: (min, max)}}.

    Categorical fields offer their values (multi-valued `a|b` split, most frequent first, at most 200); numeric
    fields their range. Textual and boolean fields are left out (Personalize filters cannot use them).
    """
    out: dict = {"categorical": {}, "numeric": {}}
    if items is None or schema is None:
        return out
    for f in schema.fields:
        if f.name == ITEM_ID or f.textual or f.type == "boolean" or f.name not in items.columns:
            continue
        column = items[f.name]
        if f.type in ("int", "long", "float", "double"):
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            values = values[np.isfinite(values)]
            if len(values) and f.name != "CREATION_TIMESTAMP":
                out["numeric"][f.name] = (float(values.min()), float(values.max()))
        elif f.categorical or f.type == "string":
            parts = column.dropna().astype(str).str.split("|").explode().str.strip()
            parts = parts[parts != ""]
            if len(parts) and parts.nunique() <= max(MAX_CHOICES, 1):
                out["categorical"][f.name] = parts.value_counts().index.tolist()[:MAX_CHOICES]
    return out


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)
