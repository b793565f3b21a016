"""The process-wide serving cache: deployed models, per-group item catalogues, compiled filters, item activity.

A request must cost a few milliseconds, so everything that does not change between requests is built once
and shared by all threads: the fitted recipe of each solution version (loaded once, keyed by workspace and
version ARN; the only model cache of the process), which version a campaign serves (`resolve_campaign`), the
candidate catalogue of a group (the model's items followed by items added
after training) with its metadata frame, the users frame, compiled filters (keyed by ARN and update time) and
the per-item interaction/impression counts that drive exploration (refreshed incrementally by `_seq`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from recsys import columns as C
from recsys import datasets
from recsys.cleaning import read_excluded_items
from recsys.exceptions import NotFoundError, ValidationError
from recsys.filters import FilterIndex
from recsys.recipes import Recipe
from recsys.resources import Campaign, SolutionVersion
from recsys.serving.reader import READER, SEQ, quote
from recsys.solutions import SOLUTION_VERSION, get_solution_version, read_model
from recsys.store import ACTIVE

log = logging.getLogger(__name__)

CAMPAIGN = "campaign"
LATEST = "$LATEST"
# New items and users (put_items/put_users, imports) are seen by the next request; changed metadata of existing
# ones within this many seconds (Personalize documents 15-20 minutes).
METADATA_MAX_AGE_SECONDS = 60.0
MODEL_CACHE_SIZE = 16
# Exploration counts (interactions, impressions per item) are refreshed incrementally at most this often.
ACTIVITY_REFRESH_SECONDS = 1.0


@dataclass
class LoadedModel:
    """A deployed solution version: the fitted recipe plus what serving needs to know about its data."""

    key: tuple[str, str]
    version: SolutionVersion
    recipe: Any
    recipe_type: str
    max_seq: int | None           # newest interaction `_seq` the model saw (None: unknown -> read all)
    max_timestamp: int | None     # newest interaction timestamp the model saw
    item_ids: np.ndarray          # model catalogue (column order of every score vector)
    popularity: np.ndarray        # one popularity score per model item (back-fill, cold start)

    @property
    def arn(self) -> str:
        return self.key[1]


@dataclass
class Catalogue:
    """Candidates for one (group, model): the model's items, then items the model never saw (new items)."""

    ids: np.ndarray               # object array of item ids, model items first
    n_model: int
    position: pd.Index            # id -> position
    items: pd.DataFrame | None    # the Items dataset, one row per item (as read from the store)
    item_rows: np.ndarray         # row in `items` of each candidate (-1 when it has no metadata)
    creation: np.ndarray          # CREATION_TIMESTAMP per candidate (NaN when unknown)
    popularity: np.ndarray        # per candidate; new items 0
    signature: Any
    checked_at: float
    # Built on first use by the requests that need them, then shared (read-only) until the catalogue is rebuilt.
    filter_index: FilterIndex | None = field(default=None, repr=False)
    bonus: tuple[Any, np.ndarray] | None = field(default=None, repr=False)  # (key, exploration bonus)
    exclusion: tuple[Any, np.ndarray] | None = field(default=None, repr=False)  # (excluded ids, their mask)

    def index(self) -> FilterIndex:
        """The filter index over the candidates' metadata (built once per catalogue)."""
        if self.filter_index is None:
            self.filter_index = FilterIndex(self.ids, self.items, C.ITEM_ID)
        return self.filter_index

    def positions(self, ids) -> np.ndarray:
        return self.position.get_indexer(pd.Index(np.asarray(ids, dtype=object).astype(str)))


@dataclass
class Activity:
    """Interactions and impressions per item id in a group, kept current by reading only new `_seq` rows."""

    interactions: dict = field(default_factory=dict)
    impressions: dict = field(default_factory=dict)
    last_seq: int = 0
    max_timestamp: int | None = None
    refreshed_at: float = -1e9
    lock: threading.Lock = field(default_factory=threading.Lock)


