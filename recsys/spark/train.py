"""Training a solution version on Spark: the same stages, split, metrics and artifact as local training.

Stages, as `recsys.runs` runs them locally: load (a chunked Parquet export of the workspace, or a Parquet /
s3:// location), event filters and Personalize's minimums, Personalize's user holdout split, a fit on the
training part, the offline evaluation of the held-out users with `recsys.evaluation.evaluate`, then the refit
on all data. Everything that grows with the interactions (weights, ALS, counts, co-occurrences, the split)
runs on Spark; the driver receives per-item arrays, the item factors, the users' histories (the serving
state the local artifact also keeps) and the held-out users' events.

Recipes with a Spark path: aws-user-personalization (implicit ALS, `pyspark.ml.recommendation.ALS`),
aws-popularity-count, aws-trending-now and aws-sims (item-item co-occurrence).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import columns as C
from recsys.exceptions import CancelledError, RecsysError, TrainingError, ValidationError
from recsys.spark import artifacts
from recsys.spark.session import get_session, spark_failure, stop_session
from recsys.spark.source import SEQ, SparkData, load

log = logging.getLogger(__name__)

SPARK_RECIPES = ("aws-user-personalization", "aws-popularity-count", "aws-trending-now", "aws-sims")
MAX_EVAL_USERS = 20_000          # held-out users scored on the driver; more are still held out of training
MAX_SIMS_ITEMS_PER_USER = 500    # most recent distinct items per user in co-occurrence (pairs grow as its square)
ALS_ALPHA = 1.0                  # confidence = 1 + alpha x log1p(summed event weights), as implicit's default
UIDX, IIDX, W = "_uidx", "_iidx", "_w"
_EPS = 1e-9


# -- events ---------------------------------------------------------------------------------------------------


def apply_event_filters(frame, *, event_type=None, event_value_threshold=None, events_config=None):
    """Spark twin of `recsys.runs.apply_event_filters`: (filtered frame, eventsConfig weights)."""
    from pyspark.sql import functions as F

    def need(column: str, why: str) -> None:
        if column not in frame.columns:
            raise TrainingError(f"{why} given, but the Interactions data has no {column} column; drop it or "
                                f"import {column}.")

    if event_type:
        need(C.EVENT_TYPE, f"eventType={event_type!r}")
        frame = frame.filter(F.col(C.EVENT_TYPE) == event_type)
    if event_value_threshold is not None:
        need(C.EVENT_VALUE, f"eventValueThreshold={event_value_threshold}")
        frame = frame.filter(F.col(C.EVENT_VALUE) >= float(event_value_threshold))
    weights: dict[str, float] = {}
    if events_config:
        need(C.EVENT_TYPE, "eventsConfig")
        keep = F.lit(False)
        for entry in events_config:
            if entry.get("weight", 1.0) <= 0:
                continue
            rows = F.col(C.EVENT_TYPE) == entry["eventType"]
            if entry.get("eventValueThreshold") is not None and C.EVENT_VALUE in frame.columns:
                rows = rows & (F.col(C.EVENT_VALUE) >= float(entry["eventValueThreshold"]))
            keep = keep | rows
            weights[entry["eventType"]] = float(entry.get("weight", 1.0))
        frame = frame.filter(keep)
    return frame, weights


def with_event_weights(frame, event_weights: dict | None, use_event_value: bool, *,
                       recency_half_life_days: float | None = None, t_max: int | None = None):
    """Add column `_w`: each event's weight as `Recipe._event_weights` gives it (EVENT_TYPE map with a '*'
    default, x log1p(EVENT_VALUE) when asked), times 0.5 ** (age / half-life) when a recency half-life is set."""
    from pyspark.sql import functions as F

    w = F.lit(1.0)
    if event_weights and C.EVENT_TYPE in frame.columns:
        default = float(event_weights.get("*", 1.0))
        pairs = [x for k, v in event_weights.items() if k != "*" for x in (F.lit(str(k)), F.lit(float(v)))]
        mapped = F.coalesce(F.create_map(*pairs)[F.col(C.EVENT_TYPE)], F.lit(default)) if pairs else F.lit(default)
        w = F.when(F.col(C.EVENT_TYPE).isNull(), F.lit(1.0)).otherwise(mapped)
    if use_event_value and C.EVENT_VALUE in frame.columns:
        v = F.col(C.EVENT_VALUE)
        w = w * F.when(v.isNotNull() & ~F.isnan(v) & (v > 0), F.log1p(v)).otherwise(F.lit(1.0))
    if recency_half_life_days:
        age_days = (F.lit(int(t_max)) - F.col(C.TIMESTAMP)) / 86_400.0
        w = w * F.pow(F.lit(0.5), age_days / float(recency_half_life_days))
    return frame.withColumn(W, w.cast("double"))


def check_minimums(frame) -> dict:
    """Counts of the filtered data; TrainingError with Personalize's minimums when they are not met."""
    from pyspark.sql import functions as F

    from recsys.profile import check_minimums as minimums

    per_user = frame.groupBy(C.USER_ID).count()
    row = per_user.agg(F.sum("count").alias("n"), F.count("*").alias("users"),
                       F.sum(F.when(F.col("count") >= 2, 1).otherwise(0)).alias("two")).collect()[0]
    n, users, two = int(row["n"] or 0), int(row["users"] or 0), int(row["two"] or 0)
    found = minimums(n, two)
    if not found["ok"]:
        raise TrainingError("Not enough data to train (after event filtering): " + "; ".join(found["messages"])
                            + ". Import more interactions or relax the event filter.")
    return {"interactions": n, "users": users, "users_with_two": two}


