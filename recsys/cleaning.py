"""Data cleaning: exclusion rules for imports, detection of items that are not products, and the group's item
exclusion list that training drops and serving never recommends.

Example::

    rules = [ExclusionRule("InvoiceNo", "starts with", "C"), ExclusionRule("Quantity", "is negative")]
    import_file(store, "retail", "Interactions", path, exclude=exclusion_patterns(rules))   # rows dropped
    suspects = suspect_items(interactions, items)       # [{"itemId": "POST", "reasons": [...]}, ...]
    exclude_items(store, "retail", [s["itemId"] for s in suspects])
    excluded_items(store, "retail")                      # {"POST", ...}: out of training and of every answer

Suspect items are found from the data itself, never from a list of known codes: an id shaped unlike almost
every other id (letters only among numeric codes), a price that is an outlier by robust statistics (median
and MAD of the log price), or an item that sits in most baskets of the customers who have it (a fee or a
shipping line added to every order rather than a product chosen).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.columns import EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from recsys.exceptions import ValidationError
from recsys.group_settings import get_setting, put_setting, read_setting

ITEM_EXCLUSIONS = "item-exclusions"

# -- exclusion rules at import ---------------------------------------------------------------------------------

# How each condition of the import form becomes the regular expression the importer matches against the
# column's text (`recsys.ingest.import_file(exclude=...)`).
CONDITIONS = {
    "starts with": lambda v: "^" + re.escape(v),
    "ends with": lambda v: re.escape(v) + "$",
    "contains": lambda v: re.escape(v),
    "equals": lambda v: "^" + re.escape(v) + "$",
    "matches regular expression": lambda v: v,
    "is negative": lambda v: r"^\s*-\s*(?:\d|\.\d)",
    "is empty": lambda v: r"^\s*$",
}
NEEDS_VALUE = ("starts with", "ends with", "contains", "equals", "matches regular expression")


@dataclass(frozen=True)
class ExclusionRule:
    """Drop the rows of an import whose `column` meets `condition` (one of CONDITIONS) with `value`."""

    column: str
    condition: str
    value: str = ""

    def pattern(self) -> str:
        if self.condition not in CONDITIONS:
            raise ValidationError(f"Unknown exclusion condition {self.condition!r}; use one of "
                                  f"{', '.join(CONDITIONS)}.")
        if self.condition in NEEDS_VALUE and not self.value:
            raise ValidationError(f"The exclusion rule on {self.column!r} ({self.condition}) needs a value, "
                                  f"e.g. {self.column} starts with C.")
        pattern = CONDITIONS[self.condition](self.value)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationError(f"The exclusion rule on {self.column!r} is not a valid regular expression "
                                  f"({exc}): {self.value!r}.") from None
        return pattern

    def describe(self) -> str:
        return f"{self.column} {self.condition}" + (f" {self.value!r}" if self.condition in NEEDS_VALUE else "")


def exclusion_patterns(rules: Iterable[ExclusionRule]) -> dict[str, str]:
    """The importer's `exclude` mapping {column: regex} of some rules (rules on one column are OR-ed)."""
    by_column: dict[str, list[str]] = {}
    for rule in rules:
        by_column.setdefault(rule.column, []).append(rule.pattern())
    return {col: (pats[0] if len(pats) == 1 else "|".join(f"(?:{p})" for p in pats)) for col, pats in by_column.items()}


# -- suspect items ----------------------------------------------------------------------------------------------

RARE_SHAPE_SHARE = 0.005      # an id shape held by fewer than 0.5% of the items...
COMMON_SHAPES_SHARE = 0.95    # ...while the few most common shapes hold 95% of them
PRICE_OUTLIER_Z = 5.0         # |robust z| of the log price (median, MAD * 1.4826)
MIN_PRICED_ITEMS = 50
BASKET_SHARE = 0.6            # mean share of its customers' baskets an item sits in
MIN_BASKETS = 3               # customers with at least this many baskets count
MIN_BUYERS = 10               # items held by at least this many such customers
MIN_BASKET_SIZE = 1.5         # events per basket on average: below, the data has no multi-item orders
MAX_SUSPECTS = 200


def id_shape(item_id: str) -> str:
    """An id's shape: runs of letters -> A, runs of digits -> 9 ("85123A" -> "9A", "POST" -> "A")."""
    return re.sub(r"\d+", "9", re.sub(r"[^\W\d_]+", "A", str(item_id)))


