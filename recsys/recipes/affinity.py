"""USER_SEGMENTATION recipes: aws-item-affinity (users for items) and aws-item-attribute-affinity (users for attributes)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.columns import ITEM_ID
from recsys.exceptions import FilterSyntaxError, ValidationError
from recsys.recipes.base import USER_SEGMENTATION, _as_list, _check_n
from recsys.recipes.user_personalization import UserPersonalization

CHUNK = 2048


@dataclass
class Segment:
    """Users ranked by predicted affinity to a query (an item id or an attribute expression), best first."""

    query: str
    user_ids: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)


class ItemAffinity(UserPersonalization):
    """User segments: the users most likely to interact with an item (Personalize's Item-Affinity).

    Affinity of user u to item i is the flagship's probability p(i | u) (softmax over the catalogue, without
    context or exploration), computed for every training user. Same parameters as aws-user-personalization.

    Example: ``ItemAffinity(random_state=0).fit(data).users_for_items(["i1"], n=100)``
    """

    name = "aws-item-affinity"
    description = "Finds the users most likely to interact with each item, for marketing segments."
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Segments for a promotion of chosen items (batch segment jobs)",
        "Audiences for an item launch campaign",
    )
    recipe_type = USER_SEGMENTATION

    def user_item_log_probs(self, item_pos: np.ndarray) -> np.ndarray:
        """log p(item | user) for every training user (rows, `user_ids_` order) and the given item columns."""
        self._check_fitted()
        users = self.user_ids_
        out = np.empty((len(users), len(item_pos)), dtype=np.float64)
        saved = self.exploration_weight
        for start in range(0, len(users), CHUNK):
            batch = list(users[start:start + CHUNK])
            hist = self._history(batch, None)
            self.exploration_weight = 0.0
            try:
                logits = self._logits_rows(hist, [None] * len(batch))
            finally:
                self.exploration_weight = saved
            m = logits.max(axis=1, keepdims=True)
            lse = np.log(np.exp(logits - m).sum(axis=1, keepdims=True)) + m
            out[start:start + len(batch)] = logits[:, item_pos] - lse
        return out

    def _segment(self, query: str, scores: np.ndarray, n: int) -> Segment:
        k = min(n, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]
        return Segment(query=query, user_ids=self.user_ids_[top].astype(object), scores=scores[top])

    def users_for_items(self, item_ids, n: int = 100) -> list[Segment]:
        """For each item, the `n` training users with the highest affinity (UnknownIdError for unknown items)."""
        item_ids = _as_list(item_ids)
        _check_n(n)
        pos = self.item_positions(item_ids)
        lp = self.user_item_log_probs(pos)
        return [self._segment(q, np.exp(lp[:, j]), n) for j, q in enumerate(item_ids)]


_TOKEN = re.compile(r'\s*(?:(?P<and>AND\b)|(?P<ident>ITEMS\.[A-Za-z_][A-Za-z0-9_]*)|(?P<eq>=)|"(?P<str>[^"]*)")',
                    re.IGNORECASE)


def parse_attribute_expression(expression: str) -> list[tuple[str, str]]:
    """Parse ``ITEMS.FIELD = "value" AND ITEMS.OTHER = "x"`` into [(FIELD, value), ...] (only `=` and AND)."""
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError('attribute expression is empty; write e.g. ITEMS.GENRES = "Comedy"')
    pos, out = 0, []
    expect = "ident"
    field = None
    while True:
        while pos < len(expression) and expression[pos].isspace():
            pos += 1
        if pos >= len(expression):
            break
        m = _TOKEN.match(expression, pos)
        kind = m.lastgroup if m else None
        if kind != expect:
            want = {"ident": "ITEMS.<FIELD>", "eq": "'='", "str": 'a "quoted value"', "and": "AND"}[expect]
            raise FilterSyntaxError(f"expected {want} (only = and AND are supported)", expression, pos)
        if kind == "ident":
            field = m.group("ident").split(".", 1)[1]
            expect = "eq"
        elif kind == "eq":
            expect = "str"
        elif kind == "str":
            out.append((field, m.group("str")))
            expect = "and"
        else:
            expect = "ident"
        pos = m.end()
    if expect != "and":
        raise FilterSyntaxError("incomplete expression", expression, len(expression))
    return out


class ItemAttributeAffinity(ItemAffinity):
    """User segments for item attributes (Personalize's Item-Attribute-Affinity).

    ``users_for_attributes('ITEMS.GENRES = "Comedy" AND ITEMS.GENRES = "Action"', n)``: the items matching
    every condition (multi-valued fields split on '|') are found, and users are ranked by their summed
    probability of interacting with any of them. Needs an Items dataset with a categorical field.
    """

    name = "aws-item-attribute-affinity"
    description = (
        "Finds the users most likely to interact with items of an attribute (a genre, a brand, a price band)."
    )
    use_cases = (  # what it is for: Personalize's use cases where one matches
        "Segments for a category or brand campaign (batch segment jobs)",
    )
    segments_by_attributes = True

    def _fit(self, data, progress) -> None:
        super()._fit(data, progress)
        attrs = {}
        if data.items is not None:
            items = data.items.set_index(data.items[ITEM_ID].astype(str))
            for c, kind in data.item_fields.items():
                if kind == "categorical":
                    vals = items[c].reindex(pd.Index(self.item_ids_)).astype("str").fillna("")
                    attrs[c] = [str(v) for v in vals.tolist()]
        if not attrs:
            raise ValidationError(f"{self.name} needs an Items dataset with at least one categorical field "
                                  f"(Personalize: a non-textual, non-reserved Items column)")
        self.item_attributes_ = attrs

    def items_matching(self, expression: str) -> np.ndarray:
        """Catalogue positions of items matching the expression."""
        self._check_fitted()
        conds = parse_attribute_expression(expression)
        mask = np.ones(len(self.item_ids_), dtype=bool)
        for field, value in conds:
            if field not in self.item_attributes_:
                raise ValidationError(f"attribute expression: ITEMS.{field} is not a categorical item field; "
                                      f"use one of {sorted(self.item_attributes_)}")
            vals = pd.Series(self.item_attributes_[field][:len(self.item_ids_)] +
                             [""] * (len(self.item_ids_) - len(self.item_attributes_[field])))
            split = vals.str.split("|")
            mask &= split.apply(lambda xs: value in [x.strip() for x in xs]).to_numpy(dtype=bool)
        return np.flatnonzero(mask)

    def users_for_attributes(self, expressions, n: int = 100) -> list[Segment]:
        """For each expression, the `n` users with the highest affinity to the matching items."""
        expressions = _as_list(expressions)
        _check_n(n)
        out = []
        for expr in expressions:
            pos = self.items_matching(expr)
            if not len(pos):
                raise ValidationError(f"attribute expression {expr!r} matches no items; check the field values")
            lp = self.user_item_log_probs(pos)
            m = lp.max(axis=1, keepdims=True)
            out.append(self._segment(expr, np.exp(m[:, 0]) * np.exp(lp - m).sum(axis=1), n))
        return out
