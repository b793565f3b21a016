"""Batch inference on Spark: the local job's line processor run in every Spark task, filters evaluated there.

The input (JSON lines, one query per line, local path or s3://) is read by Spark and numbered; each task loads
the solution version's artifact once per Python worker (shipped with `SparkContext.addFile`) and turns its
lines into output records with the same processor the local job uses, so the output is line for line the
local job's shape. A filter is evaluated in the tasks with the filter language's own masks: the Items (and
Users) tables travel as Parquet files, and each user's interactions — for `Interactions` conditions such as
EXCLUDE-interacted — are joined to the input lines on Spark. The records are sorted back into input order and
written as one JSON lines file (local output) or a directory of part files (s3:// output); the CSV is made
from the JSON lines as the local job makes it.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from recsys import columns as C
from recsys.exceptions import ConflictError, NotFoundError, RecsysError, ValidationError
from recsys.files import atomic_path
from recsys.recipes import PERSONALIZED_RANKING, RELATED_ITEMS, USER_SEGMENTATION
from recsys.resources import BatchJob
from recsys.serving import batch as local
from recsys.serving import selection as S
from recsys.serving.pipeline import RECOMMENDABLE
from recsys.spark.session import get_session, shares_files, spark_failure, stop_session
from recsys.spark.source import export_interactions, read_parquet, spark_path
from recsys.store import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, RUNNING_STATUSES, validate_name

log = logging.getLogger(__name__)

BATCH_INFERENCE_JOB, BATCH_SEGMENT_JOB = local.BATCH_INFERENCE_JOB, local.BATCH_SEGMENT_JOB
MAX_NUM_RESULTS = 500
LINES_PER_CALL = 1000
MAX_MASK_CELLS = 50_000_000
LINE, HISTORY, RECORD = "_line", "_history", "_record"


# -- what runs in the Spark tasks -----------------------------------------------------------------------------

_WORKER_CACHE: dict[str, object] = {}
_WORKER_LOCK = threading.Lock()


def _cached(key: str, build, keep: int = 4):
    """One model / table set per Python worker and job, built on first use; the oldest dropped beyond `keep`."""
    with _WORKER_LOCK:
        if key not in _WORKER_CACHE:
            while len(_WORKER_CACHE) >= keep:
                _WORKER_CACHE.pop(next(iter(_WORKER_CACHE)))
            _WORKER_CACHE[key] = build()
        return _WORKER_CACHE[key]


class TaskFilter:
    """A named filter evaluated inside a Spark task: the `mask` interface of the local job's filter."""

    def __init__(self, expression: str, item_ids: np.ndarray, items: pd.DataFrame | None, users: pd.DataFrame | None):
        from recsys.filters import parse_filter

        self.compiled = parse_filter(expression)
        self.item_ids, self.items, self.users = item_ids, items, users
        self.histories: dict[str, pd.DataFrame] = {}

    def mask(self, user_id: str | None = None, item_id: str | None = None, values: dict | None = None) -> np.ndarray:
        from recsys.filters import FilterContext

        history = self.histories.get(user_id) if user_id is not None else None
        ctx = FilterContext(self.item_ids, items=self.items, user_interactions=history, users=self.users,
                            user_id=user_id, current_item_id=item_id)
        return np.asarray(self.compiled.item_mask(ctx, values), dtype=bool)


