"""Hyperparameter optimisation (Personalize's hpoConfig) and AutoML (the best of several recipes on one split).

HPO evaluates every trial on a validation split carved out of the TRAINING data only (held-out training
users, Personalize's protocol), never on the test users, so the final test numbers stay honest.

Search: the recipe's defaults first (so tuning never returns something worse than the defaults on
validation), then seeded random search over the ranges for about 60% of the budget, then local refinement:
the best parameters so far with about two of them moved at a time, by a step that shrinks from 30% to 5% of
their range (log ranges in log space). Simple, reproducible, and every trial is kept. Trials run one after
the other (``maxParallelTrainingJobs`` is accepted and ignored).

Example::

    result = tune("aws-user-personalization", split.train, {
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "12"},
        "algorithmHyperParameterRanges": {
            "integerHyperParameterRanges": [{"name": "factors", "minValue": 16, "maxValue": 128}],
            "continuousHyperParameterRanges": [{"name": "regularization", "minValue": 0.001, "maxValue": 1.0}],
            "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}]}})
    result.best_params, result.trials          # trials: one row per training job
    ranking = automl(data, ["aws-popularity-count", "aws-user-personalization"]).ranking

    default_ranges("aws-user-personalization")   # ranges always valid (log scales start above 0), for forms
    check_hpo_config("aws-user-personalization", config)   # the error a run would end with, before it starts
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.evaluation import metrics as M
from recsys.evaluation.compare import bootstrap_ci
from recsys.evaluation.report import EvaluationReport, _jsonable, evaluate
from recsys.evaluation.splits import Split, default_split, personalize_split
from recsys.exceptions import CancelledError, ValidationError
from recsys.recipes import get_recipe

log = logging.getLogger(__name__)

DEFAULT_OBJECTIVE = M.ndcg_key(10)
DEFAULT_MAX_TRIALS = 10
MAX_TRAINING_JOBS = 40  # Personalize's quota for maxNumberOfTrainingJobs
RANDOM_SHARE = 0.6      # share of the budget spent on random search before refinement

ProgressFn = Callable[[str, float], None]
COMPLETED, FAILED, CANCELLED = "COMPLETED", "FAILED", "CANCELLED"


# ------------------------------------------------------------------------------------------------ search space


@dataclass(frozen=True)
class Dimension:
    """One searchable parameter: ``kind`` 'integer' | 'continuous' | 'categorical'."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple = ()
    log: bool = False

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "categorical":
            return self.values[int(rng.integers(len(self.values)))]
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            v = rng.uniform(self.low, self.high)
        return self._clip(v)

    def perturb(self, value: Any, rng: np.random.Generator, scale: float) -> Any:
        """A value near ``value``: a step of ``scale`` × the range (in log space for log dimensions)."""
        if self.kind == "categorical":
            return value if rng.random() > scale else self.sample(rng)
        if self.log:
            span = math.log(self.high) - math.log(self.low)
            v = math.exp(math.log(max(float(value), self.low)) + rng.normal(0.0, scale * span))
        else:
            v = float(value) + rng.normal(0.0, scale * (self.high - self.low))
        v = self._clip(v)
        if self.kind == "integer" and v == value and self.high > self.low:
            v = self._clip(value + (1 if rng.random() < 0.5 else -1))
        return v

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return value in self.values
        try:
            return self.low <= float(value) <= self.high
        except (TypeError, ValueError):
            return False

    def _clip(self, v: float):
        v = min(max(v, self.low), self.high)
        return int(round(v)) if self.kind == "integer" else float(v)


