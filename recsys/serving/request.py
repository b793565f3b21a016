"""Validation of one request's input (ids, numResults, context, filterValues, metadataColumns, promotions, inputList).

The limits are Personalize's [AP §6-§8]; pages and the CLI import them (e.g. `MAX_RESULTS_WITH_METADATA`)
instead of repeating the numbers. Every check raises a ValidationError that names the field and the fix.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np

from recsys.exceptions import ValidationError
from recsys.store import validate_name

DEFAULT_RESULTS = 25
MAX_RESULTS = 500
MAX_RESULTS_WITH_METADATA = 50
MAX_METADATA_COLUMNS = 10
MAX_CONTEXT_ENTRIES = 150
MAX_FILTER_VALUES = 25
MAX_ID_LENGTH = 256
# Personalize's defaults for a campaign's itemExplorationConfig.
DEFAULT_EXPLORATION_WEIGHT = 0.3
DEFAULT_EXPLORATION_AGE_CUT_OFF = 30
DEFAULT_CAMPAIGN_CONFIG = {"itemExplorationConfig": {"explorationWeight": str(DEFAULT_EXPLORATION_WEIGHT),
                                                     "explorationItemAgeCutOff": str(DEFAULT_EXPLORATION_AGE_CUT_OFF)}}
CONFIG_KEYS = ("itemExplorationConfig", "enableMetadataWithRecommendations", "syncWithLatestSolutionVersion",
               "rankingInfluence", "excludeSeenItems")


def check_id(value, what: str) -> str | None:
    """A user, item or session id as a string (None when absent); ValidationError when too long."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        value = str(value)
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{what} is {len(value)} characters long; the maximum is {MAX_ID_LENGTH}.")
    return value


def result_limit(with_metadata: bool) -> int:
    """The most results (or inputList items) a request may ask for."""
    return MAX_RESULTS_WITH_METADATA if with_metadata else MAX_RESULTS


def check_num_results(num_results, with_metadata: bool) -> int:
    if num_results is None:
        return DEFAULT_RESULTS
    if isinstance(num_results, bool) or not isinstance(num_results, (int, np.integer)):
        try:
            num_results = int(str(num_results))
        except ValueError:
            raise ValidationError(f"numResults must be an integer, got {num_results!r}.") from None
    limit = result_limit(with_metadata)
    if not 0 <= num_results <= limit:
        extra = " when metadataColumns is given" if with_metadata else ""
        raise ValidationError(f"numResults {num_results} is out of range: use 0 to {limit}{extra}.")
    return int(num_results)


def check_input_list(input_list, with_metadata: bool) -> list[str]:
    """The ids to rank, de-duplicated (first occurrence kept)."""
    limit = result_limit(with_metadata)
    if not isinstance(input_list, (list, tuple)) or not input_list:
        raise ValidationError("inputList must be a non-empty list of item ids to rank.")
    if len(input_list) > limit:
        raise ValidationError(f"inputList has {len(input_list)} items; the maximum is {limit}"
                              f"{' when metadataColumns is given' if with_metadata else ''}.")
    ids = [check_id(i, "inputList item") for i in input_list]
    return list(dict.fromkeys(i for i in ids if i))


def check_context(context) -> dict | None:
    if not context:
        return None
    if not isinstance(context, Mapping):
        raise ValidationError("context must be a map of field name to value, e.g. {\"DEVICE\": \"mobile\"}.")
    if len(context) > MAX_CONTEXT_ENTRIES:
        raise ValidationError(f"context has {len(context)} entries; the maximum is {MAX_CONTEXT_ENTRIES}.")
    return {str(k): str(v) for k, v in context.items()}


def check_filter_values(values) -> None:
    if values is None:
        return
    if not isinstance(values, Mapping):
        raise ValidationError('filterValues must be a map, e.g. {"CATEGORY": "\\"shoes\\""}.')
    if len(values) > MAX_FILTER_VALUES:
        raise ValidationError(f"filterValues has {len(values)} entries; the maximum is {MAX_FILTER_VALUES}.")


def check_metadata_columns(metadata_columns) -> list[str]:
    if not metadata_columns:
        return []
    if not isinstance(metadata_columns, Mapping) or set(metadata_columns) - {"ITEMS"}:
        raise ValidationError('metadataColumns must look like {"ITEMS": ["PRICE", "CATEGORY"]} (only ITEMS).')
    columns = list(metadata_columns.get("ITEMS") or [])
    if len(columns) > MAX_METADATA_COLUMNS:
        raise ValidationError(f"metadataColumns lists {len(columns)} columns; the maximum is {MAX_METADATA_COLUMNS}.")
    if not all(isinstance(c, str) and c for c in columns):
        raise ValidationError("metadataColumns ITEMS must be a list of column names.")
    return columns


def check_promotions(promotions) -> dict | None:
    """The one promotion of a request (Personalize allows at most one), with an int percentPromotedItems."""
    if not promotions:
        return None
    if isinstance(promotions, Mapping):
        promotions = [promotions]
    if len(promotions) > 1:
        raise ValidationError(f"{len(promotions)} promotions given; Personalize allows at most 1 per request.")
    promotion = dict(promotions[0])
    validate_name(promotion.get("name"), "promotion name")
    percent = promotion.get("percentPromotedItems")
    try:
        percent = int(percent)
    except (TypeError, ValueError):
        raise ValidationError("promotion percentPromotedItems must be an integer from 1 to 100.") from None
    if not 1 <= percent <= 100:
        raise ValidationError(f"promotion percentPromotedItems {percent} is out of range: use 1 to 100.")
    promotion["percentPromotedItems"] = percent
    if not promotion.get("filterArn"):
        raise ValidationError(f"promotion {promotion['name']!r} needs a filterArn selecting the promoted items.")
    return promotion


def check_campaign_config(config: dict) -> dict:
    """A campaign's (or batch job's) config with its exploration settings completed by the defaults."""
    if not isinstance(config, dict):
        raise ValidationError("campaignConfig must be a map, e.g. {\"itemExplorationConfig\": {...}}.")
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise ValidationError(f"Unknown campaignConfig keys {sorted(unknown)}; use {', '.join(CONFIG_KEYS)}.")
    config = copy.deepcopy(config)
    exploration = config.get("itemExplorationConfig")
    if exploration is not None:
        if not isinstance(exploration, dict):
            raise ValidationError("itemExplorationConfig must be a map of explorationWeight and "
                                  "explorationItemAgeCutOff.")
        merged = dict(DEFAULT_CAMPAIGN_CONFIG["itemExplorationConfig"])
        merged.update({k: str(v) for k, v in exploration.items()})
        extra = set(merged) - {"explorationWeight", "explorationItemAgeCutOff"}
        if extra:
            raise ValidationError(f"Unknown itemExplorationConfig keys {sorted(extra)}.")
        weight = _number(merged["explorationWeight"], "explorationWeight")
        cutoff = _number(merged["explorationItemAgeCutOff"], "explorationItemAgeCutOff")
        if not 0.0 <= weight <= 1.0:
            raise ValidationError(f"explorationWeight {weight} is out of range: use 0 to 1 (default 0.3).")
        if cutoff <= 0:
            raise ValidationError(f"explorationItemAgeCutOff {cutoff} must be a positive number of days (default 30).")
        config["itemExplorationConfig"] = merged
    return config


def _number(value, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} must be a number (as a string, e.g. \"0.3\"), got {value!r}.") from None