class CampaignRuntime:
    """Thread-safe caches shared by every request in this process (one instance: `RUNTIME`)."""

    def __init__(self):
        self._lock = threading.RLock()
        self._models: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        self._catalogues: dict[tuple[str, str, str], Catalogue] = {}
        self._catalogue_locks: dict[tuple, threading.Lock] = {}
        self._users: dict[tuple[str, str], tuple[Any, float, pd.DataFrame | None]] = {}
        self._filters: dict[tuple[str, str, float], Any] = {}
        self._activity: dict[tuple[str, str], Activity] = {}

    # -- models --------------------------------------------------------------------------------------

    def model(self, store, version_arn: str) -> LoadedModel:
        """The deployed model of `version_arn`, loaded once per process (concurrent callers wait for it)."""
        key = (str(store.home), version_arn)
        with self._lock:
            found = self._models.get(key)
            if found is not None:
                self._models.move_to_end(key)
                return found
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                found = self._models.get(key)
                if found is not None:
                    return found
            loaded = _load_model(store, version_arn, key)
            with self._lock:
                self._models[key] = loaded
                self._loading.pop(key, None)
                while len(self._models) > MODEL_CACHE_SIZE:
                    self._models.popitem(last=False)
            return loaded

    def recipe(self, store, version_arn: str) -> Recipe:
        """The fitted recipe of an ACTIVE solution version, from the same cache (`recsys.serving.load_model`)."""
        return self.model(store, version_arn).recipe

    def is_loaded(self, store, version_arn: str) -> bool:
        return (str(store.home), version_arn) in self._models

    def evict(self, store, version_arn: str) -> None:
        """Forget a model (e.g. after its campaign was deleted); in-flight requests keep their reference."""
        with self._lock:
            self._models.pop((str(store.home), version_arn), None)
            for key in [k for k in self._catalogues if k[0] == str(store.home) and k[2] == version_arn]:
                del self._catalogues[key]

    # -- catalogue -----------------------------------------------------------------------------------

    def catalogue(self, store, group: str, model: LoadedModel) -> Catalogue:
        """Candidate items for `model` in `group`, rebuilt when the Items dataset gained rows (checked on every
        request, O(1)) or, for in-place metadata updates, at most every `METADATA_MAX_AGE_SECONDS`."""
        key = (str(store.home), group, model.arn)
        found = self._catalogues.get(key)
        signature = _items_signature(store, group)
        if found is not None and signature == found.signature \
                and (time.monotonic() - found.checked_at < METADATA_MAX_AGE_SECONDS
                     or _unchanged(store, ("catalogue",) + key, found)):
            return found
        lock = self._lock_for(("catalogue",) + key)
        stale_ok = found is not None and signature == found.signature
        if not lock.acquire(blocking=not stale_ok):
            return found  # another thread refreshes the (same-signature) catalogue; serve ours meanwhile
        try:
            current = self._catalogues.get(key)
            if current is not None and current is not found and current.signature == signature:
                return current
            reads = READER.fresh(store)
            built = _build_catalogue(store, group, model, signature)
            self._catalogues[key] = built
            reads[("catalogue",) + key] = built
            return built
        finally:
            lock.release()

    def users(self, store, group: str) -> pd.DataFrame | None:
        """The Users dataset of a group (None when there is none), cached like the catalogue."""
        key = (str(store.home), group)
        found = self._users.get(key)
        signature = _users_signature(store, group)
        if found is not None and signature == found[0] and time.monotonic() - found[1] < METADATA_MAX_AGE_SECONDS:
            return found[2]
        frame = _read_optional(datasets.read_users, store, group)
        self._users[key] = (signature, time.monotonic(), frame)
        return frame

    def excluded(self, store, group: str, cat: Catalogue) -> np.ndarray | None:
        """Mask of the candidates on the group's exclusion list (`recsys.cleaning`), None when it is empty.

        The list is read through the per-thread reader (cached until something is written), the mask is kept on
        the catalogue until the list changes."""
        excluded = READER.cached(store, ("item-exclusions", group),
                                 lambda: tuple(read_excluded_items(READER.conn(store), group)))
        if not excluded:
            return None
        cached = cat.exclusion
        if cached is not None and cached[0] == excluded:
            return cached[1]
        mask = np.zeros(len(cat.ids), dtype=bool)
        positions = cat.positions(list(excluded))
        mask[positions[positions >= 0]] = True
        mask.setflags(write=False)
        cat.exclusion = (excluded, mask)
        return mask

    # -- filters -------------------------------------------------------------------------------------

    def compiled_filter(self, resource: dict, compile_: Callable[[str], Any]) -> Any:
        """The parsed expression of a filter resource, compiled once per (arn, updated_at)."""
        key = (resource["arn"], str(resource.get("filterExpression") or resource.get("expression")),
               float(resource.get("updated_at") or 0))
        found = self._filters.get(key)
        if found is None:
            text = resource.get("filterExpression") or resource.get("expression")
            found = compile_(text)
            with self._lock:
                for stale in [k for k in self._filters if k[0] == key[0]]:
                    del self._filters[stale]
                self._filters[key] = found
        return found

    # -- activity (exploration) ----------------------------------------------------------------------

    def activity(self, store, group: str) -> Activity:
        """Per-item interaction and impression counts of a group, updated with the rows added since last time."""
        key = (str(store.home), group)
        with self._lock:
            act = self._activity.setdefault(key, Activity())
        if time.monotonic() - act.refreshed_at < ACTIVITY_REFRESH_SECONDS:
            return act
        if act.refreshed_at >= 0 and _unchanged(store, ("activity",) + key, act):
            act.refreshed_at = time.monotonic()  # nothing was written since: the counts are current
            return act
        if not act.lock.acquire(blocking=act.refreshed_at < 0):
            return act  # someone else is refreshing: slightly stale counts are fine
        try:
            reads = READER.fresh(store)
            _refresh_activity(store, group, act)
            reads[("activity",) + key] = act
        finally:
            act.refreshed_at = time.monotonic()
            act.lock.release()
        return act

    def is_warm(self, store, campaign_arn: str) -> bool:
        """Whether a request on `campaign_arn` would find its model and a fresh catalogue in memory, i.e. cost
        about a millisecond (servers answer warm requests on their event loop and send the others to a thread).
        Unknown or broken campaigns count as warm: their errors are fast too."""
        with READER.snapshot(store):
            return self._is_warm(store, campaign_arn)

    def _is_warm(self, store, campaign_arn: str) -> bool:
        if not isinstance(campaign_arn, str) or READER.resource(store, campaign_arn) is None:
            return True  # unknown: answered (404 or 403) without loading anything
        try:
            campaign, version_arn = resolve_campaign(store, campaign_arn)
        except Exception:  # noqa: BLE001 - the request itself will report it
            return True
        home = str(store.home)
        if (home, version_arn) not in self._models:
            return False
        group = campaign.group
        key = (home, group, version_arn)
        found = self._catalogues.get(key)
        return (found is not None and found.signature == _items_signature(store, group)
                and (time.monotonic() - found.checked_at < METADATA_MAX_AGE_SECONDS
                     or _unchanged(store, ("catalogue",) + key, found)))

    def clear(self) -> None:
        """Drop every cache (tests, or after a workspace is replaced)."""
        with self._lock:
            self._models.clear()
            self._catalogues.clear()
            self._users.clear()
            self._filters.clear()
            self._activity.clear()

    def _lock_for(self, key) -> threading.Lock:
        with self._lock:
            return self._catalogue_locks.setdefault(key, threading.Lock())


