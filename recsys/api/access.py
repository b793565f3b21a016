"""Authorisation for every API operation: which dataset group an ARN belongs to, and whether a key may touch it.

Example::

    resolver = ArnResolver(store)
    resolver.canonical("arn:aws:personalize:eu-west-1:123456789012:campaign/main")  # this workspace's spelling
    group = resolver.authorize(key, "GetRecommendations", [campaign_arn])          # 403 / 404 as AWS answers

An ARN is accepted with any region and account (an app's hard-coded ARNs work unchanged) and in the old
`arn:recsys:<type>/<group>/<name>` shape. The group comes from the stored resource, read through the serving
path's per-thread cache (fresh after every commit), so a deleted or re-created resource is never judged by a
stale group.
"""

from __future__ import annotations

import threading

from recsys.api.errors import ApiError, access_denied, invalid_input, not_found
from recsys.api.keys import may_access, scope
from recsys.resources import Arn

_CACHE_SIZE = 100_000


class ArnResolver:
    """Canonical spellings and dataset groups of ARNs for one workspace."""

    def __init__(self, store):
        self.store = store
        self._canonical: dict[str, tuple[str, Arn] | None] = {}
        self._lock = threading.Lock()

    def parsed(self, arn: str) -> tuple[str, Arn] | None:
        """(canonical ARN, parsed ARN), or None when `arn` is not an ARN. Cached: the mapping never changes
        while the workspace is open (old ARNs' aliases are written by the migration that opens it)."""
        found = self._canonical.get(arn)
        if found is None and arn not in self._canonical:
            parsed = Arn.try_parse(arn)
            found = (self.store.canonical_arn(arn), parsed) if parsed is not None else None
            with self._lock:
                if len(self._canonical) >= _CACHE_SIZE:
                    self._canonical.clear()
                self._canonical[arn] = found
        return found

    def canonical(self, arn: str) -> str:
        """How this workspace spells `arn` (unchanged when it is not an ARN: lookups then fail normally)."""
        found = self.parsed(arn)
        return found[0] if found else arn

    def group_of(self, arn: str) -> str | None:
        """The dataset group of the resource `arn` names (a dataset group's own name for its ARN), or None
        when no such resource exists."""
        found = self.parsed(arn)
        if found is None:
            return None
        canonical, parsed = found
        if parsed.resource_type == "dataset-group":
            try:
                return self.store.find_dataset_group(canonical)["name"]
            except LookupError:
                return None
        from recsys.serving.reader import READER

        record = READER.resource(self.store, canonical)
        if record is None:
            return None
        if parsed.legacy and parsed.group not in (None, record["group"]):
            return None  # an old ARN names its group: never another group's same-named resource
        return record["group"]

    def authorize(self, key: dict, operation: str, arns: list[str], what: str = "resource") -> str:
        """The one dataset group of `arns`; 404 for an unknown resource, 403 when the key may not touch it."""
        groups = []
        for arn in arns:  # an old ARN names its group: refuse before any lookup
            found = self.parsed(arn)
            if found is not None and found[1].legacy and found[1].group and not may_access(key, found[1].group):
                raise access_denied(key, operation, arn)
        for arn in arns:
            group = self.group_of(arn)
            if group is None:
                raise not_found(f"No {what} with ARN {arn!r}; check the name (list them with the matching "
                                "List operation).")
            if not may_access(key, group):
                raise access_denied(key, operation, arn)
            groups.append(group)
        if len(set(groups)) > 1:
            raise invalid_input(
                f"All ARNs in one request must belong to the same dataset group; got {', '.join(sorted(set(groups)))}."
            )
        return groups[0]


def require_group(key: dict, operation: str, group: str, arn: str) -> None:
    """403 unless `key` may touch dataset group `group` (named by `arn` in the message)."""
    if not may_access(key, group):
        raise access_denied(key, operation, arn)


def require_admin(key: dict, operation: str, arn: str) -> None:
    """403 unless `key` is an admin (workspace) key: dataset groups and schemas belong to the workspace."""
    if not key.get("admin"):
        raise ApiError(
            403, "AccessDeniedException",
            f"User: {key['accessKeyId']} is not authorized to perform: personalize:{operation} on resource: {arn} "
            f"(only an admin key may create or delete dataset groups and schemas: `recsys keys create --admin`; "
            f"this key is scoped to {scope(key)}).",
        )