@dataclass(frozen=True)
class SearchSpace:
    """The ranges to search, parsed from Personalize's ``algorithmHyperParameterRanges`` or a recipe's param_info."""

    dimensions: tuple[Dimension, ...]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def sample(self, rng: np.random.Generator) -> dict:
        return {d.name: d.sample(rng) for d in self.dimensions}

    def perturb(self, params: Mapping, rng: np.random.Generator, scale: float) -> dict:
        """A neighbour of ``params``: about two dimensions (at least one) moved by ``scale`` × their range."""
        n = len(self.dimensions)
        moved = rng.random(n) < min(1.0, 2.0 / n)
        if not moved.any():
            moved[int(rng.integers(n))] = True
        return {d.name: d.perturb(params[d.name], rng, scale) if m else params[d.name]
                for d, m in zip(self.dimensions, moved)}

    def to_hpo_ranges(self) -> dict:
        """Back to Personalize's ``algorithmHyperParameterRanges`` shape."""
        out = {"integerHyperParameterRanges": [], "continuousHyperParameterRanges": [],
               "categoricalHyperParameterRanges": []}
        for d in self.dimensions:
            if d.kind == "categorical":
                out["categoricalHyperParameterRanges"].append({"name": d.name, "values": list(d.values)})
            else:
                cast = int if d.kind == "integer" else float
                entry = {"name": d.name, "minValue": cast(d.low), "maxValue": cast(d.high)}
                if d.log:
                    entry["scalingType"] = "Logarithmic"
                out[f"{d.kind}HyperParameterRanges"].append(entry)
        return out

    @classmethod
    def from_hpo_config(cls, config: Mapping, param_info: Mapping | None = None) -> "SearchSpace":
        """Parse ``hpoConfig`` or its ``algorithmHyperParameterRanges`` (numbers may be strings, as in Personalize).

        An optional ``scalingType`` per range ('Linear' | 'Logarithmic' | 'Auto') picks the scale; 'Auto' (the
        default) uses the recipe's ``param_info`` log flag, else log when 0 < min and max/min >= 100.
        """
        ranges = config.get("algorithmHyperParameterRanges", config)
        known = {"integerHyperParameterRanges", "continuousHyperParameterRanges", "categoricalHyperParameterRanges"}
        unknown = set(ranges) - known - {"hpoResourceConfig", "hpoObjective"}
        if unknown:
            raise ValidationError(f"hpoConfig: unknown key(s) {sorted(unknown)}; ranges go under {sorted(known)}")
        dims: list[Dimension] = []
        info = param_info or {}
        for kind in ("integer", "continuous"):
            for r in ranges.get(f"{kind}HyperParameterRanges", []) or []:
                name = _range_name(r, kind)
                try:
                    low, high = float(r["minValue"]), float(r["maxValue"])
                except (KeyError, TypeError, ValueError):
                    raise ValidationError(f"hpoConfig {kind} range {name!r}: give numeric minValue and maxValue")
                if kind == "integer" and (low != int(low) or high != int(high)):
                    raise ValidationError(f"hpoConfig integer range {name!r}: minValue/maxValue must be integers")
                if not low <= high:
                    raise ValidationError(f"hpoConfig {kind} range {name!r}: minValue {low} > maxValue {high}")
                scaling = str(r.get("scalingType", "Auto")).lower()
                if scaling not in ("auto", "linear", "logarithmic"):
                    raise ValidationError(f"hpoConfig range {name!r}: scalingType must be Linear, Logarithmic or Auto")
                pinfo = info.get(name)
                auto_log = bool(getattr(pinfo, "log", False)) if pinfo is not None else (low > 0 and high >= 100 * low)
                use_log = scaling == "logarithmic" or (scaling == "auto" and auto_log)
                if use_log and low <= 0:
                    raise ValidationError(f"hpoConfig range {name!r}: a logarithmic scale needs minValue > 0")
                dims.append(Dimension(name, kind, low, high, log=use_log))
        for r in ranges.get("categoricalHyperParameterRanges", []) or []:
            name = _range_name(r, "categorical")
            values = list(r.get("values") or [])
            if not values:
                raise ValidationError(f"hpoConfig categorical range {name!r}: give at least one value in 'values'")
            pinfo = info.get(name)
            dims.append(Dimension(name, "categorical", values=tuple(_typed(v, pinfo) for v in values)))
        names = [d.name for d in dims]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValidationError(f"hpoConfig: parameter(s) {sorted(dup)} appear in more than one range")
        if info:
            bad = [n for n in names if n not in info]
            if bad:
                raise ValidationError(f"hpoConfig: {bad} are not hyperparameters of this recipe; tunable ones: "
                                      f"{sorted(info)}")
        if not dims:
            raise ValidationError("hpoConfig has no ranges; give integer/continuous/categorical ranges")
        return cls(tuple(dims))

    @classmethod
    def from_param_info(cls, param_info: Mapping) -> "SearchSpace":
        """The default space: every parameter a recipe marks ``hpo=True``, over its declared range or choices."""
        dims: list[Dimension] = []
        for name, info in param_info.items():
            if not getattr(info, "hpo", False):
                continue
            kind = getattr(info, "kind", "float")
            rng = getattr(info, "range", None)
            choices = getattr(info, "choices", None)
            if choices:
                dims.append(Dimension(name, "categorical", values=tuple(choices)))
            elif kind == "bool":
                dims.append(Dimension(name, "categorical", values=(False, True)))
            elif kind in ("int", "float") and rng and rng[0] is not None and rng[1] is not None:
                low, high = float(rng[0]), float(rng[1])
                log_scale = bool(getattr(info, "log", False)) and high > 0
                if log_scale and low <= 0:  # a log scale cannot reach 0: search 4 decades below the maximum
                    low = high * 1e-4
                dims.append(Dimension(name, "integer" if kind == "int" else "continuous", low, high, log=log_scale))
        if not dims:
            raise ValidationError("this recipe declares no tunable hyperparameters; pass hpo ranges explicitly")
        return cls(tuple(dims))