RUNTIME = CampaignRuntime()


# -- which version a request is served by --------------------------------------------------------------


def resolve_campaign(store, campaign_arn: str) -> tuple[Campaign, str]:
    """(campaign, version ARN to serve) for a request; NotFoundError for unknown campaigns.

    Used on every request: one indexed lookup (two for $LATEST) over the serving path's persistent
    connection. An ACTIVE solution version ARN is served directly, as a campaign with the default config.
    """
    if not isinstance(campaign_arn, str) or not campaign_arn:
        raise ValidationError("campaignArn is required, e.g. arn:aws:personalize:us-east-1:000000000000:campaign/<name>.")
    record = READER.resource(store, campaign_arn)
    if record is not None and record["type"] == SOLUTION_VERSION:
        # Beyond Personalize: an ACTIVE solution version is served directly, with no campaign to deploy.
        if record["status"] != ACTIVE:
            raise NotFoundError(f"Solution version {campaign_arn} is {record['status']}, not ACTIVE; wait for "
                                "training to finish or pick an ACTIVE version.")
        return _typed(store, record, Campaign.of_version), campaign_arn
    if record is None and not campaign_arn.startswith("arn:"):
        raise ValidationError(f"Campaign {campaign_arn!r} is a name, not an ARN: also give its dataset group.")
    if record is None or record["type"] != CAMPAIGN:
        raise NotFoundError(f"Campaign {campaign_arn!r} does not exist; list campaigns with "
                            "`python -m recsys campaign list` or create one.")
    campaign = _typed(store, record, Campaign.from_record)
    if campaign.status != ACTIVE:
        reason = f": {campaign.failure_reason}" if campaign.failure_reason else ""
        raise NotFoundError(f"Campaign {campaign_arn} is {campaign.status}, not ACTIVE{reason}.")
    requested = campaign.solution_version_arn or ""
    if requested.endswith("/" + LATEST):
        group, solution = split_solution_arn(store, requested[: -len(LATEST) - 1])
        latest = READER.latest_active_version(store, group, solution)
        if latest is None:
            raise NotFoundError(f"Campaign {campaign_arn} follows $LATEST of solution {solution!r}, which has no "
                                "ACTIVE version (was it deleted?); train one or update the campaign.")
        return campaign, latest
    return campaign, campaign.deployed_solution_version_arn or requested


