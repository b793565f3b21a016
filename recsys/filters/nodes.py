"""Syntax tree of a parsed filter: immutable nodes the parser builds and the evaluator walks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

INCLUDE, EXCLUDE = "INCLUDE", "EXCLUDE"
ITEM_TARGET, USER_TARGET = "ItemID", "UserID"
IN, NOT_IN = "IN", "NOT IN"
COMPARISONS = ("=", "<", "<=", ">", ">=")
OPERATORS = (IN, NOT_IN) + COMPARISONS


@dataclass(frozen=True)
class Literal:
    """Literal values: strings from `("a","b")`, or numbers (kept as source text, e.g. `10`)."""

    values: tuple[str, ...]
    numeric: bool = False            # True when the single value came from a number token


@dataclass(frozen=True)
class Param:
    """A `$NAME` placeholder filled from the request's filterValues."""

    name: str


@dataclass(frozen=True)
class CurrentItemRef:
    """`CurrentItem.FIELD`: the value of FIELD on the request's item (related-items recipes)."""

    field: str


Operand = Union[Literal, Param, CurrentItemRef]


@dataclass(frozen=True)
class Comparison:
    """`<dataset>.<field> <op> <operand>`; `pos` is the offset of the dataset name."""

    dataset: str          # Items | Interactions | Users | CurrentUser
    field: str
    op: str               # one of OPERATORS
    operand: Operand
    pos: int = 0


@dataclass(frozen=True)
class And:
    """All children hold."""

    children: tuple["Condition", ...]


@dataclass(frozen=True)
class Or:
    """At least one child holds."""

    children: tuple["Condition", ...]


Condition = Union[Comparison, And, Or]


@dataclass(frozen=True)
class Expression:
    """One `INCLUDE|EXCLUDE <target> WHERE <condition> [IF <user conditions>]` expression."""

    action: str                              # INCLUDE | EXCLUDE
    target: str                              # ItemID | UserID
    dataset: str                             # the one dataset of the WHERE conditions
    condition: Condition
    user_conditions: tuple[Comparison, ...]  # trailing IF CurrentUser.X ... (all must hold)
    start: int = 0
    end: int = 0


def walk(condition: Condition):
    """Every Comparison in a condition tree, left to right."""
    if isinstance(condition, Comparison):
        yield condition
    else:
        for child in condition.children:
            yield from walk(child)
