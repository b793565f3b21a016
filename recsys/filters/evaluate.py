"""Evaluate parsed filters as boolean masks over a catalogue (items) or a list of users, with Personalize's semantics.

Semantics (AP §7.1): INCLUDE keeps only matching items, EXCLUDE removes them. Expressions chained with `|`:
all EXCLUDE -> union of exclusions; all INCLUDE -> union of inclusions; mixed -> Include(A or B) - (C or D).
A `$PARAM` missing from filterValues drops its clause in an EXCLUDE expression (an expression whose clauses are
all dropped excludes nothing) and is an error in an INCLUDE expression. `IF CurrentUser.X ...` makes an expression
apply only when the current user's metadata satisfies every condition. Missing metadata never matches.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.columns import EVENT_TYPE, INTERACTIONS, ITEM_ID, ITEMS, USER_ID, USERS
from recsys.exceptions import FilterSyntaxError, ValidationError
from recsys.filters.index import FieldIndex, FilterIndex, RowField, resolve_field, split_parts, to_number
from recsys.filters.nodes import (
    EXCLUDE, IN, INCLUDE, ITEM_TARGET, NOT_IN, USER_TARGET, And, Comparison, Condition, CurrentItemRef,
    Expression, Literal, Param, walk,
)
from recsys.filters.parser import CURRENT_USER, parse_condition, parse_expressions
from recsys.filters.values import parse_all_filter_values

ALL_EVENT_TYPES = "*"


@dataclass
class FilterContext:
    """Everything a filter may look at for one request.

    item_ids : the catalogue, in the column order of the model's scores (masks follow this order). Pass the same
        array object on every request (e.g. ``recipe.item_ids_``) so the per-catalogue index is reused.
    items : ITEM_ID + metadata, one row per item (categorical values may be ``a|b`` multi-valued), or None.
    user_interactions : the current user's whole history (ITEM_ID, EVENT_TYPE, TIMESTAMP, ...), or None.
    users : USER_ID + metadata (for ``IF CurrentUser.X``), or None.
    user_id : the requesting user; current_item_id : the request's item (related-items recipes, CurrentItem.X).
    index : optional prebuilt ``FilterIndex`` over (item_ids, items); looked up in a cache when None.
    """

    item_ids: np.ndarray
    items: pd.DataFrame | None = None
    user_interactions: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    user_id: str | None = None
    current_item_id: str | None = None
    index: FilterIndex | None = field(default=None, repr=False)

    def item_index(self) -> FilterIndex:
        if self.index is None:
            self.index = FilterIndex.for_frame(self.item_ids, self.items, ITEM_ID)
        return self.index


_DROP = object()        # a clause whose $PARAM was not supplied in an EXCLUDE expression


class _Evaluation:
    """State of one mask computation: the parsed filterValues and the current expression's action."""

    def __init__(self, values: dict[str, list[str]]):
        self.values = values
        self.action = EXCLUDE

    def param(self, name: str) -> list[str] | object:
        if name in self.values:
            return self.values[name]
        if self.action == INCLUDE:
            raise ValidationError(f"filterValues has no value for parameter ${name}; INCLUDE filters need every "
                                  f"parameter (pass filterValues={{\"{name}\": \"\\\"value\\\"\"}})")
        return _DROP


def _describe(comp: Comparison) -> str:
    """`Items.PRICE <= $PRICE` style text of a comparison, for error messages."""
    operand = comp.operand
    if isinstance(operand, Param):
        rhs = f"${operand.name} (filterValues[{operand.name!r}])"
    elif isinstance(operand, CurrentItemRef):
        rhs = f"CurrentItem.{operand.field}"
    else:
        rhs = ", ".join(operand.values)
    return f"{comp.dataset}.{comp.field} {comp.op} {rhs}"


def _single_number(values: list[str], what: str) -> float:
    if len(values) != 1:
        raise ValidationError(f"{what} needs exactly one number, got {len(values)} values")
    number = to_number(values[0])
    if np.isnan(number):
        raise ValidationError(f"{what} needs a number, got {values[0]!r}")
    return number