# -- ids and per-item arrays ------------------------------------------------------------------------------


def _ids_frame(spark, column: str, index_column: str, ids: np.ndarray):
    pdf = pd.DataFrame({column: pd.Series(np.asarray(ids, dtype=object), dtype=object),
                        index_column: np.arange(len(ids), dtype=np.int32)})
    return spark.createDataFrame(pdf)


def _distinct_sorted(frame, column: str, extra=None) -> np.ndarray:
    values = frame.select(column).distinct().toPandas()[column].to_numpy(dtype=object)
    if extra is not None and len(extra):
        values = np.concatenate([values, np.asarray(extra, dtype=object)])
    return np.unique(values.astype(str)).astype(object)


class Indexed:
    """Interactions with integer user / item positions (`_uidx`, `_iidx`) into the sorted id arrays."""

    def __init__(self, spark, frame, items: pd.DataFrame | None):
        from pyspark.sql import functions as F

        extra = items[C.ITEM_ID].to_numpy(dtype=object) if items is not None and len(items) else None
        self.item_ids = _distinct_sorted(frame, C.ITEM_ID, extra)
        self.user_ids = _distinct_sorted(frame, C.USER_ID)
        self.items_frame = _ids_frame(spark, C.ITEM_ID, IIDX, self.item_ids)
        users = _ids_frame(spark, C.USER_ID, UIDX, self.user_ids)
        self.frame = (frame.join(F.broadcast(self.items_frame), C.ITEM_ID)
                      .join(users, C.USER_ID)).persist()

    def per_item(self, frame, column: str, fill: float = 0.0, dtype=np.float64) -> np.ndarray:
        """A (n_items,) array from a Spark frame with `_iidx` and `column`."""
        pdf = frame.toPandas()
        out = np.full(len(self.item_ids), fill, dtype=dtype)
        out[pdf[IIDX].to_numpy(np.int64)] = pdf[column].to_numpy(dtype=dtype)
        return out

    def unique_user_counts(self) -> np.ndarray:
        from pyspark.sql import functions as F

        return self.per_item(self.frame.groupBy(IIDX).agg(F.countDistinct(UIDX).alias("n")), "n")

    def release(self) -> None:
        self.frame.unpersist()


