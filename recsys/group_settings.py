"""Per-dataset-group settings the workbench and the library share (the display column, the item exclusion list).

Each setting is one resource of type `group-setting` named after the setting, its value in the body, so it is
read like any other resource (and by the serving path's cached reader, `setting_arn`).

Example::

    put_setting(store, "shop", "display-column", "DESCRIPTION")
    get_setting(store, "shop", "display-column")        # "DESCRIPTION"; None when never set
"""

from __future__ import annotations

from typing import Any

from recsys.exceptions import ConflictError, NotFoundError
from recsys.store import Store, make_arn

GROUP_SETTING = "group-setting"


def setting_arn(group: str, name: str) -> str:
    return make_arn(GROUP_SETTING, group, name)


def get_setting(store: Store, group: str, name: str, default: Any = None) -> Any:
    """The stored value of a group's setting, or `default` when it was never set."""
    try:
        return store.get_resource(GROUP_SETTING, group, name).get("value", default)
    except NotFoundError:
        return default


def put_setting(store: Store, group: str, name: str, value: Any) -> Any:
    """Store a group's setting (JSON-serialisable value), replacing the previous value."""
    store.get_dataset_group(group)  # NotFoundError for unknown groups, before anything is written
    try:
        store.create_resource(GROUP_SETTING, group, name, {"value": value})
    except ConflictError:  # set before: replace the value (one statement, so a reader sees old or new)
        store.update_resource(GROUP_SETTING, group, name, body={"value": value})
    return value
