"""Named filters (Personalize's CreateFilter/DescribeFilter/ListFilters/DeleteFilter) stored as generic resources."""

from __future__ import annotations

from recsys.exceptions import ValidationError
from recsys.filters.evaluate import CompiledFilter, parse_filter
from recsys.store import validate_name

FILTER = "filter"
FILTER_EXPRESSION = "filterExpression"


def create_filter(store, group: str, name: str, expression: str) -> dict:
    """Parse `expression` and store it as filter `name` of dataset group `group` (status ACTIVE).

    Example::

        create_filter(store, "demo", "no-purchased",
                      'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')

    Raises
    ------
    FilterSyntaxError : the expression does not parse (nothing is stored).
    ValidationError : bad name.   NotFoundError : unknown group.   ConflictError : the name exists.
    """
    validate_name(name, "filter name")
    dataset_group = store.get_dataset_group(group)
    parse_filter(expression)
    body = {FILTER_EXPRESSION: expression, "datasetGroupArn": dataset_group.get("arn")}
    return store.create_resource(FILTER, group, name, body, status="ACTIVE")


def get_filter(store, group: str, name: str) -> dict:
    """The stored filter: {type, group, name, arn, status, created_at, updated_at, filterExpression, ...}."""
    return store.get_resource(FILTER, group, name)


def list_filters(store, group: str | None = None) -> list[dict]:
    """Filters of one dataset group (or all groups), newest first."""
    return store.list_resources(FILTER, group)


def delete_filter(store, group: str, name: str) -> None:
    """Delete a filter; NotFoundError when it does not exist."""
    store.delete_resource(FILTER, group, name)


def load_filter(store, filter_arn: str) -> CompiledFilter:
    """The compiled filter behind a filterArn (as passed to GetRecommendations); parsing is cached."""
    resource = store.find_resource(filter_arn)
    if resource.get("type") != FILTER:
        raise ValidationError(f"{filter_arn} is a {resource.get('type')}, not a filter")
    return parse_filter(resource[FILTER_EXPRESSION])