def histories(indexed: Indexed, workdir: Path, tag: str, ctx_columns=()) -> artifacts.Histories:
    """Every user's events sorted by (user, TIMESTAMP, insertion order), collected as Arrow columns."""
    cols = [UIDX, IIDX, C.TIMESTAMP, W, SEQ, *ctx_columns]
    table = _collect(indexed.frame.select(*cols).orderBy(UIDX, C.TIMESTAMP, SEQ), workdir / f"histories-{tag}")
    if table is None or table.num_rows == 0:
        z = np.zeros(0, dtype=np.int64)
        return artifacts.Histories(np.zeros(len(indexed.user_ids) + 1, np.int64), z.astype(np.int32), z,
                                   z.astype(np.float32))
    uidx = table[UIDX].to_numpy().astype(np.int64)
    items = table[IIDX].to_numpy().astype(np.int32)
    times = table[C.TIMESTAMP].to_numpy().astype(np.int64)
    weights = table[W].to_numpy().astype(np.float32)
    ctx = np.stack([table[c].to_numpy().astype(np.int32) for c in ctx_columns], axis=1) if ctx_columns else None
    if len(uidx) > 1 and not ((np.diff(uidx) > 0) | ((np.diff(uidx) == 0) & (np.diff(times) >= 0))).all():
        order = np.lexsort((table[SEQ].to_numpy(), times, uidx))  # part files out of order: sort here
        uidx, items, times, weights = uidx[order], items[order], times[order], weights[order]
        ctx = ctx[order] if ctx is not None else None
    indptr = np.concatenate([[0], np.cumsum(np.bincount(uidx, minlength=len(indexed.user_ids)))]).astype(np.int64)
    return artifacts.Histories(indptr, items, times, weights, ctx)


def _collect(frame, path: Path):
    """A Spark frame as one Arrow table on the driver, in the frame's order.

    On a local master the executors write Parquet parts that the driver reads (no result-size limit); on a
    cluster, whose executors cannot write to the driver's disk, the rows come through Spark's Arrow collect.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recsys.spark.session import shares_files

    if not shares_files(frame.sparkSession):
        return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)
    frame.write.mode("overwrite").parquet(str(path))
    parts = sorted(path.glob("part-*.parquet"))
    table = pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None
    shutil.rmtree(path, ignore_errors=True)
    return table


def _one_blas_thread():
    """Single-threaded BLAS for driver-side numpy work: Spark's local executors run on the same cores, and
    OpenBLAS threads that wait for busy cores made the temperature fit 40x slower (29 s instead of 0.7 s)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


@contextlib.contextmanager
def _timed(options: dict, name: str):
    """Add the block's seconds to options["_timings"][name] (stage timings recorded with the version)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings = options.get("_timings")
        if timings is not None:
            timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - started, 2)


# -- recipes ------------------------------------------------------------------------------------------------


def _context_lifts(indexed: Indexed, fields, smoothing: float, max_values: int = 200):
    """(context keys, (n_keys, n_items) smoothed log-lifts): the recipe's per-context item lift, counted on Spark."""
    from pyspark.sql import functions as F

    n_items = len(indexed.item_ids)
    n_i = indexed.per_item(indexed.frame.groupBy(IIDX).count(), "count")
    p_i = (n_i + 0.5) / (n_i.sum() + 0.5 * n_items)
    keys, lifts = [], []
    for field in fields:
        counts = (indexed.frame.filter(F.col(field).isNotNull()).groupBy(F.col(field).cast("string").alias("v"), IIDX)
                  .count().toPandas())
        totals = counts.groupby("v")["count"].sum().sort_values(ascending=False, kind="stable")
        for value in totals.index[:max_values]:
            rows = counts[counts["v"] == value]
            n_vi = np.zeros(n_items)
            n_vi[rows[IIDX].to_numpy(np.int64)] = rows["count"].to_numpy(np.float64)
            expected = n_vi.sum() * p_i
            keys.append(f"{field}={value}")
            lifts.append(np.log((n_vi + smoothing) / (expected + smoothing)).astype(np.float32))
    lift = np.vstack(lifts) if lifts else np.zeros((0, n_items), dtype=np.float32)
    return keys, lift