def _range_name(r: Mapping, kind: str) -> str:
    name = r.get("name") if isinstance(r, Mapping) else None
    if not name:
        raise ValidationError(f"hpoConfig {kind} range {r!r} has no 'name'")
    return str(name)


def _typed(value, info) -> Any:
    """Personalize sends categorical values as strings; give them the parameter's type."""
    kind = getattr(info, "kind", None)
    if not isinstance(value, str) or kind in (None, "str"):
        return value
    try:
        if kind == "bool":
            if value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError(value)
        if kind in ("int", "seed"):
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise ValidationError(f"hpoConfig categorical value {value!r} is not a valid {kind}") from None
    return value


def default_ranges(recipe) -> dict:
    """The ranges tuning searches when none are given, as Personalize's ``algorithmHyperParameterRanges``.

    Always valid: a parameter searched on a log scale whose declared range starts at 0 starts 4 decades below
    its maximum instead (a log scale cannot reach 0), and every range carries its ``scalingType``.
    """
    cls = get_recipe(recipe) if isinstance(recipe, str) else recipe
    ranges = SearchSpace.from_param_info(getattr(cls, "param_info", {}) or {}).to_hpo_ranges()
    for kind in ("integer", "continuous"):
        for entry in ranges[f"{kind}HyperParameterRanges"]:
            entry.setdefault("scalingType", "Linear")
    return ranges


def check_hpo_config(recipe, hpo_config: Mapping) -> SearchSpace:
    """Validate an ``hpoConfig`` for a recipe as a run would (ranges, budget, objective); returns its space.

    Raises the ValidationError the run would fail with, so a form can show it before anything starts.
    """
    cls = get_recipe(recipe) if isinstance(recipe, str) else recipe
    space = SearchSpace.from_hpo_config(hpo_config, getattr(cls, "param_info", {}) or {})
    budget = max_trials_of(hpo_config)
    if not 1 <= budget <= MAX_TRAINING_JOBS:
        raise ValidationError(f"maxNumberOfTrainingJobs={budget} must be between 1 and {MAX_TRAINING_JOBS}")
    objective = ((hpo_config or {}).get("hpoObjective") or {}).get("metricName")
    if objective:
        check_objective(objective)
    return space


def trials_summary(trials: Sequence[Mapping], objective: str, max_trials: int, maximize: bool = True) -> dict:
    """Where a tuning run stands, JSON-ready: trials so far (flat records), the best one, and one line of text.

    ``text`` reads "trial 3 of 8, best NDCG@10 so far 0.107"; ``trials`` holds the records of `_trials_frame`.
    """
    best = _best(list(trials), maximize)
    name = M.display_name(objective)
    text = f"trial {len(trials)} of {max_trials}"
    if best is not None:
        text += f", best {name} so far {best['value']:.3f}"
    elif trials:
        text += f", no successful trial yet ({sum(t['status'] == FAILED for t in trials)} failed)"
    frame = _trials_frame(trials, objective)
    return {"objective": objective, "max_trials": int(max_trials), "done": len(trials), "text": text,
            "best_value": None if best is None else float(best["value"]),
            "best_params": None if best is None else _jsonable(best["params"]),
            "trials": _jsonable(frame.to_dict("records")) if len(frame) else []}


