"""Recursive-descent parser for Personalize's filter grammar, producing the trees in `nodes`.

Grammar (keywords, dataset names and ItemID/UserID are case-insensitive)::

    filter      := expression ('|' expression)* EOF
    expression  := (INCLUDE | EXCLUDE) (ItemID | UserID) WHERE or_cond [IF user_cond (AND user_cond)*]
    or_cond     := and_cond (OR and_cond)*
    and_cond    := atom (AND atom)*
    atom        := '(' or_cond ')' | field predicate
    field       := (Items | Interactions | Users) '.' NAME
    predicate   := [NOT] IN list | ('=' | '<' | '<=' | '>' | '>=') scalar
    list        := '(' value (',' value)* ')' | '(' $PARAM ')' | CurrentItem '.' NAME
    scalar      := NUMBER | STRING | $PARAM | CurrentItem '.' NAME
    user_cond   := CurrentUser '.' NAME predicate      (no CurrentItem on the right)
"""

from __future__ import annotations

from recsys.columns import INTERACTIONS, ITEMS, USERS
from recsys.exceptions import FilterSyntaxError
from recsys.filters import lexer
from recsys.filters.lexer import Token
from recsys.filters.nodes import (
    EXCLUDE, IN, INCLUDE, ITEM_TARGET, NOT_IN, USER_TARGET, And, Comparison, Condition, CurrentItemRef, Expression,
    Literal, Or, Param, walk,
)

CURRENT_USER, CURRENT_ITEM = "CurrentUser", "CurrentItem"
_DATASETS = {name.upper(): name for name in (ITEMS, INTERACTIONS, USERS)}
_TARGETS = {ITEM_TARGET.upper(): ITEM_TARGET, USER_TARGET.upper(): USER_TARGET}
_MAX_DEPTH = 50