class CompiledFilter:
    """A parsed filter expression, ready to produce masks.

    Example::

        f = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
        allowed = f.item_mask(FilterContext(item_ids, items=items, user_interactions=history))
    """

    def __init__(self, expression: str, expressions: tuple[Expression, ...]):
        self.expression = expression
        self.expressions = expressions
        self.target = expressions[0].target
        params: set[str] = set()
        fields: set[tuple[str, str]] = set()
        for expr in expressions:
            for comp in (*walk(expr.condition), *expr.user_conditions):
                fields.add((comp.dataset, comp.field))
                if isinstance(comp.operand, Param):
                    params.add(comp.operand.name)
                if isinstance(comp.operand, CurrentItemRef):
                    fields.add(("CurrentItem", comp.operand.field))
        self.parameters: frozenset[str] = frozenset(params)
        self.fields: frozenset[tuple[str, str]] = frozenset(fields)
        self.datasets: frozenset[str] = frozenset(expr.dataset for expr in expressions)

    def __repr__(self) -> str:
        return f"CompiledFilter({self.expression!r})"

    # -- public --------------------------------------------------------------------------------------
    def item_mask(self, ctx: FilterContext, filter_values: Mapping[str, str] | None = None) -> np.ndarray:
        """Boolean mask over ``ctx.item_ids``: True for items the filter allows.

        Raises ValidationError for missing INCLUDE parameters, bad filterValues, unknown fields or numeric
        comparisons on non-numeric fields.
        """
        if self.target != ITEM_TARGET:
            raise ValidationError(f"Filter {self.expression!r} filters UserID (segments); use user_mask()")
        run = self._start(filter_values)
        index = ctx.item_index()
        side = _ItemSide(ctx, index)
        results = []
        for expr in self.expressions:
            run.action = expr.action
            if expr.user_conditions and not self._user_conditions_hold(expr, ctx, run):
                continue
            results.append((expr.action, _condition(expr.condition, side, run)))
        return _combine(results, index.n)

    def user_mask(self, user_ids, users: pd.DataFrame | None, filter_values: Mapping[str, str] | None = None,
                  *, interactions: pd.DataFrame | None = None) -> np.ndarray:
        """Boolean mask over ``user_ids``: True for users an ``INCLUDE/EXCLUDE UserID`` filter allows.

        ``interactions`` (USER_ID, EVENT_TYPE, ...) is needed only for Interactions conditions.
        """
        if self.target != USER_TARGET:
            raise ValidationError(f"Filter {self.expression!r} filters ItemID; use item_mask()")
        run = self._start(filter_values)
        index = FilterIndex.for_frame(user_ids, users, USER_ID)
        side = _UserSide(index, interactions)
        results = []
        for expr in self.expressions:
            run.action = expr.action
            results.append((expr.action, _condition(expr.condition, side, run)))
        return _combine(results, index.n)

    # -- internals -------------------------------------------------------------------------------------
    def _start(self, filter_values) -> _Evaluation:
        run = _Evaluation(parse_all_filter_values(filter_values))
        for expr in self.expressions:
            if expr.action == INCLUDE:
                run.action = INCLUDE
                for comp in (*walk(expr.condition), *expr.user_conditions):
                    if isinstance(comp.operand, Param):
                        run.param(comp.operand.name)
        return run

    def _user_conditions_hold(self, expr: Expression, ctx: FilterContext, run: _Evaluation) -> bool:
        if ctx.user_id is None or ctx.users is None:
            return False
        index = FilterIndex.for_frame(None, ctx.users, USER_ID)
        for comp in expr.user_conditions:
            field_index = index.field(comp.field, CURRENT_USER)
            value = index.raw_value(ctx.user_id, comp.field, CURRENT_USER)
            operand = _operand_values(comp, run, ctx=None)
            if operand is _DROP:
                continue
            if value is None or not _scalar_matches(comp, value, operand, field_index):
                return False
        return True


def _condition(cond: Condition, side, run: _Evaluation):
    """Mask of a condition tree, or None when every clause was dropped."""
    if isinstance(cond, Comparison):
        return side.comparison(cond, run)
    masks = [m for m in (_condition(c, side, run) for c in cond.children) if m is not None]
    if not masks:
        return None
    if len(masks) == 1:
        return masks[0]
    return np.logical_and.reduce(masks) if isinstance(cond, And) else np.logical_or.reduce(masks)


def _operand_values(comp: Comparison, run: _Evaluation, ctx: "_ItemSide | None"):
    """The operand as a list of strings (or _DROP); CurrentItem refs resolved to the current item's value."""
    operand = comp.operand
    if isinstance(operand, Literal):
        return list(operand.values)
    if isinstance(operand, Param):
        return run.param(operand.name)
    if ctx is None:  # pragma: no cover - the parser forbids CurrentItem outside Items conditions
        raise ValidationError("CurrentItem is only allowed in Items conditions")
    return ctx.current_item_value(operand.field)


