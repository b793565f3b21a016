"""Training runs of solution versions: start one (now or on the worker), stop it, run it, load what it made.

Example::

    version = create_solution_version(store, "shop", "up", wait=True)
    version.status, version.metrics["normalized_discounted_cumulative_gain_at_10"]
    read_model(store, version)                         # the fitted Recipe it saved

One run loads the group's data, applies the solution's event filters, splits, tunes (when asked, through
`recsys.tuning`), fits, evaluates, refits on all the data and saves the model directory and the evaluation
report atomically (`recsys.files`); a failed or stopped run leaves no artifact. The solution and version
resources are `recsys.solutions`; the thread runs queue on and the stop flags are `recsys.worker`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from recsys import columns as C
from recsys import tuning
from recsys.data import load_training_data
from recsys.datasets import max_seq
from recsys.event_writer import drain_spool_if_free
from recsys.evaluation import evaluate
from recsys.evaluation.splits import default_split
from recsys.exceptions import (
    CancelledError,
    ConflictError,
    NotFoundError,
    RecsysError,
    TrainingError,
)
from recsys.failpoints import failpoint
from recsys.files import atomic_write, remove_leftovers
from recsys.recipes import REGISTRY
from recsys.resources import Solution, SolutionVersion
from recsys.solutions import (
    SOLUTION,
    SOLUTION_VERSION,
    TRAINING_STATUSES,
    artifact_dir,
    create_solution,
    get_solution,
    get_solution_version,
    evaluation_path,
    list_solution_versions,
    new_solution_version,
    read_model,
    recipe_class,
)
from recsys.spark import resolve_engine
from recsys.spark import train_version as spark_train_version
from recsys.store import (
    ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, CREATE_STOPPED, CREATE_STOPPING, Store, validate_name,
)
from recsys.worker import CANCELLATIONS, MemorySampler, training_queue

logger = logging.getLogger(__name__)


# Share of the whole run taken by each stage, for percent and ETA (HPO, when asked, takes its own share).
_STAGES = (
    ("loading data", 5),
    ("splitting", 3),
    ("tuning", 0),
    ("fitting", 37),
    ("evaluating", 10),
    ("refitting on all data", 40),
    ("saving", 5),
)
_HPO_SHARE = 60


# -- starting, stopping and deleting ------------------------------------------------------------------


def create_solution_version(
    store: Store,
    group: str,
    solution: str,
    training_mode: str = "FULL",
    wait: bool = False,
    *,
    progress: Callable[[str, float, float | None], None] | None = None,
    engine: str | dict | None = None,
) -> SolutionVersion:
    """Start training a new version of `solution` (Personalize `CreateSolutionVersion`).

    With ``wait=False`` the training is queued on the process-wide worker and the PENDING version is
    returned at once; poll `get_solution_version`. With ``wait=True`` it runs in the calling thread and the
    final version (ACTIVE, CREATE FAILED or CREATE STOPPED) is returned. `progress(stage, percent, eta)` is
    called as training advances.

    ``training_mode="UPDATE"`` (user personalization recipes only) starts from the newest ACTIVE FULL
    version and folds in new items and interactions without a full retrain.

    `engine`: "local", "spark", "auto" or ``{"name": "spark", "master": ..., "conf": ..., "source": ...}``;
    None uses the workspace default (`recsys.spark.resolve_engine`). UPDATE always runs locally.
    """
    mode = (training_mode or "FULL").upper()
    record = None if mode == "UPDATE" else resolve_engine(store, group, engine)
    version = new_solution_version(store, group, solution, training_mode, engine=record)
    if wait:
        train_version(store, version.arn, progress)
        return get_solution_version(store, version.arn)
    training_queue().submit(version.arn, train_version, store, version.arn, progress)
    return version


def cancel_solution_version(store: Store, version_arn_: str) -> SolutionVersion:
    """Stop a training (Personalize `StopSolutionVersionCreation`).

    A queued version becomes CREATE STOPPED at once; a running one goes to CREATE STOPPING and the worker
    ends it as CREATE STOPPED at its next check (between stages and inside the recipe's progress callback).
    """
    with CANCELLATIONS.lock:
        version = get_solution_version(store, version_arn_)
        status = version.status
        CANCELLATIONS.request(version_arn_)
        orphaned = (status in (CREATE_IN_PROGRESS, CREATE_STOPPING) and not training_queue().owns(version_arn_)
                    and not store.owner_alive(store.find_resource(version_arn_)))
        if status == CREATE_PENDING or orphaned:
            # Queued, or its process is gone: nothing runs it, so it stops now (STOPPING always ends).
            _finish(store, version, CREATE_STOPPED, {"progress": _progress("stopped", 0.0)})
            _remove_partial(store, version)
        elif status == CREATE_IN_PROGRESS:
            store.update_resource(SOLUTION_VERSION, version.group, version.name, status=CREATE_STOPPING)
        elif status != CREATE_STOPPING:
            raise ConflictError(
                f"Solution version {version_arn_!r} is {status}; only a PENDING or IN_PROGRESS training can be stopped."
            )
    return get_solution_version(store, version_arn_)


def recover_interrupted(store: Store) -> list[str]:
    """End the versions whose training process is gone (killed or crashed): PENDING and IN_PROGRESS become
    CREATE FAILED with the stage they stopped in, STOPPING becomes CREATE STOPPED; their partial files are
    removed. Returns their ARNs. Versions a live process (this one or another) trains are left alone."""
    arns = []
    for record in store.interrupted_jobs(SOLUTION_VERSION):
        if training_queue().owns(record["arn"]):
            continue
        version = SolutionVersion.from_record(record)
        stage = (version.progress or {}).get("stage") or "queued"
        if version.status == CREATE_STOPPING:
            ended = store.end_interrupted(record, CREATE_STOPPED, None, {"progress": _progress("stopped")})
        else:
            when = "while it was queued" if stage == "queued" else f"during {stage}"
            reason = (f"interrupted: the process that ran it stopped (killed or crashed) {when}; "
                      "nothing was kept. Train again.")
            ended = store.end_interrupted(record, CREATE_FAILED, reason, {"progress": _progress("failed")})
        if ended:
            _remove_partial(store, version)
            arns.append(version.arn)
    return arns


def delete_solution_version(store: Store, version_arn_: str) -> None:
    """Delete a version that is not ACTIVE (failed, stopped, or left running by a process that is gone) and its
    files; ConflictError while a live process trains it. ACTIVE versions go with their solution."""
    version = get_solution_version(store, version_arn_)
    if version.status in TRAINING_STATUSES:
        recover_interrupted(store)
        version = get_solution_version(store, version_arn_)
    if version.status in TRAINING_STATUSES:
        raise ConflictError(f"Solution version {version_arn_!r} is {version.status} in a running process; "
                            "stop it (cancel) and wait for CREATE STOPPED, then delete.")
    if version.status == ACTIVE:
        raise ConflictError(f"Solution version {version_arn_!r} is ACTIVE and may be deployed; delete its solution "
                            "to remove it.")
    _remove_partial(store, version)
    store.delete_resource(SOLUTION_VERSION, version.group, version.name)


def delete_solution(store: Store, group: str, name: str) -> None:
    """Delete a solution, its versions and their artifacts; ConflictError while a live process trains a version
    (versions left running by a process that is gone are ended first)."""
    get_solution(store, group, name)
    versions = list_solution_versions(store, group, name)
    if any(v.status in TRAINING_STATUSES for v in versions):
        recover_interrupted(store)
        versions = list_solution_versions(store, group, name)
    busy = [v.name for v in versions if v.status in TRAINING_STATUSES]
    if busy:
        raise ConflictError(
            f"Solution {name!r} has versions still training ({', '.join(busy)}); cancel them or wait, then delete."
        )
    for version in versions:
        store.delete_resource(SOLUTION_VERSION, group, version.name)
    shutil.rmtree(store.artifacts_dir / "models" / group / name, ignore_errors=True)
    shutil.rmtree(store.artifacts_dir / "evaluations" / group / name, ignore_errors=True)
    store.delete_resource(SOLUTION, group, name)


# -- one training run --------------------------------------------------------------------------------------


class _Run:
    """Progress, ETA and cancellation bookkeeping for one training run."""

    def __init__(self, store: Store, version: SolutionVersion, progress, hpo: bool, mode: str):
        self.store, self.version, self.callback = store, version, progress
        self.arn = version.arn
        self.started = time.monotonic()
        shares = dict(_STAGES)
        if hpo:
            shares["tuning"] = _HPO_SHARE
        if mode == "UPDATE":
            shares.update({"splitting": 0, "fitting": 0, "evaluating": 0, "refitting on all data": 0, "updating": 60})
        total = float(sum(shares.values()))
        self.bounds: dict[str, tuple[float, float]] = {}
        acc = 0.0
        for stage, share in list(shares.items()):
            self.bounds[stage] = (100 * acc / total, 100 * (acc + share) / total)
            acc += share
        self._last_write = 0.0
        self._last_db_check = 0.0

    def cancelled(self, force_db: bool = False) -> bool:
        if CANCELLATIONS.requested(self.arn):
            return True
        now = time.monotonic()
        if force_db or now - self._last_db_check > 1.0:
            self._last_db_check = now
            try:
                return get_solution_version(self.store, self.arn).status == CREATE_STOPPING
            except NotFoundError:
                return True
        return False

    def check(self) -> None:
        if self.cancelled(force_db=True):
            raise CancelledError(f"Training of {self.arn} was stopped by the user.")

    def stage(self, stage: str, fraction: float = 0.0) -> None:
        """Report `fraction` (0-1) done of `stage`; raise CancelledError when the user asked to stop."""
        if self.cancelled():
            raise CancelledError(f"Training of {self.arn} was stopped by the user.")
        low, high = self.bounds.get(stage, (0.0, 100.0))
        fraction = min(max(float(fraction), 0.0), 1.0)
        percent = round(low + (high - low) * fraction, 1)
        elapsed = time.monotonic() - self.started
        eta = round(elapsed * (100 - percent) / percent, 1) if percent >= 1 else None
        now = time.monotonic()
        if fraction in (0.0, 1.0) or now - self._last_write > 0.5:
            self._last_write = now
            self.store.update_resource(
                SOLUTION_VERSION, self.version.group, self.version.name,
                body={"progress": {"stage": stage, "percent": percent, "eta_seconds": eta}},
            )
        if fraction == 0.0:
            failpoint(f"training:{stage}")
        if self.callback is not None:
            self.callback(stage, percent, eta)

    def recipe_progress(self, stage: str) -> Callable[[str, float], None]:
        """A callback for `Recipe.fit(progress=...)` mapped into `stage`'s share of the bar."""

        def report(_detail: str, fraction: float) -> None:
            self.stage(stage, fraction)

        return report


def _progress(stage: str, percent: float | None = None) -> dict:
    return {"stage": stage, "percent": percent, "eta_seconds": None}


def _finish(store: Store, version: SolutionVersion, status: str, body: dict, reason: str | None = None) -> None:
    store.update_resource(SOLUTION_VERSION, version.group, version.name, status=status, body=body,
                          failure_reason=reason)


def _remove_partial(store: Store, version: SolutionVersion) -> None:
    evaluation_path(store, version).unlink(missing_ok=True)
    final = artifact_dir(store, version)
    remove_leftovers(final)
    shutil.rmtree(final, ignore_errors=True)


def train_version(store: Store, arn: str, progress=None) -> None:
    """Run the training of the PENDING version `arn` and record its outcome; never raises for training errors.

    A version stopped while it was queued is left as it is.
    """
    with CANCELLATIONS.lock:
        version = get_solution_version(store, arn)
        if version.status != CREATE_PENDING:  # stopped while queued
            return
        store.update_resource(SOLUTION_VERSION, version.group, version.name, status=CREATE_IN_PROGRESS,
                              body={"started_at": time.time()})
    started = time.perf_counter()
    try:
        solution = get_solution(store, version.group, version.solution)
        run = _Run(store, version, progress, bool(solution.perform_hpo), (version.training_mode or "FULL"))
        with MemorySampler() as memory:
            if version.training_mode == "UPDATE":
                result = _update(store, version, solution, run)
            elif (version.engine or {}).get("name") == "spark":
                result = spark_train_version(store, version, solution, run)
            else:
                result = _full(store, version, solution, run)
            run.stage("saving", 0.0)
            model = result.pop("model")
            report = result.pop("report", None)
            model.save(artifact_dir(store, version))  # atomic: a stopped run leaves no half-written model
            failpoint("training:saved")
            if report is not None:
                atomic_write(evaluation_path(store, version), json.dumps(report, default=str))
            run.check()
        result.update({
            "training_seconds": round(time.perf_counter() - started, 3),
            "peak_memory_mb": memory.peak_mb,
            "memory_delta_mb": memory.delta_mb,
            "artifact": str(artifact_dir(store, version).relative_to(store.artifacts_dir)),
            "progress": {"stage": "done", "percent": 100.0, "eta_seconds": 0.0},
            "finished_at": time.time(),
        })
        _finish(store, version, ACTIVE, result)
        if progress is not None:
            progress("done", 100.0, 0.0)
    except CancelledError:
        _remove_partial(store, version)
        _finish(store, version, CREATE_STOPPED, {"progress": _progress("stopped"),
                                                 "training_seconds": round(time.perf_counter() - started, 3)})
    except Exception as exc:  # any failure: record it, leave no artifact
        if not isinstance(exc, RecsysError):
            logger.exception("training %s failed", arn)
        _remove_partial(store, version)
        reason = str(exc) or type(exc).__name__
        if not isinstance(exc, RecsysError):
            reason = f"{type(exc).__name__}: {reason}"
        _finish(store, version, CREATE_FAILED, {"progress": _progress("failed")}, reason)
    finally:
        with CANCELLATIONS.lock:
            CANCELLATIONS.forget(arn)


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _max_seq(store: Store, group: str) -> int | None:
    try:
        value = max_seq(store, group)
    except NotFoundError:
        return None
    return None if value is None else int(value)


def _load(store: Store, group: str, run: _Run):
    run.stage("loading data", 0.0)
    drain_spool_if_free(store)  # spooled PutEvents are trained on, not left out for want of a later write
    seq = _max_seq(store, group)  # taken before reading: later events are surely newer than the model
    data = load_training_data(store, group)
    run.stage("loading data", 1.0)
    return data, seq


def apply_event_filters(data, *, event_type=None, event_value_threshold=None, events_config=None):
    """Keep the events a solution trains on: one event type / threshold, or Personalize's eventsConfig.

    With `events_config`, only the listed event types are kept, each above its own eventValueThreshold;
    a weight of 0 drops the type. The weights are returned for recipes that take them (`event_weights`).
    """
    if event_type or event_value_threshold is not None:
        data = data.filter_events(event_type=event_type or None, event_value_threshold=event_value_threshold)
    weights: dict[str, float] = {}
    if events_config:
        frame = data.interactions
        if C.EVENT_TYPE not in frame.columns:
            raise TrainingError("eventsConfig names event types, but the Interactions data has no EVENT_TYPE column.")
        keep = np.zeros(len(frame), dtype=bool)
        types = frame[C.EVENT_TYPE].astype(str).to_numpy()
        for entry in events_config:
            if entry.get("weight", 1.0) <= 0:
                continue
            rows = types == entry["eventType"]
            if entry.get("eventValueThreshold") is not None and C.EVENT_VALUE in frame.columns:
                rows &= frame[C.EVENT_VALUE].to_numpy(dtype=float, na_value=np.nan) >= entry["eventValueThreshold"]
            keep |= rows
            weights[entry["eventType"]] = float(entry.get("weight", 1.0))
        data = dataclasses.replace(data, interactions=frame.loc[keep].reset_index(drop=True))
    return data, weights


def _check_minimums(data, solution: Solution | None) -> None:
    problems = list(data.check_minimums())
    if problems:
        filters = []
        if solution is None:
            pass
        elif solution.event_type:
            filters.append(f"eventType={solution.event_type!r}")
        if solution is not None and solution.event_value_threshold is not None:
            filters.append(f"eventValueThreshold={solution.event_value_threshold}")
        if solution is not None and solution.events_config:
            filters.append("eventsConfig")
        after = f" (after filtering by {', '.join(filters)})" if filters else ""
        raise TrainingError(
            f"Not enough data to train{after}: " + "; ".join(problems)
            + ". Import more interactions or relax the event filter."
        )


def data_snapshot(data, seq: int | None) -> dict:
    """Counts recorded with a version, so later data can be told apart from what the model saw."""
    inter = data.interactions
    snap = {
        "interactions": int(len(inter)),
        "users": int(inter[C.USER_ID].nunique()),
        "items": int(len(data.catalogue)),
        "interacted_items": int(inter[C.ITEM_ID].nunique()),
        "max_seq": seq,
    }
    if C.TIMESTAMP in inter.columns and len(inter):
        snap["max_timestamp"] = int(inter[C.TIMESTAMP].max())
    if C.EVENT_TYPE in inter.columns:
        snap["event_types"] = sorted(str(t) for t in inter[C.EVENT_TYPE].dropna().unique())[:20]
    return snap


def _make_recipe(cls, params: dict, weights: dict):
    recipe = cls()
    recipe.set_params(**params)
    if weights and "event_weights" in (getattr(cls, "param_info", {}) or {}):
        recipe.set_params(event_weights=weights)
    return recipe


def _full(store: Store, version: SolutionVersion, solution: Solution, run: _Run) -> dict:
    cls = recipe_class(solution.recipe)
    data, seq = _load(store, version.group, run)
    run.check()
    data, weights = apply_event_filters(
        data, event_type=solution.event_type, event_value_threshold=solution.event_value_threshold,
        events_config=solution.events_config,
    )
    _check_minimums(data, solution)
    run.stage("splitting", 0.0)
    split = default_split(data, cls.recipe_type)
    run.stage("splitting", 1.0)
    params = dict(solution.params or {})
    result: dict[str, Any] = {}
    if solution.perform_hpo:
        run.stage("tuning", 0.0)
        best, summary = _tune(cls, params, split, solution.hpo_config or {}, run)
        params.update(best)
        result["hpo"] = {"best_params": best, **summary}
        run.stage("tuning", 1.0)
    run.stage("fitting", 0.0)
    recipe = _make_recipe(cls, params, weights)
    recipe.fit(split.train, progress=run.recipe_progress("fitting"))
    run.stage("evaluating", 0.0)
    try:
        report = evaluate(recipe, split, progress=run.recipe_progress("evaluating"))
        result["metrics"] = {k: float(v) for k, v in report.metrics.items() if _is_number(v)}
        result["report"] = report.to_dict()
        result["metrics_protocol"] = split.protocol
    except (CancelledError, TrainingError):
        raise
    except RecsysError as exc:  # e.g. too few held-out users: train anyway, say why there are no metrics
        result["metrics"] = {}
        result["metrics_protocol"] = getattr(split, "protocol", None)
        result["evaluation_error"] = str(exc)
    run.stage("evaluating", 1.0)
    run.stage("refitting on all data", 0.0)
    model = _make_recipe(cls, params, weights)
    model.fit(data, progress=run.recipe_progress("refitting on all data"))
    run.check()
    result.update({
        "model": model,
        "params": model.get_params(),
        "auto_tune": model.tuning_report(),
        "event_weights": weights or None,
        "data": data_snapshot(data, seq),
        "recipe": solution.recipe,
        "recipe_type": cls.recipe_type,
    })
    return result


def _is_number(value) -> bool:
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return numeric and bool(np.isfinite(value))


def _tune(cls, params: dict, split, hpo_config: dict, run: _Run) -> tuple[dict, dict]:
    """HPO through `recsys.tuning.tune` on the training part of the split only; returns (best params, summary).

    `hpo_config` is Personalize's hpoConfig (hpoResourceConfig, algorithmHyperParameterRanges) plus optional
    ``objective`` and ``max_trials`` shortcuts (the CLI's --objective / --max-trials).
    """
    config = {k: v for k, v in hpo_config.items() if k not in ("objective", "max_trials", "hpoObjective")}
    objective = (hpo_config.get("objective") or (hpo_config.get("hpoObjective") or {}).get("metricName")
                 or tuning.DEFAULT_OBJECTIVE)
    stop = threading.Event()

    def progress(_stage: str, fraction: float) -> None:
        if run.cancelled():
            stop.set()
            return
        run.stage("tuning", fraction)

    def live(summary: dict) -> None:  # the trials so far, for the Tune page's status line and chart
        run.store.update_resource(SOLUTION_VERSION, run.version.group, run.version.name, body={"hpo": summary})

    result = tuning.tune(cls, split.train, config or None, objective=objective, max_trials=hpo_config.get("max_trials"),
                         fixed_params=params, progress=progress, cancel=stop, on_summary=live)
    if result.cancelled or stop.is_set():
        raise CancelledError(f"Training of {run.arn} was stopped by the user during HPO.")
    summary = result.to_dict()
    summary.pop("best_params", None)
    trials = result.trials.drop(columns=["params", "metrics"], errors="ignore")
    if "value" not in trials.columns and objective in trials.columns:
        trials.insert(3, "value", trials[objective])
    summary["trials"] = json.loads(trials.to_json(orient="records"))  # one record per trial, NaN -> null
    return dict(result.best_params), summary


def _update(store: Store, version: SolutionVersion, solution: Solution, run: _Run) -> dict:
    """UPDATE mode: fold new items and interactions into the newest ACTIVE FULL model, no full retrain."""
    base = get_solution_version(store, version.base_version_arn)
    model = read_model(store, base)
    if not hasattr(model, "update_items"):
        raise TrainingError(
            f"Recipe {solution.recipe!r} cannot fold in new data (no update_items); train with FULL."
        )
    data, seq = _load(store, version.group, run)
    data, weights = apply_event_filters(
        data, event_type=solution.event_type, event_value_threshold=solution.event_value_threshold,
        events_config=solution.events_config,
    )
    _check_minimums(data, solution)
    run.stage("updating", 0.0)
    known = set(np.asarray(model.item_ids_).tolist())
    new_ids = [i for i in data.catalogue.tolist() if i not in known]
    frame = pd.DataFrame({C.ITEM_ID: pd.Series(new_ids, dtype=object)})
    if data.items is not None and C.CREATION_TIMESTAMP in data.items.columns:
        meta = data.items[[C.ITEM_ID, C.CREATION_TIMESTAMP]].drop_duplicates(C.ITEM_ID, keep="last")
        frame = frame.merge(meta, on=C.ITEM_ID, how="left")
    try:
        model.update_items(frame)
    except TypeError:  # recipe bug with CREATION_TIMESTAMP under pandas 3: add the ids alone (created "now")
        logger.warning("update_items failed with CREATION_TIMESTAMP; adding the new items without it")
        model.update_items(frame[[C.ITEM_ID]])
    run.stage("updating", 1.0)
    base_data = dict(base.data or {})
    snapshot = data_snapshot(data, seq)
    return {
        "model": model,
        "params": model.get_params(),
        "auto_tune": model.tuning_report(),
        # The model's fitted histories are the base version's: interactions newer than the base's max_seq keep
        # being folded in at inference time, so the base's max_seq stays the marker.
        "data": {**snapshot, "max_seq": base_data.get("max_seq"), "max_timestamp": base_data.get("max_timestamp"),
                 "update_max_seq": seq},
        "new_items": len(new_ids),
        "metrics": dict(base.metrics or {}),
        "metrics_protocol": base.metrics_protocol,
        "metrics_from": base.arn,
        "report": _read_json(evaluation_path(store, base)),
        "recipe": solution.recipe,
        "recipe_type": base.recipe_type,
    }


# -- AutoML ------------------------------------------------------------------------------------------------
# The comparison of recipes is `tuning.automl`; creating and training the winner starts a run, so it is here
# (tuning stays below runs: HPO is a stage of a run).


def perform_automl(
    store: Store,
    group: str,
    name: str,
    recipes: list[str] | None = None,
    *,
    metric: str = "normalized_discounted_cumulative_gain_at_10",
    wait: bool = True,
) -> Solution:
    """Personalize's `performAutoML`: score several recipes on one split, create solution `name` with the best.

    Delegates the comparison to `recsys.tuning.automl` (default recipes: every registered
    USER_PERSONALIZATION recipe), stores the ranking under ``automl`` in the solution, then trains its first
    version (synchronously when `wait`). Returns the solution.
    """
    validate_name(name, "solution name")
    if not recipes:
        recipes = sorted(n for n, c in REGISTRY.items() if c.recipe_type == "USER_PERSONALIZATION")
    data = load_training_data(store, group)
    _check_minimums(data, None)
    outcome = tuning.automl(data, list(recipes), metric=metric)
    if outcome.best is None:
        errors = "; ".join(str(e) for e in outcome.ranking["error"].dropna())
        raise TrainingError(f"AutoML: every recipe failed ({errors}).")
    ranking = json.loads(outcome.ranking.to_json(orient="records"))
    create_solution(store, group, name, outcome.best)
    store.update_resource(SOLUTION, group, name, body={
        "automl": {"metric": metric, "recipes": list(recipes), "ranking": ranking, "protocol": outcome.protocol}})
    create_solution_version(store, group, name, wait=wait)
    return get_solution(store, group, name)