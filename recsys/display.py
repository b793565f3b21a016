"""Human names for item ids: the group's display column, id -> name lookups, and names in tables, reasons and CSVs.

A dataset group shows each item by its id and, beside it, the value of one Items field: the display column.
It defaults to the Items schema's textual field (e.g. DESCRIPTION), else its first string field, and can be
changed per group (`set_display_column`).

Example::

    column = display_column(store, "retail")                    # "DESCRIPTION"
    names = item_names(store, "retail", ["84029E", "POST"])     # {"84029E": "RED WOOLLY HOTTIE WHITE HEART", ...}
    label("84029E", names)                                       # "84029E · RED WOOLLY HOTTIE WHITE HEART"
    name_ids_in_text("Because you interacted with 84029E", names)
    # "Because you interacted with 84029E (RED WOOLLY HOTTIE WHITE HEART)"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pandas as pd

from recsys import datasets
from recsys.columns import ITEM_ID, ITEMS
from recsys.exceptions import NotFoundError, ValidationError
from recsys.group_settings import get_setting, put_setting

DISPLAY_COLUMN = "display-column"
NAME_COLUMN = "ITEM_NAME"  # the name column of exported CSVs and tables
LABEL_SEPARATOR = " · "


def default_display_column(schema) -> str | None:
    """The Items field that names an item by default: the textual field, else the first string field."""
    if schema is None:
        return None
    if schema.textual_field:
        return schema.textual_field
    return next((f.name for f in schema.fields if f.type == "string" and f.name != ITEM_ID), None)


def name_candidates(store, group: str) -> list[str]:
    """The Items fields that can serve as the display column (string fields first), [] without Items."""
    schema = _items_schema(store, group)
    if schema is None:
        return []
    fields = [f for f in schema.fields if f.name != ITEM_ID]
    return [f.name for f in sorted(fields, key=lambda f: f.type != "string")]


def display_column(store, group: str) -> str | None:
    """The group's display column: the stored choice while it is still an Items field, else the default."""
    schema = _items_schema(store, group)
    if schema is None:
        return None
    chosen = get_setting(store, group, DISPLAY_COLUMN)
    if chosen and schema.has(chosen):
        return schema.field(chosen).name
    return default_display_column(schema)


def set_display_column(store, group: str, column: str | None) -> str | None:
    """Choose the Items field that names items in `group` (None: back to the default)."""
    if column is not None:
        schema = _items_schema(store, group)
        if schema is None:
            raise ValidationError(f"Dataset group {group!r} has no Items dataset; import items (with a name or "
                                  "description column) before choosing the display column.")
        if not schema.has(column) or schema.field(column).name == ITEM_ID:
            raise ValidationError(f"{column!r} is not a field of the Items dataset of {group!r} (fields: "
                                  f"{', '.join(n for n in schema.names if n != ITEM_ID)}).")
        column = schema.field(column).name
    put_setting(store, group, DISPLAY_COLUMN, column)
    return display_column(store, group)


def names_from_frame(items: pd.DataFrame | None, column: str | None) -> dict[str, str]:
    """{item id: name} from an Items frame (items with an empty name are left out)."""
    if items is None or column is None or column not in items.columns or ITEM_ID not in items.columns:
        return {}
    values = items[column]
    keep = values.notna().to_numpy()
    names = values[keep].astype(str).str.strip()
    ids = items[ITEM_ID][keep].astype(str)
    return {i: n for i, n in zip(ids.tolist(), names.tolist()) if n}


def item_names(store, group: str, item_ids: Iterable[str] | None = None, *, items: pd.DataFrame | None = None,
               column: str | None = None) -> dict[str, str]:
    """{item id: name} for `item_ids` (all items when None), by the group's display column.

    Pass `items` (an Items frame the caller already holds, e.g. a cached one) to look names up in it instead of
    reading the Items rows of `item_ids` (an indexed read).
    """
    column = column or display_column(store, group)
    if column is None:
        return {}
    if items is None:
        try:
            items = datasets.read_items(store, group, columns=[ITEM_ID, column],
                                        ids=None if item_ids is None else list(item_ids))
        except NotFoundError:
            return {}
    names = names_from_frame(items, column)
    if item_ids is None:
        return names
    return {i: names[i] for i in map(str, item_ids) if i in names}


def label(item_id: str, names: Mapping[str, str]) -> str:
    """`id · name` when the item has a name, else the id."""
    name = names.get(str(item_id))
    return f"{item_id}{LABEL_SEPARATOR}{name}" if name else str(item_id)


def id_of_label(text: str) -> str:
    """The item id of a `label` (the text itself when it is a bare id)."""
    return str(text).split(LABEL_SEPARATOR, 1)[0]


def with_names(frame: pd.DataFrame, names: Mapping[str, str], id_column: str = ITEM_ID,
               name_column: str = NAME_COLUMN) -> pd.DataFrame:
    """A copy of `frame` with `name_column` right after `id_column` (empty for items without a name)."""
    if id_column not in frame.columns:
        return frame
    out = frame.drop(columns=[name_column], errors="ignore")
    values = out[id_column].astype(str).map(lambda i: names.get(i, ""))
    out.insert(out.columns.get_loc(id_column) + 1, name_column, values)
    return out


def name_ids_in_text(text: str, names: Mapping[str, str], ids: Iterable[str] | None = None) -> str:
    """`text` with every whole-word occurrence of a named item id followed by its name in parentheses.

    `ids` limits the ids looked for (e.g. the user's history items, which is what reasons cite); by default
    every id of `names`, which is fine for a few hundred names.
    """
    wanted = [i for i in (names if ids is None else dict.fromkeys(map(str, ids))) if names.get(i)]
    if not wanted or not text:
        return text
    pattern = _ids_pattern(tuple(sorted(wanted, key=len, reverse=True)))
    return pattern.sub(lambda m: f"{m.group(0)} ({names[m.group(0)]})", text)


def name_reasons(reasons: Iterable[str] | None, names: Mapping[str, str], ids: Iterable[str] | None = None) -> str:
    """The "why" of a recommendation as one line, item ids named (`name_ids_in_text`)."""
    ids = None if ids is None else list(ids)
    return "; ".join(name_ids_in_text(r, names, ids) for r in (reasons or []))


def _ids_pattern(ids: tuple[str, ...]) -> re.Pattern:
    # Ids are matched as whole tokens: "84029E" must not match inside "84029EX" or "A84029E".
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(i) for i in ids) + r")(?![\w-])")


def _items_schema(store, group: str):
    try:
        return datasets.get_dataset(store, group, ITEMS)["schema"]
    except NotFoundError:
        return None