def _literal_kind(comp: Comparison) -> str:
    """Part of a mask-cache key: `=` compares text for quoted literals and numbers otherwise."""
    if isinstance(comp.operand, Literal):
        return "number" if comp.operand.numeric else "text"
    return "value"


def _text_equality(comp: Comparison, field_index: FieldIndex) -> bool:
    """`=` compares text when the field is not numeric or the right-hand side is a quoted string."""
    if comp.op != "=":
        return False
    quoted = isinstance(comp.operand, Literal) and not comp.operand.numeric
    return field_index.numeric is None or quoted


def _one_value(comp: Comparison, operand: list[str]) -> list[str]:
    if len(operand) != 1:
        raise ValidationError(f"{_describe(comp)} needs exactly one value, got {len(operand)}; use IN for lists")
    return operand


def _scalar_matches(comp: Comparison, value, operand: list[str], field_index: FieldIndex) -> bool:
    """Does one metadata value (the current user's) satisfy the comparison?"""
    if comp.op in (IN, NOT_IN) or _text_equality(comp, field_index):
        if comp.op == "=":
            _one_value(comp, operand)
        hit = bool(set(split_parts(value)) & set(operand))
        return hit if comp.op != NOT_IN else not hit
    field_index.numbers(comp.dataset)
    number = _single_number(operand, _describe(comp))
    value = to_number(value)
    if np.isnan(value):
        return False
    return {"=": value == number, "<": value < number, "<=": value <= number,
            ">": value > number, ">=": value >= number}[comp.op]


def _field_mask(comp: Comparison, field_index: FieldIndex | RowField, operand: list[str]) -> np.ndarray:
    """Vectorised mask of one comparison over an indexed field."""
    if comp.op == IN:
        return field_index.isin(operand)
    if comp.op == NOT_IN:
        return field_index.present & ~field_index.isin(operand)
    if _text_equality(comp, field_index):
        return field_index.isin(_one_value(comp, operand))
    number = _single_number(operand, _describe(comp))
    return field_index.compare(comp.dataset, comp.op, number)


class _ItemSide:
    """Evaluates Items and Interactions comparisons for an ItemID filter."""

    def __init__(self, ctx: FilterContext, index: FilterIndex):
        self.ctx = ctx
        self.index = index
        self._history_fields: dict = {}
        self._history_items: np.ndarray | None = None

    def current_item_value(self, name: str) -> list[str]:
        if self.ctx.current_item_id is None:
            raise ValidationError(f"The filter uses CurrentItem.{name}, which needs an itemId in the request "
                                  f"(related-items recipes only)")
        value = self.index.raw_value(self.ctx.current_item_id, name, "CurrentItem")
        return split_parts(value)

    def comparison(self, comp: Comparison, run: _Evaluation):
        operand = _operand_values(comp, run, self)
        if operand is _DROP:
            return None
        if comp.dataset == ITEMS:
            field_index = self.index.field(comp.field, ITEMS)
            if isinstance(comp.operand, CurrentItemRef) and not operand:
                return np.zeros(self.index.n, dtype=bool)   # the current item has no value: nothing matches
            key = (comp.field, comp.op, tuple(operand), _literal_kind(comp))
            return self.index.cached_mask(key, lambda: _field_mask(comp, field_index, operand))
        return self._interactions(comp, operand)

    def _interactions(self, comp: Comparison, operand: list[str]) -> np.ndarray:
        frame = self.ctx.user_interactions
        if frame is None or len(frame) == 0:
            return np.zeros(self.index.n, dtype=bool)
        rows = _interaction_rows(comp, operand, frame, self._history_fields)
        if self._history_items is None:
            self._history_items = frame[ITEM_ID].to_numpy()
        matched = self._history_items[rows]
        if len(matched) > 64:
            matched = pd.unique(matched)          # histories repeat items; look each up once
        return self.index.mask_at(self.index.positions(matched))


class _UserSide:
    """Evaluates Users and Interactions comparisons for a UserID filter."""

    def __init__(self, index: FilterIndex, interactions: pd.DataFrame | None):
        self.index = index
        self.interactions = interactions
        self._fields: dict = {}
        self._user_column: np.ndarray | None = None

    def comparison(self, comp: Comparison, run: _Evaluation):
        operand = _operand_values(comp, run, None)
        if operand is _DROP:
            return None
        if comp.dataset == USERS:
            field_index = self.index.field(comp.field, USERS)
            key = (comp.field, comp.op, tuple(operand), _literal_kind(comp))
            return self.index.cached_mask(key, lambda: _field_mask(comp, field_index, operand))
        if self.interactions is None:
            raise ValidationError(f"The filter uses {INTERACTIONS}.{comp.field}; pass interactions= to user_mask()")
        if len(self.interactions) == 0:
            return np.zeros(self.index.n, dtype=bool)
        rows = _interaction_rows(comp, operand, self.interactions, self._fields)
        if self._user_column is None:
            self._user_column = self.interactions[USER_ID].to_numpy()
        return self.index.mask_of(self._user_column[rows])


