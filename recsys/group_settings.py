"""Per-dataset-group settings the workbench and the library share (the display column, the item exclusion list).

Each setting is a JSON value in the workspace's settings table, under a key naming the group by its id, so a
group deleted and created again under the same name starts with no settings.

Example::

    put_setting(store, "shop", "display-column", "DESCRIPTION")
    get_setting(store, "shop", "display-column")        # "DESCRIPTION"; None when never set
"""

from __future__ import annotations

import json
from typing import Any

from recsys.store import Store

# SQL of one setting's value by group name and setting name (serving reads it on its own connection).
VALUE_SQL = ("SELECT s.value FROM settings s JOIN dataset_groups g ON s.key = 'group/' || g.id || '/' || ? "
             "WHERE g.name = ?")


def setting_key(store: Store, group: str, name: str) -> str:
    return f"group/{store.get_dataset_group(group)['id']}/{name}"


def get_setting(store: Store, group: str, name: str, default: Any = None) -> Any:
    """The stored value of a group's setting, or `default` when it was never set (NotFoundError: no group)."""
    raw = store.setting(setting_key(store, group, name))
    return default if raw is None else json.loads(raw)


def put_setting(store: Store, group: str, name: str, value: Any) -> Any:
    """Store a group's setting (a JSON-serialisable value; None removes it)."""
    store.set_setting(setting_key(store, group, name), None if value is None else json.dumps(value))
    return value


def read_setting(conn, group: str, name: str, default: Any = None) -> Any:
    """A group's setting read on an open connection (the serving path's reader), `default` when unset."""
    row = conn.execute(VALUE_SQL, [name, group]).fetchone()
    return default if row is None else json.loads(row[0])
