"""API access keys: SigV4 key pairs stored in the workspace, each scoped to dataset groups or, for admin keys,
to the whole workspace.

Example::

    access_key_id, secret = create_key(store, ["shop"])
    boto3.client("personalize-runtime", endpoint_url="http://127.0.0.1:8080",
                 aws_access_key_id=access_key_id, aws_secret_access_key=secret, region_name="us-east-1")

A group key may read, write and manage what is inside its groups (datasets, imports, solutions, campaigns,
trackers, filters, batch jobs). An admin key (`create_key(store, admin=True)`) may also create and delete
dataset groups and schemas, and reaches every group.

Keys are generic resources of type `api-key` in the pseudo group `_global`. SigV4 needs the secret itself to
verify a signature, so it is stored as given (the workspace directory is the trust boundary); it is never
logged and `list_keys` never returns it.
"""

from __future__ import annotations

import secrets
import string
from typing import Iterable

from recsys.exceptions import NotFoundError, ValidationError

KEY_TYPE = "api-key"
KEY_GROUP = "_global"
_ID_ALPHABET = string.ascii_uppercase + "234567"


def _new_access_key_id() -> str:
    # AWS key ids are 20 upper-case characters; ours start with RSK (recsys key) so they are easy to tell apart.
    return "RSK" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def create_key(store, groups: Iterable[str] = (), description: str = "", *, admin: bool = False) -> tuple[str, str]:
    """Create an access key for `groups` (each must exist), or an admin key for the whole workspace, and return
    `(access_key_id, secret)`.

    The secret is shown once: `list_keys` never returns it.
    """
    groups = sorted(set(groups))
    if not groups and not admin:
        raise ValidationError("An API key needs at least one dataset group (pass --group NAME), or --admin for a "
                              "workspace key.")
    for group in groups:
        store.get_dataset_group(group)  # NotFoundError names the existing groups
    access_key_id = _new_access_key_id()
    secret = secrets.token_urlsafe(30)  # 40 characters, like an AWS secret access key
    store.create_resource(
        KEY_TYPE, KEY_GROUP, access_key_id,
        {"secret": secret, "groups": groups, "description": description, "admin": bool(admin)},
    )
    return access_key_id, secret


def may_access(key: dict, group: str) -> bool:
    """Whether `key` may touch what is inside dataset group `group`."""
    return bool(key.get("admin")) or group in key.get("groups", ())


def scope(key: dict) -> str:
    """The key's scope in words, for AccessDenied messages."""
    if key.get("admin"):
        return "the whole workspace (admin key)"
    return f"dataset groups: {', '.join(key.get('groups', ())) or 'none'}"


def _public(resource: dict) -> dict:
    return {
        "accessKeyId": resource["name"],
        "groups": list(resource.get("groups", [])),
        "admin": bool(resource.get("admin")),
        "description": resource.get("description", ""),
        "createdAt": resource["created_at"],
    }


def list_keys(store) -> list[dict]:
    """Every key as `{accessKeyId, groups, description, createdAt}`, newest first, without secrets."""
    return [_public(r) for r in store.list_resources(KEY_TYPE, KEY_GROUP)]


def get_key(store, access_key_id: str) -> dict:
    """A key with its secret (`{accessKeyId, secret, groups, ...}`) for signature checks; NotFoundError if unknown."""
    try:
        resource = store.get_resource(KEY_TYPE, KEY_GROUP, access_key_id)
    except NotFoundError:
        raise NotFoundError(f"No API key {access_key_id!r}; list keys with `python -m recsys keys list`.") from None
    return {**_public(resource), "secret": resource["secret"]}


def delete_key(store, access_key_id: str) -> None:
    """Revoke a key (a running server stops accepting it within its key-cache time, 5 s by default)."""
    try:
        store.delete_resource(KEY_TYPE, KEY_GROUP, access_key_id)
    except NotFoundError:
        raise NotFoundError(f"No API key {access_key_id!r}; list keys with `python -m recsys keys list`.") from None
