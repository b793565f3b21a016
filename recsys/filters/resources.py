"""Named filters (Personalize's CreateFilter/DescribeFilter/ListFilters/DeleteFilter) stored as generic resources."""

from __future__ import annotations

import hashlib

from recsys.columns import INTERACTIONS, ITEMS, USERS
from recsys.exceptions import NotFoundError, ValidationError
from recsys.filters.evaluate import CompiledFilter, parse_filter
from recsys.resources import Filter
from recsys.store import validate_name

FILTER = "filter"
FILTER_EXPRESSION = "filterExpression"
# Filters the workbench creates for expressions typed in a page (not saved by the user) carry this prefix.
ADHOC_PREFIX = "adhoc-"


def adhoc_filter_name(group: str, expression: str) -> str:
    """The name of the filter made for an expression typed in the workbench: one per distinct expression and
    dataset group (names are unique per workspace)."""
    return ADHOC_PREFIX + hashlib.sha256(f"{group}\n{expression}".encode()).hexdigest()[:10]


def is_adhoc_filter(name: str) -> bool:
    """Whether a filter was made by the workbench for a typed expression (pages list only the others)."""
    return name.startswith(ADHOC_PREFIX)


def create_filter(store, group: str, name: str, expression: str) -> Filter:
    """Parse `expression` and store it as filter `name` of dataset group `group` (status ACTIVE).

    Example::

        create_filter(store, "demo", "no-purchased",
                      'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')

    Raises
    ------
    FilterSyntaxError : the expression does not parse (nothing is stored).
    ValidationError : bad name, or a field that is not in the (existing) dataset's schema, or is textual/boolean.
    NotFoundError : unknown group.   ConflictError : the name exists.
    """
    validate_name(name, "filter name")
    dataset_group = store.get_dataset_group(group)
    check_fields(store, group, parse_filter(expression))
    body = {FILTER_EXPRESSION: expression, "datasetGroupArn": dataset_group.get("arn")}
    return Filter.from_record(store.create_resource(FILTER, group, name, body, status="ACTIVE"))


_SCHEMA_OF = {ITEMS: ITEMS, "CurrentItem": ITEMS, USERS: USERS, "CurrentUser": USERS, INTERACTIONS: INTERACTIONS}


def check_fields(store, group: str, compiled: CompiledFilter) -> None:
    """Check the filter's fields against the group's dataset schemas (datasets not created yet are skipped).

    Personalize rules: the field must exist; textual and boolean fields cannot be used in filters.
    """
    from recsys.datasets import get_dataset

    schemas: dict = {}
    for dataset, field in sorted(compiled.fields):
        dataset_type = _SCHEMA_OF[dataset]
        if dataset_type not in schemas:
            try:
                schemas[dataset_type] = get_dataset(store, group, dataset_type)["schema"]
            except NotFoundError:
                schemas[dataset_type] = None
        schema = schemas[dataset_type]
        if schema is None or (dataset_type == INTERACTIONS and field.upper() == "EVENT_TYPE"):
            continue
        matches = [f for f in schema.fields if f.name == field] or \
                  [f for f in schema.fields if f.name.upper() == field.upper()]
        if not matches:
            raise ValidationError(f"The filter uses {dataset}.{field}, but the {dataset_type} schema of {group!r} "
                                  f"has no such field; available fields: {', '.join(schema.names)}")
        if matches[0].textual:
            raise ValidationError(f"{dataset}.{field} is a textual field; Personalize filters cannot use textual "
                                  f"fields (use a categorical field)")
        if matches[0].type == "boolean":
            raise ValidationError(f"{dataset}.{field} is a boolean field; Personalize filters cannot use booleans "
                                  f"(store it as a string \"True\"/\"False\" or an int 0/1)")


def get_filter(store, group: str, name: str) -> Filter:
    """The stored filter (`.arn`, `.name`, `.group`, `.status`, `.filter_expression`, ...)."""
    return Filter.from_record(store.get_resource(FILTER, group, name))


def list_filters(store, group: str | None = None) -> list[Filter]:
    """Filters of one dataset group (or all groups), newest first."""
    return [Filter.from_record(r) for r in store.list_resources(FILTER, group)]


def delete_filter(store, group: str, name: str) -> None:
    """Delete a filter; NotFoundError when it does not exist."""
    store.delete_resource(FILTER, group, name)


def load_filter(store, filter_arn: str) -> CompiledFilter:
    """The compiled filter behind a filterArn (as passed to GetRecommendations); parsing is cached."""
    resource = store.find_resource(filter_arn)
    if resource.get("type") != FILTER:
        raise ValidationError(f"{filter_arn} is a {resource.get('type')}, not a filter")
    return parse_filter(resource[FILTER_EXPRESSION])
