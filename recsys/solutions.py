"""Solutions and solution versions as stored resources: create, read and list them, check their parameters.

Example::

    store = Store()
    create_solution(store, "shop", "up", "aws-user-personalization", params={"factors": 64})
    latest_active_version(store, "shop", "up").metrics
    read_model(store, version)                         # the fitted Recipe training saved (uncached)

A solution is a stored resource (type ``solution``) holding the recipe name, its parameters and the event
filtering. Each training run is a ``solution-version`` resource named ``<solution>/<version_id>`` whose
status goes CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE | CREATE FAILED | CREATE STOPPED, and whose body
carries the progress (stage, percent, ETA), then the metrics, training seconds, peak memory, parameters and
data snapshot counts. Starting, stopping and running trainings is `recsys.runs`; this module never trains.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from recsys.exceptions import ConflictError, NotFoundError, RecsysError, ValidationError
from recsys.recipes import REGISTRY, Recipe, load_recipe
from recsys.resources import Arn, Solution, SolutionVersion
from recsys.store import (
    ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, CREATE_STOPPED, CREATE_STOPPING, Store, validate_name,
)

SOLUTION = "solution"
SOLUTION_VERSION = "solution-version"
TRAINING_MODES = ("FULL", "UPDATE")
UPDATABLE_RECIPE_TYPES = ("USER_PERSONALIZATION",)
TRAINING_STATUSES = (CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_STOPPING)
FINAL_STATUSES = (ACTIVE, CREATE_FAILED, CREATE_STOPPED)


# -- solutions ---------------------------------------------------------------------------------------------


def recipe_class(recipe: str):
    """The recipe class registered as `recipe`; ValidationError lists the registered names."""
    if recipe not in REGISTRY:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise ValidationError(f"Unknown recipe {recipe!r}: use one of {known}.")
    return REGISTRY[recipe]


def _coerce_param(recipe: str, key: str, value: Any, info: Any) -> Any:
    """Turn a CLI/UI string into the parameter's kind (ParamInfo.kind); ValidationError names the param."""
    if not isinstance(value, str) or info is None:
        return value
    kind = getattr(info, "kind", None) or type(getattr(info, "default", None)).__name__
    text = value.strip()
    try:
        if kind == "seed":
            return None if text.lower() in ("", "none", "null") else int(text)
        if kind == "int":
            number = float(text)
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if kind == "dict":
            if text.lower() in ("", "none", "null"):
                return None
            if text.startswith("{"):
                return {str(k): float(v) for k, v in json.loads(text).items()}
            pairs = (part.split(":", 1) for part in text.split(",") if part.strip())
            return {k.strip(): float(v) for k, v in pairs}
    except (ValueError, TypeError, AttributeError):
        examples = {"seed": "42", "int": "10", "float": "0.1", "bool": "true", "dict": "purchase:1,view:0.2"}
        example = examples.get(kind, "...")
        raise ValidationError(
            f"Invalid value {value!r} for parameter {key!r} of recipe {recipe!r}: expected {kind} "
            f"(default {getattr(info, 'default', None)!r}); pass e.g. --param {key}={example}."
        ) from None
    return value


def validate_params(recipe: str, params: dict | None) -> dict:
    """Check `params` against the recipe's `param_info` and `set_params`; returns them type-coerced.

    Raises
    ------
    ValidationError
        Naming the unknown or invalid parameter and the accepted names or range.
    """
    cls = recipe_class(recipe)
    info = dict(getattr(cls, "param_info", {}) or {})
    if isinstance(params, dict) is False and params is not None:
        raise ValidationError(f"params for recipe {recipe!r} must be a dict of name -> value.")
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if info and key not in info:
            known = ", ".join(sorted(info)) or "none"
            raise ValidationError(f"Unknown parameter {key!r} for recipe {recipe!r}: use one of {known}.")
        out[key] = _coerce_param(recipe, key, value, info.get(key))
    try:
        instance = cls()
        instance.set_params(**out)
        check = getattr(instance, "_validate_params", None)
        if callable(check):
            check()
    except RecsysError:
        raise
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"Invalid parameters for recipe {recipe!r}: {exc}") from exc
    return out