def _context_codes(spark, indexed: Indexed, fields, keys) -> list[str]:
    """Add one int column per context field: the position of "FIELD=value" in `keys`, -1 when not kept."""
    from pyspark.sql import functions as F

    names = []
    for j, field in enumerate(fields):
        name = f"_ctx{j}"
        wanted = [(k.split("=", 1)[1], i) for i, k in enumerate(keys) if k.split("=", 1)[0] == field]
        codes = spark.createDataFrame(pd.DataFrame({"_v": pd.Series([v for v, _ in wanted], dtype=object),
                                                    name: np.asarray([i for _, i in wanted], dtype=np.int32)}))
        frame = indexed.frame.join(F.broadcast(codes), F.col(field).cast("string") == F.col("_v"), "left")
        indexed.frame = frame.drop("_v").withColumn(name, F.coalesce(F.col(name), F.lit(-1)))
        names.append(name)
    return names


def _fit_user_personalization(spark, indexed: Indexed, data: SparkData, params: dict, workdir: Path, tag: str,
                              options: dict):
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    from recsys.recipes.user_personalization import UserPersonalization

    defaults = UserPersonalization().get_params()
    p = {**defaults, **params}
    frame = indexed.frame
    # one block per core the session has (Spark's default of 10 only adds shuffles on a small machine)
    blocks = int(options.get("als_blocks") or max(2, spark.sparkContext.defaultParallelism))
    ratings = (frame.groupBy(UIDX, IIDX).agg(F.sum(W).alias("w"))
               .select(UIDX, IIDX, F.log1p("w").cast("float").alias("rating")))
    als = ALS(rank=int(p["factors"]), maxIter=int(p["iterations"]), regParam=float(p["regularization"]),
              implicitPrefs=True, alpha=float(options.get("als_alpha", ALS_ALPHA)), userCol=UIDX, itemCol=IIDX,
              ratingCol="rating", nonnegative=False, coldStartStrategy="nan", numUserBlocks=blocks,
              numItemBlocks=blocks,
              seed=int(p["random_state"]) if p["random_state"] is not None else 0)
    with _timed(options, "als_s"):
        model = als.fit(ratings)
        factors = model.itemFactors.toPandas()
    V = np.zeros((len(indexed.item_ids), int(p["factors"])), dtype=np.float32)
    if len(factors):
        V[factors["id"].to_numpy(np.int64)] = np.stack(factors["features"].to_numpy()).astype(np.float32)
    stats = frame.groupBy(IIDX).agg(F.countDistinct(UIDX).alias("users"), F.min(C.TIMESTAMP).alias("first"))
    t_max = int(frame.agg(F.max(C.TIMESTAMP)).collect()[0][0])
    stats_pdf = stats.toPandas()
    counts = np.zeros(len(indexed.item_ids))
    first = np.full(len(indexed.item_ids), t_max, dtype=np.int64)
    counts[stats_pdf[IIDX].to_numpy(np.int64)] = stats_pdf["users"].to_numpy(np.float64)
    first[stats_pdf[IIDX].to_numpy(np.int64)] = stats_pdf["first"].to_numpy(np.int64)
    impressions = np.zeros(len(indexed.item_ids))
    if C.IMPRESSION in frame.columns:
        shown = (frame.filter(F.col(C.IMPRESSION).isNotNull())
                 .select(F.explode(F.split(C.IMPRESSION, r"\|")).alias(C.ITEM_ID))
                 .join(F.broadcast(indexed.items_frame), C.ITEM_ID).groupBy(IIDX).count())
        impressions = indexed.per_item(shown, "count")
    fields = list(data.context_fields)
    keys, lift = _context_lifts(indexed, fields, float(p["context_smoothing"])) if fields else ([], None)
    ctx_columns = _context_codes(spark, indexed, fields, keys) if fields else []
    with _timed(options, "histories_s"):
        hist = histories(indexed, workdir, tag, ctx_columns)
    # the recipe's own temperature fit, on the driver: one BLAS thread, as the local executors use the cores
    with _timed(options, "driver_model_s"), _one_blas_thread():
        return artifacts.user_personalization(
            params, item_ids=indexed.item_ids, user_ids=indexed.user_ids, item_factors=V, counts=counts,
            histories=hist, t_max=t_max, first_seen=first, impressions=impressions, items=data.items,
            context_fields=fields, context_keys=keys, context_lift=lift)