class TaskInference:
    """Turns a chunk of input lines into the local job's output records with the fitted recipe in a Spark task.

    The steps are the serving pipeline's that need no workspace (`recsys.serving.pipeline`, with the job's
    default config: no exploration, no promotion): the catalogue-wide softmax of the recipe's logits without
    its exploration bonus (raw scores for recipes without scores), the filter's mask and the group's excluded
    items, the top `num_results` (ties: lower position), then popular items that pass the mask as back-fill
    (no score). What a Spark task cannot see is the workspace: events recorded after training are not folded
    in, and items added after training are not candidates.
    """

    def __init__(self, recipe, recipe_type: str, num_results: int, flt: TaskFilter | None,
                 popularity: np.ndarray, excluded: np.ndarray):
        self.recipe, self.recipe_type, self.n, self.filter = recipe, recipe_type, num_results, flt
        self.popularity = np.where(np.isfinite(popularity), popularity, -1e300)  # no popularity: fills last
        self.excluded = excluded
        self.ids = np.asarray(recipe.item_ids_, dtype=object)
        self.position = {item: k for k, item in enumerate(self.ids.tolist())}

    def __call__(self, lines: list[str]) -> list[dict]:
        out: list[dict | None] = [None] * len(lines)
        slots, keys, masks = [], [], []
        for k, line in enumerate(lines):
            echo, record, error = local._parse_line(line)
            try:
                if error:
                    raise local.LineError(error)
                key = local._id_field(record, "itemId" if self.recipe_type == RELATED_ITEMS else "userId")
                values = local._filter_values(record)
                mask = ~self.excluded
                if self.filter is not None:
                    by = {"item_id": key} if self.recipe_type == RELATED_ITEMS else {"user_id": key}
                    mask &= self.filter.mask(values=values, **by)
            except RecsysError as exc:
                out[k] = {"input": echo, "output": None, "error": str(exc)}
                continue
            slots.append((k, echo))
            keys.append(key)
            masks.append(mask)
        for (k, echo), key, mask, row in zip(slots, keys, masks, self._scores(keys)):
            out[k] = self._record(echo, key, row, mask)
        return out  # type: ignore[return-value]

    def _scores(self, keys: list[str]) -> list[np.ndarray]:
        """Each line's raw scores over the model catalogue, one recipe call for the chunk (as `_score_chunk`)."""
        if not keys:
            return []
        if self.recipe_type == RELATED_ITEMS:  # unknown query items get no similarity: popular back-fill only
            rows = [np.full(len(self.ids), -np.inf)] * len(keys)
            known = [k for k, key in enumerate(keys) if key in self.position]
            if known:
                scores = np.asarray(self.recipe.score_items([keys[k] for k in known]), dtype=np.float64)
                for row, k in zip(scores, known):
                    rows[k] = row.copy()
                    rows[k][self.position[keys[k]]] = -np.inf
            return rows
        logits = self.recipe.logits_without_exploration(keys) if self.recipe.returns_scores else None
        if logits is not None:
            return [S.softmax(row) for row in np.asarray(logits, dtype=np.float64)]
        return list(np.asarray(self.recipe.score_users(keys), dtype=np.float64))

    def _record(self, echo: dict, key: str, raw: np.ndarray, mask: np.ndarray) -> dict:
        relevant = np.isfinite(raw)
        if not self.recipe.returns_scores:
            relevant &= raw > 0  # no similarity / no interactions: only a back-fill
        relevance = np.where(relevant, raw, -np.inf)
        regular = S.top_positions(relevance, self.n, mask)
        popularity = self.popularity
        if self.recipe_type == RELATED_ITEMS and key in self.position:
            popularity = popularity.copy()
            popularity[self.position[key]] = -np.inf
        backfill = S.top_positions(popularity, self.n - len(regular), mask, regular) if len(regular) < self.n \
            else np.empty(0, dtype=np.int64)
        output: dict = {"recommendedItems": [str(i) for i in self.ids[np.concatenate([regular, backfill])]]}
        if not self.recipe.returns_scores:
            return {"input": echo, "output": output}
        output["scores"] = [float(round(float(x), 7)) for x in relevance[regular]] + [None] * len(backfill)
        return {"input": echo, "output": output, "error": None}