def rare_id_shapes(item_ids: Iterable[str]) -> dict[str, str]:
    """{item id: reason} for ids shaped unlike almost all others (e.g. letters only among numeric codes) and of
    a length few ids have."""
    ids = pd.Series(list(dict.fromkeys(map(str, item_ids))), dtype="str")
    if len(ids) < 100:
        return {}
    shapes = ids.str.replace(r"[^\W\d_]+", "A", regex=True).str.replace(r"\d+", "9", regex=True)  # id_shape, vectorised
    counts = shapes.value_counts()
    common = counts.cumsum() / len(ids)
    # The smallest set of shapes that covers 95% of the ids is "the usual shape"; a rare shape outside it is odd.
    usual = set(counts.index[: int(np.searchsorted(common.to_numpy(), COMMON_SHAPES_SHARE)) + 1])
    rare = [s for s, n in counts.items() if s not in usual and n / len(ids) < RARE_SHAPE_SHARE]
    if not rare:
        return {}
    # An id of the usual length is a code of another numbering (an ISBN among ASINs), not a fee's word: kept.
    lengths = ids.str.len()
    by_length = lengths.value_counts()
    usual_lengths = set(by_length.index[: int(np.searchsorted((by_length.cumsum() / len(ids)).to_numpy(),
                                                               COMMON_SHAPES_SHARE)) + 1])
    odd = shapes.isin(rare) & ~lengths.isin(usual_lengths)
    usual_text = " or ".join(f'"{s}"' for s in list(usual)[:3])
    return {i: f"id shaped {id_shape(i)!r}, unlike the {counts[list(usual)].sum():,} ids shaped {usual_text}"
            for i in ids[odd].tolist()}


def price_outliers(items: pd.DataFrame | None, field: str | None = None) -> dict[str, str]:
    """{item id: reason} for items whose price is an outlier of the log prices (robust z beyond 5), or <= 0."""
    field = field or price_field(items)
    if items is None or field is None:
        return {}
    price = pd.to_numeric(items[field], errors="coerce")
    known = price.notna().to_numpy()
    if known.sum() < MIN_PRICED_ITEMS:
        return {}
    ids = items[ITEM_ID].astype(str).to_numpy()[known]
    values = price.to_numpy(dtype=float)[known]
    positive = values > 0
    logs = np.log(values[positive])
    median = float(np.median(logs))
    mad = float(np.median(np.abs(logs - median))) * 1.4826
    out = {i: f"{field} {v:g} (not a positive price)" for i, v in zip(ids[~positive], values[~positive])}
    if mad > 0:
        z = (logs - median) / mad
        typical = float(np.exp(median))
        for i, v, score in zip(ids[positive], values[positive], z):
            if abs(score) > PRICE_OUTLIER_Z:
                out[i] = f"{field} {v:,.6g}, far from the typical {typical:,.3g} (robust z {score:+.1f})"
    return out


def price_field(items: pd.DataFrame | None) -> str | None:
    """The Items column that holds prices: a numeric column named like PRICE (Personalize's convention)."""
    if items is None:
        return None
    for column in items.columns:
        if "PRICE" in str(column).upper() and pd.api.types.is_numeric_dtype(items[column]):
            return column
    return None


def basket_fixtures(interactions: pd.DataFrame, *, codes: tuple | None = None) -> dict[str, str]:
    """{item id: reason} for items in most baskets of the customers who have them (fees, shipping lines).

    A basket is a customer's events with one timestamp (data whose baskets hold 1.5 events or fewer on average
    has no orders and is skipped). Only customers with >= 3 baskets count, and only items held by >= 10 of them:
    a product is chosen in some orders, a fee is charged on nearly all of them.
    `codes`: (user codes, user ids, item codes, item ids) of `pd.factorize`, when the caller has them.
    """
    if TIMESTAMP not in interactions.columns or len(interactions) == 0:
        return {}
    users, user_ids, items, item_ids = codes or (*pd.factorize(interactions[USER_ID]),
                                                 *pd.factorize(interactions[ITEM_ID]))
    stamps = interactions[TIMESTAMP].to_numpy(dtype=np.int64)
    stamps = stamps - stamps.min()
    n_users, n_items = len(user_ids), len(item_ids)
    # Integer keys and hash tables instead of grouping frames: a million events cost a few hash passes.
    keys = users.astype(np.int64) * (int(stamps.max()) + 1) + stamps
    # Are there multi-item orders at all? Counted on whole customers (one in 8 on large data), by sorting: several
    # times cheaper than hashing every key.
    sample = keys[users % 8 == 0] if len(keys) > 250_000 else keys
    ordered = np.sort(sample)
    if len(sample) and 1 + np.count_nonzero(np.diff(ordered)) > len(sample) / MIN_BASKET_SIZE:
        return {}  # events one at a time (views, plays, ratings): no orders, so no line added to every order
    baskets = pd.factorize(keys)[0]
    basket_user = np.zeros(baskets.max() + 1, dtype=np.int64)
    basket_user[baskets] = users
    baskets_per_user = np.bincount(basket_user, minlength=n_users)
    # (np.unique sorts; pandas' hash tables are several times faster on a million keys)
    item_baskets = pd.unique(items.astype(np.int64) * len(basket_user) + baskets)
    pair_item, pair_basket = item_baskets // len(basket_user), item_baskets % len(basket_user)
    pair_codes, pairs = pd.factorize(pair_item * n_users + basket_user[pair_basket])
    per_pair = np.bincount(pair_codes, minlength=len(pairs))
    pairs = np.asarray(pairs, dtype=np.int64)
    pair_user, pair_item = pairs % n_users, pairs // n_users
    counted = baskets_per_user[pair_user] >= MIN_BASKETS
    if not counted.any():
        return {}
    share = per_pair[counted] / baskets_per_user[pair_user[counted]]
    buyers = np.bincount(pair_item[counted], minlength=n_items)
    mean_share = np.bincount(pair_item[counted], weights=share, minlength=n_items) / np.maximum(buyers, 1)
    hits = np.flatnonzero((buyers >= MIN_BUYERS) & (mean_share >= BASKET_SHARE))
    return {str(item_ids[i]): f"in {mean_share[i]:.0%} of the baskets of the {int(buyers[i]):,} customers who have it"
            for i in hits}