def max_trials_of(config: Mapping | None, default: int = DEFAULT_MAX_TRIALS) -> int:
    """``hpoResourceConfig.maxNumberOfTrainingJobs`` (1..40), or the default."""
    raw = ((config or {}).get("hpoResourceConfig") or {}).get("maxNumberOfTrainingJobs", default)
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"maxNumberOfTrainingJobs={raw!r} must be an integer") from None
    return n


# ---------------------------------------------------------------------------------------------------- search


def search(space: SearchSpace, objective: Callable[[dict], Mapping | float], max_trials: int, *, seed: int = 42,
           maximize: bool = True, initial: Sequence[dict] = (), objective_key: str = "objective",
           progress: ProgressFn | None = None, cancel: threading.Event | None = None,
           on_trial: Callable[[dict], None] | None = None) -> list[dict]:
    """Run up to ``max_trials`` evaluations of ``objective(params)`` and return every trial.

    ``objective`` returns the score or a dict of metrics holding ``objective_key``; it may raise (the trial is
    kept as FAILED) or raise `CancelledError` (kept as CANCELLED, search stops). ``initial`` parameter sets are
    tried first, then random samples (~60% of the budget), then perturbations of the best so far.
    Each trial: ``{trial, phase, params, value, metrics, seconds, status, error}``.
    """
    if max_trials < 1:
        raise ValidationError(f"max_trials must be >= 1, got {max_trials}")
    rng = np.random.default_rng(seed)
    n_random = max(1, int(math.ceil(RANDOM_SHARE * max_trials)))
    trials: list[dict] = []
    tried: set = set()
    queue = [("default", {d.name: p[d.name] for d in space.dimensions}) for p in initial
             if all(d.name in p and d.contains(p[d.name]) for d in space.dimensions)]
    for i in range(max_trials):
        if cancel is not None and cancel.is_set():
            break
        if queue:
            phase, params = queue.pop(0)
        elif i < n_random:
            phase, params = "random", _fresh(lambda: space.sample(rng), tried)
        else:
            best = _best(trials, maximize)
            remaining = max(1, max_trials - n_random)
            scale = 0.25 * (1.0 - (i - n_random) / remaining) + 0.05
            phase = "refine" if best is not None else "random"
            params = _fresh((lambda: space.perturb(best["params"], rng, scale)) if best is not None
                            else (lambda: space.sample(rng)), tried)
        tried.add(_key(params))
        record = _run_trial(i, phase, params, objective, objective_key, progress, max_trials, cancel)
        trials.append(record)
        if on_trial is not None:
            on_trial(record)
        if record["status"] == CANCELLED:
            break
    if progress is not None:
        progress("search finished", 1.0)
    return trials


def _run_trial(i, phase, params, objective, objective_key, progress, max_trials, cancel) -> dict:
    t0 = time.perf_counter()
    record = {"trial": i, "phase": phase, "params": dict(params), "value": float("nan"), "metrics": {},
              "seconds": 0.0, "status": COMPLETED, "error": None}
    if progress is not None:
        progress(f"trial {i + 1}/{max_trials} ({phase})", i / max_trials)
    try:
        result = objective(dict(params))
        if isinstance(result, Mapping):
            record["metrics"] = {k: float(v) for k, v in result.items()}
            if objective_key not in record["metrics"]:
                raise ValidationError(f"objective {objective_key!r} is not among the metrics "
                                      f"{sorted(record['metrics'])}")
            record["value"] = record["metrics"][objective_key]
        else:
            record["value"] = float(result)
    except CancelledError as exc:
        record.update(status=CANCELLED, error=str(exc))
    except ValidationError as exc:
        if cancel is not None and cancel.is_set():
            record.update(status=CANCELLED, error=str(exc))
        elif "objective" in str(exc) and "is not among the metrics" in str(exc):
            raise
        else:
            record.update(status=FAILED, error=str(exc))
            log.warning("HPO trial %d failed: %s", i, exc)
    except Exception as exc:  # noqa: BLE001 - a failing parameter set must not end the search
        record.update(status=FAILED, error=f"{type(exc).__name__}: {exc}")
        log.warning("HPO trial %d failed: %s", i, record["error"])
    record["seconds"] = time.perf_counter() - t0
    return record