def _validate_events_config(events_config: list[dict] | None) -> list[dict] | None:
    """Personalize's eventsConfig.eventParametersList: [{eventType, eventValueThreshold?, weight?}] (≤10)."""
    if events_config is None:
        return None
    if isinstance(events_config, dict):
        events_config = events_config.get("eventParametersList", [])
    if len(events_config) > 10:
        raise ValidationError("eventsConfig has more than 10 event types; keep at most 10 entries.")
    out = []
    for i, entry in enumerate(events_config):
        if not isinstance(entry, dict) or not entry.get("eventType"):
            raise ValidationError(
                f"eventsConfig entry {i} needs an 'eventType'; e.g. {{'eventType': 'click', 'weight': 0.5}}."
            )
        weight = float(entry.get("weight", 1.0))
        if not 0.0 <= weight <= 1.0:
            raise ValidationError(
                f"eventsConfig entry {i} ({entry['eventType']!r}): weight {weight} is outside [0, 1]."
            )
        threshold = entry.get("eventValueThreshold")
        out.append({
            "eventType": str(entry["eventType"]),
            "eventValueThreshold": None if threshold is None else float(threshold),
            "weight": weight,
        })
    return out


def create_solution(
    store: Store,
    group: str,
    name: str,
    recipe: str,
    *,
    params: dict | None = None,
    event_type: str | None = None,
    event_value_threshold: float | None = None,
    events_config: list[dict] | None = None,
    perform_hpo: bool = False,
    hpo_config: dict | None = None,
) -> Solution:
    """Create a solution: a recipe with its parameters and event filtering (Personalize `CreateSolution`).

    Parameters
    ----------
    params : recipe hyperparameters (strings are coerced to the parameter's type).
    event_type, event_value_threshold : train only on events of this type / with EVENT_VALUE >= threshold.
    events_config : per-event-type settings, like Personalize's ``eventsConfig.eventParametersList``:
        ``[{"eventType": "click", "eventValueThreshold": 0.0, "weight": 0.3}, ...]``.
    perform_hpo, hpo_config : tune hyperparameters before training (see `recsys.tuning`).

    Raises
    ------
    ValidationError for a bad name, unknown recipe or parameter; ConflictError if the name is taken.
    """
    validate_name(name, "solution name")
    store.get_dataset_group(group)
    cls = recipe_class(recipe)
    clean = validate_params(recipe, params)
    threshold = None if event_value_threshold in (None, "") else float(event_value_threshold)
    body = {
        "recipe": recipe,
        "recipe_arn": str(Arn.recipe(recipe)),
        "recipe_type": cls.recipe_type,
        "params": clean,
        "event_type": event_type or None,
        "event_value_threshold": threshold,
        "events_config": _validate_events_config(events_config),
        "perform_hpo": bool(perform_hpo),
        "hpo_config": hpo_config or None,
        "dataset_group_arn": store.get_dataset_group(group)["arn"],
    }
    return Solution.from_record(store.create_resource(SOLUTION, group, name, body, status=ACTIVE))


def get_solution(store: Store, group: str, name: str) -> Solution:
    return Solution.from_record(store.get_resource(SOLUTION, group, name))


def list_solutions(store: Store, group: str | None = None) -> list[Solution]:
    return [Solution.from_record(r) for r in store.list_resources(SOLUTION, group)]


# -- solution versions -------------------------------------------------------------------------------------


def version_arn(store: Store, group: str, solution: str, version_id: str) -> str:
    return store.arn(SOLUTION_VERSION, group, f"{solution}/{version_id}")


def _new_version_id() -> str:
    """Sortable by creation time (hex seconds) plus random bits, e.g. '692b0f1ca3f2'."""
    return f"{int(time.time()):08x}{secrets.token_hex(2)}"


def list_solution_versions(store: Store, group: str, solution: str | None = None) -> list[SolutionVersion]:
    """Versions of one solution (or of all solutions in the group), newest first."""
    versions = [SolutionVersion.from_record(r) for r in store.list_resources(SOLUTION_VERSION, group)]
    if solution is not None:
        versions = [v for v in versions if v.solution == solution]
    return versions


def get_solution_version(store: Store, version_arn_: str) -> SolutionVersion:
    version = store.find_resource(version_arn_)
    if version["type"] != SOLUTION_VERSION:
        raise NotFoundError(f"{version_arn_!r} is a {version['type']}, not a solution version.")
    return SolutionVersion.from_record(version)


def latest_active_version(store: Store, group: str, solution: str) -> SolutionVersion:
    """The newest ACTIVE version of a solution; NotFoundError says how to train one."""
    get_solution(store, group, solution)
    for version in list_solution_versions(store, group, solution):
        if version.status == ACTIVE:
            return version
    raise NotFoundError(
        f"Solution {solution!r} in {group!r} has no ACTIVE version yet; train one "
        f"(python -m recsys train --group {group} --solution {solution} ...)."
    )


