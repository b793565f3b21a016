"""One Spark session per process: pyspark imported lazily, Java found, the master and its settings applied.

pyspark is an optional extra (``make spark`` or ``pip install -r requirements-spark.txt``) that needs a Java 17
runtime. Nothing outside `recsys.spark` imports it, so the local engine works without it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import warnings
from pathlib import Path

from recsys.exceptions import TrainingError

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[2]"
EXISTING = "existing"
JAVA_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64",
                   "/usr/lib/jvm/java-17-openjdk", "/usr/lib/jvm/openjdk-17")
INSTALL_HINT = "run `make spark` (pip install -r requirements-spark.txt, plus Java 17: apt-get install openjdk-17-jre-headless)"


def local_defaults() -> dict:
    """Settings for a driver on one machine (read when a session starts, so RECSYS_SPARK_* set by then count);
    a cluster's own spark-defaults (or --spark-conf) take precedence."""
    return {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": os.environ.get("RECSYS_SPARK_DRIVER_MEMORY", "4g"),
        "spark.sql.shuffle.partitions": os.environ.get("RECSYS_SPARK_SHUFFLE_PARTITIONS", "8"),
        # s3:// locations are read through the s3a connector (hadoop-aws must be on the cluster's classpath)
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }

_LOCK = threading.RLock()
_SESSION = None
_SESSION_KEY: tuple | None = None


class SparkUnavailable(TrainingError):
    """pyspark or Java is missing: the message says how to install them."""


def require_pyspark():
    """The pyspark module, or SparkUnavailable naming `make spark` when the extra is not installed."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailable(f"The Spark engine needs pyspark, which is not installed: {INSTALL_HINT}.") from None
    return pyspark


def java_home() -> str | None:
    """JAVA_HOME if set, else a Java 17 under /usr/lib/jvm, else None when `java` is on PATH (Spark finds it)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    for candidate in JAVA_CANDIDATES:
        if (Path(candidate) / "bin" / "java").exists():
            return candidate
    return None


def check_java() -> None:
    """SparkUnavailable naming `make spark` when no Java runtime can be found."""
    home = java_home()
    if home is None and shutil.which("java") is None:
        raise SparkUnavailable(f"The Spark engine needs a Java 17 runtime and none was found: {INSTALL_HINT}.")
    if home is not None:
        os.environ.setdefault("JAVA_HOME", home)


def is_local(master: str) -> bool:
    return master.startswith("local")


def shares_files(spark) -> bool:
    """True when the driver and the executors see the same local files (a local[...] master)."""
    return spark.sparkContext.master.startswith("local")


def get_session(master: str | None = None, conf: dict | None = None, app_name: str = "recsys"):
    """The process's SparkSession for `master` (default local[2]); a different master or conf restarts it.

    `conf` holds Spark settings (``spark.executor.memory``...); on a local master the driver gets
    `local_defaults()` (no UI, Arrow transfers, 8 shuffle partitions) unless `conf` overrides them.
    """
    global _SESSION, _SESSION_KEY
    require_pyspark()
    check_java()
    # pyspark 4.3 warns on every pandas conversion under pandas 3; the conversions we use are covered by tests
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    master = master or DEFAULT_MASTER
    settings = {k: str(v) for k, v in (conf or {}).items() if k.startswith("spark.")}
    key = (master, tuple(sorted(settings.items())))
    with _LOCK:
        if _SESSION is not None and _SESSION_KEY == key and _alive(_SESSION):
            return _SESSION
        if _SESSION is not None:
            stop_session()
        from pyspark.sql import SparkSession

        # Python workers run this interpreter (the venv with recsys, numpy and pandas) unless told otherwise
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if is_local(master):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: loopback, no interface lookup
        # Spark's ALS calls native BLAS (libopenblas, installed by `make spark`) from one thread per task
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        builder = SparkSession.builder.appName(app_name)
        if master != EXISTING:  # "existing": the session spark-submit / Databricks already configured
            builder = builder.master(master)
        defaults = local_defaults()
        merged = defaults if is_local(master) else {
            k: v for k, v in defaults.items() if k.startswith(("spark.sql.execution.arrow", "spark.sql.session",
                                                                      "spark.hadoop."))}
        merged.update(settings)
        for k, v in merged.items():
            builder = builder.config(k, v)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel(os.environ.get("RECSYS_SPARK_LOG_LEVEL", "ERROR"))
        _SESSION, _SESSION_KEY = session, key
        log.info("Spark %s session started on %s", session.version, master)
        return session


def _alive(session) -> bool:
    try:
        return session.sparkContext._jsc is not None and not session.sparkContext._jsc.sc().isStopped()
    except Exception:  # noqa: BLE001 - the JVM is gone (killed executor / driver): start a new session
        return False


def stop_session() -> None:
    """Stop the process's session (the next `get_session` starts a new one)."""
    global _SESSION, _SESSION_KEY
    with _LOCK:
        if _SESSION is not None:
            try:
                _SESSION.stop()
            except Exception:  # noqa: BLE001 - already dead
                log.debug("stopping a dead Spark session", exc_info=True)
        _SESSION, _SESSION_KEY = None, None
        try:  # a JVM that died leaves pyspark's gateway pointing at it: forget it so a new one is launched
            from pyspark import SparkContext

            SparkContext._gateway = None
            SparkContext._jvm = None
            SparkContext._active_spark_context = None
        except ImportError:
            pass


def spark_failure(exc: BaseException, what: str) -> TrainingError:
    """A TrainingError whose message is the first useful line of a Spark / Py4J failure."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = next((ln for ln in lines if any(m in ln for m in (
        "Exception:", "Error:", "Path does not exist", "PATH_NOT_FOUND", "crashed", "exited", "Lost task",
        "SparkContext was shut down", "Connection refused", "Answer from Java side is empty"))), None)
    reason = useful or (lines[0] if lines else type(exc).__name__)
    if len(reason) > 500:
        reason = reason[:500] + "..."
    return TrainingError(f"Spark {what} failed: {type(exc).__name__}: {reason}")