def _key(params: Mapping) -> tuple:
    return tuple(sorted((k, round(v, 12) if isinstance(v, float) else v) for k, v in params.items()))


def _fresh(draw: Callable[[], dict], tried: set, attempts: int = 25) -> dict:
    params = draw()
    for _ in range(attempts):
        if _key(params) not in tried:
            return params
        params = draw()
    return params


def _best(trials: Sequence[dict], maximize: bool) -> dict | None:
    done = [t for t in trials if t["status"] == COMPLETED and not math.isnan(t["value"])]
    if not done:
        return None
    return (max if maximize else min)(done, key=lambda t: t["value"])


# ------------------------------------------------------------------------------------------------------ tune


@dataclass
class TuningResult:
    """All trials of one HPO run and the best parameters (full constructor parameters, ready to train with)."""

    recipe_name: str
    objective: str
    best_params: dict
    best_value: float
    trials: pd.DataFrame
    protocol: str
    space: SearchSpace
    max_trials: int
    cancelled: bool = False
    seconds: float = 0.0
    maximize: bool = True
    recipe_class: type | None = field(default=None, repr=False)

    def best_recipe(self):
        """A new, unfitted recipe with the best parameters."""
        cls = self.recipe_class or get_recipe(self.recipe_name)
        return cls(**self.best_params)

    def to_dict(self) -> dict:
        """JSON-ready summary; ``trials`` is a list of flat records in trial order (``value`` = objective)."""
        records = self.trials.drop(columns=["trial"], errors="ignore").to_dict("records")  # trial = position
        return {"recipe_name": self.recipe_name, "objective": self.objective,
                "best_params": _jsonable(self.best_params), "best_value": _jsonable(self.best_value), "trials": _jsonable(records),
                "protocol": self.protocol, "ranges": _jsonable(self.space.to_hpo_ranges()),
                "max_trials": self.max_trials, "cancelled": self.cancelled, "seconds": self.seconds,
                "maximize": self.maximize}


def _recipe_class_and_fixed(recipe, fixed_params: Mapping | None) -> tuple[type, dict]:
    if isinstance(recipe, str):
        cls, fixed = get_recipe(recipe), {}
    elif isinstance(recipe, type):
        cls, fixed = recipe, {}
    else:
        cls, fixed = type(recipe), dict(recipe.get_params())
    fixed.update(fixed_params or {})
    return cls, fixed


def _train_of(data) -> Any:
    return data.train if isinstance(data, Split) else data


def check_objective(objective: str, ks: Sequence[int] = M.DEFAULT_KS) -> bool:
    """Validate a metric key; returns True when larger is better."""
    ks = sorted({int(k) for k in ks})
    known = {M.COVERAGE, M.NOVELTY, M.POPULARITY_BIAS, M.AVERAGE_REWARDS, M.RMSE, M.MAE, M.SEGMENT_HIT,
             M.SEGMENT_RECALL, M.mrr_key(ks[-1]), M.map_key(ks[-1])}
    for k in ks:
        known |= {M.ndcg_key(k), M.precision_key(k), M.recall_key(k), M.hit_rate_key(k)}
    if objective not in known:
        raise ValidationError(f"unknown objective metric {objective!r}; choose one of {sorted(known)}")
    return objective not in M.LOWER_IS_BETTER