def _fit_popularity(spark, indexed: Indexed, data: SparkData, params: dict, workdir: Path, tag: str, options: dict):
    return artifacts.popularity_count(item_ids=indexed.item_ids, user_ids=indexed.user_ids,
                                      counts=indexed.unique_user_counts(),
                                      histories=histories(indexed, workdir, tag))


def _fit_trending(spark, indexed: Indexed, data: SparkData, params: dict, workdir: Path, tag: str, options: dict):
    from pyspark.sql import functions as F

    from recsys.recipes.trending import FREQUENCIES, TrendingNow

    p = {**TrendingNow().get_params(), **params}
    f = FREQUENCIES[p["trend_discovery_frequency"]]
    frame = indexed.frame
    t_max = int(frame.agg(F.max(C.TIMESTAMP)).collect()[0][0])
    t = F.col(C.TIMESTAMP)
    counts = frame.groupBy(IIDX).agg(
        F.count("*").alias("total"),
        F.sum(F.when(t > t_max - f, 1).otherwise(0)).alias("current"),
        F.sum(F.when((t > t_max - 2 * f) & (t <= t_max - f), 1).otherwise(0)).alias("previous")).toPandas()
    arrays = {}
    for name in ("total", "current", "previous"):
        arrays[name] = np.zeros(len(indexed.item_ids))
        arrays[name][counts[IIDX].to_numpy(np.int64)] = counts[name].to_numpy(np.float64)
    return artifacts.trending_now(params, item_ids=indexed.item_ids, user_ids=indexed.user_ids, t_max=t_max,
                                  histories=histories(indexed, workdir, tag), **arrays)


def _fit_sims(spark, indexed: Indexed, data: SparkData, params: dict, workdir: Path, tag: str, options: dict):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from recsys.recipes.sims import Sims

    p = {**Sims().get_params(), **params}
    cap = int(options.get("max_items_per_user", MAX_SIMS_ITEMS_PER_USER))
    pairs = indexed.frame.groupBy(UIDX, IIDX).agg(F.max(C.TIMESTAMP).alias("t"))
    recent = Window.partitionBy(UIDX).orderBy(F.col("t").desc(), F.col(IIDX))
    pairs = pairs.withColumn("_r", F.row_number().over(recent)).filter(F.col("_r") <= cap).select(UIDX, IIDX)
    a, b = pairs.alias("a"), pairs.alias("b")
    co = (a.join(b, F.col(f"a.{UIDX}") == F.col(f"b.{UIDX}"))
          .filter(F.col(f"a.{IIDX}") != F.col(f"b.{IIDX}"))
          .groupBy(F.col(f"a.{IIDX}").alias("i"), F.col(f"b.{IIDX}").alias("j")).count())
    if int(p["min_cointeraction_count"]) > 1:
        co = co.filter(F.col("count") >= int(p["min_cointeraction_count"]))
    table = _collect(co, workdir / f"cooccurrence-{tag}")
    if table is None:
        z = np.zeros(0, dtype=np.int64)
        return artifacts.sims(params, item_ids=indexed.item_ids, user_ids=indexed.user_ids, rows=z, cols=z,
                              co_counts=z, counts=indexed.unique_user_counts())
    return artifacts.sims(params, item_ids=indexed.item_ids, user_ids=indexed.user_ids,
                          rows=table["i"].to_numpy(), cols=table["j"].to_numpy(),
                          co_counts=table["count"].to_numpy(), counts=indexed.unique_user_counts())


FITTERS = {
    "aws-user-personalization": _fit_user_personalization,
    "aws-popularity-count": _fit_popularity,
    "aws-trending-now": _fit_trending,
    "aws-sims": _fit_sims,
}


