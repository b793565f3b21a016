"""The Spark execution engine: train solution versions and run batch jobs on Apache Spark, same artifacts.

pyspark is optional (``make spark``); this package imports it only inside the functions that need it, so
``import recsys.spark`` and the local engine work without it. Entry points the rest of recsys calls:

- `train_version(store, version, solution, run)`: a training run whose version says ``engine: spark``.
- `batch_inference(...)` / `batch_segments(...)`: batch jobs on Spark, same inputs and outputs as the local ones.
- `resolve_engine(store, group, engine=None, ...)`: the engine a new version uses (the request, else the
  workspace default in the workspace's ``engine`` setting, e.g. Spark above N interactions).
"""

from __future__ import annotations

from recsys.spark.config import (ENGINES, engine_from_params, read_engine_config, resolve_engine,
                                 spark_installed, write_engine_config)
from recsys.spark.session import SparkUnavailable


def train_version(store, version: dict, solution: dict, run) -> dict:
    """Train on Spark (see `recsys.spark.train.train_version`)."""
    from recsys.spark.session import require_pyspark

    require_pyspark()
    from recsys.spark.train import train_version as _train

    return _train(store, version, solution, run)


def batch_inference(store, group: str, job_name: str, solution_version_arn: str, input_path, output_path,
                    **options) -> dict:
    """Run a batch inference job on Spark (see `recsys.spark.batch.batch_inference`)."""
    from recsys.spark.session import require_pyspark

    require_pyspark()
    from recsys.spark.batch import batch_inference as _batch

    return _batch(store, group, job_name, solution_version_arn, input_path, output_path, **options)


def batch_segments(store, group: str, job_name: str, solution_version_arn: str, input_path, output_path,
                   **options) -> dict:
    """Run a batch segment job on Spark (see `recsys.spark.batch.batch_segments`)."""
    from recsys.spark.session import require_pyspark

    require_pyspark()
    from recsys.spark.batch import batch_segments as _segments

    return _segments(store, group, job_name, solution_version_arn, input_path, output_path, **options)


__all__ = ["ENGINES", "SparkUnavailable", "batch_inference", "batch_segments", "engine_from_params", "read_engine_config",
           "resolve_engine", "spark_installed", "train_version", "write_engine_config"]
