"""Choosing the engine (request, workspace default, auto threshold) and the local engine without pyspark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recsys.exceptions import ValidationError
from recsys.spark.config import engine_from_params, read_engine_config, resolve_engine, write_engine_config

ROOT = Path(__file__).resolve().parents[1]
BLOCK_PYSPARK = "import sys; sys.modules['pyspark'] = None; from recsys.cli import main; main()"


@pytest.fixture
def small_store(store):
    from recsys.demo import generate_demo, load_demo, write_demo

    write_demo(store.home / "demo-files", generate_demo(seed=1, n_users=100, n_items=60, n_interactions=2500))
    load_demo(store, "demo", store.home / "demo-files", write_if_missing=False)
    return store


def test_without_engine_config_versions_train_locally(small_store):
    assert read_engine_config(small_store)["default"] == "local"
    assert resolve_engine(small_store, "demo") is None
    assert resolve_engine(small_store, "demo", "local") is None


def test_auto_picks_spark_only_above_the_workspace_threshold(small_store):
    pytest.importorskip("pyspark", reason="auto only picks Spark where pyspark is installed (make spark)")
    write_engine_config(small_store, default="auto", spark_above_interactions=100_000, spark_master="local[3]")
    assert resolve_engine(small_store, "demo") is None  # 2,500 interactions: local
    write_engine_config(small_store, spark_above_interactions=1000, spark_conf={"spark.executor.memory": "2g"})
    chosen = resolve_engine(small_store, "demo")
    assert chosen == {"name": "spark", "master": "local[3]", "conf": {"spark.executor.memory": "2g"}}
    assert resolve_engine(small_store, "demo", "local") is None  # the request wins over the default
    with pytest.raises(ValidationError, match="local, spark or auto"):
        write_engine_config(small_store, default="gpu")


def test_algorithm_hyperparameters_carry_the_engine_apart_from_the_recipe_params():
    engine, params = engine_from_params({"engine": "spark", "spark_master": "yarn", "factors": "64"})
    assert engine == {"name": "spark", "master": "yarn"} and params == {"factors": "64"}
    assert engine_from_params({"factors": "8"}) == (None, {"factors": "8"})


def test_without_pyspark_spark_fails_in_one_line_naming_make_spark_and_local_still_trains(small_store):
    base = [sys.executable, "-c", BLOCK_PYSPARK, "--home", str(small_store.home), "train", "--group", "demo",
            "--recipe", "aws-popularity-count"]
    spark = subprocess.run(base + ["--solution", "pop-spark", "--engine", "spark"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert spark.returncode != 0
    error = [line for line in spark.stderr.splitlines() if "make spark" in line]
    assert error and "pyspark" in error[0] and "Traceback" not in spark.stderr, spark.stderr
    local = subprocess.run(base + ["--solution", "pop-local", "--engine", "local"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    assert ":solution/pop-local/" in local.stdout.strip().splitlines()[-1]


def test_engine_command_sets_the_workspace_default_in_the_settings_table(small_store):
    from click.testing import CliRunner

    from recsys.cli import main

    home = ["--home", str(small_store.home)]
    shown = CliRunner().invoke(main, [*home, "engine"])
    assert shown.exit_code == 0 and "Default engine: local" in shown.output, shown.output
    changed = CliRunner().invoke(main, [*home, "engine", "--default", "auto", "--spark-above", "5000",
                                        "--spark-conf", "spark.executor.memory=4g", "--json"])
    assert changed.exit_code == 0, changed.output
    assert read_engine_config(small_store) == {"default": "auto", "spark_above_interactions": 5000,
                                               "spark_master": "local[2]",
                                               "spark_conf": {"spark.executor.memory": "4g"}}
    assert small_store.setting("engine") is not None  # the workspace's settings table
    assert resolve_engine(small_store, "demo") is None  # 2,500 interactions: below 5,000, local
    bad = CliRunner().invoke(main, [*home, "engine", "--default", "gpu"])
    assert bad.exit_code != 0 and "gpu" in bad.output


def test_train_page_offers_the_engine_only_where_pyspark_is_installed(small_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RECSYS_HOME", str(small_store.home))
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as where the extra is not installed
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60)
    at.session_state["group"] = "demo"
    at.run()
    assert not at.exception, at.exception
    assert "train_engine" not in [s.key for s in at.selectbox]
    assert "train_spark_master" not in [t.key for t in at.text_input]