def _typed(store, record: dict, make) -> Campaign:
    """The typed campaign of a stored record, made once per record until the workspace changes (READER's
    cache): requests share it, so it is frozen."""
    return READER.cached(store, ("campaign", record["arn"], record["updated_at"]), lambda: make(record))


def split_solution_arn(store, arn: str) -> tuple[str, str]:
    """(group, solution) of an existing solution's ARN (any region/account, or an old `arn:recsys:` one);
    ValidationError otherwise. Read through the serving path's cache: this runs on every $LATEST request."""
    solution = READER.resource(store, arn)
    if solution is None:
        try:
            solution = store.find_resource(arn)
        except NotFoundError:
            pass
    if solution is None or solution["type"] != "solution":
        raise ValidationError(f"{arn!r} is not the ARN of an existing solution (of the dataset group an old "
                              "arn:recsys: ARN names); use <solution arn>/$LATEST or a solution version ARN.")
    return solution["group"], solution["name"]


# -- helpers -------------------------------------------------------------------------------------------


def _unchanged(store, key, value) -> bool:
    """Whether `value` was recorded under `key` in this thread's read cache and nothing was committed to the
    workspace since (the cache is emptied on every write), so re-reading the data would give the same result."""
    return READER.fresh(store).get(key) is value


def _load_model(store, version_arn: str, key) -> LoadedModel:
    version = get_solution_version(store, version_arn)
    recipe = read_model(store, version)
    recipe_type = version.recipe_type or recipe.recipe_type
    snapshot = version.data or {}
    item_ids = np.asarray(recipe.item_ids_, dtype=object).astype(str).astype(object)
    popularity = _model_popularity(store, version.group, recipe, item_ids)
    return LoadedModel(
        key=key, version=version, recipe=recipe, recipe_type=recipe_type,
        max_seq=snapshot.get("max_seq"), max_timestamp=snapshot.get("max_timestamp"),
        item_ids=item_ids, popularity=popularity,
    )


def _model_popularity(store, group: str, recipe: Recipe, item_ids: np.ndarray) -> np.ndarray:
    """Popularity per model item: the recipe's own (`item_popularity`), else counts of the stored interactions."""
    try:
        values = recipe.item_popularity()
    except Exception:  # a recipe without cold start: fall back to counting  # noqa: BLE001
        log.debug("cold-start scores unavailable for %s", type(recipe).__name__, exc_info=True)
        values = None
    if values is not None and len(values) == len(item_ids):
        return np.asarray(values, dtype=np.float64)
    counts = _store_item_counts(store, group)
    return np.array([counts.get(i, 0) for i in item_ids], dtype=np.float64)


def _store_item_counts(store, group: str) -> dict:
    try:
        frame = datasets.read_interactions(store, group, columns=[C.ITEM_ID])
    except NotFoundError:
        return {}
    return frame[C.ITEM_ID].astype(str).value_counts().to_dict()


def _read_optional(read: Callable, store, group: str) -> pd.DataFrame | None:
    try:
        frame = read(store, group)
    except NotFoundError:
        return None
    if frame is None or not len(frame.columns):
        return None
    return frame


_TABLES: dict[tuple[str, str, str], str | float] = {}
ABSENT_RECHECK_SECONDS = 2.0