def fit_recipe(spark, recipe: str, frame, data: SparkData, params: dict, weights: dict, workdir: Path, tag: str,
               options: dict | None = None, timings: dict | None = None):
    """Fit `recipe` on the Spark frame `frame` (already event-filtered); returns the fitted Recipe object.

    `timings`, when given, receives the seconds of the parts (indexing, ALS, histories, driver-side model).
    """
    if recipe not in FITTERS:
        raise TrainingError(f"Recipe {recipe!r} has no Spark engine yet (Spark trains {', '.join(SPARK_RECIPES)}); "
                            "train it with --engine local.")
    options = {**(options or {}), "_timings": timings}
    from recsys.recipes import get_recipe

    cls = get_recipe(recipe)
    event_weights = weights or params.get("event_weights")
    if weights and "event_weights" in (cls.param_info or {}):
        params = {**params, "event_weights": weights}
    t_max = None
    if options.get("recency_half_life_days") not in (None, "", 0):
        from pyspark.sql import functions as F

        t_max = int(frame.agg(F.max(C.TIMESTAMP)).collect()[0][0])
    weighted = with_event_weights(frame, event_weights, bool(params.get("use_event_value", False)),
                                  recency_half_life_days=float(options.get("recency_half_life_days") or 0) or None,
                                  t_max=t_max)
    with _timed(options, "index_s"):
        indexed = Indexed(spark, weighted, data.items)
    try:
        return FITTERS[recipe](spark, indexed, data, params, workdir, tag, options)
    finally:
        indexed.release()


# -- the split and the offline evaluation -------------------------------------------------------------------