def _interaction_rows(comp: Comparison, operand: list[str], frame: pd.DataFrame, cache: dict) -> np.ndarray:
    """Row mask of the interactions matching one comparison (EVENT_TYPE case-insensitive, "*" = every event)."""
    if comp.field.upper() == EVENT_TYPE and comp.op in (IN, NOT_IN, "=") and ALL_EVENT_TYPES in operand:
        return np.full(len(frame), comp.op == IN)
    if comp.field.upper() == EVENT_TYPE and EVENT_TYPE not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    column = resolve_field(comp.field, list(frame.columns), INTERACTIONS)
    field_index = cache.get(column)
    if field_index is None:
        field_index = RowField(column, frame[column], casefold=column == EVENT_TYPE)
        cache[column] = field_index
    return _field_mask(comp, field_index, operand)


def _combine(results: list[tuple[str, np.ndarray | None]], n: int) -> np.ndarray:
    """Personalize's `|` semantics: Include(any INCLUDE) minus (any EXCLUDE); no-op expressions ignored."""
    includes = [mask for action, mask in results if action == INCLUDE and mask is not None]
    excludes = [mask for action, mask in results if action == EXCLUDE and mask is not None]
    allowed = np.logical_or.reduce(includes) if includes else np.ones(n, dtype=bool)
    if excludes:
        allowed = allowed & ~np.logical_or.reduce(excludes)
    return np.array(allowed, dtype=bool, copy=True)


def parse_filter(expression: str) -> CompiledFilter:
    """Parse and check a filter expression; the result is cached and immutable.

    Example: ``parse_filter('INCLUDE ItemID WHERE Items.PRICE <= $PRICE').parameters`` -> ``{'PRICE'}``.

    Raises
    ------
    FilterSyntaxError
        With a caret at the offending token.
    """
    if not isinstance(expression, str):
        raise FilterSyntaxError(f"A filter expression must be a string, got {type(expression).__name__}")
    return _parse_cached(expression)


@functools.lru_cache(maxsize=1024)
def _parse_cached(expression: str) -> CompiledFilter:
    expressions = parse_expressions(expression)
    first = expressions[0]
    for expr in expressions[1:]:
        if expr.target != first.target:
            raise FilterSyntaxError(f"Every expression chained with '|' must filter the same target "
                                    f"({first.target}), got {expr.target}", expression, expr.start)
    return CompiledFilter(expression, expressions)


class CompiledCondition:
    """A bare Items condition, e.g. Item-Attribute-Affinity's ``itemAttributes`` (AP §9.2).

    Example::

        cond = parse_item_attributes('ITEMS.GENRES = "Comedy" AND ITEMS.GENRES = "Action"')
        mask = cond.item_mask(item_ids, items)       # items whose GENRES include both values
    """

    def __init__(self, expression: str, condition: Condition):
        self.expression = expression
        self.condition = condition
        self.fields = frozenset(comp.field for comp in walk(condition))

    def __repr__(self) -> str:
        return f"CompiledCondition({self.expression!r})"

    def item_mask(self, item_ids, items: pd.DataFrame | None) -> np.ndarray:
        """Boolean mask over `item_ids`: True where the item's metadata satisfies the condition."""
        ctx = FilterContext(item_ids, items=items)
        run = _Evaluation({})
        run.action = INCLUDE
        mask = _condition(self.condition, _ItemSide(ctx, ctx.item_index()), run)
        return np.array(mask, dtype=bool, copy=True)


def parse_item_attributes(expression: str) -> CompiledCondition:
    """Parse an Item-Attribute-Affinity query (`ITEMS.F = "v" AND ...`; IN, NOT IN, OR and numbers also accepted).

    Raises FilterSyntaxError with a caret at the fault.
    """
    if not isinstance(expression, str):
        raise FilterSyntaxError(f"An item attribute query must be a string, got {type(expression).__name__}")
    return CompiledCondition(expression, parse_condition(expression, ITEMS))
