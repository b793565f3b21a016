"""The HTTP API: Personalize's wire protocol (runtime + events) with SigV4 keys scoped to dataset groups.

Example::

    from recsys.api import create_app, create_key
    access_key_id, secret = create_key(store, ["shop"])
    app = create_app(store)            # serve with uvicorn; boto3 clients use endpoint_url=...
"""

from __future__ import annotations

import os

from recsys.api.app import create_app
from recsys.api.keys import create_key, delete_key, get_key, list_keys

__all__ = ["create_app", "create_key", "delete_key", "get_key", "list_keys", "app_from_env"]


def app_from_env():
    """App factory for `uvicorn --factory` and multi-worker serving: workspace from $RECSYS_HOME, body limit
    from $RECSYS_API_MAX_BODY_BYTES, worker threads from $RECSYS_API_THREADS."""
    from recsys.api.app import DEFAULT_MAX_BODY_BYTES
    from recsys.store import Store

    max_body = int(os.environ.get("RECSYS_API_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
    threads = int(os.environ.get("RECSYS_API_THREADS") or 40)
    return create_app(Store(os.environ.get("RECSYS_HOME") or None), max_body_bytes=max_body, freeze_gc=True,
                      worker_threads=threads)