def personalize_split(spark, frame, data: SparkData, catalogue: np.ndarray, *, test_user_fraction: float = 0.1,
                      holdout_fraction: float = 0.1, seed: int = 42, max_eval_users: int = MAX_EVAL_USERS):
    """(training frame, recsys Split of the held-out users) drawn as `recsys.evaluation.personalize_split` does.

    The same users are held out (the same seeded draw among users with >= 2 events) and each one's newest
    ceil(holdout_fraction x n) events are the truth. The held-out users' events come to the driver; when there
    are more than `max_eval_users` of them, a seeded sample of that many is scored (all stay out of training).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from recsys.data import TrainingData
    from recsys.evaluation.splits import Split, _sample_users

    counts = frame.groupBy(C.USER_ID).count()
    n_users = counts.count()
    eligible = counts.filter(F.col("count") >= 2).select(C.USER_ID).toPandas()[C.USER_ID].to_numpy(dtype=object)
    n_test = min(max(int(round(test_user_fraction * n_users)), 1), len(eligible))
    if n_test == 0 or n_test >= n_users:
        raise ValidationError(f"cannot hold out users: {n_users} users, {len(eligible)} with >= 2 events; a user "
                              "split needs at least 2 users and one user with 2 or more events")
    test_users = _sample_users(eligible, n_test, seed)
    scored = test_users if len(test_users) <= max_eval_users else _sample_users(test_users, max_eval_users, seed)
    test_frame = spark.createDataFrame(pd.DataFrame({C.USER_ID: pd.Series(test_users, dtype=object)}))
    train = frame.join(F.broadcast(test_frame) if n_test < 1_000_000 else test_frame, C.USER_ID, "left_anti")
    scored_frame = spark.createDataFrame(pd.DataFrame({C.USER_ID: pd.Series(scored, dtype=object)}))
    by_user = Window.partitionBy(C.USER_ID)
    events = (frame.join(F.broadcast(scored_frame), C.USER_ID)
              .withColumn("_pos", F.row_number().over(by_user.orderBy(C.TIMESTAMP, SEQ)) - 1)
              .withColumn("_n", F.count("*").over(by_user))
              .withColumn("_truth", F.col("_pos") >= F.col("_n") - F.greatest(
                  F.lit(1), F.ceil(F.col("_n") * holdout_fraction - _EPS)))
              .orderBy(C.USER_ID, C.TIMESTAMP, SEQ)
              .toPandas())
    keep = [c for c in frame.columns if c != SEQ]
    is_truth = events["_truth"].to_numpy(dtype=bool)
    history = _typed(events.loc[~is_truth, keep])
    truth = _typed(events.loc[is_truth, keep])
    protocol = (f"Personalize default: {test_user_fraction:.0%} of users held out (seed {seed}, {n_test} users "
                f"with >= 2 events); oldest {1 - holdout_fraction:.0%} of each held-out user's events as input, "
                f"newest {holdout_fraction:.0%} (at least 1) scored")
    if len(scored) < len(test_users):
        protocol += f"; a seeded sample of {len(scored):,} of the {len(test_users):,} held-out users scored (Spark)"
    stub = TrainingData.from_frames(history, data.items, data.users, item_fields=data.item_fields or None,
                                    user_fields=data.user_fields or None, context_fields=data.context_fields)
    split = Split(train=stub, history=history, truth=truth, protocol=protocol, catalogue=catalogue,
                  history_in_train=False, kind="personalize",
                  params={"test_user_fraction": test_user_fraction, "holdout_fraction": holdout_fraction,
                          "seed": seed, "engine": "spark", "scored_users": int(len(scored))})
    return train, split


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    for col in out.columns:
        if col == C.TIMESTAMP:
            out[col] = out[col].astype("int64")
        elif col == C.EVENT_VALUE:
            out[col] = out[col].astype("float64")
        elif out[col].dtype == object or col in (C.USER_ID, C.ITEM_ID):
            out[col] = out[col].astype("str")
    return out


def evaluate(recipe, split) -> "object":
    """`recsys.evaluation.evaluate` on the held-out users; novelty and popularity bias use the training counts.

    Those two metrics need each item's training popularity, which the driver does not hold as interactions:
    it is the fitted recipe's unique-user counts (`counts_`), exactly what `item_popularity` counts locally.
    """
    from recsys.evaluation import evaluate as run
    from recsys.evaluation import metrics as M
    from recsys.evaluation.report import RECOMMENDED

    with _one_blas_thread():
        report = run(recipe, split)
    counts = getattr(recipe, "counts_", None)
    if counts is None or report.lists is None:
        return report
    popularity = pd.Series(np.asarray(counts, dtype=np.float64), index=pd.Index(recipe.item_ids_, dtype=object))
    popularity = popularity[popularity > 0]
    recommended = [np.asarray(r, dtype=object) for r in report.lists[RECOMMENDED]]
    k = max(report.ks)
    report.per_user[M.NOVELTY] = M.novelty(recommended, popularity, len(recipe.user_ids_), k)
    report.per_user[M.POPULARITY_BIAS] = M.popularity_percentile(recommended, popularity, split.catalogue, k)
    for key in (M.NOVELTY, M.POPULARITY_BIAS):
        report.metrics[key] = float(report.per_user[key].mean())
    return report


# -- one solution version -------------------------------------------------------------------------------------


def _snapshot(frame, stats: dict, catalogue: np.ndarray, seq) -> dict:
    from pyspark.sql import functions as F

    aggs = [F.countDistinct(C.ITEM_ID).alias("items"), F.max(C.TIMESTAMP).alias("t")]
    row = frame.agg(*aggs).collect()[0]
    snap = {"interactions": stats["interactions"], "users": stats["users"], "items": int(len(catalogue)),
            "interacted_items": int(row["items"]), "max_seq": seq}
    if row["t"] is not None:
        snap["max_timestamp"] = int(row["t"])
    if C.EVENT_TYPE in frame.columns:
        types = frame.select(C.EVENT_TYPE).distinct().limit(1000).toPandas()[C.EVENT_TYPE].dropna()
        snap["event_types"] = sorted(str(t) for t in types)[:20]
    return snap


def train_version(store, version, solution, run) -> dict:
    """Train `version` (a SolutionVersion) of `solution` (a Solution) on Spark; the result dict `recsys.runs`
    records, with the model in it.

    `version.engine`: ``{"name": "spark", "master": "local[2]" | "spark://..." | "yarn", "conf": {spark.*},
    "source": optional Parquet / s3:// interactions, "items_source": optional Parquet Items,
    "recency_half_life_days": optional confidence decay, "max_eval_users": ...}``.
    `run` reports stages and raises CancelledError between them when the user stops the training.
    """
    engine = dict(version.engine or {})
    group = version.group
    workdir = store.artifact_path("spark", group, version.solution, version.version_id, "x").parent
    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        run.stage("loading data", 0.0)
        spark = get_session(engine.get("master"), engine.get("conf"))
        data = load(spark, store, group, workdir, location=engine.get("source"),
                    items_location=engine.get("items_source"))
        frame, weights = apply_event_filters(
            data.interactions, event_type=solution.event_type,
            event_value_threshold=solution.event_value_threshold, events_config=solution.events_config)
        frame = frame.persist()
        stats = check_minimums(frame)
        catalogue = _distinct_sorted(frame, C.ITEM_ID, None if data.items is None else data.items[C.ITEM_ID])
        timings["load_s"] = round(time.perf_counter() - started, 2)
        run.stage("loading data", 1.0)
        from recsys.recipes import get_recipe

        recipe_name = solution.recipe
        cls = get_recipe(recipe_name)
        if recipe_name not in FITTERS:
            raise TrainingError(f"Recipe {recipe_name!r} has no Spark engine yet (Spark trains "
                                f"{', '.join(SPARK_RECIPES)}); train it with --engine local.")
        params = dict(solution.params or {})
        if solution.perform_hpo:
            raise TrainingError("HPO runs on the local engine only; train with --engine local, or without --hpo.")
        result: dict = {}
        run.stage("splitting", 0.0)
        t0 = time.perf_counter()
        split = None
        try:
            train, split = personalize_split(spark, frame, data, catalogue,
                                             max_eval_users=int(engine.get("max_eval_users", MAX_EVAL_USERS)))
        except RecsysError as exc:
            train = None
            result.update(metrics={}, metrics_protocol=None, evaluation_error=str(exc))
        timings["split_s"] = round(time.perf_counter() - t0, 2)
        run.stage("splitting", 1.0)
        if split is not None:
            run.stage("fitting", 0.0)
            t0 = time.perf_counter()
            held_out = fit_recipe(spark, recipe_name, train, data, params, weights, workdir, "train", engine,
                                  timings.setdefault("fit_parts", {}))
            timings["fit_s"] = round(time.perf_counter() - t0, 2)
            run.stage("evaluating", 0.0)
            t0 = time.perf_counter()
            try:
                report = evaluate(held_out, split)
                result["metrics"] = {k: float(v) for k, v in report.metrics.items()
                                     if isinstance(v, (int, float, np.number)) and np.isfinite(v)}
                result["report"] = report.to_dict()
                result["metrics_protocol"] = split.protocol
            except (CancelledError, TrainingError):
                raise
            except RecsysError as exc:
                result.update(metrics={}, metrics_protocol=split.protocol, evaluation_error=str(exc))
            del held_out
            timings["evaluate_s"] = round(time.perf_counter() - t0, 2)
            run.stage("evaluating", 1.0)
        run.stage("refitting on all data", 0.0)
        t0 = time.perf_counter()
        model = fit_recipe(spark, recipe_name, frame, data, params, weights, workdir, "all", engine,
                           timings.setdefault("refit_parts", {}))
        timings["refit_s"] = round(time.perf_counter() - t0, 2)
        run.check()
        snapshot = _snapshot(frame, stats, catalogue, data.max_seq)
        frame.unpersist()
        result.update({
            "model": model,
            "params": model.get_params(),
            "event_weights": weights or None,
            "data": snapshot,
            "recipe": recipe_name,
            "recipe_type": cls.recipe_type,
            "engine": {"name": "spark", "master": engine.get("master") or spark.sparkContext.master,
                       "spark_version": spark.version, "source": engine.get("source") or "workspace export",
                       "conf": engine.get("conf") or {}, **{k: v for k, v in engine.items()
                                                            if k not in ("name", "master", "conf", "source")},
                       "timings": timings},
        })
        return result
    except (RecsysError, CancelledError):
        raise
    except Exception as exc:  # Py4J / Spark failures: one readable line, and a fresh session next time
        if _jvm_gone(exc):
            stop_session()
        raise spark_failure(exc, f"training of {version.arn}") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _jvm_gone(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(m in text for m in ("Py4JNetworkError", "Connection refused", "Answer from Java side is empty",
                                   "SparkContext was shut down", "SparkContext has been shutdown",
                                   "Cannot call methods on a stopped SparkContext"))