def resolve_version(store: Store, group: str, solution: str, version: str | None = None) -> SolutionVersion:
    """A version by id, name or ARN, or the newest ACTIVE one when `version` is None."""
    if not version:
        return latest_active_version(store, group, solution)
    if version.startswith("arn:"):
        return get_solution_version(store, version)
    name = version if "/" in version else f"{solution}/{version}"
    return SolutionVersion.from_record(store.get_resource(SOLUTION_VERSION, group, name))


def get_solution_metrics(store: Store, version_arn_: str) -> dict:
    """Personalize's `GetSolutionMetrics`: ``{solutionVersionArn, metrics: {name: float}, protocol}``."""
    version = get_solution_version(store, version_arn_)
    return {"solutionVersionArn": version.arn, "metrics": dict(version.metrics), "protocol": version.metrics_protocol}


def wait_for_version(store: Store, arn: str, timeout: float = 600.0, poll: float = 0.1) -> SolutionVersion:
    """Poll until the version leaves PENDING/IN_PROGRESS/STOPPING; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        version = get_solution_version(store, arn)
        if version.status in FINAL_STATUSES:
            return version
        if time.monotonic() > deadline:
            raise TimeoutError(f"Solution version {arn} still {version.status} after {timeout:.0f} s.")
        time.sleep(poll)


def new_solution_version(store: Store, group: str, solution: str, training_mode: str = "FULL") -> SolutionVersion:
    """Create the CREATE PENDING version resource of a training of `solution` (`recsys.runs` runs it).

    ``training_mode="UPDATE"`` needs a user personalization recipe that folds in new items and an ACTIVE
    FULL version to start from, recorded as ``base_version_arn``.
    """
    mode = (training_mode or "FULL").upper()
    if mode not in TRAINING_MODES:
        raise ValidationError(f"Invalid training mode {training_mode!r}: use FULL or UPDATE.")
    sol = get_solution(store, group, solution)
    base = None
    if mode == "UPDATE":
        updatable = hasattr(recipe_class(sol.recipe), "update_items")
        if sol.recipe_type not in UPDATABLE_RECIPE_TYPES or not updatable:
            raise ValidationError(
                f"trainingMode UPDATE only works for user personalization recipes that fold in new items "
                f"(e.g. aws-user-personalization); solution {solution!r} "
                f"uses {sol.recipe!r} ({sol.recipe_type}). Train with FULL."
            )
        fulls = [
            v for v in list_solution_versions(store, group, solution)
            if v.status == ACTIVE and v.training_mode == "FULL"
        ]
        if not fulls:
            raise ConflictError(
                f"trainingMode UPDATE needs an ACTIVE FULL version of solution {solution!r}; "
                "train a FULL version first."
            )
        base = fulls[0].arn
    version_id = _new_version_id()
    name = f"{solution}/{version_id}"
    body = {
        "solution": solution,
        "solution_arn": sol.arn,
        "version_id": version_id,
        "training_mode": mode,
        "base_version_arn": base,
        "recipe": sol.recipe,
        "recipe_type": sol.recipe_type,
        "progress": {"stage": "queued", "percent": 0.0, "eta_seconds": None},
    }
    return SolutionVersion.from_record(store.create_resource(
        SOLUTION_VERSION, group, name, body, status=CREATE_PENDING, arn=version_arn(store, group, solution, version_id)
    ))


# -- where a version's files live -------------------------------------------------------------------------


def artifact_dir(store: Store, version: SolutionVersion) -> Path:
    """The directory training saves the version's fitted recipe into (`Recipe.save` format)."""
    return store.artifact_path("models", version.group, version.solution, version.version_id)


def evaluation_path(store: Store, version: SolutionVersion) -> Path:
    """Where the version's full offline evaluation (per-user rows, lists; EvaluationReport.to_dict) is kept."""
    return store.artifact_path("evaluations", version.group, version.solution, f"{version.version_id}.json")


def read_model(store: Store, version: SolutionVersion) -> Recipe:
    """The fitted recipe training saved for `version`, read from disk (ConflictError unless it is ACTIVE).

    Serving keeps the process's one cache of loaded models (`recsys.serving.load_model`)."""
    if version.status != ACTIVE:
        raise ConflictError(f"Solution version {version.arn} is {version.status}, not ACTIVE; wait for "
                            "training or train again.")
    path = store.artifacts_dir / version.artifact if version.artifact else artifact_dir(store, version)
    if not path.is_dir():
        raise NotFoundError(f"Model files for {version.arn} are missing at {path}; train the solution again.")
    return load_recipe(path)
