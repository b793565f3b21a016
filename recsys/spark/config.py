"""Which engine a solution version trains on: the request, else the workspace default in its settings table.

The workspace setting ``engine`` (`Store.setting`) holds JSON, e.g.::

    {"default": "auto", "spark_above_interactions": 20000000, "spark_master": "local[2]", "spark_conf": {}}

``default`` is ``local``, ``spark`` or ``auto`` (Spark when the group has more than ``spark_above_interactions``
interactions and pyspark is installed). Without the setting every version trains locally, as before.
"""

from __future__ import annotations

import json

from recsys.exceptions import ValidationError

ENGINES = ("local", "spark")
SETTING = "engine"
# bench/RESULTS.md ("Spark"): the largest size measured end to end on Spark local[2] (the local engine was the
# cheaper one at every size measured, so this is no speed crossover); used only when the default is "auto".
DEFAULT_SPARK_ABOVE = 20_000_000
DEFAULTS = {"default": "local", "spark_above_interactions": DEFAULT_SPARK_ABOVE, "spark_master": "local[2]",
            "spark_conf": {}}
# Spark engine options besides master / conf / source (see recsys.spark.train.train_version).
ENGINE_OPTIONS = ("items_source", "recency_half_life_days", "max_eval_users", "max_items_per_user", "als_alpha",
                  "als_blocks")
# Keys of algorithmHyperParameters / --param that choose the engine rather than tune the recipe.
ENGINE_PARAMS = {"engine": "name", "spark_master": "master", "spark_source": "source",
                 "spark_items_source": "items_source"}


def read_engine_config(store) -> dict:
    """The workspace's engine settings (`DEFAULTS` for anything not set)."""
    found = store.setting(SETTING)
    return {**DEFAULTS, **(json.loads(found) if found else {})}


def write_engine_config(store, **settings) -> dict:
    """Change the workspace's engine settings (keys of `DEFAULTS`); returns the full, checked settings."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValidationError(f"Unknown engine setting(s) {unknown}; use {sorted(DEFAULTS)}.")
    config = {**read_engine_config(store), **{k: v for k, v in settings.items() if v is not None}}
    if config["default"] not in (*ENGINES, "auto"):
        raise ValidationError(f"engine default {config['default']!r}: use local, spark or auto.")
    config["spark_above_interactions"] = int(config["spark_above_interactions"])
    store.set_setting(SETTING, json.dumps(config))
    return config


def engine_from_params(params: dict | None) -> tuple[dict | None, dict]:
    """Split Personalize-style algorithmHyperParameters into (engine request or None, recipe parameters).

    ``{"engine": "spark", "spark_master": "yarn", "factors": "64"}`` -> ``({"name": "spark", "master": "yarn"},
    {"factors": "64"})``.
    """
    params = dict(params or {})
    engine = {field: params.pop(key) for key, field in ENGINE_PARAMS.items() if key in params}
    return (engine or None), params


def resolve_engine(store, group: str, engine: str | dict | None = None, *, master: str | None = None,
                   conf: dict | None = None, source: str | None = None) -> dict | None:
    """The engine record stored with a new version: None for local, ``{"name": "spark", ...}`` for Spark.

    `engine` is "local", "spark", "auto", a dict (``{"name": "spark", "master": ...}``) or None (the
    workspace default). ValidationError names the accepted values.
    """
    settings = read_engine_config(store)
    request = dict(engine) if isinstance(engine, dict) else {"name": engine} if engine else {}
    name = request.get("name") or settings["default"]
    if name == "auto":
        name = "spark" if _interactions(store, group) > int(settings["spark_above_interactions"]) \
            and spark_installed() else "local"
    if name not in ENGINES:
        raise ValidationError(f"Unknown engine {name!r}: use local, spark or auto.")
    if name == "local":
        return None
    if not spark_installed():
        from recsys.spark.session import SparkUnavailable, INSTALL_HINT

        raise SparkUnavailable(f"The Spark engine needs pyspark, which is not installed: {INSTALL_HINT}.")
    record = {**request, "name": "spark",
              "master": master or request.get("master") or settings["spark_master"],
              "conf": {**settings.get("spark_conf", {}), **(request.get("conf") or {}), **(conf or {})}}
    if source or request.get("source"):
        record["source"] = source or request["source"]
    unknown = sorted(set(record) - {"name", "master", "conf", "source", *ENGINE_OPTIONS})
    if unknown:
        raise ValidationError(f"Unknown Spark engine option(s) {unknown}; use spark.* settings or one of "
                              f"{', '.join(ENGINE_OPTIONS)}.")
    return record


def _interactions(store, group: str) -> int:
    from recsys.datasets import count_rows
    from recsys.exceptions import NotFoundError

    try:
        return int(count_rows(store, group, "Interactions")["total"])
    except NotFoundError:
        return 0


def spark_installed() -> bool:
    """Whether pyspark can be imported here (the Spark engine's optional extra)."""
    import importlib.util

    return importlib.util.find_spec("pyspark") is not None