def tune(recipe, data, hpo_config: Mapping | None = None, *, objective: str | None = None,
         max_trials: int | None = None, fixed_params: Mapping | None = None, validation: Split | None = None,
         validation_fraction: float = 0.1, seed: int = 42, ks: Sequence[int] = M.DEFAULT_KS,
         progress: ProgressFn | None = None, cancel: threading.Event | None = None,
         on_trial: Callable[[dict], None] | None = None,
         on_summary: Callable[[dict], None] | None = None) -> TuningResult:
    """Hyperparameter optimisation of one recipe, like Personalize's ``performHPO`` with ``hpoConfig``.

    Parameters
    ----------
    recipe : registry name, Recipe class or instance (an instance's parameters are the fixed ones).
    data : the TRAINING data (a `TrainingData`, or a `Split` whose ``train`` is used): trials are scored on a
        `default_split` of it (for most recipes `personalize_split`: ``validation_fraction`` of its users,
        ``seed``), never on test users. ``validation`` overrides that split.
    hpo_config : Personalize ``hpoConfig`` (or just its ranges); None searches the recipe's ``param_info``
        ranges (parameters marked ``hpo``). ``hpoResourceConfig.maxNumberOfTrainingJobs`` is the budget
        unless ``max_trials`` is given (default 10, at most 40).
    objective : any metric key; default ``hpo_config["hpoObjective"]["metricName"]`` if given, else
        ``normalized_discounted_cumulative_gain_at_10``. RMSE/MAE and popularity bias are minimised, everything
        else maximised.
    progress : ``progress(stage, fraction)``; cancel : a `threading.Event`; when set, the running trial
        stops and the result holds the trials so far with ``cancelled=True``.
    on_trial : called with each finished trial record (for live charts).
    on_summary : called after each trial with `trials_summary` of the trials so far (for a live status line).
    """
    started = time.perf_counter()
    if objective is None:
        objective = ((hpo_config or {}).get("hpoObjective") or {}).get("metricName") or DEFAULT_OBJECTIVE
    maximize = check_objective(objective, ks)
    cls, fixed = _recipe_class_and_fixed(recipe, fixed_params)
    info = getattr(cls, "param_info", {}) or {}
    space = SearchSpace.from_hpo_config(hpo_config, info) if hpo_config and (
        hpo_config.get("algorithmHyperParameterRanges") or any(k.endswith("HyperParameterRanges")
                                                               for k in hpo_config)) \
        else SearchSpace.from_param_info(info)
    budget = int(max_trials) if max_trials is not None else max_trials_of(hpo_config)
    if not 1 <= budget <= MAX_TRAINING_JOBS:
        raise ValidationError(f"maxNumberOfTrainingJobs={budget} must be between 1 and {MAX_TRAINING_JOBS}")
    val_split = validation if validation is not None else default_split(
        _train_of(data), getattr(cls, "recipe_type", None), seed=seed, test_user_fraction=validation_fraction)
    defaults = {**{k: getattr(v, "default", None) for k, v in info.items()}, **fixed}

    def run(params: dict) -> dict:
        rec = cls(**{**fixed, **params})
        report = evaluate(rec, val_split, ks=ks, progress=None, cancel=cancel)
        return report.metrics

    finished: list[dict] = []

    def record(trial: dict) -> None:
        finished.append(trial)
        if on_trial is not None:
            on_trial(trial)
        if on_summary is not None:
            on_summary(trials_summary(finished, objective, budget, maximize))

    trials = search(space, run, budget, seed=seed, maximize=maximize, initial=[defaults],
                    objective_key=objective, progress=progress, cancel=cancel, on_trial=record)
    frame = _trials_frame(trials, objective)
    best = _best(trials, maximize)
    cancelled = any(t["status"] == CANCELLED for t in trials) or bool(cancel is not None and cancel.is_set())
    if best is None:
        if cancelled:
            best_params, best_value = {**defaults}, float("nan")
        else:
            errors = "; ".join(sorted({str(t["error"]) for t in trials}))[:500]
            raise ValidationError(f"every HPO trial failed for {cls.name}: {errors}")
    else:
        best_params, best_value = {**fixed, **best["params"]}, best["value"]
    all_params = {k: best_params.get(k, defaults.get(k)) for k in info} if info else best_params
    protocol = f"HPO validation on the training data only — {val_split.protocol}"
    log.info("HPO %s: best %s=%.4f after %d trials", cls.name, objective, best_value, len(trials))
    return TuningResult(recipe_name=cls.name, objective=objective, best_params=all_params, best_value=best_value,
                        trials=frame, protocol=protocol, space=space, max_trials=budget, cancelled=cancelled,
                        seconds=time.perf_counter() - started, maximize=maximize, recipe_class=cls)


