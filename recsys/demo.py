"""Seeded generator of the demo e-commerce data set (SPEC §12), whose hidden structure is known and written out.

The demo has the three Personalize datasets (Interactions, Items, Users) plus a `ground_truth.json` that
records the structure the generator planted, so tests and the workbench can check that recipes find it:

- 8 taste clusters, one per item category (`CATEGORY_L1`), each with 4 sub-categories (`CATEGORY_L2`);
  about 8% of items carry a second `CATEGORY_L1` value, ``gifts`` (multi-valued ``books|gifts``).
- Each user has a main cluster (~75% of their events), a secondary cluster (~15%) and a favourite
  sub-category inside the main cluster; users are sticky to a main `DEVICE` (80% of their events).
- `DEVICE` really shifts preferences: on ``mobile`` users favour the first two (cheap) sub-categories of
  each category and cheaper items, on ``desktop`` the last two (expensive) ones, on ``tablet`` the second;
  the category mix also shifts (tablet: books and toys, mobile: fashion and beauty, desktop: electronics
  and home).
- Item popularity is Zipf-like inside each category; activity grows over the 180 days (x3).
- ~20 items trend in the last 3 days (a sharp ramp from a low base), ~50 items are new (created in the
  last 14 days, a few interactions each).
- Events follow a funnel: every ``cart`` follows a ``view`` of the same item by the same user, and almost
  every ``purchase`` follows a ``cart``; `EVENT_VALUE` is the price for purchases and empty otherwise.

Generation is vectorised numpy and deterministic for a seed (the default size takes well under a second).
The demo dataset group is a *custom* group (no domain): it serves every recipe, with `DEVICE` as
contextual metadata; its schemas also satisfy the ECOMMERCE field rules.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import datasets, ingest
from recsys.columns import (
    CREATION_TIMESTAMP, EVENT_TYPE, EVENT_VALUE, INTERACTIONS, ITEM_ID, ITEMS, TIMESTAMP, USER_ID, USERS,
)
from recsys.exceptions import NotFoundError
from recsys.files import atomic_path

log = logging.getLogger(__name__)

DAY = 86_400
DEFAULT_NOW = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp())
SPAN_DAYS = 180
TRENDING_DAYS = 3
NEW_ITEM_DAYS = 14

# Field names of the demo's own metadata (not Personalize reserved names).
DEVICE = "DEVICE"
PRICE = "PRICE"
CATEGORY_L1 = "CATEGORY_L1"
CATEGORY_L2 = "CATEGORY_L2"
PRODUCT_DESCRIPTION = "PRODUCT_DESCRIPTION"
AGE_GROUP = "AGE_GROUP"
MEMBERSHIP = "MEMBERSHIP"
COUNTRY = "COUNTRY"

# Category -> [(sub-category, typical price)], cheap sub-categories first (mobile favours them).
CATEGORIES: dict[str, list[tuple[str, float]]] = {
    "electronics": [("phone accessories", 18), ("headphones", 70), ("laptops", 950), ("televisions", 650)],
    "books": [("ebooks", 8), ("paperbacks", 14), ("hardcovers", 28), ("textbooks", 85)],
    "kitchen": [("gadgets", 12), ("cookware", 55), ("small appliances", 120), ("espresso machines", 420)],
    "fashion": [("accessories", 20), ("t-shirts", 25), ("shoes", 90), ("coats", 180)],
    "sports": [("fitness accessories", 15), ("yoga", 35), ("camping", 140), ("cycling", 260)],
    "beauty": [("makeup", 14), ("skincare", 30), ("fragrance", 75), ("hair tools", 110)],
    "toys": [("card games", 12), ("puzzles", 22), ("building sets", 60), ("ride-ons", 150)],
    "home": [("decor", 20), ("bedding", 60), ("lighting", 85), ("furniture", 380)],
}
CLUSTERS = tuple(CATEGORIES)
GIFT_TAG = "gifts"

VOCABULARY: dict[str, list[str]] = {
    "electronics": ["wireless", "bluetooth", "battery", "charging", "usb-c", "display", "processor", "noise",
                    "cancelling", "hdmi", "resolution", "smart", "speaker", "memory", "screen", "signal"],
    "books": ["novel", "author", "chapter", "story", "edition", "paperback", "bestselling", "fiction",
              "history", "biography", "illustrated", "reading", "series", "mystery", "poetry", "classic"],
    "kitchen": ["stainless", "nonstick", "recipe", "cooking", "blender", "dishwasher-safe", "baking", "pan",
                "knife", "coffee", "brewing", "kettle", "chef", "utensil", "ceramic", "oven"],
    "fashion": ["cotton", "slim", "fit", "denim", "leather", "sleeve", "collar", "waterproof", "style",
                "casual", "wool", "stitching", "fabric", "sizing", "seasonal", "tailored"],
    "sports": ["training", "workout", "outdoor", "trail", "lightweight", "breathable", "grip", "endurance",
               "tent", "helmet", "mat", "running", "hiking", "bike", "gym", "stretch"],
    "beauty": ["moisturising", "serum", "vitamin", "fragrance", "lipstick", "shade", "skin", "hydrating",
               "cruelty-free", "scent", "foundation", "glow", "gentle", "formula", "salon", "hair"],
    "toys": ["kids", "playful", "colourful", "puzzle", "pieces", "imagination", "ages", "educational",
             "family", "game", "building", "bricks", "fun", "creative", "toddler", "learning"],
    "home": ["cosy", "decor", "linen", "lamp", "oak", "cushion", "living", "room", "bedroom", "warm",
             "minimalist", "storage", "shelf", "handmade", "rug", "interior"],
}
GENERIC_WORDS = ["premium", "classic", "everyday", "compact", "durable", "modern", "essential", "quality",
                 "popular", "value", "new", "favourite"]

DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARE = np.array([0.55, 0.35, 0.10])
DEVICE_STICKINESS = 0.8
# Sub-category affinity by device (index = position in CATEGORIES[...]).
DEVICE_L2_AFFINITY = np.array([
    [3.0, 1.8, 0.5, 0.3],   # mobile: cheap sub-categories
    [0.4, 0.7, 1.8, 2.6],   # desktop: expensive sub-categories
    [0.8, 2.6, 1.2, 0.6],   # tablet: the second sub-category
])
# Category affinity by device (order of CLUSTERS).
DEVICE_L1_AFFINITY = np.array([
    [1.0, 1.0, 1.0, 1.6, 1.0, 1.6, 1.0, 1.0],   # mobile: fashion, beauty
    [1.6, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.6],   # desktop: electronics, home
    [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.6, 1.0],   # tablet: books, toys
])
# Price elasticity by device: weight *= (price / typical price) ** exponent.
DEVICE_PRICE_EXPONENT = np.array([-1.0, 0.4, 0.0])

AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55+")
# P(age group | main cluster), rows in CLUSTERS order.
AGE_BY_CLUSTER = np.array([
    [0.35, 0.35, 0.15, 0.10, 0.05],   # electronics
    [0.15, 0.20, 0.20, 0.20, 0.25],   # books
    [0.05, 0.20, 0.30, 0.25, 0.20],   # kitchen
    [0.35, 0.35, 0.15, 0.10, 0.05],   # fashion
    [0.25, 0.35, 0.25, 0.10, 0.05],   # sports
    [0.30, 0.35, 0.20, 0.10, 0.05],   # beauty
    [0.05, 0.30, 0.45, 0.15, 0.05],   # toys
    [0.05, 0.25, 0.30, 0.25, 0.15],   # home
])
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "ES", "IT")
COUNTRY_SHARE = np.array([0.45, 0.15, 0.12, 0.10, 0.08, 0.05, 0.05])
MEMBERSHIPS = ("free", "prime")
PRIME_SHARE = 0.3

COLD_USER_SHARE = 0.01
MAIN_TASTE, SECONDARY_TASTE = 0.75, 0.15      # the rest is spread over all clusters
FAVOURITE_L2_BOOST = 3.0
ZIPF_EXPONENT = 1.0
CART_RATE, PURCHASE_RATE, DIRECT_PURCHASE_RATE = 0.12, 0.45, 0.005

SCHEMA_FIELDS: dict[str, list[dict]] = {
    INTERACTIONS: [
        {"name": USER_ID, "type": "string"},
        {"name": ITEM_ID, "type": "string"},
        {"name": TIMESTAMP, "type": "long"},
        {"name": EVENT_TYPE, "type": "string"},
        {"name": EVENT_VALUE, "type": ["null", "float"]},
        {"name": DEVICE, "type": "string", "categorical": True},
    ],
    ITEMS: [
        {"name": ITEM_ID, "type": "string"},
        {"name": PRICE, "type": "float"},
        {"name": CATEGORY_L1, "type": "string", "categorical": True},
        {"name": CATEGORY_L2, "type": "string", "categorical": True},
        {"name": PRODUCT_DESCRIPTION, "type": "string", "textual": True},
        {"name": CREATION_TIMESTAMP, "type": "long"},
    ],
    USERS: [
        {"name": USER_ID, "type": "string"},
        {"name": AGE_GROUP, "type": "string", "categorical": True},
        {"name": MEMBERSHIP, "type": "string", "categorical": True},
        {"name": COUNTRY, "type": "string", "categorical": True},
    ],
}
FILE_STEMS = {INTERACTIONS: "interactions", ITEMS: "items", USERS: "users"}


def demo_schema(dataset_type: str) -> dict:
    """The Personalize Avro schema (as a dict) of one demo dataset: `Interactions`, `Items` or `Users`."""
    return {
        "type": "record",
        "name": dataset_type,
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [dict(f) for f in SCHEMA_FIELDS[dataset_type]],
        "version": "1.0",
    }


@dataclass(frozen=True)
class DemoData:
    """The three demo frames (Personalize columns) and the structure the generator planted in them."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    ground_truth: dict = field(default_factory=dict)

    def frame(self, dataset_type: str) -> pd.DataFrame:
        """The frame of `Interactions`, `Items` or `Users`."""
        return {INTERACTIONS: self.interactions, ITEMS: self.items, USERS: self.users}[dataset_type]


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(4, len(str(n)))
    return np.array([f"{prefix}{k:0{width}d}" for k in range(1, n + 1)], dtype=object)


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs` (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _make_items(rng, n_items, now, n_new):
    n_l2 = 4
    cluster = rng.integers(0, len(CLUSTERS), n_items)
    l2 = rng.integers(0, n_l2, n_items)
    base_price = np.array([[p for _, p in CATEGORIES[c]] for c in CLUSTERS], dtype=float)[cluster, l2]
    price = np.maximum(0.99, np.round(base_price * rng.lognormal(0.0, 0.35, n_items)) - 0.01)
    # Zipf-like popularity inside each category: weight = rank ** -a over a random order.
    rank = np.empty(n_items)
    order = np.lexsort((rng.random(n_items), cluster))
    starts = np.searchsorted(cluster[order], np.arange(len(CLUSTERS)))
    rank[order] = np.arange(n_items) - starts[cluster[order]] + 1
    popularity = rank ** -ZIPF_EXPONENT
    # Creation: most items exist before the window, 20% appear during it, `n_new` in the last 14 days.
    start = now - SPAN_DAYS * DAY
    created = start - rng.integers(30 * DAY, 3 * 365 * DAY, n_items)
    during = rng.random(n_items) < 0.2
    created[during] = start + rng.integers(0, (SPAN_DAYS - 30) * DAY, during.sum())
    is_new = np.zeros(n_items, dtype=bool)
    is_new[rng.choice(n_items, size=min(n_new, n_items), replace=False)] = True
    created[is_new] = now - rng.integers(3600, NEW_ITEM_DAYS * DAY, is_new.sum())
    l1_names = np.array(CLUSTERS, dtype=object)[cluster]
    gift = rng.random(n_items) < 0.08
    l1_values = np.where(gift, l1_names + "|" + GIFT_TAG, l1_names)
    l2_names = np.array([[n for n, _ in CATEGORIES[c]] for c in CLUSTERS], dtype=object)[cluster, l2]
    descriptions = _descriptions(rng, cluster, l2_names)
    items = pd.DataFrame({
        ITEM_ID: pd.array(_ids("i", n_items), dtype="str"),
        PRICE: price.astype("float64"),
        CATEGORY_L1: pd.array(l1_values, dtype="str"),
        CATEGORY_L2: pd.array(l2_names, dtype="str"),
        PRODUCT_DESCRIPTION: pd.array(descriptions, dtype="str"),
        CREATION_TIMESTAMP: created.astype("int64"),
    })
    return items, cluster, l2, base_price, popularity, is_new


def _descriptions(rng, cluster, l2_names):
    n = len(cluster)
    vocab = np.array([VOCABULARY[c] for c in CLUSTERS], dtype=object)
    words = vocab[cluster[:, None], rng.integers(0, vocab.shape[1], (n, 6))]
    generic = np.array(GENERIC_WORDS, dtype=object)[rng.integers(0, len(GENERIC_WORDS), (n, 2))]
    return [
        f"{g[0].capitalize()} {g[1]} {name}: {w[0]}, {w[1]} and {w[2]}. "
        f"Designed for {w[3]} {w[4]} with {w[5]} details."
        for g, name, w in zip(generic, l2_names, words)
    ]


def _make_users(rng, n_users):
    main = rng.integers(0, len(CLUSTERS), n_users)
    secondary = (main + rng.integers(1, len(CLUSTERS), n_users)) % len(CLUSTERS)
    favourite_l2 = rng.integers(0, 4, n_users)
    main_device = rng.choice(len(DEVICES), size=n_users, p=DEVICE_SHARE)
    prime = rng.random(n_users) < PRIME_SHARE
    age = _pick(rng, AGE_BY_CLUSTER[main])
    country = rng.choice(len(COUNTRIES), size=n_users, p=COUNTRY_SHARE)
    users = pd.DataFrame({
        USER_ID: pd.array(_ids("u", n_users), dtype="str"),
        AGE_GROUP: pd.array(np.array(AGE_GROUPS, dtype=object)[age], dtype="str"),
        MEMBERSHIP: pd.array(np.where(prime, "prime", "free").astype(object), dtype="str"),
        COUNTRY: pd.array(np.array(COUNTRIES, dtype=object)[country], dtype="str"),
    })
    taste = np.full((n_users, len(CLUSTERS)), (1 - MAIN_TASTE - SECONDARY_TASTE) / len(CLUSTERS))
    taste[np.arange(n_users), main] += MAIN_TASTE
    taste[np.arange(n_users), secondary] += SECONDARY_TASTE
    activity = rng.lognormal(0.0, 1.0, n_users) * np.where(prime, 1.5, 1.0)
    # ~1% of users signed up but never interacted (cold users: metadata only).
    cold = rng.random(n_users) < COLD_USER_SHARE
    if cold.all():
        cold[0] = False
    activity[cold] = 0.0
    return users, main, secondary, favourite_l2, main_device, taste, activity / activity.sum()


def _devices(rng, main_device):
    """Each event's device: the user's main device 80% of the time, else a draw from the overall mix."""
    other = rng.choice(len(DEVICES), size=len(main_device), p=DEVICE_SHARE)
    return np.where(rng.random(len(main_device)) < DEVICE_STICKINESS, main_device, other)


def _growth_times(rng, n, now):
    """Timestamps over the window with activity growing x3 from start to end (inverse-CDF draw)."""
    g = np.log(3.0)
    frac = np.log1p(rng.random(n) * (np.exp(g) - 1.0)) / g
    return (now - SPAN_DAYS * DAY + frac * (SPAN_DAYS * DAY - 1)).astype(np.int64)


def _base_views(rng, n_views, users, items):
    """Views of every user: cluster by taste x device, sub-category by device x favourite, item by popularity."""
    main, favourite_l2, main_device, taste, activity = users
    cluster, l2, price_ratio, popularity, eligible, created, now = items
    n_users = len(main)
    active = activity > 0
    counts = rng.multinomial(max(n_views - 2 * active.sum(), 0), activity) + 2 * active
    u = np.repeat(np.arange(n_users), counts)
    rng.shuffle(u)
    dev = _devices(rng, main_device[u])
    c = _pick(rng, taste[u] * DEVICE_L1_AFFINITY[dev])
    l2_weights = DEVICE_L2_AFFINITY[dev].copy()
    fav = c == main[u]
    l2_weights[np.flatnonzero(fav), favourite_l2[u][fav]] *= FAVOURITE_L2_BOOST
    s = _pick(rng, l2_weights)
    # Item inside (cluster, sub-category), weighted by popularity x device price elasticity:
    # events sorted by (device, cluster, sub-category), one inverse-CDF draw per block.
    item = np.full(len(u), -1)
    key = (dev * len(CLUSTERS) + c) * 4 + s
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(len(DEVICES) * len(CLUSTERS) * 4 + 1))
    group = cluster * 4 + l2
    for k in np.flatnonzero(np.diff(bounds)):
        d, gid = divmod(int(k), len(CLUSTERS) * 4)
        rows = order[bounds[k]:bounds[k + 1]]
        w_item = popularity * price_ratio ** DEVICE_PRICE_EXPONENT[d] * eligible
        candidates = np.flatnonzero((group == gid) & (w_item > 0))
        if len(candidates) == 0:     # tiny catalogues: fall back to the category, then to everything
            candidates = np.flatnonzero((cluster == gid // 4) & (w_item > 0))
        if len(candidates) == 0:
            candidates = np.flatnonzero(w_item > 0)
        cw = np.cumsum(w_item[candidates])
        pos = np.searchsorted(cw, rng.random(len(rows)) * cw[-1], side="right")
        item[rows] = candidates[np.minimum(pos, len(candidates) - 1)]
    t = _growth_times(rng, len(u), now)
    # An item cannot be viewed before it exists: move such views into its lifetime.
    early = t < created[item]
    t[early] = created[item[early]] + (rng.random(early.sum()) * (now - 1 - created[item[early]])).astype(np.int64)
    return u, item, dev, t


def _trending_views(rng, n_views, trending, cluster, user_main, main_device, activity, now):
    """A sharp ramp of views of the trending items over the last days (intensity rising towards `now`)."""
    hotness = rng.uniform(0.5, 1.5, len(trending))
    item = trending[rng.choice(len(trending), size=n_views, p=hotness / hotness.sum())]
    u = rng.choice(len(user_main), size=n_views, p=activity)
    # Half of the buzz comes from the item's own cluster.
    same = rng.random(n_views) < 0.5
    for k in range(len(CLUSTERS)):
        rows = np.flatnonzero(same & (cluster[item] == k))
        members = np.flatnonzero((user_main == k) & (activity > 0))
        if len(rows) and len(members):
            p = activity[members] / activity[members].sum()
            u[rows] = members[rng.choice(len(members), size=len(rows), p=p)]
    t = now - TRENDING_DAYS * DAY + (np.sqrt(rng.random(n_views)) * (TRENDING_DAYS * DAY - 1)).astype(np.int64)
    return u, item, _devices(rng, main_device[u]), t


def _new_item_views(rng, new_items, cluster, created, user_main, main_device, activity, now):
    """A few views (0-8) of each new item, by active users of its cluster, after its creation."""
    per_item = np.minimum(rng.poisson(3.0, len(new_items)), 8)
    item = np.repeat(new_items, per_item)
    u = np.empty(len(item), dtype=np.int64)
    for k in range(len(CLUSTERS)):
        rows = np.flatnonzero(cluster[item] == k)
        members = np.flatnonzero((user_main == k) & (activity > 0))
        if len(rows):
            pool = members if len(members) else np.flatnonzero(activity > 0)
            u[rows] = pool[rng.integers(0, len(pool), len(rows))]
    t = created[item] + (rng.random(len(item)) * (now - 1 - created[item])).astype(np.int64)
    return u, item, _devices(rng, main_device[u]), t


def _funnel(rng, u, item, dev, t, price, now):
    """Views -> carts (same user, item, device, minutes later) -> purchases (EVENT_VALUE = price)."""
    cheapness = np.clip(1.6 - np.log10(price[item]) / 3.0, 0.5, 1.5)
    cart = rng.random(len(u)) < CART_RATE * cheapness
    cart_t = np.minimum(t[cart] + 1 + rng.exponential(120.0, cart.sum()).astype(np.int64), now - 1)
    bought = rng.random(cart.sum()) < PURCHASE_RATE
    buy_t = np.minimum(cart_t[bought] + 1 + rng.exponential(600.0, bought.sum()).astype(np.int64), now - 1)
    direct = ~cart & (rng.random(len(u)) < DIRECT_PURCHASE_RATE)    # "buy now" without a cart
    direct_t = np.minimum(t[direct] + 1 + rng.exponential(300.0, direct.sum()).astype(np.int64), now - 1)
    cu, ci, cd = u[cart], item[cart], dev[cart]
    parts = [
        (u, item, dev, t, 0),
        (cu, ci, cd, cart_t, 1),
        (cu[bought], ci[bought], cd[bought], buy_t, 2),
        (u[direct], item[direct], dev[direct], direct_t, 2),
    ]
    cat = [np.concatenate([p[k] for p in parts]) for k in range(4)]
    kind = np.concatenate([np.full(len(p[0]), p[4], dtype=np.int8) for p in parts])
    return (*cat, kind)


def generate_demo(seed: int = 7, n_users: int = 2000, n_items: int = 1000, n_interactions: int = 100_000,
                  now: int = DEFAULT_NOW, *, n_trending: int = 20, n_new_items: int = 50) -> DemoData:
    """Generate the demo data set: interactions, items and users with a known structure.

    Example: ``data = generate_demo(seed=7); data.interactions.head()``

    Parameters
    ----------
    seed : the random seed; the same seed gives identical frames.
    n_users, n_items : catalogue sizes (ids ``u0001``..., ``i0001``...).
    n_interactions : approximate number of events (views + carts + purchases), within a few percent.
    now : epoch seconds of the end of the 180-day window (default 2026-11-01T00:00Z, fixed so that
        the data does not change with the clock).
    n_trending, n_new_items : how many items trend in the last 3 days / were created in the last 14 days.

    Returns
    -------
    DemoData with `interactions` (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE, DEVICE; sorted by
    time), `items` (ITEM_ID, PRICE, CATEGORY_L1, CATEGORY_L2, PRODUCT_DESCRIPTION, CREATION_TIMESTAMP),
    `users` (USER_ID, AGE_GROUP, MEMBERSHIP, COUNTRY) and `ground_truth` (see `ground_truth.json`).
    """
    if n_users < 1 or n_items < len(CLUSTERS) or n_interactions < 1:
        raise ValueError(f"demo sizes too small: n_users={n_users} (>= 1), n_items={n_items} "
                         f"(>= {len(CLUSTERS)}), n_interactions={n_interactions} (>= 1)")
    rng = np.random.default_rng(seed)
    now = int(now)
    n_new = min(n_new_items, n_items // 4)
    items, cluster, l2, base_price, popularity, is_new = _make_items(rng, n_items, now, n_new)
    price = items[PRICE].to_numpy()
    created = items[CREATION_TIMESTAMP].to_numpy()
    users, main, secondary, fav, main_device, taste, activity = _make_users(rng, n_users)

    # Trending items: established tail items (created before the window, not in their category's top 15).
    candidates = np.flatnonzero(~is_new & (created < now - SPAN_DAYS * DAY) & (popularity < 1 / 15))
    if len(candidates) < n_trending:
        candidates = np.flatnonzero(~is_new)
    trending = np.sort(rng.choice(candidates, size=min(n_trending, len(candidates)), replace=False))

    events_per_view = 1 + CART_RATE + CART_RATE * PURCHASE_RATE + DIRECT_PURCHASE_RATE
    n_views = max(int(round(n_interactions / events_per_view)), 1)
    n_trend_views = int(round(0.012 * n_views)) if len(trending) else 0
    new_items = np.flatnonzero(is_new)
    new_parts = _new_item_views(rng, new_items, cluster, created, main, main_device, activity, now)
    n_base = max(n_views - n_trend_views - len(new_parts[0]), 2 * int((activity > 0).sum()))
    eligible = (~is_new).astype(float)
    base = _base_views(rng, n_base, (main, fav, main_device, taste, activity),
                       (cluster, l2, price / base_price, popularity, eligible, created, now))
    parts = [base, new_parts]
    if n_trend_views:
        parts.append(_trending_views(rng, n_trend_views, trending, cluster, main, main_device, activity, now))
    u, item, dev, t = (np.concatenate([p[k] for p in parts]) for k in range(4))
    u, item, dev, t, kind = _funnel(rng, u, item, dev, t, price, now)

    order = np.lexsort((kind, item, u, t))
    u, item, dev, t, kind = u[order], item[order], dev[order], t[order], kind[order]
    value = np.where(kind == 2, price[item], np.nan)
    interactions = pd.DataFrame({
        USER_ID: pd.array(users[USER_ID].to_numpy()[u], dtype="str"),
        ITEM_ID: pd.array(items[ITEM_ID].to_numpy()[item], dtype="str"),
        TIMESTAMP: t.astype("int64"),
        EVENT_TYPE: pd.array(np.array(["view", "cart", "purchase"], dtype=object)[kind], dtype="str"),
        EVENT_VALUE: value.astype("float64"),
        DEVICE: pd.array(np.array(DEVICES, dtype=object)[dev], dtype="str"),
    })
    truth = _ground_truth(seed, now, users, items, main, secondary, fav, main_device, cluster, trending, new_items)
    truth["cold_user_ids"] = users[USER_ID][activity == 0].tolist()
    truth["cold_item_ids"] = sorted(set(items[ITEM_ID]) - set(interactions[ITEM_ID].unique()))
    return DemoData(interactions=interactions, items=items, users=users, ground_truth=truth)


def _ground_truth(seed, now, users, items, main, secondary, fav, main_device, cluster, trending, new_items):
    user_ids = users[USER_ID].tolist()
    item_ids = items[ITEM_ID].tolist()
    names = np.array(CLUSTERS, dtype=object)
    l2_names = {c: [n for n, _ in CATEGORIES[c]] for c in CLUSTERS}
    return {
        "seed": int(seed),
        "now": int(now),
        "now_iso": _iso(now),
        "span_days": SPAN_DAYS,
        "clusters": {c: l2_names[c] for c in CLUSTERS},
        "user_cluster": dict(zip(user_ids, names[main].tolist())),
        "user_secondary_cluster": dict(zip(user_ids, names[secondary].tolist())),
        "user_favourite_category_l2": {
            uid: l2_names[c][k] for uid, c, k in zip(user_ids, names[main].tolist(), fav.tolist())
        },
        "user_main_device": dict(zip(user_ids, np.array(DEVICES, dtype=object)[main_device].tolist())),
        "item_cluster": dict(zip(item_ids, names[cluster].tolist())),
        "trending_item_ids": [item_ids[k] for k in trending.tolist()],
        "trending_since": int(now - TRENDING_DAYS * DAY),
        "new_item_ids": [item_ids[k] for k in new_items.tolist()],
        "new_since": int(now - NEW_ITEM_DAYS * DAY),
        "device_preferences": {
            d: {
                "category_l2_affinity_by_position": DEVICE_L2_AFFINITY[k].tolist(),
                "favoured_category_l2": [l2_names[c][j] for c in CLUSTERS
                                         for j in np.flatnonzero(DEVICE_L2_AFFINITY[k] > 1.5).tolist()],
                "favoured_category_l1": [c for c, a in zip(CLUSTERS, DEVICE_L1_AFFINITY[k]) if a > 1.0],
                "price_exponent": float(DEVICE_PRICE_EXPONENT[k]),
                "share": float(DEVICE_SHARE[k]),
            }
            for k, d in enumerate(DEVICES)
        },
        "device_stickiness": DEVICE_STICKINESS,
        "taste_mix": {"main": MAIN_TASTE, "secondary": SECONDARY_TASTE,
                      "spread": round(1 - MAIN_TASTE - SECONDARY_TASTE, 6)},
    }


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


README = """# Demo data set (generated by `python -m recsys demo --seed {seed}`)

A synthetic e-commerce shop: {n_users:,} users, {n_items:,} items, {n_interactions:,} interactions from
{start} to {end}. Load it with `python -m recsys demo` (dataset group `demo`, custom domain)
or import the CSV files yourself with their Avro schemas (`*.schema.json`, Personalize format).

| file | columns |
|---|---|
| interactions.csv | USER_ID, ITEM_ID, TIMESTAMP (epoch s), EVENT_TYPE (view, cart, purchase), EVENT_VALUE (price of a purchase), DEVICE (mobile, desktop, tablet: context) |
| items.csv | ITEM_ID, PRICE, CATEGORY_L1 (multi-valued with `\\|`, e.g. `books\\|gifts`), CATEGORY_L2, PRODUCT_DESCRIPTION (text), CREATION_TIMESTAMP |
| users.csv | USER_ID, AGE_GROUP, MEMBERSHIP (free, prime), COUNTRY |

Known structure (details per user and item in `ground_truth.json`):

- 8 taste clusters = the 8 values of CATEGORY_L1 ({clusters});
  each user spends ~75% of their events in a main cluster, ~15% in a secondary one and has a favourite
  CATEGORY_L2 inside the main cluster.
- Popularity is long-tailed (Zipf) inside each category; activity grows x3 over the {span} days.
- DEVICE matters: on mobile users prefer the cheap sub-categories (first two of each category) and cheaper
  items, on desktop the expensive ones, on tablet the second sub-category, books and toys. Users use a
  main device for 80% of their events.
- {n_trending} items trend in the last 3 days (`trending_item_ids`): a sharp ramp from a low base.
- {n_new} items were created in the last 14 days (`new_item_ids`) and have only a few interactions, some
  none (`cold_item_ids`); ~1% of users have metadata but no interactions (`cold_user_ids`).
- Funnel: every `cart` follows a `view` of the same item by the same user minutes earlier; nearly every
  `purchase` follows a `cart`. AGE_GROUP correlates with the main cluster (e.g. toys: 35-44).
"""


def _write_atomic(files: dict[Path, callable]) -> None:
    """Write every file to a temporary beside it, then rename them all into place (none when a write fails)."""
    with contextlib.ExitStack() as stack:
        for path, writer in files.items():
            writer(stack.enter_context(atomic_path(path)))


def _text_writer(text: str):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    return write


def _csv_writer(frame: pd.DataFrame):
    def write(tmp):
        frame.to_csv(tmp, index=False, na_rep="", lineterminator="\n")
    return write


def write_demo(directory: str | os.PathLike = "data/demo", data: DemoData | None = None, *, seed: int = 7,
               **sizes) -> dict[str, Path]:
    """Generate (or take) the demo data and write its CSV files, Avro schemas, README and ground truth.

    Example: ``paths = write_demo("data/demo", seed=7); paths["Interactions"]``

    Parameters
    ----------
    directory : created if missing; existing demo files in it are replaced atomically.
    data : a `DemoData` to write; default ``generate_demo(seed=seed, **sizes)``.
    seed, sizes : passed to `generate_demo` when `data` is not given.

    Returns
    -------
    ``{"Interactions": path, "Items": path, "Users": path, "schemas": {type: path}, "ground_truth": path,
    "README": path}``.
    """
    if data is None:
        data = generate_demo(seed=seed, **sizes)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[Path, callable] = {}
    paths: dict = {"schemas": {}}
    for dataset_type, stem in FILE_STEMS.items():
        csv_path, schema_path = out / f"{stem}.csv", out / f"{stem}.schema.json"
        files[csv_path] = _csv_writer(data.frame(dataset_type))
        files[schema_path] = _text_writer(json.dumps(demo_schema(dataset_type), indent=2) + "\n")
        paths[dataset_type] = csv_path
        paths["schemas"][dataset_type] = schema_path
    truth = data.ground_truth
    ts = data.interactions[TIMESTAMP]
    readme = README.format(
        seed=truth.get("seed", seed), n_users=len(data.users), n_items=len(data.items),
        n_interactions=len(data.interactions), start=_iso(ts.min()), end=_iso(ts.max()),
        clusters=", ".join(CLUSTERS), span=SPAN_DAYS, n_trending=len(truth.get("trending_item_ids", [])),
        n_new=len(truth.get("new_item_ids", [])),
    )
    paths["ground_truth"], paths["README"] = out / "ground_truth.json", out / "README.md"
    files[paths["ground_truth"]] = _text_writer(json.dumps(truth, indent=1) + "\n")
    files[paths["README"]] = _text_writer(readme)
    _write_atomic(files)
    log.info("wrote demo data (%d interactions) to %s", len(data.interactions), out)
    return paths


def read_ground_truth(directory: str | os.PathLike = "data/demo") -> dict:
    """The `ground_truth.json` written beside the demo files."""
    return json.loads((Path(directory) / "ground_truth.json").read_text(encoding="utf-8"))


def load_demo(store, group: str = "demo", directory: str | os.PathLike = "data/demo", *,
              write_if_missing: bool = True, seed: int = 7) -> dict:
    """Create the demo dataset group (custom domain) and import the three demo files into it (mode FULL).

    Idempotent: an existing group is reused and its datasets are fully replaced by the files.

    Example: ``load_demo(Store(), "demo")``

    Parameters
    ----------
    store : the workspace `Store`.
    group : dataset group name.
    directory : where the demo files are; written with `write_demo(seed=seed)` if missing.

    Returns
    -------
    ``{"group": dict, "imports": {dataset_type: recsys.ingest.ImportJob}}``.

    Raises
    ------
    recsys.exceptions.ImportFailed if a file does not import; ConflictError if the group already has a dataset
    with another schema (delete the group or pick another `group`).
    """
    out = Path(directory)
    if write_if_missing and not all((out / f"{stem}.csv").exists() for stem in FILE_STEMS.values()):
        write_demo(out, seed=seed)
    try:
        group_info = store.get_dataset_group(group)
    except NotFoundError:
        group_info = store.create_dataset_group(group, domain=None)
    jobs = {}
    for dataset_type, stem in FILE_STEMS.items():
        schema = json.loads((out / f"{stem}.schema.json").read_text(encoding="utf-8"))
        datasets.get_or_create_dataset(store, group, dataset_type, schema)
        jobs[dataset_type] = ingest.import_file(store, group, dataset_type, out / f"{stem}.csv", mode="FULL")
    return {"group": group_info, "imports": jobs}
