"""Personalize's filter language: tokenizer, parser, vectorised masks, and named filters stored as resources.

Example::

    from recsys.filters import FilterContext, parse_filter

    f = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | '
                     'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    allowed = f.item_mask(FilterContext(item_ids, items=items, user_interactions=history),
                          {"GENRE": '"Comedy","Drama"'})
"""

from recsys.filters.evaluate import (
    ALL_EVENT_TYPES, CompiledCondition, CompiledFilter, FilterContext, parse_filter, parse_item_attributes,
)
from recsys.filters.index import FieldIndex, FilterIndex
from recsys.filters.resources import (
    ADHOC_PREFIX, FILTER, adhoc_filter_name, create_filter, delete_filter, get_filter, is_adhoc_filter, list_filters,
    load_filter,
)
from recsys.filters.values import parse_all_filter_values, parse_filter_values

__all__ = [
    "ADHOC_PREFIX", "ALL_EVENT_TYPES", "CompiledCondition", "CompiledFilter", "FILTER", "FieldIndex", "FilterContext", "FilterIndex",
    "adhoc_filter_name", "create_filter", "delete_filter", "get_filter", "is_adhoc_filter", "list_filters",
    "load_filter",
    "parse_all_filter_values", "parse_filter", "parse_filter_values", "parse_item_attributes",
]