def _trials_frame(trials: Sequence[dict], objective: str) -> pd.DataFrame:
    """One row per trial: trial, phase, status, value (the objective), seconds, error, ``param.<name>`` for each
    searched parameter, then every metric of the trial (the objective key included)."""
    rows = []
    for t in trials:
        row = {"trial": t["trial"], "phase": t["phase"], "status": t["status"], "value": t["value"],
               "seconds": t["seconds"], "error": t["error"]}
        row.update({f"param.{k}": v for k, v in t["params"].items()})
        row.update(t["metrics"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    if objective not in frame.columns and len(frame):
        frame[objective] = frame["value"]
    return frame


# ---------------------------------------------------------------------------------------------------- AutoML


@dataclass
class AutoMLResult:
    """Several recipes trained and scored on the same split, ranked by one metric."""

    metric: str
    ranking: pd.DataFrame            # rank, recipe, metric value, CI, seconds, status, error
    reports: dict[str, EvaluationReport] = field(default_factory=dict)
    protocol: str = ""

    @property
    def best(self) -> str | None:
        """The name of the best recipe (None when all failed)."""
        ok = self.ranking[self.ranking["status"] == COMPLETED]
        return None if ok.empty else str(ok.iloc[0]["recipe"])


def automl(data, recipe_names: Sequence[str], metric: str = DEFAULT_OBJECTIVE, split: Split | None = None, *,
           params: Mapping[str, Mapping] | None = None, ks: Sequence[int] = M.DEFAULT_KS, seed: int = 42,
           progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> AutoMLResult:
    """Train each recipe on the same split and rank them by ``metric`` (Personalize's ``autoMLConfig``).

    ``split`` defaults to `personalize_split(data, seed=seed)`; ``params`` maps recipe names to constructor
    parameters. A recipe that fails (or cannot produce the metric) is kept in the ranking with its error.
    """
    if not recipe_names:
        raise ValidationError("automl needs at least one recipe name (autoMLConfig.recipeList)")
    maximize = check_objective(metric, ks)
    classes = {name: get_recipe(name) for name in recipe_names}  # unknown names fail before any training
    split = split if split is not None else personalize_split(data, seed=seed)
    rows, reports = [], {}
    for i, (name, cls) in enumerate(classes.items()):
        if cancel is not None and cancel.is_set():
            break
        if progress is not None:
            progress(f"recipe {i + 1}/{len(classes)}: {name}", i / len(classes))
        t0 = time.perf_counter()
        row = {"recipe": name, metric: float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
               "status": COMPLETED, "error": None}
        try:
            report = evaluate(cls(**dict((params or {}).get(name, {}))), split, ks=ks, cancel=cancel)
            if metric not in report.metrics:
                raise ValidationError(f"{name} ({report.recipe_type}) does not produce {metric!r}")
            reports[name] = report
            row[metric] = report.metrics[metric]
            if metric in report.per_user.columns:
                row["ci_low"], row["ci_high"] = bootstrap_ci(report.per_user[metric], n_boot=500, seed=seed)
        except CancelledError as exc:
            row.update(status=CANCELLED, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - one failing recipe must not end AutoML
            row.update(status=FAILED, error=f"{type(exc).__name__}: {exc}")
            log.warning("AutoML: %s failed: %s", name, row["error"])
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    ranking = pd.DataFrame(rows)
    ranking["_ok"] = ranking["status"] == COMPLETED
    ranking = ranking.sort_values(["_ok", metric], ascending=[False, not maximize], kind="stable",
                                  na_position="last").drop(columns="_ok").reset_index(drop=True)
    ranking.insert(0, "rank", np.arange(1, len(ranking) + 1))
    if progress is not None:
        progress("done", 1.0)
    return AutoMLResult(metric=metric, ranking=ranking, reports=reports, protocol=split.protocol)