def _score_partitions(kind: str, model_name: str, recipe_type: str, num_results: int, served,
                      expression: str | None, table_names: dict, history_columns: list[str]):
    """The mapInPandas function: (line number, text[, history]) batches in, (line number, JSON record) out."""

    def run(batches):
        from pyspark import SparkFiles

        from recsys.recipes import load_recipe

        model = _cached(f"model:{model_name}", lambda: load_recipe(SparkFiles.get(model_name)))
        flt = None
        if expression:
            def tables():
                read = {k: pd.read_parquet(SparkFiles.get(v)) for k, v in table_names.items()}
                return read.get("items"), read.get("users")

            items, users = _cached(f"tables:{sorted(table_names.items())}", tables)
            flt = TaskFilter(expression, model.item_ids_, items, users)
        if kind == BATCH_SEGMENT_JOB:
            loaded = SimpleNamespace(recipe=model, item_ids=np.asarray(model.item_ids_, dtype=object))
            segments = local._SegmentProcessor(loaded, num_results)

            def processor(lines):
                return segments(lines, 0)
        else:
            popularity, excluded = served.value
            processor = TaskInference(model, recipe_type, num_results, flt, popularity, excluded)
        size = LINES_PER_CALL if flt is None else max(1, min(LINES_PER_CALL, MAX_MASK_CELLS // len(model.item_ids_)))
        for batch in batches:
            lines = batch["value"].tolist()
            if flt is not None and HISTORY in batch.columns:
                flt.histories = _histories(batch, history_columns)
            records = []
            for start in range(0, len(lines), size):
                records.extend(processor(lines[start:start + size]))
            yield pd.DataFrame({LINE: batch[LINE].to_numpy(np.int64),
                                RECORD: [json.dumps(r, ensure_ascii=False) for r in records]})

    return run


def _histories(batch: pd.DataFrame, columns: list[str]) -> dict[str, pd.DataFrame]:
    """user id -> that user's interactions (oldest first) from the joined `_history` column."""
    out = {}
    for user, events in zip(batch["_user"].tolist(), batch[HISTORY].tolist()):
        if user is None or events is None or user in out:
            continue
        frame = pd.DataFrame(list(events), columns=columns)
        if len(frame):
            frame = frame.sort_values(C.TIMESTAMP, kind="stable").reset_index(drop=True)
            for col in (C.USER_ID, C.ITEM_ID, C.EVENT_TYPE):
                if col in frame.columns:
                    frame[col] = frame[col].astype("str")
        out[user] = frame
    return out


# -- the job on the driver ------------------------------------------------------------------------------------


def _ship_tables(spark, store, group: str, workdir: Path) -> dict:
    from recsys.datasets import read_items, read_users

    names = {}
    for key, reader in (("items", read_items), ("users", read_users)):
        try:
            frame = reader(store, group)
        except NotFoundError:
            continue
        path = workdir / f"{key}-{secrets.token_hex(6)}.parquet"  # SparkFiles are keyed by file name
        frame.to_parquet(path, index=False)
        spark.sparkContext.addFile(str(path))
        names[key] = path.name
    return names


def _served_arrays(store, group: str, version) -> tuple[np.ndarray, np.ndarray]:
    """(popularity, excluded) per model item, as real time serves the version: its back-fill order and the
    group's exclusion list (`recsys.cleaning`)."""
    from recsys.cleaning import excluded_items
    from recsys.serving.runtime import RUNTIME

    model = RUNTIME.model(store, version.arn)
    excluded = np.isin(np.asarray(model.item_ids, dtype=object).astype(str), excluded_items(store, group))
    return np.asarray(model.popularity, dtype=np.float64), excluded


def _needs_interactions(expression: str) -> bool:
    from recsys.filters import parse_filter

    return any(d.lower() == "interactions" for d, _ in parse_filter(expression).fields)


def _numbered_lines(spark, input_location: str):
    """Non-blank input lines with an increasing `_line` (file order: partitions in order, rows in order)."""
    from pyspark.sql import functions as F

    text = spark.read.text(spark_path(input_location))
    return text.withColumn(LINE, F.monotonically_increasing_id()).filter(F.trim(F.col("value")) != "")


def _write_output(records, output: str, workdir: Path) -> None:
    """Records in input order as one JSON lines file (local) or a directory of part files (s3://)."""
    ordered = records.orderBy(LINE).select(RECORD)
    if output.startswith("s3://"):
        ordered.write.mode("overwrite").text(spark_path(output))
        return
    if not shares_files(records.sparkSession):  # cluster executors cannot write to the driver's disk
        with atomic_path(Path(output)) as tmp, open(tmp, "w", encoding="utf-8") as out:
            for row in ordered.toLocalIterator():
                out.write(row[RECORD] + "\n")
        return
    parts_dir = workdir / "output"
    ordered.write.mode("overwrite").text(str(parts_dir))
    with atomic_path(Path(output)) as tmp, open(tmp, "wb") as out:
        for part in sorted(parts_dir.glob("part-*")):
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)


def batch_inference(store, group: str, job_name: str, solution_version_arn: str, input_path, output_path, *,
                    num_results: int = 25, filter_arn: str | None = None, csv_path=None,
                    item_columns: list[str] | None = None, master: str | None = None,
                    conf: dict | None = None, interactions_source: str | None = None) -> dict:
    """Run a batch inference job on Spark (Personalize `CreateBatchInferenceJob`); returns the job resource.

    Same inputs, output lines and CSV as `recsys.serving.batch.create_batch_inference_job`. `input_path` and
    `output_path` may be local or s3:// (through Spark's s3a connector; an s3:// output is a directory of
    part files). `interactions_source` (Parquet) replaces the workspace's interactions for `Interactions`
    filter conditions. On failure the job ends CREATE FAILED with Spark's reason, and the error is raised.
    """
    if not 1 <= int(num_results) <= MAX_NUM_RESULTS:
        raise ValidationError(f"num_results must be between 1 and {MAX_NUM_RESULTS}, got {num_results}.")
    version = _active_version(store, solution_version_arn)
    recipe_type = version.recipe_type
    if recipe_type not in RECOMMENDABLE:
        hint = {USER_SEGMENTATION: " use a batch segment job.",
                PERSONALIZED_RANKING: " run it with the local engine (--engine local)."}.get(recipe_type, "")
        raise ValidationError(f"Batch inference on Spark does not support {recipe_type} recipes "
                              f"({version.recipe});{hint}")
    expression = None
    if filter_arn:
        from recsys.filters.resources import FILTER_EXPRESSION

        expression = store.find_resource(filter_arn)[FILTER_EXPRESSION]
    body = {"solution_version_arn": solution_version_arn, "input_path": str(input_path),
            "output_path": str(output_path), "csv_path": str(csv_path) if csv_path else None,
            "item_columns": list(item_columns or []), "num_results": int(num_results), "filter_arn": filter_arn,
            "recipe_type": recipe_type}

    def csv(output: Path) -> int:
        lookup = {}
        if item_columns:
            lookup = local._metadata_lookup(local._read_table(store, group, C.ITEMS), C.ITEM_ID,
                                            list(item_columns), "Items")
        return local._inference_csv(Path(csv_path), output, recipe_type, list(item_columns or []), lookup)

    needs_history = bool(expression) and _needs_interactions(expression) and recipe_type != RELATED_ITEMS
    return _run_job(store, group, job_name, BATCH_INFERENCE_JOB, version, input_path, output_path, body,
                    num_results=int(num_results), expression=expression,
                    needs_history=needs_history, csv=csv if csv_path else None, master=master, conf=conf,
                    interactions_source=interactions_source)


def batch_segments(store, group: str, job_name: str, solution_version_arn: str, input_path, output_path, *,
                   num_results: int = 25, csv_path=None, user_columns: list[str] | None = None,
                   master: str | None = None, conf: dict | None = None) -> dict:
    """Run a batch segment job on Spark (Personalize `CreateBatchSegmentJob`); returns the job resource.

    Same inputs, output lines and CSV as `recsys.serving.batch.create_batch_segment_job` (without its UserID
    filter and exclude-interacted options); paths as `batch_inference`.
    """
    if not 1 <= int(num_results) <= 5_000_000:
        raise ValidationError(f"num_results must be between 1 and 5,000,000 users per segment, got {num_results}.")
    version = _active_version(store, solution_version_arn)
    if version.recipe_type != USER_SEGMENTATION:
        raise ValidationError(
            f"Batch segment jobs need a USER_SEGMENTATION recipe (aws-item-affinity, aws-item-attribute-affinity); "
            f"{version.recipe} is {version.recipe_type}. Use a batch inference job instead.")
    body = {"solution_version_arn": solution_version_arn, "input_path": str(input_path),
            "output_path": str(output_path), "csv_path": str(csv_path) if csv_path else None,
            "num_results": int(num_results)}

    def csv(output: Path) -> int:
        users = local._read_table(store, group, C.USERS)
        columns = list(user_columns) if user_columns is not None else (
            [c for c in users.columns if c != C.USER_ID and not c.startswith("_")] if users is not None else [])
        lookup = local._metadata_lookup(users, C.USER_ID, columns, "Users") if columns else {}
        return local._segment_csv(Path(csv_path), output, columns, lookup)

    return _run_job(store, group, job_name, BATCH_SEGMENT_JOB, version, input_path, output_path, body,
                    num_results=int(num_results), csv=csv if csv_path else None, master=master, conf=conf)


def _active_version(store, solution_version_arn: str):
    from recsys.solutions import get_solution_version

    version = get_solution_version(store, solution_version_arn)
    if version.status != ACTIVE:
        raise ConflictError(f"Solution version {solution_version_arn} is {version.status}, not ACTIVE; wait "
                            "for its training or pick an ACTIVE version.")
    return version


def _run_job(store, group: str, job_name: str, kind: str, version, input_path, output_path, body: dict, *,
             num_results: int, expression: str | None = None,
             needs_history: bool = False, csv=None, master=None, conf=None, interactions_source=None) -> dict:
    """The job resource around one Spark run: IN_PROGRESS, then ACTIVE with counts, or CREATE FAILED."""
    validate_name(job_name, "job name")
    input_path, output_path = str(input_path), str(output_path)
    if not input_path.startswith("s3://") and not Path(input_path).is_file():
        raise NotFoundError(f"Batch input file {input_path} does not exist.")
    body = {**body, "engine": {"name": "spark", "master": master or "local[2]"}}
    try:
        existing = store.get_resource(kind, group, job_name)
    except NotFoundError:
        store.create_resource(kind, group, job_name, body, status=CREATE_IN_PROGRESS)
    else:
        # a failed Spark job runs again from the first line under its name (Spark jobs do not resume)
        if existing["status"] != CREATE_FAILED and not (existing["status"] in RUNNING_STATUSES
                                                         and not store.owner_alive(existing)):
            raise ConflictError(f"A {kind} named {job_name!r} already exists in {group!r} "
                                f"({existing['status']}); pick another job name.")
        store.update_resource(kind, group, job_name, status=CREATE_IN_PROGRESS,
                              body={**body, "owner": store.job_owner()})
    workdir = store.artifact_path("spark", group, "batch", job_name, "x").parent
    artifact = store.artifacts_dir / version.artifact
    started = time.perf_counter()
    try:
        spark = get_session(master, conf)
        spark.sparkContext.addFile(str(artifact), recursive=True)
        tables = _ship_tables(spark, store, group, workdir) if expression else {}
        lines = _numbered_lines(spark, input_path).persist()
        total = lines.count()
        history_columns: list[str] = []
        if needs_history:
            lines, history_columns = _join_histories(spark, store, group, lines, workdir, interactions_source)
        served = spark.sparkContext.broadcast(_served_arrays(store, group, version)) \
            if kind == BATCH_INFERENCE_JOB else None
        score = _score_partitions(kind, artifact.name, version.recipe_type, num_results, served,
                                  expression, tables, history_columns)
        records = lines.mapInPandas(score, schema=f"{LINE} long, {RECORD} string").persist()
        failed = records.filter(records[RECORD].contains('"error": "')).count()
        _write_output(records, output_path, workdir)
        records.unpersist()
        lines.unpersist()
        stats = {"lines_total": int(total), "lines_done": int(total), "lines_failed": int(failed), "resumed_from": 0}
        if csv is not None and not output_path.startswith("s3://"):
            stats["csv_rows"] = csv(Path(output_path))
        seconds = time.perf_counter() - started
        stats.update(seconds=round(seconds, 3), lines_per_second=round(total / seconds, 1) if seconds > 0 else None)
        return BatchJob.from_record(store.update_resource(kind, group, job_name, status=ACTIVE,
                                                          body={**stats, "progress": {"percent": 100.0}}))
    except BaseException as exc:
        error = exc if isinstance(exc, RecsysError) else spark_failure(exc, f"batch job {job_name!r}")
        if not isinstance(exc, RecsysError) and "Py4J" in type(exc).__name__:
            stop_session()
        store.update_resource(kind, group, job_name, status=CREATE_FAILED, failure_reason=str(error))
        if error is exc:
            raise
        raise error from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _join_histories(spark, store, group: str, lines, workdir: Path, source: str | None):
    """Attach each input line's user interactions (array of structs, `_history`) for Interactions filters."""
    from pyspark.sql import functions as F

    if source:
        interactions = read_parquet(spark, source)
    else:
        path, _, _ = export_interactions(store, group, workdir / "interactions")
        interactions = spark.read.parquet(str(path))
    columns = [c for c in interactions.columns if not c.startswith("_")]
    grouped = interactions.groupBy(F.col(C.USER_ID).alias("_user")).agg(
        F.collect_list(F.struct(*columns)).alias(HISTORY))
    with_user = lines.withColumn("_user", F.get_json_object("value", "$.userId"))
    return with_user.join(grouped, "_user", "left"), columns