class Parser:
    """Parses one filter string; use `parse_expressions(text)` rather than this class directly."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = lexer.tokenize(text)
        self.i = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != lexer.EOF:
            self.i += 1
        return tok

    def is_keyword(self, *words: str) -> bool:
        return self.tok.kind == lexer.IDENT and self.tok.upper in words

    def error(self, message: str, tok: Token | None = None) -> FilterSyntaxError:
        tok = tok or self.tok
        return FilterSyntaxError(message, self.text, tok.pos)

    def expected(self, what: str, tok: Token | None = None) -> FilterSyntaxError:
        tok = tok or self.tok
        return self.error(f"Expected {what}, got {tok.describe()}", tok)

    def expect_keyword(self, word: str, what: str | None = None) -> Token:
        if not self.is_keyword(word):
            raise self.expected(what or word)
        return self.advance()

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.expected(what)
        return self.advance()

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> tuple[Expression, ...]:
        if self.tok.kind == lexer.EOF:
            raise self.expected("INCLUDE or EXCLUDE (the filter expression is empty)")
        expressions = [self.expression()]
        while self.tok.kind == lexer.PIPE:
            self.advance()
            expressions.append(self.expression())
        if self.tok.kind != lexer.EOF:
            if self.tok.kind == lexer.RPAREN:
                raise self.error("Unbalanced ')'")
            raise self.expected("AND, OR, IF, '|' or the end of the expression")
        return tuple(expressions)

    def expression(self) -> Expression:
        start = self.tok
        if not self.is_keyword(INCLUDE, EXCLUDE):
            raise self.expected("INCLUDE or EXCLUDE")
        action = self.advance().upper
        if self.tok.kind != lexer.IDENT or self.tok.upper not in _TARGETS:
            hint = " (ActionID filters are not supported)" if self.is_keyword("ACTIONID") else ""
            raise self.error(f"Expected ItemID or UserID, got {self.tok.describe()}{hint}")
        target = _TARGETS[self.advance().upper]
        self.expect_keyword("WHERE")
        condition = self.or_condition()
        comparisons = list(walk(condition))
        dataset = comparisons[0].dataset
        for comp in comparisons[1:]:
            if comp.dataset != dataset:
                raise FilterSyntaxError(
                    f"AND/OR conditions in one expression must all use one dataset: this one starts with "
                    f"{dataset} but uses {comp.dataset} here; chain separate expressions with '|' instead, "
                    f"e.g. '... WHERE {dataset}.X IN (...) | {action} {target} WHERE {comp.dataset}.Y IN (...)'",
                    self.text, comp.pos)
        self._check_target(target, dataset, comparisons[0])
        user_conditions: list[Comparison] = []
        if self.is_keyword("IF"):
            if_tok = self.advance()
            if target != ITEM_TARGET:
                raise self.error("IF CurrentUser conditions are only allowed in ItemID filters", if_tok)
            user_conditions.append(self.user_condition())
            while self.is_keyword("AND"):
                self.advance()
                user_conditions.append(self.user_condition())
            if self.is_keyword("OR"):
                raise self.error("IF conditions can only be joined with AND")
        end = self.tok.pos
        return Expression(action, target, dataset, condition, tuple(user_conditions), start.pos, end)

    def _check_target(self, target: str, dataset: str, first: Comparison) -> None:
        if target == ITEM_TARGET and dataset == USERS:
            raise FilterSyntaxError(
                "Users conditions filter users (INCLUDE/EXCLUDE UserID); to condition an ItemID filter on the "
                "current user's metadata add 'IF CurrentUser.FIELD = value'", self.text, first.pos)
        if target == USER_TARGET and dataset == ITEMS:
            raise FilterSyntaxError("UserID filters can use Users or Interactions conditions, not Items",
                                    self.text, first.pos)

    def or_condition(self) -> Condition:
        children = [self.and_condition()]
        while self.is_keyword("OR"):
            self.advance()
            children.append(self.and_condition())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_condition(self) -> Condition:
        children = [self.atom()]
        while self.is_keyword("AND"):
            self.advance()
            children.append(self.atom())
        return children[0] if len(children) == 1 else And(tuple(children))

    def atom(self) -> Condition:
        if self.tok.kind == lexer.LPAREN:
            if self.depth >= _MAX_DEPTH:
                raise self.error(f"Parentheses nested deeper than {_MAX_DEPTH} levels")
            self.advance()
            self.depth += 1
            inner = self.or_condition()
            self.depth -= 1
            self.expect(lexer.RPAREN, "')' or AND/OR")
            return inner
        return self.comparison()

    def field_ref(self, allowed: dict[str, str], what: str) -> tuple[str, str, Token]:
        """`Dataset.FIELD`, dataset checked against `allowed` (upper-case -> canonical)."""
        tok = self.tok
        if tok.kind != lexer.IDENT or tok.upper not in allowed:
            hint = ""
            if tok.kind == lexer.IDENT and tok.upper == CURRENT_USER.upper():
                hint = " (CurrentUser is only allowed after IF)"
            elif tok.kind == lexer.IDENT and tok.upper == CURRENT_ITEM.upper():
                hint = " (CurrentItem is only allowed on the right-hand side, e.g. Items.PRICE < CurrentItem.PRICE)"
            raise self.error(f"Expected {what}, got {tok.describe()}{hint}")
        self.advance()
        self.expect(lexer.DOT, f"'.' after {tok.value}")
        name = self.expect(lexer.IDENT, f"a field name after '{tok.value}.'")
        return allowed[tok.upper], name.value, tok

    def comparison(self) -> Comparison:
        dataset, field, tok = self.field_ref(_DATASETS, "a condition like Items.FIELD, Interactions.EVENT_TYPE "
                                                         "or Users.FIELD")
        op, operand = self.predicate(allow_current_item=True)
        if dataset != ITEMS and isinstance(operand, CurrentItemRef):
            raise FilterSyntaxError("CurrentItem can only be compared with Items fields", self.text, tok.pos)
        return Comparison(dataset, field, op, operand, tok.pos)

    def user_condition(self) -> Comparison:
        dataset, field, tok = self.field_ref({CURRENT_USER.upper(): CURRENT_USER}, "CurrentUser.FIELD after IF/AND")
        op, operand = self.predicate(allow_current_item=False)
        return Comparison(dataset, field, op, operand, tok.pos)

    def predicate(self, allow_current_item: bool) -> tuple[str, Literal | Param | CurrentItemRef]:
        tok = self.tok
        if self.is_keyword("NOT"):
            self.advance()
            self.expect_keyword("IN", "IN after NOT")
            return NOT_IN, self.value_list(allow_current_item)
        if self.is_keyword("IN"):
            self.advance()
            return IN, self.value_list(allow_current_item)
        if tok.kind == lexer.OP:
            self.advance()
            return tok.value, self.scalar(tok.value, allow_current_item)
        raise self.expected("IN, NOT IN or a comparison operator")

    def current_item(self, allow: bool) -> CurrentItemRef:
        tok = self.advance()
        if not allow:
            raise self.error("CurrentItem cannot be used in IF conditions", tok)
        self.expect(lexer.DOT, "'.' after CurrentItem")
        return CurrentItemRef(self.expect(lexer.IDENT, "a field name after 'CurrentItem.'").value)

    def value_list(self, allow_current_item: bool) -> Literal | Param | CurrentItemRef:
        if self.is_keyword(CURRENT_ITEM.upper()):
            return self.current_item(allow_current_item)
        self.expect(lexer.LPAREN, "'(' to start the value list")
        if self.tok.kind == lexer.PARAM:
            param = self.advance()
            if self.tok.kind == lexer.COMMA:
                raise self.error("A list can hold either one $PARAM or literal values, not more")
            self.expect(lexer.RPAREN, "')' after the parameter")
            return Param(param.value)
        values = [self.list_value()]
        while self.tok.kind == lexer.COMMA:
            self.advance()
            values.append(self.list_value())
        self.expect(lexer.RPAREN, "',' or ')' in the value list")
        return Literal(tuple(values))

    def list_value(self) -> str:
        tok = self.tok
        if tok.kind in (lexer.STRING, lexer.NUMBER):
            return self.advance().value
        if tok.kind == lexer.PARAM:
            raise self.error("A list can hold either one $PARAM or literal values, not both")
        if tok.kind == lexer.IDENT:
            raise self.expected(f'a quoted value (e.g. "{tok.value}")')
        raise self.expected("a quoted value")

    def scalar(self, op: str, allow_current_item: bool) -> Literal | Param | CurrentItemRef:
        tok = self.tok
        if tok.kind == lexer.NUMBER:
            self.advance()
            return Literal((tok.value,), numeric=True)
        if tok.kind == lexer.PARAM:
            self.advance()
            return Param(tok.value)
        if tok.kind == lexer.STRING and op == "=":
            self.advance()
            return Literal((tok.value,))
        if self.is_keyword(CURRENT_ITEM.upper()):
            return self.current_item(allow_current_item)
        item = " or CurrentItem.FIELD" if allow_current_item else ""
        if op == "=":
            raise self.expected(f"a number, a quoted value, $PARAM{item} after '='")
        raise self.expected(f"a number, $PARAM{item} after '{op}'" if item else f"a number or $PARAM after '{op}'")


def parse_condition(text: str, dataset: str = ITEMS) -> Condition:
    """Parse a bare condition on one dataset with literal values only (Item-Attribute-Affinity queries).

    Example: ``parse_condition('ITEMS.GENRES = "Comedy" AND ITEMS.GENRES = "Action"')``.
    """
    parser = Parser(text)
    if parser.tok.kind == lexer.EOF:
        raise parser.expected(f"a condition like {dataset}.FIELD = \"value\" (the query is empty)")
    condition = parser.or_condition()
    if parser.tok.kind != lexer.EOF:
        if parser.tok.kind == lexer.RPAREN:
            raise parser.error("Unbalanced ')'")
        raise parser.expected("AND, OR or the end of the query")
    for comp in walk(condition):
        if comp.dataset != dataset:
            raise FilterSyntaxError(f"Only {dataset} fields can be used here, got {comp.dataset}", text, comp.pos)
        if not isinstance(comp.operand, Literal):
            raise FilterSyntaxError("Only literal values can be used here (no $PARAM or CurrentItem)", text, comp.pos)
    return condition


def parse_expressions(text: str) -> tuple[Expression, ...]:
    """Parse a filter string into its `|`-chained expressions.

    Raises
    ------
    FilterSyntaxError
        With the position of the offending token.
    """
    return Parser(text).parse()


__all__ = ["parse_condition", "parse_expressions", "Parser", "CURRENT_USER", "CURRENT_ITEM", "EXCLUDE", "INCLUDE"]