def suspect_items(interactions: pd.DataFrame, items: pd.DataFrame | None = None, *,
                  codes: tuple | None = None) -> list[dict]:
    """Items that look like fees, postage or adjustments rather than products, most interactions first.

    Each: {"itemId", "interactions", "reasons": [...]} (at most MAX_SUSPECTS). `codes` as for `basket_fixtures`.
    """
    codes = codes or (*pd.factorize(interactions[USER_ID]), *pd.factorize(interactions[ITEM_ID]))
    counts = pd.Series(np.bincount(codes[2], minlength=len(codes[3])), index=pd.Index(codes[3]).astype(str))
    ids = counts.index.tolist() + ([] if items is None else items[ITEM_ID].astype(str).tolist())
    found: dict[str, list[str]] = {}
    for detector in (rare_id_shapes(ids), price_outliers(items), basket_fixtures(interactions, codes=codes)):
        for item, reason in detector.items():
            found.setdefault(item, []).append(reason)
    ranked = sorted(found, key=lambda i: (-int(counts.get(i, 0)), i))[:MAX_SUSPECTS]
    return [{"itemId": i, "interactions": int(counts.get(i, 0)), "reasons": found[i]} for i in ranked]


PLACEHOLDER_USER_SHARE = 0.05   # a user holding at least 5% of all interactions...
PLACEHOLDER_USER_RATIO = 50     # ...and 50 times the median user's count is not one person


def placeholder_users(interactions: pd.DataFrame, *, codes: tuple | None = None) -> list[dict]:
    """Users that stand for many people: the value an export writes where the user is unknown ("NA", "0",
    "guest"), found by their share of the interactions, never by a list of such values.

    Each: {"userId", "interactions", "share"}, most interactions first. `codes` as for `basket_fixtures`.
    """
    if len(interactions) == 0:
        return []
    users, user_ids = codes[:2] if codes else pd.factorize(interactions[USER_ID])
    counts = np.bincount(users, minlength=len(user_ids))
    if len(counts) < 3:
        return []
    median = float(np.median(counts))
    hits = np.flatnonzero((counts >= PLACEHOLDER_USER_SHARE * len(interactions))
                          & (counts >= PLACEHOLDER_USER_RATIO * median))
    hits = hits[np.argsort(-counts[hits], kind="stable")]
    return [{"userId": str(user_ids[u]), "interactions": int(counts[u]), "share": float(counts[u] / len(interactions))}
            for u in hits]


def negative_event_values(interactions: pd.DataFrame) -> int:
    """Interactions with EVENT_VALUE < 0 (returns, corrections), 0 without the field."""
    if EVENT_VALUE not in interactions.columns:
        return 0
    values = pd.to_numeric(interactions[EVENT_VALUE], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return int(np.count_nonzero(values < 0))


# -- the group's exclusion list -----------------------------------------------------------------------------------


def excluded_items(store, group: str) -> list[str]:
    """The items excluded from training and from every recommendation in `group` (sorted)."""
    return list(get_setting(store, group, ITEM_EXCLUSIONS, []) or [])


def set_excluded_items(store, group: str, item_ids: Iterable[str]) -> list[str]:
    """Replace the group's exclusion list; models trained after the change leave these items out, and serving
    never recommends them from the next request on."""
    ids = sorted({str(i).strip() for i in item_ids if str(i).strip()})
    put_setting(store, group, ITEM_EXCLUSIONS, ids)
    return ids


def exclude_items(store, group: str, item_ids: Iterable[str]) -> list[str]:
    """Add items to the group's exclusion list; returns the whole list."""
    return set_excluded_items(store, group, [*excluded_items(store, group), *item_ids])


def include_items(store, group: str, item_ids: Iterable[str]) -> list[str]:
    """Take items off the group's exclusion list; returns the whole list."""
    drop = {str(i) for i in item_ids}
    return set_excluded_items(store, group, [i for i in excluded_items(store, group) if i not in drop])


def read_excluded_items(conn, group: str) -> list[str]:
    """The group's exclusion list read on an open connection (the serving path's per-thread reader)."""
    return list(read_setting(conn, group, ITEM_EXCLUSIONS, []) or [])


def drop_excluded(frame: pd.DataFrame | None, excluded: Iterable[str]) -> pd.DataFrame | None:
    """`frame` without the rows of excluded items (by ITEM_ID); the frame itself when nothing is excluded."""
    excluded = list(excluded)
    if frame is None or not excluded or ITEM_ID not in frame.columns:
        return frame
    keep = ~frame[ITEM_ID].astype(str).isin(excluded).to_numpy()
    return frame if keep.all() else frame[keep].reset_index(drop=True)
