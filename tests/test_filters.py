"""Tests for recsys.filters: grammar, filterValues, Personalize semantics, named filters and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.cli import main
from recsys.exceptions import ConflictError, FilterSyntaxError, NotFoundError, ValidationError
from recsys.filters import (
    FilterContext, FilterIndex, create_filter, delete_filter, get_filter, list_filters, load_filter,
    parse_filter, parse_filter_values,
)

CATALOGUE = np.array(["i1", "i2", "i3", "i4", "i5", "i6", "i7"])   # i7 has no metadata at all

ITEMS = pd.DataFrame({
    "ITEM_ID": ["i1", "i2", "i3", "i4", "i5", "i6", "i8"],
    "GENRE": ["Comedy", "Drama", "Comedy|Drama", "Horror", None, "Action", "Comedy"],
    "CATEGORY": ["shoes", "shoes", "hats", "shoes|hats", "bags", None, "shoes"],
    "PRICE": [5.0, 10.0, 15.0, 20.0, 25.0, None, 1.0],
    "CREATION_TIMESTAMP": [100, 200, 300, 400, 500, 600, 700],
    "TITLE": ["A", 'He said "hi"', "C", "D", "E", "F", "H"],
})

HISTORY = pd.DataFrame({
    "ITEM_ID": ["i1", "i2", "i2", "i4", "i9"],
    "EVENT_TYPE": ["click", "purchase", "click", "Stream", "purchase"],
    "TIMESTAMP": [1, 2, 3, 4, 5],
})

USERS = pd.DataFrame({
    "USER_ID": ["u1", "u2", "u3"],
    "AGE": [30, 15, None],
    "MEMBERSHIP_STATUS": ["gold", "silver", "bronze"],
})


def ctx(user_id="u1", current_item_id=None, history=HISTORY, items=ITEMS, users=USERS):
    return FilterContext(CATALOGUE, items=items, user_interactions=history, users=users, user_id=user_id,
                         current_item_id=current_item_id)


def allowed(expression, values=None, **kwargs):
    mask = parse_filter(expression).item_mask(ctx(**kwargs), values)
    assert mask.dtype == bool and mask.shape == (len(CATALOGUE),)
    return list(CATALOGUE[mask])


ALL = list(CATALOGUE)


# -- the reference's examples (AP §7.1) as known answers ------------------------------------------------------

def test_example_exclude_event_types_case_insensitive():
    assert allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click","stream")') == ["i3", "i5", "i6", "i7"]


def test_example_include_price_param():
    assert allowed("INCLUDE ItemID WHERE Items.PRICE <= $PRICE", {"PRICE": "10"}) == ["i1", "i2"]
    assert allowed("INCLUDE ItemID WHERE Items.PRICE <= $PRICE", {"PRICE": '"10"'}) == ["i1", "i2"]


def test_example_include_creation_timestamp():
    assert allowed("INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > $DATE", {"DATE": "300"}) == ["i4", "i5", "i6"]


def test_example_exclude_genre_if_current_user_age():
    expr = "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE"
    assert allowed(expr, {"GENRE": '"Comedy"', "AGE": "30"}) == ["i2", "i4", "i5", "i6", "i7"]
    assert allowed(expr, {"GENRE": '"Comedy"', "AGE": "31"}) == ALL          # condition false: no-op
    assert allowed(expr, {"GENRE": '"Comedy"', "AGE": "30"}, user_id="u3") == ALL   # missing AGE never matches
    assert allowed(expr, {"GENRE": '"Comedy"', "AGE": "30"}, user_id=None) == ALL   # anonymous user
    assert allowed(expr, {"GENRE": '"Comedy"', "AGE": "30"}, user_id="nobody") == ALL


def test_example_include_users_segment():
    f = parse_filter("INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)")
    assert f.target == "UserID" and f.parameters == {"MEMBERSHIP"}
    mask = f.user_mask(np.array(["u1", "u2", "u3", "u4"]), USERS, {"MEMBERSHIP": '"gold","bronze"'})
    assert mask.tolist() == [True, False, True, False]


def test_example_include_category_minus_purchased():
    expr = ('INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | '
            'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    assert allowed(expr, {"CATEGORY": '"shoes"'}) == ["i1", "i4"]


def test_example_current_item():
    expr = "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE"
    assert allowed(expr, current_item_id="i3") == ["i1", "i2"]
    assert allowed(expr, current_item_id="i4") == []
    assert allowed(expr, current_item_id="i6") == []           # current item has no PRICE: nothing matches
    with pytest.raises(ValidationError, match="CurrentItem.PRICE.*itemId"):
        allowed(expr)


# -- operators ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, expected", [
    ('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")', ["i1", "i3"]),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("Drama", "Horror")', ["i2", "i3", "i4"]),
    ('INCLUDE ItemID WHERE Items.GENRE NOT IN ("Comedy")', ["i2", "i4", "i6"]),   # missing never matches
    ('EXCLUDE ItemID WHERE Items.GENRE NOT IN ("Comedy")', ["i1", "i3", "i5", "i7"]),
    ('INCLUDE ItemID WHERE Items.GENRE = "Drama"', ["i2", "i3"]),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("comedy")', []),                        # exact, case-sensitive
    ("INCLUDE ItemID WHERE Items.PRICE = 10", ["i2"]),
    ("INCLUDE ItemID WHERE Items.PRICE IN (10.0, 5)", ["i1", "i2"]),
    ("INCLUDE ItemID WHERE Items.PRICE < 10", ["i1"]),
    ("INCLUDE ItemID WHERE Items.PRICE <= 10", ["i1", "i2"]),
    ("INCLUDE ItemID WHERE Items.PRICE > 20", ["i5"]),
    ("INCLUDE ItemID WHERE Items.PRICE >= 20", ["i4", "i5"]),
    ("INCLUDE ItemID WHERE Items.PRICE > -1.5e0", ["i1", "i2", "i3", "i4", "i5"]),
    ("INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP >= 600", ["i6"]),
    ('INCLUDE ItemID WHERE Items.TITLE IN ("He said \\"hi\\"")', ["i2"]),
    ('exclude itemid where items.genre in ("Comedy")', ["i2", "i4", "i5", "i6", "i7"]),  # keywords any case
    ('INCLUDE ItemID WHERE Items.genre IN ("Horror")', ["i4"]),                 # field names resolve any case
    ('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("PURCHASE")', ["i2"]),   # i9 is not in the catalogue
    ('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', ["i3", "i5", "i6", "i7"]),
    ('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")', ["i1", "i3", "i5", "i6", "i7"]),
    ("EXCLUDE ItemID WHERE Interactions.TIMESTAMP > 3", ["i1", "i2", "i3", "i5", "i6", "i7"]),
])
def test_operators(expr, expected):
    assert allowed(expr) == expected


def test_numeric_params_and_equality_params():
    assert allowed("INCLUDE ItemID WHERE Items.PRICE = $P", {"P": "15"}) == ["i3"]
    assert allowed("INCLUDE ItemID WHERE Items.GENRE = $G", {"G": '"Horror"'}) == ["i4"]
    assert allowed("INCLUDE ItemID WHERE Items.PRICE > $P", {"P": "-5"}) == ["i1", "i2", "i3", "i4", "i5"]


def test_and_binds_tighter_than_or_and_parentheses():
    assert allowed('INCLUDE ItemID WHERE Items.PRICE < 10 OR Items.GENRE IN ("Drama") AND Items.PRICE > 12') \
        == ["i1", "i3"]
    assert allowed('INCLUDE ItemID WHERE (Items.PRICE < 10 OR Items.GENRE IN ("Drama")) AND Items.PRICE > 12') \
        == ["i3"]
    assert allowed('INCLUDE ItemID WHERE ((Items.GENRE IN ("Action")) OR (Items.PRICE = 5))') == ["i1", "i6"]


def test_interaction_conditions_combine_per_event_row():
    # only the *same* event must be a click and later than t=2
    assert allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") AND Interactions.TIMESTAMP > 2') \
        == ["i1", "i3", "i4", "i5", "i6", "i7"]


def test_whole_history_is_considered():
    catalogue = np.array([f"x{i}" for i in range(1000)])
    history = pd.DataFrame({"ITEM_ID": catalogue[:700], "EVENT_TYPE": "purchase", "TIMESTAMP": np.arange(700)})
    f = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    mask = f.item_mask(FilterContext(catalogue, user_interactions=history))
    assert mask.sum() == 300 and not mask[:700].any()


def test_no_history_and_no_metadata():
    assert allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', history=None) == ALL
    with pytest.raises(ValidationError, match="no Items data set"):
        allowed('INCLUDE ItemID WHERE Items.GENRE IN ("Drama")', items=None)


# -- parameters -----------------------------------------------------------------------------------------------

def test_parameters_are_case_sensitive_and_reported():
    f = parse_filter("INCLUDE ItemID WHERE Items.GENRE IN ($Genre) AND Items.PRICE < $genre")
    assert f.parameters == {"Genre", "genre"}
    assert allowed("INCLUDE ItemID WHERE Items.GENRE IN ($Genre) AND Items.PRICE < $genre",
                   {"Genre": '"Comedy"', "genre": "10"}) == ["i1"]


def test_exclude_drops_clauses_with_missing_params():
    assert allowed("EXCLUDE ItemID WHERE Items.GENRE IN ($G) OR Items.PRICE > 20") \
        == ["i1", "i2", "i3", "i4", "i6", "i7"]
    assert allowed("EXCLUDE ItemID WHERE Items.GENRE IN ($G) AND Items.PRICE > 12") == ["i1", "i2", "i6", "i7"]
    assert allowed("EXCLUDE ItemID WHERE Items.GENRE IN ($G) AND Items.PRICE > $P") == ALL
    # a dropped IF condition is ignored: the expression applies
    assert allowed("EXCLUDE ItemID WHERE Items.GENRE IN ($G) IF CurrentUser.AGE = $AGE", {"G": '"Drama"'}) \
        == ["i1", "i4", "i5", "i6", "i7"]


def test_include_requires_every_param():
    with pytest.raises(ValidationError, match=r"\$PRICE"):
        allowed("INCLUDE ItemID WHERE Items.PRICE <= $PRICE")
    with pytest.raises(ValidationError, match=r"\$C\b"):
        allowed('EXCLUDE ItemID WHERE Items.GENRE IN ($G) | INCLUDE ItemID WHERE Items.CATEGORY IN ($C)',
                {"G": '"Drama"'})


def test_bad_param_values():
    with pytest.raises(ValidationError, match="PRICE"):
        allowed("INCLUDE ItemID WHERE Items.PRICE <= $PRICE", {"PRICE": '"cheap"'})
    with pytest.raises(ValidationError, match="exactly one"):
        allowed("INCLUDE ItemID WHERE Items.PRICE <= $PRICE", {"PRICE": "1,2"})
    with pytest.raises(ValidationError, match="'GENRE'"):
        allowed("INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)", {"GENRE": "Comedy"})


# -- chaining with | ------------------------------------------------------------------------------------------

def test_chaining_semantics():
    a = 'EXCLUDE ItemID WHERE Items.GENRE IN ("Comedy")'
    b = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    assert allowed(f"{a} | {b}") == ["i4", "i5", "i6", "i7"]                       # union of exclusions
    c = 'INCLUDE ItemID WHERE Items.GENRE IN ("Horror")'
    d = "INCLUDE ItemID WHERE Items.PRICE < 10"
    assert allowed(f"{c} | {d}") == ["i1", "i4"]                                     # union of inclusions
    e = "INCLUDE ItemID WHERE Items.PRICE <= 20"
    assert allowed(f"{e} | {a} | {b}") == ["i4"]                                    # Include(...) - (...)
    assert allowed(f"{a} | {e} | {b}") == ["i4"]                                    # order irrelevant
    assert allowed(f"{c} | {d} | {a}") == ["i4"]


def test_include_with_false_if_condition_is_a_no_op_in_a_chain():
    c = 'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") IF CurrentUser.MEMBERSHIP_STATUS IN ("gold")'
    d = "INCLUDE ItemID WHERE Items.PRICE < 10"
    assert allowed(f"{c} | {d}") == ["i1", "i4"]
    assert allowed(f"{c} | {d}", user_id="u2") == ["i1"]
    assert allowed(c, user_id="u2") == ALL


def test_if_with_several_conditions_and_operators():
    base = 'EXCLUDE ItemID WHERE Items.GENRE IN ("Horror") IF CurrentUser.AGE < 18'
    assert allowed(base, user_id="u2") == ["i1", "i2", "i3", "i5", "i6", "i7"]
    assert allowed(base, user_id="u1") == ALL
    two = base + ' AND CurrentUser.MEMBERSHIP_STATUS = "silver"'
    assert allowed(two, user_id="u2") == ["i1", "i2", "i3", "i5", "i6", "i7"]
    assert allowed(two.replace("silver", "gold"), user_id="u2") == ALL


# -- user segments ---------------------------------------------------------------------------------------------

def test_user_mask_with_interactions_and_exclude():
    interactions = pd.DataFrame({"USER_ID": ["u1", "u2"], "ITEM_ID": ["i1", "i2"], "EVENT_TYPE": ["purchase", "click"]})
    f = parse_filter('EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    assert f.user_mask(np.array(["u1", "u2", "u3"]), USERS, interactions=interactions).tolist() == [False, True, True]
    g = parse_filter("INCLUDE UserID WHERE Users.AGE >= 18")
    assert g.user_mask(np.array(["u1", "u2", "u3"]), USERS).tolist() == [True, False, False]
    with pytest.raises(ValidationError, match="user_mask"):
        g.item_mask(ctx())
    with pytest.raises(ValidationError, match="item_mask"):
        parse_filter("INCLUDE ItemID WHERE Items.PRICE < 3").user_mask(np.array(["u1"]), USERS)


# -- data errors ------------------------------------------------------------------------------------------------

def test_unknown_field_lists_available_fields():
    with pytest.raises(ValidationError) as err:
        allowed('INCLUDE ItemID WHERE Items.GENRES IN ("Drama")')
    assert "GENRES" in str(err.value) and "GENRE, CATEGORY, PRICE" in str(err.value)


def test_numeric_comparison_on_categorical_field():
    with pytest.raises(ValidationError, match=r"Items\.GENRE is not numeric"):
        allowed("INCLUDE ItemID WHERE Items.GENRE > 3")


def test_items_with_numbers_stored_as_text_and_booleans():
    items = pd.DataFrame({"ITEM_ID": ["i1", "i2", "i3"], "YEAR": ["1999", "2005", None],
                          "ON_SALE": [True, False, True]})
    assert allowed("INCLUDE ItemID WHERE Items.YEAR > 2000", items=items) == ["i2"]
    assert allowed('INCLUDE ItemID WHERE Items.ON_SALE IN ("True")', items=items) == ["i1", "i3"]
    assert allowed('INCLUDE ItemID WHERE Items.YEAR IN ("1999")', items=items) == ["i1"]


# -- syntax errors ----------------------------------------------------------------------------------------------

def test_error_caret_points_at_offending_token():
    expr = 'EXCLUDE ItemID WHERE Items.GENRE INN ("Comedy")'
    with pytest.raises(FilterSyntaxError) as err:
        parse_filter(expr)
    assert err.value.position == expr.index("INN")
    text = str(err.value)
    assert text.startswith("Expected IN, NOT IN or a comparison operator, got 'INN' at position 33")
    lines = text.splitlines()
    assert lines[1].strip() == expr and lines[2].index("^") - lines[1].index("E") == expr.index("INN")
    assert isinstance(err.value, ValidationError)


@pytest.mark.parametrize("expr, position, fragment", [
    ("", 0, "INCLUDE or EXCLUDE"),
    ("KEEP ItemID WHERE Items.X IN (\"a\")", 0, "INCLUDE or EXCLUDE"),
    ("INCLUDE Item WHERE Items.X IN (\"a\")", 8, "ItemID or UserID"),
    ("INCLUDE ItemID Items.X IN (\"a\")", 15, "WHERE"),
    ("INCLUDE ItemID WHERE Things.X IN (\"a\")", 21, "Items.FIELD"),
    ("INCLUDE ItemID WHERE Items.X IN (a)", 33, 'quoted value (e.g. "a")'),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\"", 36, "')'"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a)", 33, "Unterminated string"),
    ("INCLUDE ItemID WHERE Items.X IN ($A, $B)", 35, "one $PARAM"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\", $B)", 38, "not both"),
    ("INCLUDE ItemID WHERE Items.X < \"a\"", 31, "number"),
    ("INCLUDE ItemID WHERE Items.X != 3", 29, "NOT IN"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\") AND Interactions.EVENT_TYPE IN (\"b\")", 42, "chain separate"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\") |", 39, "INCLUDE or EXCLUDE"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\") extra", 38, "end of the expression"),
    ("INCLUDE ItemID WHERE (Items.X IN (\"a\")", 38, "')'"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\"))", 37, "Unbalanced"),
    ("INCLUDE ItemID WHERE Users.X IN (\"a\")", 21, "CurrentUser"),
    ("INCLUDE UserID WHERE Items.X IN (\"a\")", 21, "not Items"),
    ("INCLUDE ItemID WHERE CurrentUser.X IN (\"a\")", 21, "only allowed after IF"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\") IF Items.Y = 3", 41, "CurrentUser.FIELD"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\") IF CurrentUser.Y = CurrentItem.Y", 57, "IF conditions"),
    ("INCLUDE ItemID WHERE Interactions.X IN CurrentItem.Y", 21, "Items fields"),
    ("INCLUDE UserID WHERE Users.X IN (\"a\") IF CurrentUser.Y = 3", 38, "only allowed in ItemID"),
    ("INCLUDE ItemID WHERE Items.X = 1.2.3", 31, "Malformed number"),
    ("INCLUDE ItemID WHERE Items.X IN ($)", 33, "parameter name"),
    ("INCLUDE ItemID WHERE Items.X IN (\"a\") | INCLUDE UserID WHERE Users.Y IN (\"b\")", 40, "same target"),
    ("INCLUDE ItemID WHERE Items.X IN ('a')", 33, "double quotes"),
])
def test_syntax_errors(expr, position, fragment):
    with pytest.raises(FilterSyntaxError) as err:
        parse_filter(expr)
    assert err.value.position == position, str(err.value)
    assert fragment in str(err.value)


def test_deep_nesting_is_a_syntax_error_not_a_crash():
    expr = "INCLUDE ItemID WHERE " + "(" * 5000 + 'Items.X IN ("a")' + ")" * 5000
    with pytest.raises(FilterSyntaxError, match="nested"):
        parse_filter(expr)


def test_non_string_expression():
    with pytest.raises(FilterSyntaxError):
        parse_filter(None)


# -- filterValues -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ('"a","b"', ["a", "b"]),
    ('"horror"', ["horror"]),
    (' "a" , "b" ', ["a", "b"]),
    ('"a\\"b"', ['a"b']),
    ('"a,b","c"', ["a,b", "c"]),
    ('""', [""]),
    ("10", ["10"]),
    ("-2.5", ["-2.5"]),
    ('10,"x"', ["10", "x"]),
])
def test_parse_filter_values(text, expected):
    assert parse_filter_values(text) == expected


@pytest.mark.parametrize("text", ["", "   ", '"a', "a", '"a" "b"', '"a",', ",", "abc", "1e", '"a"x', "nan"])
def test_parse_filter_values_errors_name_the_parameter(text):
    with pytest.raises(ValidationError, match="GENRE"):
        parse_filter_values(text, "GENRE")


# -- index reuse and speed shape ----------------------------------------------------------------------------------

def test_index_is_cached_per_catalogue_and_frame():
    a = FilterIndex.for_frame(CATALOGUE, ITEMS, "ITEM_ID")
    assert FilterIndex.for_frame(CATALOGUE, ITEMS, "ITEM_ID") is a
    assert FilterIndex.for_frame(CATALOGUE, ITEMS.copy(), "ITEM_ID") is not a
    f = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")')
    first = f.item_mask(ctx())
    first[:] = True                                     # callers may write to results without poisoning caches
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")') == ["i1", "i3"]


def test_large_multi_valued_catalogue_matches_python_reference():
    rng = np.random.default_rng(0)
    n = 5000
    genres = np.array(["a", "b", "c", "d", "e"])
    values = ["|".join(rng.choice(genres, size=rng.integers(1, 3), replace=False)) for _ in range(n)]
    catalogue = np.array([f"x{i}" for i in range(n)])
    items = pd.DataFrame({"ITEM_ID": catalogue[::-1], "GENRE": values[::-1], "PRICE": rng.random(n)[::-1]})
    f = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ("b","d") AND Items.PRICE < 0.5')
    mask = f.item_mask(FilterContext(catalogue, items=items))
    by_id = dict(zip(items.ITEM_ID, zip(items.GENRE, items.PRICE)))
    expected = [bool({"b", "d"} & set(by_id[i][0].split("|"))) and by_id[i][1] < 0.5 for i in catalogue]
    assert mask.tolist() == expected


# -- fuzzing: only our error types ever escape -------------------------------------------------------------------

VALID = [
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click","stream")',
    "INCLUDE ItemID WHERE Items.PRICE <= $PRICE",
    "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
    'INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
    "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE",
    'INCLUDE ItemID WHERE (Items.PRICE < 10 OR Items.GENRE IN ("Drama")) AND Items.PRICE > 12',
    "INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)",
]
ALPHABET = st.sampled_from(list('()",.|$<>=! \\*-0123456789') + ["IN", "NOT", "AND", "OR", "IF", "Items",
                                                                  "CurrentItem", "x", "'"])


def _exercise(expr: str) -> None:
    try:
        f = parse_filter(expr)
    except FilterSyntaxError as err:
        assert 0 <= err.position <= len(expr)
        assert "^" in str(err) or not err.expression
        return
    values = {p: '"Comedy"' for p in f.parameters}
    try:
        if f.target == "UserID":
            f.user_mask(np.array(["u1", "u2"]), USERS, values)
        else:
            f.item_mask(ctx(current_item_id="i3"), values)
    except ValidationError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_random_text_only_raises_filter_errors(text):
    _exercise(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3), ALPHABET), max_size=4))
def test_mutated_valid_expressions_only_raise_filter_errors(expr, edits):
    for pos, kind, piece in edits:
        pos = pos % (len(expr) + 1)
        if kind == 0:
            expr = expr[:pos] + piece + expr[pos:]
        elif kind == 1:
            expr = expr[:pos] + expr[pos + 1:]
        elif kind == 2:
            expr = expr[:pos] + piece + expr[pos + len(piece):]
        else:
            expr = expr[:pos]
    _exercise(expr)


# -- named filters and CLI --------------------------------------------------------------------------------------

def test_named_filters(store):
    store.create_dataset_group("shop")
    expr = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    created = create_filter(store, "shop", "no-purchased", expr)
    assert created.status == "ACTIVE" and created.filter_expression == expr
    assert get_filter(store, "shop", "no-purchased").arn == created.arn
    assert load_filter(store, created.arn).expression == expr
    for i in range(30):                                   # no limit on the number of filters
        create_filter(store, "shop", f"f{i}", f"INCLUDE ItemID WHERE Items.PRICE < {i}")
    assert len(list_filters(store, "shop")) == 31
    with pytest.raises(ConflictError):
        create_filter(store, "shop", "no-purchased", expr)
    with pytest.raises(FilterSyntaxError):
        create_filter(store, "shop", "bad", "EXCLUDE ItemID WHERE")
    with pytest.raises(NotFoundError):
        get_filter(store, "shop", "bad")
    with pytest.raises(ValidationError):
        create_filter(store, "shop", "bad name!", expr)
    with pytest.raises(NotFoundError):
        create_filter(store, "nope", "x", expr)
    delete_filter(store, "shop", "no-purchased")
    with pytest.raises(NotFoundError):
        delete_filter(store, "shop", "no-purchased")


def test_cli_create_list_delete(store):
    store.create_dataset_group("shop")
    runner = CliRunner()
    home = ["--home", str(store.home)]
    result = runner.invoke(main, home + ["filter", "create", "--group", "shop", "--name", "cheap",
                                         "INCLUDE ItemID WHERE Items.PRICE <= $PRICE"])
    assert result.exit_code == 0, result.output
    assert "$PRICE" in result.output
    result = runner.invoke(main, home + ["filter", "list", "--group", "shop", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.output)
    assert [f["name"] for f in listed] == ["cheap"]
    assert listed[0]["filter_expression"] == "INCLUDE ItemID WHERE Items.PRICE <= $PRICE"
    result = runner.invoke(main, home + ["filter", "create", "-g", "shop", "-n", "bad",
                                         'EXCLUDE ItemID WHERE Items.GENRE INN ("x")'])
    assert result.exit_code == 1
    assert "got 'INN'" in result.output and "^" in result.output
    result = runner.invoke(main, home + ["filter", "list", "-g", "shop"])
    assert "cheap" in result.output and "bad" not in result.output
    result = runner.invoke(main, home + ["filter", "delete", "-g", "shop", "-n", "cheap"])
    assert result.exit_code == 0
    result = runner.invoke(main, home + ["filter", "delete", "-g", "shop", "-n", "cheap"])
    assert result.exit_code == 1 and "No filter named 'cheap'" in result.output


# -- Item-Attribute-Affinity queries (AP §9.2) ---------------------------------------------------------------------

def test_item_attribute_query():
    from recsys.filters import parse_item_attributes

    cond = parse_item_attributes('ITEMS.genre = "Comedy" AND ITEMS.genre = "Drama"')
    assert list(CATALOGUE[cond.item_mask(CATALOGUE, ITEMS)]) == ["i3"]
    cond = parse_item_attributes('Items.GENRE = "Horror" OR Items.PRICE < 6')
    assert list(CATALOGUE[cond.item_mask(CATALOGUE, ITEMS)]) == ["i1", "i4"]
    for bad, position in [("ITEMS.GENRE = $G", 0), ('Users.X = "a"', 0), ("", 0), ('ITEMS.GENRE = "a" |', 18)]:
        with pytest.raises(FilterSyntaxError) as err:
            parse_item_attributes(bad)
        assert err.value.position == position


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_random_filter_values_only_raise_validation_errors(text):
    try:
        values = parse_filter_values(text, "P")
    except ValidationError as err:
        assert "'P'" in str(err)
    else:
        assert isinstance(values, list) and values


def test_user_mask_with_duplicate_and_many_users():
    user_ids = np.array([f"u{i % 7000}" for i in range(8000)])
    interactions = pd.DataFrame({"USER_ID": [f"u{i}" for i in range(0, 7000, 2)], "ITEM_ID": "i1",
                                 "EVENT_TYPE": "Purchase"})
    f = parse_filter('INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    mask = f.user_mask(user_ids, None, interactions=interactions)
    assert mask.tolist() == [(i % 7000) % 2 == 0 for i in range(8000)]


def test_create_filter_checks_fields_against_existing_schemas(store):
    from recsys.datasets import create_dataset

    store.create_dataset_group("typed")
    # no Items dataset yet: fields cannot be checked, the filter is stored
    create_filter(store, "typed", "early", 'INCLUDE ItemID WHERE Items.ANYTHING IN ("x")')
    create_dataset(store, "typed", "Items", {
        "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
        "fields": [{"name": "ITEM_ID", "type": "string"},
                   {"name": "GENRE", "type": "string", "categorical": True},
                   {"name": "DESCRIPTION", "type": "string", "textual": True},
                   {"name": "PRICE", "type": "float"}]})
    create_filter(store, "typed", "ok", 'INCLUDE ItemID WHERE Items.genre IN ("x") AND Items.PRICE < 3')
    with pytest.raises(ValidationError, match="no such field; available fields: ITEM_ID, GENRE"):
        create_filter(store, "typed", "typo", 'INCLUDE ItemID WHERE Items.GENRES IN ("x")')
    with pytest.raises(ValidationError, match="textual"):
        create_filter(store, "typed", "text", 'INCLUDE ItemID WHERE Items.DESCRIPTION IN ("x")')
    with pytest.raises(ValidationError, match="CurrentItem.COLOUR"):
        create_filter(store, "typed", "cur", "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.COLOUR")
    assert sorted(f.name for f in list_filters(store, "typed")) == ["early", "ok"]


def test_empty_and_duplicated_metadata_frames():
    empty = ITEMS.iloc[0:0]
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("Drama")', items=empty) == []
    assert allowed('EXCLUDE ItemID WHERE Items.PRICE > 1', items=empty) == ALL
    upserted = pd.concat([ITEMS, pd.DataFrame({"ITEM_ID": ["i1"], "GENRE": ["Horror"], "PRICE": [99.0]})])
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("Horror")', items=upserted) == ["i1", "i4"]
    assert allowed("INCLUDE ItemID WHERE Items.PRICE > 50", items=upserted) == ["i1"]
    empty_history = HISTORY.iloc[0:0]
    assert allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', history=empty_history) == ALL


def test_cli_check(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["--home", str(tmp_path / "ws"), "filter", "check",
                                  "INCLUDE ItemID WHERE Items.PRICE <= $PRICE | "
                                  'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'])
    assert result.exit_code == 0, result.output
    assert "INCLUDE ItemID (Items) | EXCLUDE ItemID (Interactions)" in result.output
    assert "Parameters: $PRICE" in result.output
    result = runner.invoke(main, ["--home", str(tmp_path / "ws"), "filter", "check", "INCLUDE ItemID WHERE"])
    assert result.exit_code == 1 and "position 20" in result.output