def _signature(store, group: str, dataset_type: str):
    """A cheap fingerprint of a dataset table: its largest rowid, O(1). It grows with every write: new rows
    get a higher one and upserts move the updated row to a higher one (`datasets.TableWriter`); the periodic
    rebuild (`METADATA_MAX_AGE_SECONDS`) is a safety net for writes made outside the product.
    """
    key = (str(store.home), group, dataset_type)
    table = _TABLES.get(key)
    if isinstance(table, float):  # no such dataset when last looked (re-checked every few seconds)
        if time.monotonic() - table < ABSENT_RECHECK_SECONDS:
            return ("absent",)
        table = None
    if table is None:
        try:
            table = datasets.get_dataset(store, group, dataset_type)["table"]
        except NotFoundError:
            _TABLES[key] = time.monotonic()
            return ("absent",)
        _TABLES[key] = table
    try:
        return (table, READER.max_rowid(store, table))
    except Exception:  # noqa: BLE001 - the table was dropped or replaced: look it up again next time
        _TABLES.pop(key, None)
        return None


def _items_signature(store, group: str):
    return _signature(store, group, C.ITEMS)


def _users_signature(store, group: str):
    return _signature(store, group, C.USERS)


def _build_catalogue(store, group: str, model: LoadedModel, signature) -> Catalogue:
    items = _read_optional(datasets.read_items, store, group)
    model_ids = model.item_ids
    extra = np.empty(0, dtype=object)
    if items is not None and C.ITEM_ID in items.columns:
        items = items.drop_duplicates(C.ITEM_ID, keep="last").reset_index(drop=True)
        item_ids = items[C.ITEM_ID].astype(str).to_numpy(dtype=object)
        known = pd.Index(model_ids)
        extra = item_ids[known.get_indexer(item_ids) < 0]
    else:
        items = None
    ids = np.concatenate([model_ids, extra]).astype(object)
    position = pd.Index(ids)
    if items is not None:
        rows = pd.Index(items[C.ITEM_ID].astype(str).to_numpy(dtype=object)).get_indexer(position)
        creation = np.full(len(ids), np.nan)
        if C.CREATION_TIMESTAMP in items.columns and len(items):  # an Items dataset may exist with no rows yet
            values = pd.to_numeric(items[C.CREATION_TIMESTAMP], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            creation = np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan)
    else:
        rows = np.full(len(ids), -1)
        creation = np.full(len(ids), np.nan)
    popularity = np.concatenate([model.popularity, np.full(len(extra), -np.inf)])
    return Catalogue(ids=ids, n_model=len(model_ids), position=position, items=items, item_rows=rows,
                     creation=creation, popularity=popularity, signature=signature, checked_at=time.monotonic())


def _refresh_activity(store, group: str, act: Activity) -> None:
    """Add the interactions written since `act.last_seq` to the counts (the first call counts them all).

    Counted by SQLite (GROUP BY over the `_seq` range): building a frame of every interaction first took
    2 s at a million rows, paid by the first request of a campaign."""
    try:
        dataset = datasets.get_dataset(store, group, C.INTERACTIONS)
    except NotFoundError:
        return
    table, conn = quote(dataset["table"]), READER.conn(store)
    newest_seq, newest_time = conn.execute(
        f"SELECT max({SEQ}), max({C.TIMESTAMP}) FROM {table} WHERE {SEQ} > ?", [act.last_seq]).fetchone()
    if newest_seq is None:
        return
    span = [act.last_seq, newest_seq]
    for item, count in conn.execute(f"SELECT {C.ITEM_ID}, count(*) FROM {table} WHERE {SEQ} > ? AND {SEQ} <= ? "
                                    f"GROUP BY {C.ITEM_ID}", span):
        item = str(item)
        act.interactions[item] = act.interactions.get(item, 0) + int(count)
    if dataset["schema"].has(C.IMPRESSION):
        for shown, count in conn.execute(
                f"SELECT {C.IMPRESSION}, count(*) FROM {table} WHERE {SEQ} > ? AND {SEQ} <= ? AND "
                f"{C.IMPRESSION} IS NOT NULL AND {C.IMPRESSION} != '' GROUP BY {C.IMPRESSION}", span):
            for item in str(shown).split("|"):
                if item:
                    act.impressions[item] = act.impressions.get(item, 0) + int(count)
    act.last_seq = max(act.last_seq, int(newest_seq))
    newest = int(newest_time)
    act.max_timestamp = newest if act.max_timestamp is None else max(act.max_timestamp, newest)
